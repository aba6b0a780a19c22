"""The declaration as an A4 PDF in English or Chinese: HTML from ``templates/epd.html``, laid out by WeasyPrint.

The same approach as the inventory report (:mod:`rareeco.reports.pdf`): every string from
:mod:`rareeco.declare.epd_labels`, system fonts only ("DejaVu Sans", "WenQuanYi Zen Hei" for Chinese), nothing
fetched (every URL WeasyPrint would load is refused).  This module arranges the declaration for the template and
computes nothing: every number is the declaration's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

import rareeco
from rareeco.declare import epd as model
from rareeco.declare.epd_labels import indicator_name, labels
from rareeco.reports.pdf import _fetcher, css_string

TEMPLATE = "epd.html"
GROUPS = ("core", "additional", "resource", "waste", "output")


def fmt_kg(value: float | None) -> str:
    """A result as printed: three decimals with thousands separators (``47.436``, ``-16.785``); ND as –."""
    if value is None:
        return "–"
    v = 0.0 if abs(value) < 5e-4 else value               # no "-0.000"
    return f"{v:,.3f}"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("rareeco.declare", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(kg=fmt_kg, css=css_string)
    return env


def view(content: Mapping[str, Any], meta: Mapping[str, Any], lang: str = "en",
         comments: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """What the template shows, in ``lang``: the declaration's values with their labels."""
    L = labels(lang)
    zh = L is labels("zh")
    p = content["product"]
    name = (p.get("name_zh") or p["name"]) if zh else p["name"]
    status = meta.get("status", "draft")
    banner = {"draft": L["draft_banner"], "in_verification": L["in_verification_banner"],
              "verified": L["verified_banner"]}.get(status)
    if status == "superseded" or meta.get("superseded_by_version"):
        banner = L["superseded_banner"].format(version=meta.get("superseded_by_version") or "?")
    declared = [r for r in content["results"] if r["status"] == "declared"]
    nd_groups = [(g, L[f"group_{g}"], [{**r, "name": indicator_name(r, lang)} for r in content["results"]
                                        if r["status"] == "ND" and r["group"] == g])
                 for g in GROUPS]
    columns = [model.AGGREGATE] + (["D"] if content["modules"]["D"] == "X" else [])
    gwp = model.result(content, "GWP-total")["values"]
    prog = content["programme"]
    vkind = content["verification"]["kind"]
    terms = content["module_split"]["terms"]
    d = content["module_d"]
    d_view = None
    if d:
        chain = " → ".join(f"{s['t_per_t']:.4f} t {s['feed']}/t {s['product']}" for s in d["chain"])
        alloc = L[f"allocation_{d['allocation']}"]
        d_view = {
            "scenario": L["d_scenario_value"].format(**d["scenario"]),
            "rows": [
                (L["d_oxide"], L["d_oxide_value"].format(kg=f"{d['oxide_kg']:.4f}", oxide=d["oxide"],
                                                         unit=p["declared_unit"], chain=chain)),
                (L["d_recovered"], L["d_recovered_value"].format(kg=f"{d['recovered_kg']:.4f}",
                                                                 rate=f"{d['scenario']['eol_recovery_rate']:g}")),
                (L["d_secondary"], L["d_secondary_value"].format(kg=f"{d['secondary_input_kg']:.4f}")),
                (L["d_net"], f"{d['net_kg']:.4f} kg"),
                (L["d_route"].format(allocation=alloc), f"{d['route_kg_co2e_per_kg']:.3f} kg CO2e/kg"),
                (L["d_virgin"].format(allocation=alloc), f"{d['virgin_kg_co2e_per_kg']:.3f} kg CO2e/kg"),
                (L["d_quality"], L["d_quality_value"].format(q=f"{d['quality_ratio']:g}")),
                (L["d_value"], f"{fmt_kg(d['values']['GWP-total'])} {L['unit_kg_co2e']}"),
            ],
            "assumptions": [L["d_assumption_rate"], L["d_assumption_content"], L["d_assumption_c"],
                            L["d_assumption_scope"]],
        }
    unc = content.get("uncertainty")
    dq = content["data_quality"]
    period = content.get("ledger_period") or {}
    provinces = ", ".join(sorted({s["province"] for s in content["declarant"]["sites"] if s["province"]}))
    alloc_used = content["allocation"]["used"]
    line = content["allocation"]["line"]
    return {
        "L": L, "lang": "zh" if zh else "en", "c": content, "meta": meta, "name": name, "banner": banner,
        "status_label": L.get(f"status_{status}", status),
        "programme_name": prog["name_zh"] if zh else prog["name"],
        "pcr": L["pcr_value"].format(**content["pcr"]),
        "headline": fmt_kg(gwp.get(model.AGGREGATE)), "headline_d": fmt_kg(gwp["D"]) if "D" in gwp else None,
        "unit": p["declared_unit"],
        "geography": L["geography_value"].format(provinces=provinces or "CN"),
        "validity": (meta["valid_until"] if meta.get("valid_until") else L["validity_pending"]),
        "published": meta.get("published_at") or L["not_published"],
        "description": L["product_description_value"].format(
            name=name, line=p["line"], site=p["site_name"], province=p["province"],
            declarant=content["declarant"]["name"]),
        "stages": [(L[key], [(m, L[f"mod_{m}"], content["modules"][m]) for m in mods]) for key, mods in model.STAGES],
        "mnd_reasons": [L[m["code"]].format(**m["args"]) for m in content["mnd_reasons"]],
        "rules": [L[r] for r in content["module_split"]["rules"]],
        "terms": [{**t, "label": t["label_zh"] if zh else t["label_en"]} for t in terms],
        "split": content["module_split"]["totals"],
        "mapping_check": L["mapping_check"].format(total=fmt_kg(sum(content["module_split"]["totals"].values())),
                                                   result_id=content["provenance"].get("result_id")),
        "columns": columns, "declared": declared, "nd_groups": nd_groups,
        "alloc_used": L[f"allocation_{alloc_used}"],
        "alloc_compared": [(L[f"allocation_{a}"], v, a == alloc_used)
                           for a, v in content["allocation"]["compared"].items()],
        "alloc_factors": [(a, L[f"allocation_{a}"], content["allocation"]["factors"].get(a, {}),
                           content["allocation"]["basis"].get(a, {})) for a in content["allocation"]["factors"]],
        "alloc_factors_title": L["allocation_factors"].format(line=line),
        "alloc_unavailable": [L["allocation_unavailable"].format(allocation=L.get(f"allocation_{a}", a), why=w)
                              for a, w in content["allocation"]["unavailable"].items()],
        "primary": L["primary_data_value"].format(pct=f"{content['primary_data_share_pct']:.1f} %"),
        "dq": L["dq_value"].format(**{k: f"{dq.get(k, 0):.2f}" for k in ("technological", "temporal",
                                                                           "geographical")}),
        "uncertainty": (L["uncertainty_value"].format(lo=f"{unc['p2.5']:.2f}", hi=f"{unc['p97.5']:.2f}",
                                                      median=f"{unc['p50']:.2f}", n=unc["iterations"])
                        if unc else L["none"]),
        "biogenic": L["biogenic_note"].format(basis=content.get("iso14067_basis", "")),
        "characterisation": L["characterisation_value"].format(gwp=content["gwp_set"].upper()),
        "scope_type": L["scope_type_value"].format(with_d=L["scope_with_d"] if d else ""),
        "time": L["time_value"].format(year=content["reference_year"]),
        "software": L["software_value"].format(version=content["provenance"].get("software_version")
                                               or rareeco.__version__),
        "d": d_view,
        "measured_notes": model.measured_texts(content, "zh" if zh else "en"),
        "verification_kind": L[f"verification_{vkind}"], "vkind": vkind,
        "statement": (L["verification_statement_value"].format(
            verifier=meta["verified_by"], version=meta["version"], kind=L[f"verification_{vkind}"],
            date=meta["verified_at"], sha=meta["content_sha256"][:16])
            if meta.get("verified_by") else L["verification_statement_pending"]),
        "comments": list(comments),
        "period": (L["ledger_period"].format(year=period.get("year", content["reference_year"])) + L["colon"] +
                   (L["period_locked"].format(by=period["by"], at=period["at"]) if period.get("locked")
                    else L["period_open"])),
        "references": [L["ref_en15804"], L["ref_iso14025"], L["ref_iso14044"], L["ref_iso14067"], L["ref_pcr"],
                       L["ref_ef31"], *([L["ref_unep"]] if d else []), L["ref_ilcd"],
                       L["ref_footprint"].format(result_id=content["provenance"].get("result_id"))],
        "demo": content["declarant"]["organisation"] == "demo",
        "generated_by": L["generated_by"].format(version=rareeco.__version__),
    }


def render_html(content: Mapping[str, Any], meta: Mapping[str, Any], lang: str = "en",
                comments: Sequence[Mapping[str, Any]] = ()) -> str:
    """The declaration as a self-contained HTML document (what the PDF is made from)."""
    return _environment().get_template(TEMPLATE).render(**view(content, meta, lang, comments))


def pdf_bytes(content: Mapping[str, Any], meta: Mapping[str, Any], lang: str = "en",
              comments: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """The declaration as A4 PDF bytes in ``lang`` (``en`` or ``zh``)."""
    from weasyprint import HTML

    html = render_html(content, meta, lang, comments)
    out = HTML(string=html, base_url=None, url_fetcher=_fetcher()).write_pdf()
    assert out is not None
    return bytes(out)


def write_pdf(content: Mapping[str, Any], meta: Mapping[str, Any], path: Path, lang: str = "en",
              comments: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write the declaration's PDF to ``path``; returns ``path``."""
    path = Path(path)
    path.write_bytes(pdf_bytes(content, meta, lang, comments))
    return path
