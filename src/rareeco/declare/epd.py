"""An environmental product declaration (EN 15804:2012+A2:2019, ISO 14025:2006) built from a product footprint.

Pure functions: the declaration is a plain, JSON-ready dict made from the footprint result of
:func:`rareeco.footprint.service.product_footprint` and a few settings; the PDF (:mod:`~rareeco.declare.epd_pdf`),
the ILCD+EPD XML (:mod:`~rareeco.declare.ilcd`) and the openEPD JSON (:mod:`~rareeco.declare.openepd_export`)
only render it.  docs/epd.md explains every number.

What is declared
----------------
* **Modules A1–A3** (cradle to gate), declared together, with an informative split (:func:`module_terms`,
  :func:`assign_module`): each contribution of the footprint's product system — the direct emissions of one
  own line, or one purchased input of one own line, for the supply chain of one declared unit — goes to one
  module.  A1: the whole burden of the declarant's own intermediate products used as feed, and the purchased
  (ancillary) materials of the product's line; A2: the line's inbound freight; A3: the line's electricity,
  direct emissions and waste treatment.  A1 + A2 + A3 equals the footprint (checked).
* **GWP-total, GWP-fossil, GWP-biogenic, GWP-luluc** from the footprint's ISO 14067 split (ISO 14067:2018
  6.5): fossil = the fossil part, biogenic = biogenic emissions − removals, luluc = direct land-use change.
* **Module D** for products at the end of the declarant's chain that are made from the oxide of a recycling
  scenario (:func:`recycling_module_d`, with :func:`rareeco.lca.recycling.module_d`):
  ``D = net × (E_route − E_virgin × Q)`` (EN 15804+A2 6.4.3.3), the recycled-oxide route as the recycling
  process and the primary oxide as the substituted product.
* **AP, EP-terrestrial, EP-marine for module A3 only** (:func:`measured_indicators`) when the product's line has
  direct emissions measured by CEMS (SO2, NOx, fluoride, particulate: ``direct_emissions_kg`` of the footprint)
  and the organisation's chosen factor sets hold characterisation factors (kind ``characterisation``, key
  ``<indicator>:<substance>``): ``A3 = Σ kg × CF``.  A1, A2 and the A1–A3 total stay ND (``nd_upstream_non_ghg``):
  rareeco holds no upstream non-GHG inventory.  EP-freshwater (phosphorus to fresh water) is not affected by
  these air emissions.
* Every other indicator of the EN 15804+A2 list (EF 3.1, ``data/EN15804_A2_EF31_indicators.csv``) is
  **not declared (ND)** with its reason, never zero; every other module is **MND**.

References
----------
EN 15804:2012+A2:2019 5.2 (types of EPD), 5.3 (comparability), 6.4.3.2 (co-product allocation), 6.4.3.3
(module D, net output flows), 7 (content of the EPD).  ISO 14025:2006 (content and verification of a Type III
declaration).
ISO 14067:2018 6.5.  EPD International, PCR "Rare-earth concentrates, oxides, metals and magnets" (2024-01).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from rareeco.errors import Finding, ValidationFailed
from rareeco.lca.recycling import SecondaryFlow, module_d
from rareeco.reference.catalogue import activities
from rareeco.units import conversion_factor

FORMAT = "rareeco-epd"
FORMAT_VERSION = 1
VALIDITY_YEARS = 5
"""An EPD is valid for five years from its verification (EN 15804+A2 7; the programmes' general rules)."""
STANDARDS = ("EN 15804:2012+A2:2019", "ISO 14025:2006", "ISO 14044:2006", "ISO 14067:2018")
PCR = {"name": "Rare-earth concentrates, oxides, metals and magnets", "operator": "EPD International",
       "date": "2024-01"}
"""The product category rules (REFERENCE.md §8): EPD International, January 2024."""

MODULES = ("A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "C1", "C2", "C3", "C4", "D")
STAGES = (("stage_product", ("A1", "A2", "A3")), ("stage_construction", ("A4", "A5")),
          ("stage_use", ("B1", "B2", "B3", "B4", "B5", "B6", "B7")), ("stage_eol", ("C1", "C2", "C3", "C4")),
          ("stage_beyond", ("D",)))
AGGREGATE = "A1-A3"
GWP_CODES = ("GWP-total", "GWP-fossil", "GWP-biogenic", "GWP-luluc")
CORE_IMPACT = ("GWP-total", "GWP-fossil", "GWP-biogenic", "GWP-luluc", "ODP", "AP", "EP-freshwater", "EP-marine",
               "EP-terrestrial", "POCP", "ADPE", "ADPF", "WDP")
"""Core environmental impact indicators of EN 15804+A2 (the others of the LCIA list are additional)."""
RESOURCE = ("PERE", "PERM", "PERT", "PENRE", "PENRM", "PENRT", "SM", "RSF", "NRSF", "FW")
WASTE = ("HWD", "NHWD", "RWD")
MEASURED = ("AP", "EP-terrestrial", "EP-marine")
"""Indicators declared for module A3 from the CEMS-measured direct emissions (with characterisation factors)."""
CHARACTERISATION_KIND = "characterisation"
CHARACTERISATION_UNITS = {"AP": "mol H+ eq/kg", "EP-terrestrial": "mol N eq/kg", "EP-marine": "kg N eq/kg"}
"""The unit a characterisation factor is converted to: per kg of the substance as the CEMS measures it."""
UPSTREAM_ND = ("A1", "A2", AGGREGATE)
VERIFICATIONS = ("external", "internal")
STATUSES = ("draft", "in_verification", "verified", "published", "superseded")

# Programme operators a declaration can name (ISO 14025 5.5).  A draft names its programme but claims no
# registration: the registration number stays empty until the operator registers the EPD.
PROGRAMMES: dict[str, dict[str, str]] = {
    "epd-international": {"name": "EPD International AB (The International EPD System)",
                          "name_zh": "国际 EPD 体系（EPD International AB）",
                          "address": "Box 210 60, SE-100 31 Stockholm, Sweden", "website": "www.environdec.com"},
    "csre": {"name": "Chinese Society of Rare Earths (EPD programme)", "name_zh": "中国稀土学会（EPD 项目）",
             "address": "", "website": ""},
}


# ------------------------------------------------------------------ indicators

@dataclass(frozen=True)
class Indicator:
    """One indicator of EN 15804+A2 with its ILCD+EPD UUID (``data/EN15804_A2_EF31_indicators.csv``)."""

    code: str               # the abbreviation in brackets, e.g. "GWP-total", "PERE"
    uuid: str
    version: str            # "" for the inventory indicators (flows)
    name: str
    unit: str
    unit_group_uuid: str
    name_de: str
    unit_de: str
    kind: str               # "lcia" (an LCIA method data set) | "flow" (an inventory indicator, a flow data set)
    group: str              # core | additional | resource | waste | output


@cache
def indicators() -> tuple[Indicator, ...]:
    """The EN 15804+A2 indicators (EF 3.1) in the order of the CSV: LCIA indicators first, then flows."""
    text = resources.files("rareeco.declare").joinpath("data", "EN15804_A2_EF31_indicators.csv").read_text("utf-8")
    lcia: list[Indicator] = []
    flows: list[Indicator] = []
    for row in csv.DictReader(io.StringIO(text)):
        uuid = (row.get("UUID") or "").strip()
        if not re.fullmatch(r"[0-9a-f-]{36}", uuid):
            continue                         # blank separator rows and the trailing "updated" line
        name = row["Name (en)"].strip()
        m = re.search(r"\(([^()]+)\)\s*$", name)
        if m is None:
            raise ValueError(f"indicator {uuid}: no abbreviation in {name!r}")
        code = m.group(1)
        version = (row.get("Version") or "").strip()
        kind = "lcia" if version else "flow"
        if kind == "lcia":
            group = "core" if code in CORE_IMPACT else "additional"
        else:
            group = "resource" if code in RESOURCE else "waste" if code in WASTE else "output"
        ind = Indicator(code, uuid, version, name, row["Unit (en)"].strip(), row["UnitGroup UUID"].strip(),
                        row["Name (de)"].strip(), row["Einheit (de)"].strip(), kind, group)
        (lcia if kind == "lcia" else flows).append(ind)
    order = {c: i for i, c in enumerate(CORE_IMPACT)}
    lcia.sort(key=lambda i: (i.group != "core", order.get(i.code, 99)))
    return tuple(lcia + flows)


def indicator(code: str) -> Indicator:
    for ind in indicators():
        if ind.code == code:
            return ind
    raise KeyError(code)


# ------------------------------------------------------------------ settings

@dataclass(frozen=True)
class EpdSettings:
    """What the declarant chooses beyond the footprint (stored with every version it was used for).

    ``programme`` — a key of :data:`PROGRAMMES`; ``address`` — the declarant's address (empty: its sites);
    ``verification`` — external or internal (ISO 14025 independent verification); ``module_d`` — ``auto``
    (for products at the end of the declarant's chain made from the scenario's oxide) or ``off``;
    ``substitutes`` / ``route`` — product codes of the primary oxide replaced and of the recycled oxide made by
    the recycling route;
    ``eol_recovery_rate`` — share of the product's oxide equivalent recovered at end of life [-] (a scenario);
    ``quality_ratio`` — Q_R / Q_Sub of the recovered oxide [-].
    """

    programme: str = "epd-international"
    address: str = ""
    verification: str = "external"
    module_d: str = "auto"
    substitutes: str = "prnd-oxide"
    route: str = "prnd-oxide-recycled"
    eol_recovery_rate: float = 1.0
    quality_ratio: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_settings(data: Mapping[str, Any] | None) -> EpdSettings:
    """Check ``data`` (e.g. the stored settings plus command-line overrides); all problems are raised together."""
    data = dict(data or {})
    known = set(EpdSettings.__dataclass_fields__)
    out: list[Finding] = []
    for k in sorted(set(data) - known):
        out.append(Finding("unknown_setting", f"unknown EPD setting {k!r}", column=k,
                           fix="settings: " + ", ".join(sorted(known))))
    values = {k: v for k, v in data.items() if k in known and v is not None}
    for k in ("eol_recovery_rate", "quality_ratio"):
        if k in values:
            try:
                values[k] = float(values[k])
            except (TypeError, ValueError):
                out.append(Finding("not_a_number", f"{k} {values[k]!r} is not a number", column=k,
                                   fix="give a number between 0 and 1"))
                continue
            if not 0.0 <= values[k] <= 1.0 or math.isnan(values[k]):
                out.append(Finding("out_of_range", f"{k} {values[k]} is outside 0–1", column=k,
                                   fix="give a number between 0 and 1"))
    for k in ("programme", "address", "verification", "module_d", "substitutes", "route"):
        if k in values:
            values[k] = str(values[k]).strip()
    checks = (("programme", tuple(PROGRAMMES)), ("verification", VERIFICATIONS), ("module_d", ("auto", "off")))
    for k, allowed in checks:
        if k in values and values[k] not in allowed:
            out.append(Finding("unknown_value", f"{k} {values[k]!r} is not one of {', '.join(allowed)}", column=k,
                               fix=f"use one of {', '.join(allowed)}"))
    if out:
        raise ValidationFailed("the EPD settings have errors", fix="correct the settings named below", findings=out)
    return EpdSettings(**values)


# ------------------------------------------------------------------ A1–A3: from the footprint to modules

@dataclass(frozen=True)
class Term:
    """One contribution to the footprint of one declared unit [kg CO2e].

    ``consumer`` is the own product whose process takes the input (or emits, for ``process == "direct"``);
    ``process`` is a background activity id or ``"direct"``.
    """

    consumer: str
    process: str
    kg_co2e: float


def module_terms(fs: Any, product: str, per_declared_t: float) -> list[Term]:
    """The footprint of ``per_declared_t`` t of ``product`` split by (own product process, contribution).

    ``fs`` is a :class:`rareeco.footprint.system.FootprintSystem`.  With ``s`` the supply of one t of the
    product, a background process *i* used by an own process *j* contributes ``−A[i, j] s_j λ_i``
    (λ: the score of one unit, :meth:`rareeco.lca.solve.LCA.product_scores`) and an own process its direct
    emissions ``q_j s_j``.  Own products used as feed are not terms themselves: their burden is in their
    own process's terms.  The terms sum to the product's footprint (Heijungs & Suh 2002, §5.2); checked by
    :func:`check_terms`.
    """
    from rareeco.footprint.system import METHOD
    from rareeco.lca import LCA

    lca = LCA.from_system(fs.system, METHOD)
    ids = list(lca.data.processes.ids)
    own = set(fs.line_of)
    s = lca.supply({product: 1.0})
    lam = lca.product_scores()
    A = lca.A.tocsc()
    to_kg = 1000.0 * per_declared_t                       # t CO2e per t of product → kg CO2e per declared unit
    terms: list[Term] = []
    for j, pid in enumerate(ids):
        if pid not in own or s[j] == 0:
            continue
        if lca.q[j]:
            terms.append(Term(pid, "direct", float(lca.q[j] * s[j] * to_kg)))
        col = A.getcol(j)
        for i, a in zip(col.indices, col.data, strict=True):
            if i == j or ids[i] in own or a == 0:
                continue
            kg = float(-a * s[j] * lam[i] * to_kg)
            if kg:
                terms.append(Term(pid, ids[i], kg))
    return terms


def check_terms(terms: Sequence[Term], total_kg: float, rel: float = 1e-9) -> None:
    """Raise if the terms do not add up to the footprint ``total_kg`` (a background process with inputs of its
    own would be counted twice: the footprint systems have none)."""
    got = math.fsum(t.kg_co2e for t in terms)
    if not math.isclose(got, total_kg, rel_tol=rel, abs_tol=1e-12):
        raise ValidationFailed(f"the module split adds up to {got:.6f} kg CO2e, the footprint is {total_kg:.6f}",
                               fix="the product system has a background process with inputs; report it")


def assign_module(term: Term, product: str) -> tuple[str, str]:
    """(module, rule code) of one term; rules in docs/epd.md and :mod:`rareeco.declare.epd_labels`.

    Own intermediate products are raw materials of the declared product: everything of their processes is
    A1.  On the product's own line: purchased goods A1, inbound freight A2, electricity, direct emissions and
    waste treatment A3 (by the activity's category in the catalogue).
    """
    if term.consumer != product:
        return "A1", "module_rule_upstream"
    if term.process == "direct":
        return "A3", "module_rule_direct"
    act = activities().get(term.process)
    category = act.category if act else ""
    if category.startswith("cat4") or term.process.startswith("transport."):
        return "A2", "module_rule_transport"
    if category.startswith("cat5") or term.process.startswith("waste."):
        return "A3", "module_rule_waste"
    if (act is not None and act.scope == 2) or term.process.startswith("electricity."):
        return "A3", "module_rule_energy"
    return "A1", "module_rule_purchased"


# ------------------------------------------------------------------ GWP indicators

def gwp_indicators(fp: Mapping[str, Any]) -> dict[str, float]:
    """GWP-total, -fossil, -biogenic and -luluc [kg CO2e per declared unit] from a footprint's ISO 14067 split.

    GWP-biogenic = biogenic emissions − biogenic removals; GWP-luluc = direct land-use change (ISO 14067:2018
    6.5; EN 15804+A2 Table 3).  The parts must add up to the footprint's total.
    """
    iso = fp["iso14067"]
    total = float(fp["kg_co2e_per_declared_unit"])
    out = {"GWP-total": total, "GWP-fossil": float(iso["fossil_kg_co2e"]),
           "GWP-biogenic": float(iso["biogenic_emissions_kg_co2e"]) - float(iso["biogenic_removals_kg_co2e"]),
           "GWP-luluc": float(iso["dluc_kg_co2e"])}
    parts = out["GWP-fossil"] + out["GWP-biogenic"] + out["GWP-luluc"]
    if not math.isclose(parts, total, rel_tol=1e-9, abs_tol=1e-12):
        raise ValidationFailed(f"the ISO 14067 split of {fp.get('product')} adds up to {parts}, not {total}",
                               fix="report the footprint: fossil + biogenic + luluc must equal the total")
    return out


def declared_kg(fp: Mapping[str, Any]) -> float:
    """Mass of one declared unit [kg] (``"1 kg"`` → 1.0, ``"1 t"`` → 1000.0)."""
    amount, _, unit = str(fp["declared_unit"]).strip().partition(" ")
    return float(amount) * conversion_factor(unit.strip(), "kg")


def per_kg(fp: Mapping[str, Any]) -> dict[str, float]:
    """:func:`gwp_indicators` per kg of product [kg CO2e/kg]."""
    kg = declared_kg(fp)
    return {k: v / kg for k, v in gwp_indicators(fp).items()}


# ------------------------------------------------------------------ measured non-GHG indicators (A3)

def measured_indicators(kg: Mapping[str, float], factors: Mapping[str, Mapping[str, Mapping[str, Any]]]
                        ) -> dict[str, dict[str, Any]]:
    """Module A3 of AP, EP-terrestrial and EP-marine from the measured direct emissions of one declared unit.

    ``kg``: substance → kg per declared unit (the footprint's ``direct_emissions_kg``); ``factors``: indicator →
    substance → ``{"value": CF in CHARACTERISATION_UNITS[indicator], "factor_id", "cite", "tag"}``.

    Returns, for each indicator with a factor for at least one measured substance,
    ``{"A3": Σ kg × CF, "terms": [{substance, kg, cf, value, factor_id, cite, tag}], "uncharacterised": [...]}``
    (measured substances without a factor for that indicator: not counted, and said so).

    Notes
    -----
    ``A3 = Σ_s m_s × CF_s`` (EN 15804:2012+A2:2019 Annex C; the characterisation model is the one of the
    factor set the organisation chose).
    """
    out: dict[str, dict[str, Any]] = {}
    for ind in MEASURED:
        cfs = factors.get(ind, {})
        terms: list[dict[str, Any]] = [
            {"substance": s, "kg": m, "cf": float(cfs[s]["value"]), "value": m * float(cfs[s]["value"]),
             "factor_id": cfs[s].get("factor_id"), "cite": cfs[s].get("cite"), "tag": cfs[s].get("tag")}
            for s, m in sorted(kg.items()) if s in cfs]
        if terms:
            out[ind] = {"A3": math.fsum(float(t["value"]) for t in terms), "terms": terms,
                        "uncharacterised": sorted(s for s in kg if s not in cfs)}
    return out


def measured_texts(content: Mapping[str, Any], lang: str = "en") -> list[str]:
    """The notes of a declaration's measured A3 indicators in ``lang`` (en | zh; empty when none)."""
    from rareeco.declare.epd_labels import labels

    m = content.get("measured") or {}
    inds = m.get("indicators") or {}
    if not inds:
        return []
    L = labels(lang)
    zh = lang == "zh"
    names = {"SO2": {"en": "SO2", "zh": "二氧化硫"}, "NOx": {"en": "NOx (as NO2)", "zh": "氮氧化物（以 NO2 计）"},
             "fluoride": {"en": "fluoride (as F)", "zh": "氟化物（以 F 计）"},
             "particulate": {"en": "particulate matter", "zh": "颗粒物"}}
    sep = "、" if zh else ", "
    subst = sep.join(f"{names.get(s, {}).get(lang, s)} {v:.6g} kg" for s, v in sorted(m["kg"].items()))
    factors = sep.join(sorted({t["cite"] or t["factor_id"] for i in inds.values() for t in i["terms"]}))
    short = [o for o in m.get("outlets", []) if o["valid_h"] + o["substituted_h"] < o["year_h"]]
    hours = sep.join(sorted({f"{o['outlet']} {o['valid_h']} + {o['substituted_h']} / {o['year_h']} h" for o in short}))
    coverage = L["measured_coverage_short"].format(hours=hours) if short else L["measured_coverage_full"]
    outlets = sep.join(sorted({str(o["outlet"]) for o in m.get("outlets", [])}))
    texts = [L["measured_note"].format(indicators=sep.join(inds), outlets=outlets, year=m["year"],
                                       substances=subst, unit=content["product"]["declared_unit"], factors=factors,
                                       coverage=coverage)]
    for ind, v in inds.items():
        if v["uncharacterised"]:
            texts.append(L["measured_uncharacterised"].format(
                indicator=ind, substances=sep.join(names.get(s, {}).get(lang, s) for s in v["uncharacterised"])))
    return [*texts, L["nd_upstream_non_ghg"], L["measured_freshwater"]]


# ------------------------------------------------------------------ module D

@dataclass(frozen=True)
class ChainStep:
    """``t_per_t`` t of ``feed`` go wholly into one t of ``product`` (the ledger's feeds of the year)."""

    product: str
    feed: str
    t_per_t: float


def oxide_chain(lines: Sequence[Mapping[str, Any]], feeds: Mapping[str, Sequence[str]], product: str,
                oxides: set[str]) -> tuple[str, float, list[ChainStep]] | None:
    """Follow the feeds from ``product`` down to one of ``oxides``: (oxide, t oxide per t product, steps).

    ``lines`` are the footprint payload's lines (``made_t``, ``feeds_t``); ``feeds`` maps a product to the own
    products the settings give wholly to it.  A step needs one feed going wholly into the product (a shared
    feed has no single chain): otherwise, or when no oxide is reached, None.
    """
    ratio, current = 1.0, product
    steps: list[ChainStep] = []
    for _ in range(12):
        if current in oxides:
            return current, ratio, steps
        line = next((ln for ln in lines if float(ln["made_t"].get(current, 0.0)) > 0), None)
        if line is None:
            return None
        outputs = {p for p, t in line["made_t"].items() if float(t) > 0}
        whole = [f for f in feeds.get(current, ()) if float(line["feeds_t"].get(f, 0.0)) > 0
                 and [p for p in outputs if f in feeds.get(p, ())] == [current]]
        if len(whole) != 1:
            return None
        f = whole[0]
        t_per_t = float(line["feeds_t"][f]) / float(line["made_t"][current])
        steps.append(ChainStep(current, f, t_per_t))
        ratio *= t_per_t
        current = f
    return None


def is_final(lines: Sequence[Mapping[str, Any]], product: str) -> bool:
    """True when no line of the declarant uses ``product`` as feed (its end of life is its own)."""
    return not any(float(ln["feeds_t"].get(product, 0.0)) > 0 for ln in lines)


def recycling_module_d(product: str, oxide: str, oxide_kg: float, settings: EpdSettings,
                       route: Mapping[str, float], virgin: Mapping[str, float]) -> dict[str, Any]:
    """Module D of one declared unit, per GWP indicator [kg CO2e], with its material balance.

    Parameters
    ----------
    product : str
        The declared product.
    oxide : str
        The oxide its chain ends at: ``settings.substitutes`` (made from primary oxide) or ``settings.route``
        (its rare earths are secondary material: a secondary input of ``oxide_kg``).
    oxide_kg : float
        Oxide equivalent of one declared unit [kg oxide] (:func:`oxide_chain`).
    settings : EpdSettings
        ``eol_recovery_rate`` R and ``quality_ratio`` Q of the scenario.
    route, virgin : mapping indicator code → kg CO2e per kg
        The recycled oxide's and the primary oxide's GWP indicators per kg (:func:`per_kg`).

    Notes
    -----
    Recovered ``r = R × oxide_kg``; secondary input ``x = oxide_kg`` if the chain ends at the recycled oxide,
    else 0; ``D = (r − x) (E_route − E_virgin Q)`` with E and Q of the side in excess
    (:func:`rareeco.lca.recycling.material_balance`; EN 15804:2012+A2:2019 6.4.3.3).
    """
    r = settings.eol_recovery_rate * oxide_kg
    x = oxide_kg if oxide == settings.route else 0.0
    flows = [SecondaryFlow(product, "out", r, settings.substitutes, route=settings.route,
                           quality_ratio=settings.quality_ratio, material=f"end-of-life {product}")]
    if x:
        flows.append(SecondaryFlow(product, "in", x, settings.substitutes, route=settings.route,
                                   quality_ratio=settings.quality_ratio, material=settings.route))
    values: dict[str, float] = {}
    balance = None
    for code in GWP_CODES:
        scores = {settings.substitutes: virgin[code], settings.route: route[code]}
        d = module_d(flows, {product: 1.0}, scores, rule="cut-off")
        values[code] = d.value
        if code == "GWP-total":
            balance = d.materials[0]
    assert balance is not None
    return {"values": values, "recovered_kg": balance.recovered, "secondary_input_kg": balance.secondary_input,
            "net_kg": balance.net, "route_kg_co2e_per_kg": balance.route_burden,
            "virgin_kg_co2e_per_kg": balance.virgin_burden, "quality_ratio": balance.quality_ratio}


# ------------------------------------------------------------------ the declaration

@dataclass
class DeclarationInput:
    """Everything :func:`declaration` needs; the service (:mod:`~rareeco.declare.epd_service`) gathers it."""

    uuid: str
    version: int
    footprint: dict[str, Any]                    # product_footprint(payload, product, allocation)
    footprints: dict[str, dict[str, Any]]        # allocation → product_footprint (every allocation available)
    terms: list[Term]                            # module_terms under footprint["allocation"]
    declarant: dict[str, Any]                    # organisation, name, address, sites
    product: dict[str, Any]                      # code, name, name_zh, line, site, site_name, province, made_t
    settings: EpdSettings
    background: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)          # payload["lines"]
    feeds: dict[str, tuple[str, ...]] = field(default_factory=dict)    # product → own feeds going wholly to it
    line_of: dict[str, str] = field(default_factory=dict)              # own product → its line ("site / line")
    oxide_footprints: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # allocation → oxide code → product_footprint of that oxide (for module D)
    ledger_period: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)
    # the CEMS-measured direct emissions of the product's line: year, line, kg (substance → kg per declared
    # unit), outlets (rows with hours), factors (indicator → substance → characterisation factor)


