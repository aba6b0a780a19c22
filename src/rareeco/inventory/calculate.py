"""The organisational inventory as array operations over activity records.

Steps (each a pure function over frames):

1. :func:`split_by_month` — cut each record's inclusive period at month ends and at the
   reporting year's bounds, pro rata by days;
2. :func:`coefficient_frame` — one row per (activity, site, gas, basis) with t of gas per
   canonical unit, t CO2e per unit under the chosen GWP set, and the factor ids;
3. :func:`emission_lines` — pieces × coefficients (certificates capped at the site's grid use);
4. :func:`summarise` — totals by scope, site, line, month, category, gas and activity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rareeco.errors import FactorNotFoundError, UnitError
from rareeco.inventory import grid, sources
from rareeco.reference import Factor, FactorTable
from rareeco.reference.catalogue import activities
from rareeco.units import Q_, gwp_context, to_co2e_t

RECORD_COLUMNS = ["id", "site_id", "line_id", "product_id", "activity", "period_start", "period_end", "amount"]


@dataclass
class SiteInfo:
    site_id: int
    code: str
    province: str
    grid_region: str


@dataclass
class Calculation:
    lines: pd.DataFrame                    # one row per record-month-gas-basis
    factors: dict[str, Factor]             # factor id → factor, every factor used
    notes: list[str] = field(default_factory=list)
    unquantified: list[dict[str, Any]] = field(default_factory=list)


def split_by_month(records: pd.DataFrame, year: int) -> pd.DataFrame:
    """Pieces of each record inside ``year``, one per calendar month, with ``amount`` pro rata by days.

    ``records`` needs ``period_start``/``period_end`` (inclusive) as datetime64 and ``amount``.
    Returns the record columns plus ``month`` (1–12) and ``share`` (fraction of the record's amount).
    """
    y0, y1 = np.datetime64(f"{year}-01-01"), np.datetime64(f"{year}-12-31")
    start = records["period_start"].to_numpy().astype("datetime64[D]")
    end = records["period_end"].to_numpy().astype("datetime64[D]")
    total_days = (end - start).astype(np.int64) + 1
    cs, ce = np.maximum(start, y0), np.minimum(end, y1)
    keep = cs <= ce
    idx = np.flatnonzero(keep)
    cs, ce, total_days = cs[keep], ce[keep], total_days[keep]
    m0 = cs.astype("datetime64[M]")
    m1 = ce.astype("datetime64[M]")
    n = (m1 - m0).astype(np.int64) + 1
    rep = np.repeat(np.arange(idx.size), n)
    offset = np.arange(rep.size) - np.repeat(np.cumsum(n) - n, n)
    month = m0[rep] + offset.astype("timedelta64[M]")
    piece_start = np.maximum(cs[rep], month.astype("datetime64[D]"))
    piece_end = np.minimum(ce[rep], (month + 1).astype("datetime64[D]") - np.timedelta64(1, "D"))
    share = ((piece_end - piece_start).astype(np.int64) + 1) / total_days[rep]
    out = records.iloc[idx[rep]].reset_index(drop=True)
    out["month"] = (month.astype(np.int64) % 12) + 1
    out["share"] = share
    out["amount"] = out["amount"].to_numpy() * share
    return out


def gwp_multipliers(table: FactorTable, gwp_set: str, gases: set[str]) -> tuple[dict[str, float], list[Factor]]:
    """t CO2e per t of each gas, through the named pint GWP context (CO2e only inside a context)."""
    gwp = table.gwp(gwp_set)
    ctx = gwp_context(gwp_set, {g: f.value for g, f in gwp.items()})
    out: dict[str, float] = {"CO2e": 1.0}
    used: list[Factor] = []
    for g in sorted(gases - {"CO2e"}):
        if g not in gwp:
            raise FactorNotFoundError(f"no GWP for {g} in set {gwp_set}", fix="use a GWP set that lists the gas")
        out[g] = to_co2e_t(Q_(1.0, f"t {g}"), ctx)
        used.append(gwp[g])
    return out, used


def coefficient_frame(acts: list[str], sites: dict[int, SiteInfo], year: int, method: str,
                      table: FactorTable, gwp_set: str) -> Calculation:
    """Coefficients for every (activity, site) pair present; scope 2 needs the site's grid."""
    cat = activities()
    rows: list[dict[str, Any]] = []
    used: dict[str, Factor] = {}
    notes: list[str] = []
    unq: list[dict[str, Any]] = []

    def note(text: str) -> None:
        if text not in notes:
            notes.append(text)

    def add(activity: str, site_id: int | None, coefs: sources.Coefficients) -> None:
        if coefs.unquantified:
            unq.append({"activity": activity, "reason": coefs.unquantified})
        for n in coefs.notes:
            note(n)
        for c in coefs.items:
            for f in c.factors:
                used[f.factor_id] = f
            rows.append({"activity": activity, "site_id": site_id, "gas": c.gas, "basis": c.basis,
                         "t_per_unit": c.t_per_unit, "factor_ids": " × ".join(f.factor_id for f in c.factors),
                         "note": c.note})

    for a in acts:
        act = cat[a]
        if act.calc in ("grid_electricity", "green_certificate"):
            for s in sites.values():
                market = grid.market_residual_factor(table, s.province, s.grid_region, year)
                if market.note:
                    note(f"{s.code} {year} market-based: {market.note} ({market.factor.factor_id})")
                if act.calc == "grid_electricity":
                    loc = grid.location_factor(table, s.province, s.grid_region, year)
                    if loc.note:
                        note(f"{s.code} {year} location-based: {loc.note} ({loc.factor.factor_id})")
                    add(a, s.site_id, sources.grid_location(loc.factor))
                    add(a, s.site_id, sources.grid_market(market.factor))
                else:
                    add(a, s.site_id, sources.grid_market(market.factor, sign=-1.0))
        else:
            try:
                add(a, None, sources.coefficients(act, method, table))
            except (FactorNotFoundError, UnitError) as exc:
                unq.append({"activity": a, "reason": exc.message})
    frame = pd.DataFrame(rows, columns=["activity", "site_id", "gas", "basis", "t_per_unit", "factor_ids", "note"])
    mult, gwp_used = gwp_multipliers(table, gwp_set, set(frame["gas"]))
    for f in gwp_used:
        used[f.factor_id] = f
    frame["gwp"] = frame["gas"].map(mult)
    frame["t_co2e_per_unit"] = frame["t_per_unit"] * frame["gwp"]
    return Calculation(frame, used, notes, unq)


def emission_lines(pieces: pd.DataFrame, coef: pd.DataFrame) -> pd.DataFrame:
    """Join record-month pieces with coefficients; site-specific coefficients match on site too."""
    generic = coef[coef["site_id"].isna()].drop(columns="site_id")
    specific = coef[coef["site_id"].notna()].astype({"site_id": "int64"})
    parts = [pieces.merge(generic, on="activity", how="inner")]
    if len(specific):
        parts.append(pieces.merge(specific, on=["activity", "site_id"], how="inner"))
    lines = pd.concat(parts, ignore_index=True)
    lines["mass_t"] = lines["amount"] * lines["t_per_unit"]
    lines["t_co2e"] = lines["amount"] * lines["t_co2e_per_unit"]
    return lines


def cap_certificates(lines: pd.DataFrame, pieces: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """GHG Protocol Scope 2 Guidance: certificates cover at most the electricity consumed.

    Per site and year, certificate MWh above grid MWh are ignored (their negative market
    emissions scaled down), and the result says so.
    """
    notes = []
    grid_mwh = pieces[pieces["activity"] == "electricity.grid"].groupby("site_id")["amount"].sum()
    cert_mwh = pieces[pieces["activity"] == "electricity.green_certificate"].groupby("site_id")["amount"].sum()
    for site_id, certs in cert_mwh.items():
        used = float(grid_mwh.get(site_id, 0.0))
        if certs > used + 1e-9:
            scale = used / certs if certs else 0.0
            mask = (lines["activity"] == "electricity.green_certificate") & (lines["site_id"] == site_id)
            lines.loc[mask, ["mass_t", "t_co2e"]] *= scale
            notes.append(f"site {site_id}: certificates {certs:.1f} MWh exceed grid electricity {used:.1f} MWh; "
                         "the excess is not claimed")
    return lines, notes


def calculate(records: pd.DataFrame, sites: dict[int, SiteInfo], year: int, method: str, table: FactorTable,
              gwp_set: str) -> Calculation:
    """Emission lines of every record of ``year`` under ``method`` and ``gwp_set``."""
    if method not in sources.METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(sources.METHODS)}")
    pieces = split_by_month(records, year)
    calc = coefficient_frame(sorted(pieces["activity"].unique()), sites, year, method, table, gwp_set)
    lines = emission_lines(pieces, calc.lines)
    lines, cap_notes = cap_certificates(lines, pieces)
    cat = activities()
    lines["scope"] = lines["activity"].map({k: a.scope for k, a in cat.items()})
    lines["category"] = lines["activity"].map({k: a.category for k, a in cat.items()})
    calc.lines = lines
    calc.notes.extend(cap_notes)
    # amounts of activities without a factor, so a reader sees what is missing, never a silent zero
    for u in calc.unquantified:
        sel = pieces["activity"] == u["activity"]
        u["amount"] = round(float(pieces.loc[sel, "amount"].sum()), 6)
        u["unit"] = cat[u["activity"]].unit
        u["records"] = int(pieces.loc[sel, "id"].nunique())
    production = pieces[pieces["activity"] == "production.output"]
    calc.lines.attrs["production"] = production.groupby("product_id")["amount"].sum().to_dict()
    calc.lines.attrs["activity_amounts"] = pieces.groupby("activity")["amount"].sum().to_dict()
    return calc


SCOPE_KEYS = ("scope1_t_co2e", "scope2_location_t_co2e", "scope2_market_t_co2e", "scope3_t_co2e")


def _scope_totals(lines: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Columns scope1, scope2 location/market, scope3, total (location) and total_market, grouped ``by``."""
    # position in SCOPE_KEYS as a small integer key: grouping on it needs no string column per line
    code = np.where(lines["scope"] == 1, 0,
                    np.where(lines["scope"] == 3, 3, np.where(lines["basis"] == "market", 2, 1)))
    k = pd.Series(code, index=lines.index, name="_k")
    scopes = range(len(SCOPE_KEYS))
    if by:
        t = (lines["t_co2e"].groupby([lines[b] for b in by] + [k]).sum()
             .unstack("_k", fill_value=0).reindex(columns=scopes, fill_value=0.0))
    else:
        t = lines["t_co2e"].groupby(k).sum().reindex(scopes, fill_value=0.0).to_frame().T
    t.columns = list(SCOPE_KEYS)
    t["total_t_co2e"] = t["scope1_t_co2e"] + t["scope2_location_t_co2e"] + t["scope3_t_co2e"]
    t["total_market_t_co2e"] = t["scope1_t_co2e"] + t["scope2_market_t_co2e"] + t["scope3_t_co2e"]
    return t


def _records(t: pd.DataFrame, digits: int = 6) -> dict[str, dict[str, float]]:
    """Rows keyed by their index (a multi-level key joined as ``a / b``)."""
    def key(k: Any) -> str:
        return " / ".join(map(str, k)) if isinstance(k, tuple) else str(k)
    return {key(k): {str(c): round(float(v), digits) for c, v in row.items()} for k, row in t.iterrows()}


def summarise(calc: Calculation, year: int, sites: dict[int, SiteInfo], line_codes: dict[int, str],
              product_codes: dict[int, str]) -> dict[str, Any]:
    """Totals and breakdowns (t CO2e) of a calculation, as plain JSON-ready data."""
    lines = calc.lines
    totals = _scope_totals(lines).iloc[0] if len(lines) else pd.Series(0.0, index=[*SCOPE_KEYS, "total_t_co2e",
                                                                               "total_market_t_co2e"])
    site_code = {k: s.code for k, s in sites.items()}
    lines = lines.assign(site=lines["site_id"].map(site_code),
                         line=lines["line_id"].map(line_codes).astype(object).fillna("(site)"),
                         month_key=lines["month"].map({m: f"{year}-{m:02d}" for m in range(1, 13)}))
    out: dict[str, Any] = {k: round(float(totals[k]), 6) for k in (*SCOPE_KEYS, "total_t_co2e",
                                                                     "total_market_t_co2e")}
    if len(lines):
        out["by_site"] = _records(_scope_totals(lines, ["site"]))
        out["by_line"] = _records(_scope_totals(lines, ["site", "line"]))
        out["by_month"] = _records(_scope_totals(lines, ["month_key"]))
        out["by_site_month"] = _records(_scope_totals(lines, ["site", "month_key"]))
        loc = lines[lines["basis"] != "market"]
        out["by_category"] = {k: round(float(v), 6) for k, v in loc.groupby("category")["t_co2e"].sum().items()}
        out["by_activity"] = {k: round(float(v), 6) for k, v in loc.groupby("activity")["t_co2e"].sum().items()}
        g = loc.groupby("gas").agg(mass_t=("mass_t", "sum"), t_co2e=("t_co2e", "sum"))
        out["by_gas"] = {k: {"mass_t": round(float(r.mass_t), 6), "t_co2e": round(float(r.t_co2e), 6)}
                         for k, r in g.iterrows()}
    else:
        for k in ("by_site", "by_line", "by_month", "by_site_month", "by_category", "by_activity", "by_gas"):
            out[k] = {}
    out["production_t"] = {product_codes.get(int(k), str(k)): round(float(v), 6)
                           for k, v in calc.lines.attrs.get("production", {}).items()}
    return out
