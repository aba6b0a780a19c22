"""The monthly compliance report: an A4 PDF (WeasyPrint) and an Excel workbook (openpyxl), in English or Chinese.

Both take the summary of :func:`rareeco.monitoring.compliance_month.month_summary` and only lay it out::

    from rareeco.reports.compliance_report import compliance_pdf, compliance_xlsx
    compliance_pdf(summary, Path("compliance-2025-12.pdf"), lang="zh")
    compliance_xlsx(summary, Path("compliance-2025-12.xlsx"), lang="en")

Every string comes from :mod:`rareeco.reports.compliance_labels`; outlet and pollutant names are the settings'
``name`` / ``name_zh``.  Nothing is loaded from outside (fonts are system fonts; WenQuanYi Zen Hei for Chinese).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rareeco.reports.compliance_labels import compliance_labels
from rareeco.reports.energy_report import fmt_n
from rareeco.reports.labels import lang_code, month_name

TEMPLATE = "compliance_report.html"
CONC_FORMAT = "#,##0.00"
T_FORMAT = "#,##0.0000"
PCT_FORMAT = "0.0%"
H_FORMAT = "#,##0"


@dataclass
class ComplianceReport:
    """The rows of one monthly compliance report in one language (plain data; the writers lay it out)."""

    lang: str
    L: dict[str, str]
    s: dict[str, Any]
    month_label: str
    period: str
    validity: str
    rows: list[dict[str, Any]]          # one per outlet and pollutant, with display names
    limits: list[dict[str, Any]]        # one per outlet, pollutant and limit
    events: list[dict[str, Any]]
    lowest_availability: float | None
    notes: list[str] = field(default_factory=list)


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """A percentage as printed: ``98.7%``."""
    return "–" if value is None else f"{value:,.{digits}f}%"


def fmt_flags(flags: dict[str, int]) -> str:
    """Flag counts as printed: ``F 60, M 30``."""
    return ", ".join(f"{k} {v:,}" for k, v in flags.items()) or "–"


def build(summary: dict[str, Any], lang: str = "en") -> ComplianceReport:
    """Shape a month summary into report rows in ``lang``."""
    code = lang_code(lang)
    L = compliance_labels(code)
    zh = code == "zh"
    rows, limits = [], []
    for o in summary["outlets"]:
        outlet = f"{o['code']} {o['name_zh'] if zh else o['name']}"
        for p in o["pollutants"]:
            name = p["name_zh"] if zh else p["name"]
            rows.append({**p, "outlet": outlet, "outlet_code": o["code"], "pollutant": name,
                         "reference_o2_pct": o["reference_o2_pct"], "mn": o["mn"]})
            for lim in p["limits"]:
                over = (L["over_y"].format(share=lim["share_pct"]) if lim["period"] == "y" else
                        L[f"over_{lim['period']}"].format(n=lim["over"]))
                limits.append({**lim, "outlet": outlet, "outlet_code": o["code"], "pollutant": name,
                               "kind_label": L.get(f"kind_{lim['kind']}", lim["kind"]),
                               "period_label": L[f"period_{lim['period']}"], "over_label": over})
    names = {(r["outlet_code"], r["code"]): (r["outlet"], r["pollutant"]) for r in rows}
    events = []
    for e in summary["events"]:
        outlet, pollutant = names.get((e["outlet"], e["pollutant"]), (e["outlet"], e["pollutant"]))
        ack = (L["ack_by"].format(who=e["acknowledged_by"], when=e["acknowledged_at"]) if e["acknowledged_by"]
               else L["not_acknowledged"])
        events.append({**e, "outlet_label": outlet, "pollutant_label": pollutant, "ack": ack,
                       "kind_label": L.get(f"kind_{e['limit_kind']}", e["limit_kind"]),
                       "period_label": L[f"period_{e['period']}"]})
    period = summary["period"]
    v = summary["validity"]
    notes = [L["note_flags"], L["note_availability"], L["note_conversion"], L["note_quantities"],
             L["note_validity_u"]]
    if not period["complete"]:
        notes.insert(0, L["note_partial"].format(through=period["through"]))
    availabilities = [r["availability_pct"] for r in rows if r["availability_pct"] is not None]
    return ComplianceReport(
        lang=code, L=L, s=summary, month_label=month_name(L, summary["month"]),
        period=L["period_through"].format(start=period["start"], end=period["end"], through=period["through"]),
        validity=L["validity_value"].format(fraction=v["hour_min_valid_fraction"], hours=v["day_min_valid_hours"]),
        rows=rows, limits=limits, events=events, lowest_availability=min(availabilities) if availabilities else None,
        notes=notes)


# ---------------------------------------------------------------- PDF

def render_html(summary: dict[str, Any], lang: str = "en") -> str:
    """The report as a self-contained HTML document (what the PDF is made from)."""
    from rareeco.reports.pdf import _environment

    r = build(summary, lang)
    env = _environment()
    env.filters.update(n=fmt_n, pct=fmt_pct, flags=fmt_flags)
    return env.get_template(TEMPLATE).render(
        r=r, L=r.L, s=r.s,
        generated_by=r.L["generated_by"].format(version=summary["generated"]["software_version"]))


def compliance_pdf(summary: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the monthly compliance report as an A4 PDF in ``lang``; returns ``path``."""
    from weasyprint import HTML

    from rareeco.reports.pdf import _fetcher

    path = Path(path)
    HTML(string=render_html(summary, lang), base_url=None, url_fetcher=_fetcher()).write_pdf(path)
    return path