def _module_d(inp: DeclarationInput) -> tuple[dict[str, Any] | None, dict[str, Any] | None,
                                               dict[str, dict[str, float]]]:
    """(module D of the allocation used, why it is not declared, D's GWP indicators under each allocation)."""
    st, code = inp.settings, inp.product["code"]
    if st.module_d == "off":
        return None, {"code": "mnd_reason_d_off", "args": {}}, {}
    if not is_final(inp.lines, code):
        return None, {"code": "mnd_reason_d_not_final", "args": {}}, {}
    chain = oxide_chain(inp.lines, inp.feeds, code, {st.substitutes, st.route})
    if chain is None or (chain[0] == code):
        return None, {"code": "mnd_reason_d_no_chain",
                     "args": {"substitutes": st.substitutes, "route": st.route}}, {}
    oxide, t_per_t, steps = chain
    unit_kg = declared_kg(inp.footprint)
    oxide_kg = t_per_t * unit_kg
    by_allocation: dict[str, dict[str, Any]] = {}
    for allocation, oxides in inp.oxide_footprints.items():
        if st.substitutes not in oxides or st.route not in oxides:
            continue
        by_allocation[allocation] = recycling_module_d(code, oxide, oxide_kg, st, per_kg(oxides[st.route]),
                                                       per_kg(oxides[st.substitutes]))
    used = inp.footprint["allocation"]
    if used not in by_allocation:
        missing = st.substitutes if st.substitutes not in inp.oxide_footprints.get(used, {}) else st.route
        return None, {"code": "mnd_reason_d_missing", "args": {"product": missing, "year": inp.footprint["year"]}}, {}
    d = by_allocation[used]
    d.update({"oxide": oxide, "oxide_kg": oxide_kg, "chain": [asdict(s) for s in steps],
              "scenario": {"substitutes": st.substitutes, "route": st.route,
                           "eol_recovery_rate": st.eol_recovery_rate, "quality_ratio": st.quality_ratio},
              "allocation": used})
    return d, None, {a: v["values"] for a, v in by_allocation.items()}


