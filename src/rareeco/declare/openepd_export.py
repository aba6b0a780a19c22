"""A declaration as openEPD JSON (the Open EPD Forum's format), checked with the ``openepd`` package's EPD model.

The document carries the product, the declared unit (and its mass), the declarant (``manufacturer``), the
programme operator, the PCR, the standards, the validity, the verifier once verified, and the GWP impacts
under the LCIA method that characterised them (``IPCC AR6`` or ``IPCC AR5``): ``gwp`` (GWP-total),
``gwp-fossil``, ``gwp-biogenic`` and ``gwp-luluc``, each with ``A1A2A3`` and, when declared, ``D``.  In openEPD
a scope without an entry is "not declared", so nothing not declared is written as zero.

Freshwater eutrophication: openEPD's ``ep-fresh`` is in kg PO4 eq, EN 15804+A2's EP-freshwater in kg P eq;
rareeco does not declare EP-freshwater (no characterisation factors), so ``ep-fresh`` is absent — a future
declaration would convert with the molar-mass ratio PO4/P (94.97/30.97 = 3.066) and say so.

Acidification and eutrophication declared for module A3 only (from CEMS-measured direct emissions;
:func:`rareeco.declare.epd.measured_indicators`): openEPD's scope sets take ``A3`` without ``A1A2A3``, so ``ap``
(molHe), ``ep-terr`` (molNe) and ``ep-marine`` (kgNe) carry the A3 value alone, under ``EF 3.1`` when every factor
used is cited (tag V or S), else under ``Unknown LCIA``; the discussion says A1, A2 and A1–A3 are not declared.

The declaration's UUID is kept in ``alt_ids`` (openEPD ``id`` takes only registered open-xPD ids).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from rareeco.declare import epd as model
from rareeco.declare.epd_labels import EN

GWP_KEYS = {"GWP-total": "gwp", "GWP-fossil": "gwp-fossil", "GWP-biogenic": "gwp-biogenic",
            "GWP-luluc": "gwp-luluc"}
SCOPES = {model.AGGREGATE: "A1A2A3", "D": "D"}
METHODS = {"ar6": "IPCC AR6", "ar5": "IPCC AR5"}
MEASURED_KEYS = {"AP": ("ap", "molHe"), "EP-terrestrial": ("ep-terr", "molNe"), "EP-marine": ("ep-marine", "kgNe")}
"""openEPD impact keys and units of the indicators declared from measured direct emissions (A3 only)."""
ALT_ID_DOMAIN = "rareeco"


def _discussion(content: Mapping[str, Any]) -> str:
    """The texts ISO 14025 and EN 15804 ask for that have no openEPD field (markdown)."""
    nd = [r for r in content["results"] if r["status"] == "ND"]
    parts = ["# Not declared", EN["nd_legend"], EN["nd_intro"]]
    for reason in sorted({r["reason"] for r in nd}):
        parts.append(f"* {', '.join(r['code'] for r in nd if r['reason'] == reason)}: {EN[reason]}")
    parts.append("* EP-freshwater: openEPD's ep-fresh is in kg PO4 eq, EN 15804+A2 uses kg P eq; not declared.")
    measured = model.measured_texts(content, "en")
    if measured:
        parts += ["", "# Measured direct emissions (module A3)", *measured,
                  "In this document ap, ep-terr and ep-marine carry module A3 only (no A1A2A3: not declared)."]
    parts += ["", "# Modules", EN["boundary_note"],
              *(f"* {EN[m['code']].format(**m['args'])}" for m in content["mnd_reasons"]),
              "", "# From the footprint to the modules", EN["mapping_intro"],
              *(f"* {EN[r]}" for r in content["module_split"]["rules"])]
    d = content["module_d"]
    if d:
        parts += ["", "# Module D", EN["d_scenario_value"].format(**d["scenario"]), EN["d_formula_value"],
                  EN["d_assumption_rate"], EN["d_assumption_content"], EN["d_assumption_c"]]
    alloc = content["allocation"]
    parts += ["", "# Allocation", f"{EN['allocation_used']}: {alloc['used']}. " + EN["allocation_rule"],
              *(f"* {a}: A1-A3 {v[model.AGGREGATE]:.3f} kg CO2e" + (f", D {v['D']:.3f}" if "D" in v else "")
                for a, v in alloc["compared"].items()),
              "", "# Comparability", EN["comparability_value"]]
    return "\n".join(parts)[:20000]


def to_dict(content: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The openEPD document of a declaration (a JSON-ready dict); ``meta`` as for
    :func:`rareeco.declare.ilcd.to_xml`."""
    from openepd.model.versioning import OpenEpdVersions

    p, decl, prog = content["product"], content["declarant"], content["programme"]
    impacts: dict[str, Any] = {}
    for r in content["results"]:
        if r["code"] in GWP_KEYS and r["status"] == "declared":
            impacts[GWP_KEYS[r["code"]]] = {SCOPES[m]: {"mean": v, "unit": "kgCO2e"}
                                            for m, v in r["values"].items() if m in SCOPES}
    measured_impacts: dict[str, Any] = {}
    for r in content["results"]:
        if r["code"] in MEASURED_KEYS and r["status"] == "declared" and "A3" in r["values"]:
            key, unit = MEASURED_KEYS[r["code"]]
            measured_impacts[key] = {"A3": {"mean": r["values"]["A3"], "unit": unit}}
    tags = {t["tag"] for i in ((content.get("measured") or {}).get("indicators") or {}).values() for t in i["terms"]}
    measured_method = "EF 3.1" if tags and tags <= {"V", "S"} else "Unknown LCIA"
    doc: dict[str, Any] = {
        "doctype": "openEPD",
        "openepd_version": OpenEpdVersions.get_current().as_str(),
        "alt_ids": {ALT_ID_DOMAIN: f"{content['uuid']}/v{content['version']}"},
        "version": int(content["version"]),
        "language": "en",
        "private": meta.get("status") != "published",
        "product_name": p["name"][:200],
        "product_sku": p["code"],
        "product_description": EN["product_description_value"].format(
            name=p["name"], line=p["line"], site=p["site_name"], province=p["province"],
            declarant=decl["name"])[:2000],
        "declared_unit": {"qty": float(p["declared_unit"].split(" ")[0]), "unit": p["declared_unit"].split(" ")[1]},
        "kg_per_declared_unit": {"qty": float(p["declared_unit_kg"]), "unit": "kg"},
        "manufacturer": {"name": decl["name"][:200]},
        "program_operator": {"name": prog["name"][:200],
                             **({"web_domain": prog["website"].removeprefix("www.")} if prog["website"] else {})},
        "pcr": {"name": content["pcr"]["name"], "issuer": {"name": content["pcr"]["operator"]},
                "version": content["pcr"]["date"]},
        "compliance": [{"short_name": s} for s in content["standards"]],
        "lca_discussion": _discussion(content),
        "impacts": {METHODS.get(content["gwp_set"], content["gwp_set"].upper()): impacts,
                    **({measured_method: measured_impacts} if measured_impacts else {})},
    }
    if meta.get("published_at"):
        doc["date_of_issue"] = f"{meta['published_at']}T00:00:00Z"
    if meta.get("valid_until"):
        doc["valid_until"] = f"{meta['valid_until']}T00:00:00Z"
    if meta.get("verified_by"):
        doc["third_party_verifier_name"] = str(meta["verified_by"])
        if content["verification"]["kind"] == "external":
            doc["third_party_verifier"] = {"name": str(meta["verified_by"])[:200]}
    return doc


def validate(doc: Mapping[str, Any]) -> Any:
    """Parse ``doc`` with the ``openepd`` EPD model (pydantic v2); raises ``pydantic.ValidationError``.

    Returns the model.  Also checks that the model kept every top-level field written (the openEPD models
    ignore unknown keys, so a misspelt key would otherwise pass silently).
    """
    from openepd.model.epd import Epd

    epd = Epd.model_validate(copy.deepcopy(dict(doc)))      # the model's validators change nested dicts in place
    kept = set(epd.to_serializable(exclude_unset=True))
    lost = set(doc) - kept
    if lost:
        raise ValueError(f"openEPD model ignored fields: {sorted(lost)}")
    return epd


def to_json(content: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The openEPD document as UTF-8 JSON, validated with the ``openepd`` model first."""
    doc = to_dict(content, meta)
    validate(doc)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