# ---------------------------------------------------------------- Excel

def compliance_xlsx(summary: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the monthly compliance report as an Excel workbook in ``lang``; returns ``path``.

    Numbers are numbers with a number format, never text; availability and shares are fractions formatted as
    percent.  Each table has its header in row 1 (the summary sheet excepted).
    """
    from rareeco.reports.xlsx import _autosize, _empty_workbook, _fraction, _header, _put, _title

    r = build(summary, lang)
    L, s = r.L, r.s
    wb = _empty_workbook()

    ws = wb.create_sheet(L["sheet_summary"])
    _title(ws, f"{L['workbook_title']} – {s['organisation']} {r.month_label}")
    meta: list[tuple[str, Any]] = [
        (L["organisation"], s["organisation"]), (L["month"], s["month"]), (L["period"], r.period),
        (L["timezone"], s["timezone"]), (L["validity"], r.validity), (L["headline_events"], s["totals"]["events"]),
        (L["headline_permit"], s["totals"]["permit_events"]),
        (L["headline_unacknowledged"], s["totals"]["unacknowledged"]),
        (L["generated_at"], s["generated"]["at"]), (L["software_version"], s["generated"]["software_version"])]
    for n, (k, v) in enumerate(meta, 3):
        _put(ws, n, 1, k, bold=True)
        _put(ws, n, 2, v)
    _put(ws, len(meta) + 3, 1, L["headline_availability"], bold=True)
    _put(ws, len(meta) + 3, 2, _fraction(r.lowest_availability), PCT_FORMAT)
    _autosize(ws, skip_rows=(1,))

    ws = wb.create_sheet(L["sheet_hours"])
    _header(ws, 1, [L["outlet"], L["pollutant"], L["valid_h"], L["invalid_h"], L["stopped_h"], L["missing_h"],
                    L["flags"], L["availability"]])
    for n, x in enumerate(r.rows, 2):
        h = x["hours"]
        for j, val in enumerate((x["outlet"], x["pollutant"], h["valid"], h["invalid"], h["stopped"], h["missing"],
                                 fmt_flags(x["flags"])), 1):
            _put(ws, n, j, val, H_FORMAT)
        _put(ws, n, 8, _fraction(x["availability_pct"]), PCT_FORMAT)
    ws.freeze_panes = "C2"
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_concentrations"])
    _header(ws, 1, [L["outlet"], L["pollutant"], L["unit"], L["reference_o2"], L["mean"], L["max"], L["max_at"],
                    L["valid_days"], L["daily_limit"], L["days_over"]])
    for n, x in enumerate(r.rows, 2):
        cells: tuple[tuple[Any, str | None], ...] = (
            (x["outlet"], None), (x["pollutant"], None), (x["unit"], None), (x["reference_o2_pct"], "0.0"),
            (x["mean"], CONC_FORMAT), (x["max"], CONC_FORMAT), (x["max_at"], None), (x["valid_days"], H_FORMAT),
            (x["daily_limit"], CONC_FORMAT), (x["days_over_daily_limit"], H_FORMAT))
        for j, (val, number_format) in enumerate(cells, 1):
            _put(ws, n, j, val, number_format)
    ws.freeze_panes = "C2"
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_limits"])
    _header(ws, 1, [L["outlet"], L["pollutant"], L["kind"], L["averaging"], L["limit"], L["unit"], L["over"],
                    L["source"]])
    for n, lim in enumerate(r.limits, 2):
        for j, (val, number_format) in enumerate(((lim["outlet"], None), (lim["pollutant"], None),
                                                  (lim["kind_label"], None), (lim["period_label"], None),
                                                  (lim["value"], "General"), (lim["unit"], None),
                                                  (lim["over_label"], None), (lim["source"], None)), 1):
            _put(ws, n, j, val, number_format)
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_events"])
    heads = [L["event_id"], L["outlet"], L["pollutant"], L["kind"], L["averaging"], L["limit"], L["unit"], L["start"],
             L["end"], L["duration_h"], L["peak"], L["peak_at"], L["acknowledged_by"], L["acknowledged_at"],
             L["comment"]]
    _header(ws, 1, heads)
    for n, e in enumerate(r.events, 2):
        for j, (val, number_format) in enumerate((
                (e["id"], "0"), (e["outlet_label"], None), (e["pollutant_label"], None), (e["kind_label"], None),
                (e["period_label"], None), (e["limit"], "General"), (e["unit"], None), (e["start"], None),
                (e["end"], None), (e["duration_h"], "0.#"), (e["peak"], CONC_FORMAT), (e["peak_at"], None),
                (e["acknowledged_by"] or L["not_acknowledged"], None), (e["acknowledged_at"], None),
                (e["comment"], None)), 1):
            _put(ws, n, j, val, number_format)
    if not r.events:
        _put(ws, 2, 1, L["no_events"])
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_quantities"])
    _header(ws, 1, [L["outlet"], L["pollutant"], L["t_month"], L["t_ytd"], L["substituted_h"], L["yearly_limit"],
                    L["yearly_share"]])
    for n, x in enumerate(r.rows, 2):
        _put(ws, n, 1, x["outlet"])
        _put(ws, n, 2, x["pollutant"])
        _put(ws, n, 3, x["quantity_t_month"], T_FORMAT)
        _put(ws, n, 4, x["quantity_t_ytd"], T_FORMAT)
        _put(ws, n, 5, f"{x['substituted_h_month']} / {x['substituted_h_ytd']}")
        _put(ws, n, 6, x["yearly_limit_t"], "General")
        _put(ws, n, 7, _fraction(x["yearly_share_pct"]), PCT_FORMAT)
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_notes"])
    _title(ws, L["sec_notes"])
    for i, note in enumerate(r.notes, 3):
        _put(ws, i, 1, note)
    wb.properties.title = f"{L['workbook_title']} {s['organisation']} {s['month']}"
    wb.properties.creator = "rareeco"
    wb.properties.language = "zh-CN" if r.lang == "zh" else "en"
    path = Path(path)
    wb.save(path)
    return path
