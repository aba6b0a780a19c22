"""The monthly energy report: an A4 PDF (WeasyPrint) and an Excel workbook (openpyxl), in English or Chinese.

Both take the summary of :func:`rareeco.energy.month.month_summary` and only lay it out::

    from rareeco.reports.energy_report import energy_pdf, energy_xlsx
    energy_pdf(summary, Path("energy-2025-06.pdf"), lang="zh")
    energy_xlsx(summary, Path("energy-2025-06.xlsx"), lang="en")

Every string comes from :mod:`rareeco.reports.energy_labels`; the calculators' sentences (notes, range
warnings) are shown in the report's language through :func:`rareeco.web.energy_text.translate`.  Nothing is
loaded from outside: the charts are inline SVG, fonts are system fonts (WenQuanYi Zen Hei for Chinese).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from rareeco.reference.catalogue import activities
from rareeco.reports.chart import FONTS, _text_width, nice_step
from rareeco.reports.energy_labels import energy_labels
from rareeco.reports.labels import lang_code, month_name
from rareeco.web.energy_text import translate

TEMPLATE = "energy_report.html"
KGCE_FORMAT = "#,##0"
PER_T_FORMAT = "#,##0.0"
PCT_FORMAT = "+0.00%;-0.00%;0.00%"
COLOURS = {"this": "#1b4965", "last": "#9ca3af", "save": "#2e7d32", "loss": "#c0392b", "cusum": "#7c3aed"}


@dataclass
class EnergyReport:
    """The rows of one monthly energy report in one language (plain data; the writers lay it out)."""

    lang: str
    L: dict[str, str]
    s: dict[str, Any]
    month_label: str
    convention: str
    lines: list[tuple[str, dict[str, Any]]]
    carriers: list[dict[str, Any]]
    carrier_totals: list[dict[str, Any]]
    baselines: list[tuple[str, dict[str, Any]]]
    notes: list[str] = field(default_factory=list)


def build(summary: dict[str, Any], lang: str = "en") -> EnergyReport:
    """Shape a month summary into report rows in ``lang``."""
    code = lang_code(lang)
    L = energy_labels(code)
    cat = activities()

    def carrier_label(a: str) -> str:
        return cat[a].label(code) if a in cat else a

    carriers = [{**r, "label": carrier_label(r["carrier"])} for r in summary["carriers"]]
    totals = [{"carrier": a, "label": carrier_label(a), "kgce": v["kgce"]}
              for a, v in sorted(summary["carrier_totals"].items())]
    notes = [translate(n, code) for n in summary.get("notes", [])]
    for line, b in summary["baselines"].items():
        notes += [f"{line}: {translate(n, code)}" for n in b.get("notes") or []]
        notes += [f"{line} ({L['warning']}): {translate(w, code)}" for w in b.get("range_warnings") or []]
        if b.get("why"):
            notes.append(f"{line}: {L['no_model']} — " + "; ".join(translate(w, code) for w in b["why"].split("; ")))
    return EnergyReport(lang=code, L=L, s=summary, month_label=month_name(L, summary["month"]),
                        convention=L.get(f"conv_{summary['convention']}", summary["convention"]),
                        lines=list(summary["lines"].items()), carriers=carriers, carrier_totals=totals,
                        baselines=list(summary["baselines"].items()), notes=notes)


# ---------------------------------------------------------------- formatting (PDF)

def fmt_n(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def fmt_pct(value: float | None) -> str:
    """A change in percent as printed: ``-7.41%``."""
    return "–" if value is None else f"{value:+.2f}%"


# ---------------------------------------------------------------- charts (inline SVG)

def _axis(values: list[float], lo_zero: bool) -> tuple[float, float, float]:
    hi = max(values) if values else 1.0
    lo = min(values) if values else 0.0
    lo = min(lo, 0.0) if lo_zero else lo
    step = nice_step(max(hi - lo, 1e-9))
    lo_t = step * math.floor(lo / step)
    hi_t = step * max(math.ceil(hi / step), math.floor(lo / step) + 1)
    return lo_t, hi_t, step


def _svg(r: EnergyReport, title: str, months: list[str], series: list[tuple[str, str, list[float | None], str]],
         unit: str, width: int = 680, height: int = 220) -> str:
    """A chart of monthly values: each series ``(label, colour, values, kind)`` with kind ``line`` or ``bar``."""
    values = [v for _, _, vs, _ in series for v in vs if v is not None]
    if not values:
        return ""
    L = r.L
    left, right, top, bottom = 70, 12, 34, 26
    pw, ph = width - left - right, height - top - bottom
    lo, hi, step = _axis(values, any(k == "bar" for *_, k in series))

    def y(v: float) -> float:
        return top + ph - (v - lo) / (hi - lo) * ph

    slot = pw / len(months)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
           f'font-family="{FONTS[r.lang]}" font-size="9" role="img" aria-label="{escape(title)}">']
    tick = lo
    while tick <= hi + step / 2:
        yy = y(tick)
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" stroke="#ddd" '
                   f'stroke-width="0.6"/>')
        out.append(f'<text x="{left - 5}" y="{yy + 3:.1f}" text-anchor="end" fill="#444">{fmt_n(tick)}</text>')
        tick += step
    if lo < 0 < hi:
        out.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#888"/>')
    out.append(f'<text x="0" y="{top - 8}" fill="#444">{escape(unit)}</text>')
    for i, m in enumerate(months):
        out.append(f'<text x="{left + slot * (i + 0.5):.1f}" y="{height - bottom + 13}" text-anchor="middle" '
                   f'fill="#333">{escape(L.get(f"month_{int(m[-2:])}", m))}</text>')
    bars = [s for s in series if s[3] == "bar"]
    for _label, colour, vs, kind in series:
        if kind == "bar":
            w = slot * 0.55 / max(len(bars), 1)
            for i, v in enumerate(vs):
                if v is None:
                    continue
                x = left + slot * i + (slot - w) / 2
                y0, y1 = sorted((y(0.0), y(v)))
                fill = colour if v >= 0 else COLOURS["loss"]
                out.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                           f'fill="{fill}"/>')
        else:
            pts = [(left + slot * (i + 0.5), y(v)) for i, v in enumerate(vs) if v is not None]
            if pts:
                out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="'
                           + " ".join(f"{x:.1f},{yy:.1f}" for x, yy in pts) + '"/>')
                out += [f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="2" fill="{colour}"/>' for x, yy in pts]
    lx = float(left)
    for label, colour, _, _ in series:
        out.append(f'<rect x="{lx:.1f}" y="4" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14:.1f}" y="13" fill="#333">{escape(label)}</text>')
        lx += 28 + _text_width(label, 9)
    out.append("</svg>")
    return "\n".join(out)


def trend_chart(r: EnergyReport) -> str:
    """The organisation's kgce/t per month, this year to the month and last year."""
    s, L = r.s, r.L
    t = s["trend_kgce_per_t"]
    months = [f"{s['year']}-{m:02d}" for m in range(1, 13)]
    return _svg(r, L["sec_trend"], months,
                [(L["chart_last"].format(year=s["year"] - 1), COLOURS["last"], t["last_year"], "line"),
                 (L["chart_this"].format(year=s["year"]), COLOURS["this"], t["this_year"], "line")],
                L["kgce_per_t"])


