"""Walk an inventory number back to the activity rows and factor rows behind it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.inventory.service import compute
from rareeco.ledger.models import ActivityRecord, ImportBatch, Line, Site


def _filter(lines: pd.DataFrame, site_id: int | None, month: int | None, activity: str | None,
            scope: str | None, line_id: int | None = None) -> pd.DataFrame:
    sel = pd.Series(True, index=lines.index)
    if site_id is not None:
        sel &= lines["site_id"] == site_id
    if line_id is not None:
        sel &= lines["line_id"] == line_id
    if month is not None:
        sel &= lines["month"] == month
    if activity is not None:
        sel &= lines["activity"] == activity
    if scope is not None:
        if scope not in ("1", "2", "2m", "3"):
            raise ValidationFailed(f"scope {scope!r} unknown", fix="use 1, 2 (location), 2m (market) or 3")
        sel &= lines["scope"] == int(scope[0])
        if scope.startswith("2"):
            sel &= lines["basis"] == ("market" if scope == "2m" else "location")
    if scope is None:
        sel &= lines["basis"] != "market"   # totals use location-based scope 2
    return lines[sel]


def explain(session: Session, org_id: str, year: int, site: str | None = None, month: str | None = None,
            activity: str | None = None, scope: str | None = None, method: str = "ghg-protocol",
            gwp_set: str = "ar6", factor_sets: list[str] | None = None, limit: int = 500,
            line: str | None = None) -> dict[str, Any]:
    """The number for the selection, each contributing record with its arithmetic, and the factors cited.

    ``line`` (a line code of ``site``) narrows the selection to one production line.
    """
    site_id = line_id = None
    if line is not None and site is None:
        raise ValidationFailed("a line is chosen within a site", fix="give the site too (--site SITE --line LINE)")
    if site is not None:
        st = session.execute(select(Site).where(Site.org_id == org_id, Site.code == site)).scalar_one_or_none()
        if st is None:
            raise NotFoundError(f"site {site!r} not found in {org_id!r}", fix="see: rareeco site list ORG")
        site_id = st.id
        if line is not None:
            ln = session.execute(select(Line).where(Line.site_id == st.id, Line.code == line)).scalar_one_or_none()
            if ln is None:
                raise NotFoundError(f"line {line!r} not found at site {site!r}", fix="see: rareeco line list ORG")
            line_id = ln.id
    month_no = None
    if month is not None:
        try:
            y, m = (int(x) for x in month.split("-"))
        except ValueError as exc:
            raise ValidationFailed(f"month {month!r} is not YYYY-MM", fix="write e.g. 2024-03") from exc
        if y != year or not 1 <= m <= 12:
            raise ValidationFailed(f"month {month} is not in {year}", fix=f"use a month of {year}")
        month_no = m
    payload, calc = compute(session, org_id, year, method, gwp_set, factor_sets)
    sel = _filter(calc.lines, site_id, month_no, activity, scope, line_id)
    ids = [int(i) for i in sel["id"].unique()]
    detail: dict[int, Any] = {}
    for chunk in range(0, len(ids), 5000):
        q = (select(ActivityRecord, ImportBatch.file_name)
             .join(ImportBatch, ImportBatch.id == ActivityRecord.batch_id)
             .where(ActivityRecord.id.in_(ids[chunk:chunk + 5000])))
        for rec, fname in session.execute(q).all():
            detail[rec.id] = (rec, fname)
    rows = []
    for r in sel.sort_values(["activity", "id"]).head(limit).to_dict(orient="records"):
        rec, fname = detail[int(r["id"])]
        rows.append({
            "record_id": rec.id, "batch_id": rec.batch_id, "file": fname, "row": rec.row_no,
            "activity": rec.activity, "period": f"{rec.period_start}…{rec.period_end}",
            "amount_as_imported": f"{rec.amount_raw} {rec.unit_raw}", "amount": rec.amount, "unit": rec.unit,
            "month": f"{year}-{int(r['month']):02d}", "share_in_month": round(float(r["share"]), 6),
            "gas": r["gas"], "basis": r["basis"] or None, "t_gas_per_unit": r["t_per_unit"], "gwp": r["gwp"],
            "factor_ids": r["factor_ids"], "mass_t": round(float(r["mass_t"]), 6),
            "t_co2e": round(float(r["t_co2e"]), 6)})
    used = {fid.strip() for ids_ in sel["factor_ids"].unique() for fid in str(ids_).split("×") if fid.strip()}
    gwp_ids = {f.factor_id for f in calc.factors.values() if f.kind == "gwp100" and f.key in set(sel["gas"])}
    factors = [{"factor_id": f.factor_id, "set": f.set_id, "value": f.value, "unit": f.unit, "tag": f.tag,
                "source": f.source, "version": f.version, "note": f.note}
               for fid, f in sorted(calc.factors.items()) if fid in used | gwp_ids]
    return {
        "organisation": org_id, "year": year, "method": method, "gwp_set": gwp_set,
        "selection": {"site": site, "line": line, "month": month, "activity": activity, "scope": scope},
        "t_co2e": round(float(sel["t_co2e"].sum()), 6),
        "by_activity": {k: round(float(v), 6) for k, v in sel.groupby("activity")["t_co2e"].sum().items()},
        "records": rows, "records_total": len(sel), "factors": factors,
        "notes": payload["notes"],
    }


def render_text(ex: dict[str, Any]) -> str:
    sel = ", ".join(f"{k} {v}" for k, v in ex["selection"].items() if v) or "whole organisation"
    lines = [f"{ex['organisation']} {ex['year']} — {sel} ({ex['method']}, GWP {ex['gwp_set'].upper()}): "
             f"{ex['t_co2e']:,.3f} t CO2e", ""]
    for act, v in ex["by_activity"].items():
        lines.append(f"  {act}: {v:,.3f} t CO2e")
        for r in ex["records"]:
            if r["activity"] != act:
                continue
            share = "" if r["share_in_month"] == 1 else f" × {r['share_in_month']:.4f} of the period in {r['month']}"
            gwp = "" if r["gwp"] == 1 else f" × GWP {r['gwp']:g}"
            lines.append(f"    batch {r['batch_id']} {r['file']} row {r['row']} ({r['period']}): "
                         f"{r['amount_as_imported']} = {r['amount']:,.6g} {r['unit']}{share} × "
                         f"{r['t_gas_per_unit']:.6g} t {r['gas']}/{r['unit']} [{r['factor_ids']}]{gwp}"
                         f"{' (' + r['basis'] + '-based)' if r['basis'] else ''} = {r['t_co2e']:,.3f} t CO2e")
    if ex["records_total"] > len(ex["records"]):
        lines.append(f"  … {ex['records_total'] - len(ex['records'])} more record-months (use --json)")
    lines += ["", "factors:"]
    for f in ex["factors"]:
        lines.append(f"  {f['factor_id']} = {f['value']:g} {f['unit']} [{f['tag']}] — {f['source']} "
                     f"(set {f['set']}, v{f['version']})")
    if ex["notes"]:
        lines += ["", "notes:"] + [f"  {n}" for n in ex["notes"]]
    return "\n".join(lines)
