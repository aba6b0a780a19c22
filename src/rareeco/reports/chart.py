"""A stacked bar chart of monthly emissions by scope, as inline SVG (no script, nothing loaded)."""

from __future__ import annotations

import math
import unicodedata
from html import escape

from rareeco.reports.model import Report

# scope → fill colour; scope 2 is location-based, as in the total
SERIES: tuple[tuple[str, str, str], ...] = (
    ("scope1_t_co2e", "col_scope1", "#1b4965"),
    ("scope2_location_t_co2e", "col_scope2_location", "#5fa8d3"),
    ("scope3_t_co2e", "col_scope3", "#cae9a8"),
)
MARKET_COLOUR = "#c0392b"
FONTS = {"zh": "'WenQuanYi Zen Hei', sans-serif", "en": "'DejaVu Sans', 'WenQuanYi Zen Hei', sans-serif"}


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10ⁿ) giving about ``ticks`` intervals up to ``top``."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag  # pragma: no cover - the loop always returns


def _text_width(text: str, size: float = 10) -> float:
    """Approximate rendered width of ``text`` at ``size`` px: CJK full width, Latin about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else 0.6 * size for c in text)


def _fmt_tick(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 or v == 0 else f"{v:,.2g}"


def monthly_chart(r: Report, width: int = 680, height: int = 250) -> str:
    """SVG markup of the monthly stacked bars (scope 1, 2 location-based, 3) with the market-based total
    marked; an empty string when there is no monthly data."""
    if not r.by_month:
        return ""
    L = r.L
    left, right, top, bottom = 62, 12, 42, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max(max(v["total_t_co2e"], v["total_market_t_co2e"]) for _, _, v in r.by_month)
    step = nice_step(highest)
    y_max = step * max(1, math.ceil(highest / step)) if highest > 0 else step

    def y(v: float) -> float:
        return top + plot_h - (v / y_max) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
           f'font-family="{FONTS[r.lang]}" font-size="10" role="img" aria-label="{escape(L["sec_chart"])}">']
    # grid and y axis
    ticks = int(round(y_max / step))
    for i in range(ticks + 1):
        tick = i * step
        yy = y(tick)
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" '
                   f'stroke="{"#888" if i == 0 else "#ddd"}" stroke-width="{1 if i == 0 else 0.6}"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 3.5:.1f}" text-anchor="end" fill="#444">'
                   f'{escape(_fmt_tick(tick))}</text>')
    out.append(f'<text x="0" y="{top - 10}" fill="#444">{escape(L["chart_axis"])}</text>')
    # bars
    slot = plot_w / len(r.by_month)
    bar = min(34.0, slot * 0.62)
    for i, (key, _, v) in enumerate(r.by_month):
        x = left + slot * i + (slot - bar) / 2
        base = 0.0
        for series_key, _, colour in SERIES:
            h = max(v[series_key], 0.0)
            if h > 0:
                out.append(f'<rect x="{x:.1f}" y="{y(base + h):.1f}" width="{bar:.1f}" '
                           f'height="{y(base) - y(base + h):.1f}" fill="{colour}"/>')
            base += h
        ym = y(v["total_market_t_co2e"])
        out.append(f'<line x1="{x - 3:.1f}" y1="{ym:.1f}" x2="{x + bar + 3:.1f}" y2="{ym:.1f}" '
                   f'stroke="{MARKET_COLOUR}" stroke-width="1.6"/>')
        month = key.partition("-")[2]
        label = L.get(f"month_{int(month)}", key) if month.isdigit() else key
        out.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                   f'fill="#333">{escape(label)}</text>')
    # legend
    lx: float = left
    for _, label_key, colour in SERIES:
        out.append(f'<rect x="{lx:.1f}" y="6" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14:.1f}" y="15" fill="#333">{escape(L[label_key])}</text>')
        lx += 26 + _text_width(L[label_key])
    out.append(f'<line x1="{lx:.1f}" y1="11" x2="{lx + 14:.1f}" y2="11" stroke="{MARKET_COLOUR}" '
               f'stroke-width="1.6"/>')
    out.append(f'<text x="{lx + 18:.1f}" y="15" fill="#333">{escape(L["col_total_market"])}</text>')
    out.append("</svg>")
    return "\n".join(out)
