"""The inventory report as an A4 PDF: HTML from a Jinja2 template, laid out by WeasyPrint.

Nothing is loaded from outside: the chart is inline SVG drawn by :mod:`rareeco.reports.chart`,
fonts are system fonts ("WenQuanYi Zen Hei" for Chinese, then a generic family), and every URL
WeasyPrint would fetch is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

import rareeco
from rareeco.reports.chart import monthly_chart
from rareeco.reports.model import SCOPE_COLUMNS, build, sum_rows

TEMPLATE = "inventory_report.html"


class URLRefused(RuntimeError):
    """The report tried to load a URL; reports are rendered offline."""


def fmt_t(value: float | None) -> str:
    """t CO2e as printed in the report: thousands separators, one decimal (``48,763.2``)."""
    return "–" if value is None else f"{value:,.1f}"


def fmt_share(value: float | None) -> str:
    """A share of the total as a percentage with one decimal (``26.6%``)."""
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_num(value: Any) -> str:
    """A factor value or amount: up to six significant digits, thousands separators."""
    if value is None or value == "":
        return "–"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.6g}"
    return str(value)


def css_string(text: str) -> Markup:
    """``text`` as the body of a double-quoted CSS string."""
    return Markup(text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a "))


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("rareeco", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(t=fmt_t, share=fmt_share, num=fmt_num, css=css_string)
    return env


def render_html(payload: dict[str, Any], lang: str = "en") -> str:
    """The report of ``payload`` as a self-contained HTML document (what the PDF is made from)."""
    r = build(payload, lang)
    L = r.L
    scope_cols = [(k, L[short]) for k, _, short in SCOPE_COLUMNS]
    return _environment().get_template(TEMPLATE).render(
        r=r, L=L, scope_cols=scope_cols,
        month_total=sum_rows([v for _, _, v in r.by_month]) if r.by_month else None,
        site_total=sum_rows([v for _, v in r.by_site]) if r.by_site else None,
        line_total=sum_rows([v for _, _, v in r.by_line]) if r.by_line else None,
        chart=Markup(monthly_chart(r)),
        generated_by=L["generated_by"].format(version=r.provenance.get("software_version")
                                              or rareeco.__version__),
        difference_note=L["difference_note"].format(method=r.method_short),
    )


def _refuse(url: str, *args: Any, **kwargs: Any) -> Any:
    raise URLRefused(f"the report must not load {url!r}: it is rendered offline")


def _fetcher() -> Any:
    """A WeasyPrint URL fetcher that refuses every URL (and stops the rendering)."""
    try:
        from weasyprint.urls import FatalURLFetchingError, URLFetcher
    except ImportError:  # WeasyPrint < 66: a plain callable
        return _refuse

    class _Offline(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise FatalURLFetchingError(f"the report must not load {url!r}: it is rendered offline")

    return _Offline(fail_on_errors=True)


def write_pdf(payload: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the inventory report of ``payload`` to ``path`` as an A4 PDF in ``lang``; returns ``path``.

    Parameters
    ----------
    payload
        An inventory payload as returned by :func:`rareeco.inventory.service.inventory`.
    path
        Where to write the ``.pdf`` file (overwritten).
    lang
        ``"en"`` or ``"zh"`` (any tag starting with ``zh``).

    Returns
    -------
    Path
        ``path``.
    """
    from weasyprint import HTML

    html = render_html(payload, lang)
    path = Path(path)
    HTML(string=html, base_url=None, url_fetcher=_fetcher()).write_pdf(path)
    return path
