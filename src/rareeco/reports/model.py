"""Rows of the inventory report, shaped once from the payload for both the Excel and the PDF writer.

Everything here is plain data (str, int, float); the writers only lay it out.  Values are the
payload's own numbers, never re-rounded: the writers format them for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rareeco.reference.catalogue import activities
from rareeco.reports.labels import (
    category_label,
    gwp_label,
    labels,
    lang_code,
    method_label,
    method_short,
    tag_label,
)

# payload key of each scope column, with its long (row) and short (column) label keys
SCOPE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("scope1_t_co2e", "scope1", "col_scope1"),
    ("scope2_location_t_co2e", "scope2_location", "col_scope2_location"),
    ("scope2_market_t_co2e", "scope2_market", "col_scope2_market"),
    ("scope3_t_co2e", "scope3", "col_scope3"),
    ("total_t_co2e", "total_location", "col_total_location"),
    ("total_market_t_co2e", "total_market", "col_total_market"),
)
SCOPE_KEYS: tuple[str, ...] = tuple(k for k, _, _ in SCOPE_COLUMNS)
TAGS: tuple[str, ...] = ("V", "S", "C", "U")


@dataclass
class MethodTotals:
    """The six totals of one accounting method."""

    method: str
    label: str
    short: str
    primary: bool
    totals: dict[str, float]


@dataclass
class Report:
    """All rows of one inventory report in one language."""

    lang: str
    L: dict[str, str]
    organisation: str
    year: int | str
    method: str
    method_label: str
    method_short: str
    gwp_label: str
    period: str
    status: str
    totals: dict[str, float]
    scope_rows: list[tuple[str, str, float]]               # (payload key, label, t CO2e)
    methods: list[MethodTotals]
    by_site: list[tuple[str, dict[str, float]]]
    by_line: list[tuple[str, str, dict[str, float]]]     # (site, line, scopes)
    by_month: list[tuple[str, str, dict[str, float]]]    # (month key, month label, scopes)
    by_site_month: list[tuple[str, str, dict[str, float]]]  # (site, month key, scopes)
    by_category: list[dict[str, Any]]
    by_activity: list[dict[str, Any]]
    activity_differences: list[dict[str, Any]]
    by_gas: list[dict[str, Any]]
    production: list[tuple[str, float]]
    notes: list[str]
    unquantified: list[dict[str, Any]]
    factors: list[dict[str, Any]]
    tags: list[tuple[str, str]]
    provenance: dict[str, Any]
    factor_sets: list[tuple[str, str]]
    batches: list[dict[str, Any]]
    result_id: int | str | None = None
    locked: bool = False
    gwp_set: str = ""


def _num(v: Any) -> float:
    """A payload number as float (``None`` and missing as 0)."""
    return float(v) if v is not None else 0.0


def scope_values(row: dict[str, Any]) -> dict[str, float]:
    """The six scope columns of a breakdown row; a missing market total is scope 1 + 2 market + 3."""
    out = {k: _num(row.get(k)) for k in SCOPE_KEYS}
    if "total_market_t_co2e" not in row:
        out["total_market_t_co2e"] = out["scope1_t_co2e"] + out["scope2_market_t_co2e"] + out["scope3_t_co2e"]
    return out


def sum_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    """Column sums of breakdown rows (what a reader adding up the table gets)."""
    return {k: sum(r[k] for r in rows) for k in SCOPE_KEYS}


def month_label(L: dict[str, str], key: str) -> str:
    """``2025-03`` → ``Mar 2025`` / ``2025年3月``; other keys unchanged."""
    year, _, month = key.partition("-")
    if month.isdigit() and f"month_{int(month)}" in L:
        return L["month_year"].format(month=L[f"month_{int(month)}"], year=year)
    return key


def _categories() -> dict[str, int]:
    """Source category → scope, from the activity catalogue."""
    return {a.category: a.scope for a in activities().values()}


def build(payload: dict[str, Any], lang: str = "en") -> Report:
    """Shape an inventory payload (``rareeco.inventory.service.inventory``) into report rows."""
    code = lang_code(lang)
    L = labels(code)
    method = str(payload.get("method", ""))
    totals = scope_values(payload)
    total = totals["total_t_co2e"]
    cat_scope = _categories()
    acts = activities()

    methods = [MethodTotals(method, method_label(code, method), method_short(code, method), True, totals)]
    for m, t in sorted((payload.get("other_methods") or {}).items()):
        methods.append(MethodTotals(m, method_label(code, m), method_short(code, m), False, scope_values(t)))

    by_line = []
    for key, row in sorted((payload.get("by_line") or {}).items()):
        site, _, line = key.partition(" / ")
        by_line.append((site, line, scope_values(row)))
    by_site_month = []
    for key, row in sorted((payload.get("by_site_month") or {}).items()):
        site, _, month = key.partition(" / ")
        by_site_month.append((site, month, scope_values(row)))

    by_category = []
    for cat, v in (payload.get("by_category") or {}).items():
        by_category.append({"category": cat, "label": category_label(code, cat), "scope": cat_scope.get(cat, 0),
                            "t_co2e": _num(v), "share": _num(v) / total if total else 0.0})
    by_category.sort(key=lambda r: (r["scope"], -r["t_co2e"], r["category"]))

    others = [m for m in methods if not m.primary]
    other_acts = {m.method: (payload["other_methods"][m.method].get("by_activity") or {}) for m in others}
    by_activity = []
    act_ids = set(payload.get("by_activity") or {}) | {a for d in other_acts.values() for a in d}
    for aid in act_ids:
        a = acts.get(aid)
        v = (payload.get("by_activity") or {}).get(aid)
        by_activity.append({
            "activity": aid, "label": a.label(code) if a else aid,
            "category": category_label(code, a.category) if a else "", "scope": a.scope if a else 0,
            "t_co2e": None if v is None else _num(v),
            "other": {m: (None if d.get(aid) is None else _num(d.get(aid))) for m, d in other_acts.items()},
        })
    by_activity.sort(key=lambda r: (r["scope"], r["activity"]))
    differences = []
    for r in by_activity:
        for m, ov in r["other"].items():
            if abs((ov or 0.0) - (r["t_co2e"] or 0.0)) > 5e-7:
                differences.append({**r, "method": m, "this": r["t_co2e"] or 0.0, "that": ov or 0.0,
                                    "difference": (ov or 0.0) - (r["t_co2e"] or 0.0)})

    by_gas = []
    for gas, g in sorted((payload.get("by_gas") or {}).items()):
        by_gas.append({"gas": gas, "note": L.get(f"gas_{gas}", ""), "mass_t": _num(g.get("mass_t")),
                       "t_co2e": _num(g.get("t_co2e")),
                       "share": _num(g.get("t_co2e")) / total if total else 0.0})

    unquantified = []
    for u in payload.get("unquantified") or []:
        a = acts.get(u.get("activity", ""))
        unquantified.append({"activity": u.get("activity", ""), "label": a.label(code) if a else "",
                             "amount": u.get("amount"), "unit": u.get("unit") or (a.unit if a else ""),
                             "records": u.get("records"), "reason": u.get("reason", "")})

    factors = [{**f, "tag_meaning": tag_label(code, str(f.get("tag", "")))}
               for f in payload.get("factors_used") or []]
    prov = dict(payload.get("provenance") or {})
    year = payload.get("year", "")
    return Report(
        lang=code, L=L, organisation=str(payload.get("organisation", "")), year=year, method=method,
        method_label=method_label(code, method), method_short=method_short(code, method),
        gwp_label=gwp_label(code, str(payload.get("gwp_set", ""))),
        period=L["period_value"].format(year=year),
        status=L["status_locked"] if payload.get("locked") else L["status_open"],
        totals=totals,
        scope_rows=[(k, L[lab], totals[k]) for k, lab, _ in SCOPE_COLUMNS],
        methods=methods,
        by_site=[(k, scope_values(r)) for k, r in sorted((payload.get("by_site") or {}).items())],
        by_line=by_line,
        by_month=[(k, month_label(L, k), scope_values(r))
                  for k, r in sorted((payload.get("by_month") or {}).items())],
        by_site_month=by_site_month,
        by_category=by_category, by_activity=by_activity, activity_differences=differences, by_gas=by_gas,
        production=[(p, _num(t)) for p, t in (payload.get("production_t") or {}).items()],
        notes=[str(n) for n in payload.get("notes") or []],
        unquantified=unquantified, factors=factors,
        tags=[(t, tag_label(code, t)) for t in TAGS],
        provenance=prov,
        factor_sets=sorted((str(k), str(v)) for k, v in (prov.get("factor_sets") or {}).items()),
        batches=list(prov.get("input_batches") or []),
        result_id=payload.get("result_id"), locked=bool(payload.get("locked")),
        gwp_set=str(payload.get("gwp_set", "")),
    )