def cusum_chart(r: EnergyReport) -> str:
    """The organisation's savings per month (bars) and their cumulative sum (line) to the month [kgce]."""
    rows = r.s["organisation_cusum"]
    if not rows:
        return ""
    L = r.L
    return _svg(r, L["sec_cusum"], [x["month"] for x in rows],
                [(L["savings_kgce"], COLOURS["save"], [x["savings_kgce"] for x in rows], "bar"),
                 (L["cusum"], COLOURS["cusum"], [x["cusum_kgce"] for x in rows], "line")], "kgce")


# ---------------------------------------------------------------- PDF

def render_html(summary: dict[str, Any], lang: str = "en") -> str:
    """The report as a self-contained HTML document (what the PDF is made from)."""
    from markupsafe import Markup

    import rareeco
    from rareeco.reports.pdf import _environment

    r = build(summary, lang)
    env = _environment()
    env.filters.update(n=fmt_n, pct=fmt_pct)
    return env.get_template(TEMPLATE).render(
        r=r, L=r.L, s=r.s, trend=Markup(trend_chart(r)), cusum=Markup(cusum_chart(r)), limit=_limit,
        generated_by=r.L["generated_by"].format(version=summary.get("generated", {}).get("software_version")
                                                or rareeco.__version__))


def energy_pdf(summary: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the monthly energy report as an A4 PDF in ``lang``; returns ``path``."""
    from weasyprint import HTML

    from rareeco.reports.pdf import _fetcher

    path = Path(path)
    HTML(string=render_html(summary, lang), base_url=None, url_fetcher=_fetcher()).write_pdf(path)
    return path


# ---------------------------------------------------------------- Excel

def energy_xlsx(summary: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the monthly energy report as an Excel workbook in ``lang``; returns ``path``.

    Numbers are numbers (with a number format), never text; changes are fractions formatted as percent.
    """
    from rareeco.reports.xlsx import _autosize, _empty_workbook, _fraction, _header, _put, _title

    r = build(summary, lang)
    L, s = r.L, r.s
    wb = _empty_workbook()

    ws = wb.create_sheet(L["sheet_summary"])
    _title(ws, f"{L['workbook_title']} – {s['organisation']} {r.month_label}")
    meta: list[tuple[str, Any]] = [(L["organisation"], s["organisation"]), (L["month"], s["month"]),
                                   (L["convention"], r.convention), (L["baseline_year"], s["baseline_year"]),
                                   (L["generated_at"], s["generated"]["at"]),
                                   (L["software_version"], s["generated"]["software_version"])]
    n = 3
    for k, v in meta:
        _put(ws, n, 1, k, bold=True)
        _put(ws, n, 2, v)
        n += 1
    n += 1
    tot = s["organisation_total"]
    _header(ws, n, [L["total_row"], L["kgce"], L["gj"], L["production_t"], L["kgce_per_t"], L["gj_per_t"], L["mom"],
                    L["yoy"]])
    for label, block in ((r.month_label, tot), (L["sec_ytd"].format(month=r.month_label), tot["ytd"])):
        n += 1
        _put(ws, n, 1, label)
        for j, (key, f) in enumerate((("kgce", KGCE_FORMAT), ("gj", PER_T_FORMAT), ("production_t", PER_T_FORMAT),
                                      ("kgce_per_t", PER_T_FORMAT), ("gj_per_t", "#,##0.00"))):
            _put(ws, n, 2 + j, block[key], f)
        _put(ws, n, 7, _fraction(block.get("mom_change_pct")), PCT_FORMAT)
        _put(ws, n, 8, _fraction(block.get("yoy_change_pct")), PCT_FORMAT)
    _autosize(ws, skip_rows=(1,))

    ws = wb.create_sheet(L["sheet_lines"])
    heads = [L["line"], L["kgce"], L["gj"], L["production_t"], L["kgce_per_t"], L["gj_per_t"], L["mom"], L["yoy"],
             L["ytd_kgce_per_t"], L["ytd_yoy"]]
    _header(ws, 1, heads)
    n = 1
    for line, v in [*r.lines, (L["total_row"], tot)]:
        n += 1
        _put(ws, n, 1, line, bold=line == L["total_row"])
        for j, (key, f) in enumerate((("kgce", KGCE_FORMAT), ("gj", PER_T_FORMAT), ("production_t", PER_T_FORMAT),
                                      ("kgce_per_t", PER_T_FORMAT), ("gj_per_t", "#,##0.00"))):
            _put(ws, n, 2 + j, v[key], f)
        _put(ws, n, 7, _fraction(v["mom_change_pct"]), PCT_FORMAT)
        _put(ws, n, 8, _fraction(v["yoy_change_pct"]), PCT_FORMAT)
        _put(ws, n, 9, v["ytd"]["kgce_per_t"], PER_T_FORMAT)
        _put(ws, n, 10, _fraction(v["ytd"]["yoy_change_pct"]), PCT_FORMAT)
    ws.freeze_panes = "B2"
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_carriers"])
    _header(ws, 1, [L["line"], L["carrier"], L["amount"], L["unit"], L["kgce"], L["gj"]])
    n = 1
    for c in r.carriers:
        n += 1
        cells: tuple[tuple[Any, str | None], ...] = (
            (c["line"], None), (c["label"], None), (c["amount"], "#,##0.###"), (c["unit"], None),
            (c["kgce"], KGCE_FORMAT), (c["gj"], PER_T_FORMAT))
        for j, (val, number_format) in enumerate(cells):
            _put(ws, n, 1 + j, val, number_format)
    n += 1
    for c in r.carrier_totals:
        n += 1
        _put(ws, n, 1, L["total"], bold=True)
        _put(ws, n, 2, c["label"], bold=True)
        _put(ws, n, 5, c["kgce"], KGCE_FORMAT, bold=True)
    ws.freeze_panes = "A2"
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_quota"])
    if s["quota"]:
        _header(ws, 1, [L["product"], L["quota"], L["kgce_per_t"], *(L["level"].format(n=i) for i in (1, 2, 3)),
                        L["level_reached"]])
        n = 1
        for q in s["quota"]:
            n += 1
            _put(ws, n, 1, q["product"])
            _put(ws, n, 2, q["quota"])
            _put(ws, n, 3, q["kgce_per_t"], PER_T_FORMAT)
            for i in (1, 2, 3):
                _put(ws, n, 3 + i, _limit(q, i), KGCE_FORMAT)
            _put(ws, n, 7, q["level"] if q["level"] is not None else L["above_3"])
        _put(ws, n + 2, 1, L["quota_note"])
    else:
        _put(ws, 1, 1, L["no_quota"])
    _autosize(ws, skip_rows=(len(s["quota"]) + 3,))

    ws = wb.create_sheet(L["sheet_baselines"])
    _header(ws, 1, [L["line"], L["model"], L["r2"], L["month_savings"], L["savings_to_date"], L["unc68"],
                    L["unc90"], L["cusum"], L["significant"]])
    n = 1
    for line, b in r.baselines:
        n += 1
        _put(ws, n, 1, line)
        sv = b.get("savings")
        if not b.get("model") or not sv:
            _put(ws, n, 2, L["no_model"])
            continue
        _put(ws, n, 2, b["model"]["formula"])
        _put(ws, n, 3, b["model"]["r2"], "0.000")
        _put(ws, n, 4, b["month_savings_kgce"], KGCE_FORMAT)
        _put(ws, n, 5, sv["total_kgce"], KGCE_FORMAT)
        _put(ws, n, 6, sv["uncertainty"][0]["kgce"], KGCE_FORMAT)
        _put(ws, n, 7, sv["uncertainty"][1]["kgce"], KGCE_FORMAT)
        _put(ws, n, 8, b["cusum_kgce"], KGCE_FORMAT)
        _put(ws, n, 9, L["yes"] if sv["guideline14_ok"] else L["no"])
    t = s["savings_to_date"]
    n += 1
    _put(ws, n, 1, L["total_row"], bold=True)
    _put(ws, n, 5, t["total_kgce"], KGCE_FORMAT, bold=True)
    _put(ws, n, 6, t["uncertainty_68_kgce"], KGCE_FORMAT, bold=True)
    _put(ws, n, 7, t["uncertainty_90_kgce"], KGCE_FORMAT, bold=True)
    _put(ws, n + 2, 1, L["baseline_note"])
    _autosize(ws, skip_rows=(n + 2,))

    ws = wb.create_sheet(L["sheet_cusum"])
    _header(ws, 1, [L["month"], L["savings_kgce"], L["cusum"]])
    for i, x in enumerate(s["organisation_cusum"], 2):
        _put(ws, i, 1, x["month"])
        _put(ws, i, 2, x["savings_kgce"], KGCE_FORMAT)
        _put(ws, i, 3, x["cusum_kgce"], KGCE_FORMAT)
    _autosize(ws)

    ws = wb.create_sheet(L["sheet_notes"])
    _title(ws, L["sec_notes"])
    for i, note in enumerate(r.notes or [L["none"]], 3):
        _put(ws, i, 1, note)
    wb.properties.title = f"{L['workbook_title']} {s['organisation']} {s['month']}"
    wb.properties.creator = "rareeco"
    wb.properties.language = "zh-CN" if r.lang == "zh" else "en"
    path = Path(path)
    wb.save(path)
    return path


def _limit(q: dict[str, Any], level: int) -> float:
    """A quota limit; JSON round trips turn the level keys into strings."""
    lim = q["limits_kgce_per_t"]
    return float(lim[level] if level in lim else lim[str(level)])