def _term_labels(t: Term, line: str, cat: Mapping[str, Any]) -> dict[str, str]:
    if t.process == "direct":
        return {"label_en": f"direct emissions — {line}", "label_zh": f"直接排放 — {line}"}
    a = cat.get(t.process)
    return {"label_en": a.label("en") if a else t.process, "label_zh": a.label("zh") if a else t.process}


def declaration(inp: DeclarationInput) -> dict[str, Any]:
    """The declaration as a JSON-ready dict (stored as ``Epd.content``; rendered by the three outputs).

    Raises :class:`ValidationFailed` when the module split does not add up to the footprint.
    """
    fp, st, code = inp.footprint, inp.settings, inp.product["code"]
    total = float(fp["kg_co2e_per_declared_unit"])
    check_terms(inp.terms, total)
    gwp = gwp_indicators(fp)
    assigned = [(t, *assign_module(t, code)) for t in inp.terms]
    split = {m: math.fsum(t.kg_co2e for t, mm, _ in assigned if mm == m) for m in ("A1", "A2", "A3")}
    biogenic_zero = gwp["GWP-biogenic"] == 0 and gwp["GWP-luluc"] == 0
    d, d_reason, d_by_allocation = _module_d(inp)
    cat = activities()
    measured = measured_indicators(inp.measured.get("kg") or {}, inp.measured.get("factors") or {})

    results: list[dict[str, Any]] = []
    for ind in indicators():
        row: dict[str, Any] = {"code": ind.code, "name": ind.name, "uuid": ind.uuid, "version": ind.version,
                               "unit": ind.unit, "unit_group_uuid": ind.unit_group_uuid, "kind": ind.kind,
                               "group": ind.group}
        if ind.code in GWP_CODES:
            values: dict[str, float] = {AGGREGATE: gwp[ind.code]}
            if ind.code == "GWP-total" or biogenic_zero:
                for m in ("A1", "A2", "A3"):
                    values[m] = split[m] if ind.code in ("GWP-total", "GWP-fossil") else 0.0
            if d is not None:
                values["D"] = d["values"][ind.code]
            row.update(status="declared", reason=None, values=values)
        elif ind.code in measured:
            row.update(status="declared", reason=None, values={"A3": measured[ind.code]["A3"]},
                       nd_modules={m: "nd_upstream_non_ghg" for m in UPSTREAM_ND}, basis="measured_a3")
        else:
            row.update(status="ND", values={},
                       reason="nd_no_characterisation" if ind.kind == "lcia" else "nd_no_inventory")
        results.append(row)

    modules = {m: ("X" if m in ("A1", "A2", "A3") or (m == "D" and d is not None) else "MND") for m in MODULES}
    unc = fp.get("uncertainty")
    sites = inp.declarant.get("sites", [])
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "uuid": inp.uuid, "version": inp.version,
        "standards": list(STANDARDS), "pcr": dict(PCR),
        "product": {**inp.product, "declared_unit": fp["declared_unit"], "declared_unit_kg": declared_kg(fp),
                    "geography": "CN"},
        "declarant": {**inp.declarant, "address": st.address or "; ".join(
            f"{s['name']} ({s['province']})" for s in sites)},
        "programme": {"key": st.programme, **PROGRAMMES[st.programme], "registration_number": None},
        "verification": {"kind": st.verification},
        "reference_year": int(fp["year"]), "validity_years": VALIDITY_YEARS, "gwp_set": fp["gwp_set"],
        "modules": modules,
        "mnd_reasons": [{"code": "mnd_reason_downstream", "args": {}}, {"code": "mnd_reason_eol", "args": {}},
                        *([d_reason] if d_reason else [])],
        "module_split": {
            "terms": [{"consumer": t.consumer, "line": inp.line_of.get(t.consumer, ""), "process": t.process,
                       "module": m, "rule": rule, **_term_labels(t, inp.line_of.get(t.consumer, ""), cat),
                       "kg_co2e": t.kg_co2e}
                      for t, m, rule in sorted(assigned, key=lambda x: (x[1], -abs(x[0].kg_co2e)))],
            "totals": split,
            "rules": ["module_rule_upstream", "module_rule_purchased", "module_rule_transport", "module_rule_energy",
                      "module_rule_direct", "module_rule_waste"],
        },
        "results": results,
        "module_d": d,
        "allocation": {
            "used": fp["allocation"], "line": fp["line"],
            "factors": fp["allocation_factors"], "basis": fp["allocation_basis"],
            "compared": {a: {AGGREGATE: f["kg_co2e_per_declared_unit"],
                             **({"D": d_by_allocation[a]["GWP-total"]} if a in d_by_allocation else {})}
                         for a, f in inp.footprints.items()},
            "unavailable": fp.get("unavailable_allocations", {}),
        },
        "data_quality": fp["data_quality"], "primary_data_share_pct": fp["primary_data_share_pct"],
        "uncertainty": ({"iterations": unc["iterations"], "p2.5": unc["percentiles"]["p2.5"],
                         "p50": unc["percentiles"]["p50"], "p97.5": unc["percentiles"]["p97.5"]} if unc else None),
        "iso14067_basis": fp["iso14067"].get("basis", ""),
        "excluded": fp.get("excluded", []), "notes": fp.get("notes", []),
        "background": inp.background,
        **({"measured": {"year": inp.measured.get("year"), "line": inp.measured.get("line"),
                         "kg": dict(inp.measured.get("kg") or {}), "outlets": list(inp.measured.get("outlets") or []),
                         "indicators": measured}} if measured else {}),
        "ledger_period": inp.ledger_period,
        "settings": st.to_dict(),
        "provenance": {k: v for k, v in fp.get("provenance", {}).items() if k != "calculated_at"},
    }


def content_sha256(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a declaration (sorted keys, no spaces, floats as Python prints them)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def result(content: Mapping[str, Any], code: str) -> dict[str, Any]:
    """The result row of indicator ``code`` of a declaration."""
    for row in content["results"]:
        if row["code"] == code:
            return dict(row)
    raise KeyError(code)
