"""Server-rendered pages.  For now the landing page; the web platform grows here (issue 3)."""

from __future__ import annotations

from html import escape
from typing import Any

from sqlalchemy import Engine, select

from rareeco.ledger.db import session_scope
from rareeco.ledger.models import Organisation, Result

TEXT = {
    "en": {"title": "rareeco — carbon ledger", "orgs": "Organisations", "none": "No organisation yet.",
           "year": "Year", "method": "Method", "total": "Total (t CO2e, location-based)",
           "s1": "Scope 1", "s2l": "Scope 2 location", "s2m": "Scope 2 market", "s3": "Scope 3",
           "noresult": "no inventory calculated yet — run: rareeco inventory --org {org} --year YYYY",
           "api": "API documentation", "lang": "中文", "lang_href": "?lang=zh"},
    "zh": {"title": "rareeco — 碳账本", "orgs": "组织", "none": "尚无组织。", "year": "年份", "method": "方法",
           "total": "合计（t CO2e，基于位置）", "s1": "范围一", "s2l": "范围二（基于位置）",
           "s2m": "范围二（基于市场）", "s3": "范围三",
           "noresult": "尚未计算清单 —— 运行：rareeco inventory --org {org} --year YYYY",
           "api": "API 文档", "lang": "English", "lang_href": "?lang=en"},
}


def home_page(engine: Engine, lang: str = "en") -> str:
    t = TEXT["zh" if lang.startswith("zh") else "en"]
    with session_scope(engine) as s:
        orgs = list(s.execute(select(Organisation).order_by(Organisation.id)).scalars())
        latest: dict[str, dict[tuple[int, str], Any]] = {}
        for r in s.execute(select(Result).where(Result.kind == "inventory").order_by(Result.id)).scalars():
            latest.setdefault(r.org_id, {})[(int(r.period), r.method)] = r.payload
    parts = [f"<!doctype html><html lang='{'zh-CN' if t is TEXT['zh'] else 'en'}'><head><meta charset='utf-8'>"
             f"<title>{t['title']}</title><style>body{{font-family:sans-serif;margin:2rem;max-width:60rem}}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3rem .6rem;text-align:right}"
             "th:first-child,td:first-child{text-align:left}</style></head><body>",
             f"<p><a href='{t['lang_href']}'>{t['lang']}</a> · <a href='/api/v1/docs'>{t['api']}</a></p>",
             f"<h1>{t['title']}</h1><h2>{t['orgs']}</h2>"]
    if not orgs:
        parts.append(f"<p>{t['none']}</p>")
    for o in orgs:
        parts.append(f"<h3>{escape(o.name)} ({escape(o.id)})</h3>")
        res = latest.get(o.id, {})
        if not res:
            parts.append(f"<p>{escape(t['noresult'].format(org=o.id))}</p>")
            continue
        parts.append(f"<table><tr><th>{t['year']}</th><th>{t['method']}</th><th>{t['s1']}</th><th>{t['s2l']}</th>"
                     f"<th>{t['s2m']}</th><th>{t['s3']}</th><th>{t['total']}</th></tr>")
        for (year, method), p in sorted(res.items()):
            parts.append(f"<tr><td>{year}</td><td>{escape(method)}</td>" + "".join(
                f"<td>{p[k]:,.1f}</td>" for k in ("scope1_t_co2e", "scope2_location_t_co2e", "scope2_market_t_co2e",
                                                   "scope3_t_co2e", "total_t_co2e")) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
