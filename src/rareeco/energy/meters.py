"""Meters: the tree, the sub-meter balance and monthly energy per line from interval data (ISO 50001 §6.6).

A meter's readings are a series in :mod:`rareeco.timeseries.store`; every figure here is read from its
roll-ups.  The *sub-meter balance* of a meter with children is ``main − Σ sub-meters`` per period, the
unaccounted share ``(main − Σ sub) / main``: losses, unmetered loads or a faulty meter when it drifts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.ledger.models import Line, Meter, Series, Site
from rareeco.ledger.structure import get_org
from rareeco.timeseries.store import rollup
from rareeco.units import conversion_factor


def meters(session: Session, org_id: str) -> list[Meter]:
    get_org(session, org_id)
    return list(session.execute(select(Meter).where(Meter.org_id == org_id).order_by(Meter.id)).scalars())


def tree(session: Session, org_id: str) -> list[dict[str, Any]]:
    """The meter tree, depth first: code, name, carrier, role, unit of its readings, site, line, depth."""
    ms = meters(session, org_id)
    sites = {s.id: s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    lines = {ln.id: ln.code for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    units = {s.id: (s.unit, s.interval_s) for s in
             session.execute(select(Series).where(Series.org_id == org_id)).scalars()}
    children: dict[int | None, list[Meter]] = {}
    for m in ms:
        children.setdefault(m.parent_id, []).append(m)
    out: list[dict[str, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for m in children.get(parent, []):
            unit, interval = units.get(m.series_id or -1, (m.unit, None))
            out.append({"code": m.code, "name": m.name, "carrier": m.carrier, "role": m.role, "unit": unit,
                        "interval_s": interval, "site": sites[m.site_id],
                        "line": lines.get(m.line_id) if m.line_id else None, "depth": depth,
                        "parent": next((p.code for p in ms if p.id == m.parent_id), None)})
            walk(m.id, depth + 1)

    walk(None, 0)
    return out


def totals(session: Session, ms: list[Meter], grain: str, start: datetime | None = None,
           end: datetime | None = None) -> pd.DataFrame:
    """Per meter and period: ``total`` in the meter's carrier unit (readings converted), ``n`` readings.

    Columns: meter, start, total, n."""
    ids = {m.series_id: m for m in ms if m.series_id is not None}
    frame = rollup(session, list(ids), grain, start, end)
    units = {s.id: s.unit for s in session.execute(select(Series).where(Series.id.in_(list(ids)))).scalars()}
    factor = {sid: conversion_factor(units[sid], m.unit) for sid, m in ids.items()}
    frame["meter"] = frame["series_id"].map({sid: m.code for sid, m in ids.items()})
    frame["total"] = frame["total"] * frame["series_id"].map(factor)
    return frame[["meter", "start", "total", "n"]]


def balance(session: Session, org_id: str, grain: str = "m", start: datetime | None = None,
            end: datetime | None = None) -> list[dict[str, Any]]:
    """For each meter with sub-meters and each period: main, Σ sub-meters, unaccounted and its share [%].

    Quantities in the main meter's carrier unit.  A period in which a sub-meter has no readings is marked
    incomplete (its share is not a loss)."""
    ms = meters(session, org_id)
    kids: dict[int, list[Meter]] = {}
    for m in ms:
        if m.parent_id is not None:
            kids.setdefault(m.parent_id, []).append(m)
    out: list[dict[str, Any]] = []
    for parent in (m for m in ms if m.id in kids):
        subs = kids[parent.id]
        t = totals(session, [parent, *subs], grain, start, end)
        if t.empty:
            continue
        wide = t.pivot_table(index="start", columns="meter", values="total", aggfunc="sum")
        for when, row in wide.iterrows():
            main = row.get(parent.code)
            if main is None or pd.isna(main):
                continue
            present = [s.code for s in subs if s.code in row and not pd.isna(row[s.code])]
            sub_sum = float(sum(row[c] for c in present))
            out.append({"meter": parent.code, "unit": parent.unit, "period": pd.Timestamp(str(when)).isoformat(),
                        "main": float(main), "sub_total": sub_sum, "unaccounted": float(main) - sub_sum,
                        "unaccounted_pct": 100.0 * (float(main) - sub_sum) / float(main) if main else None,
                        "sub_meters": [s.code for s in subs],
                        "missing": [s.code for s in subs if s.code not in present]})
    return out


def line_energy(session: Session, org_id: str, year: int) -> pd.DataFrame:
    """Monthly energy per line and carrier from the top meters of each line (a meter whose parent is not on
    the same line), so sub-meters are never counted twice.  Columns: line_id, month, activity, amount
    (carrier unit of the catalogue)."""
    ms = [m for m in meters(session, org_id) if m.line_id is not None and m.role != "generation"]
    by_id = {m.id: m for m in ms}
    top = [m for m in ms if m.parent_id not in by_id or by_id[m.parent_id].line_id != m.line_id]
    t = totals(session, top, "m", datetime(year, 1, 1), datetime(year + 1, 1, 1))
    code = {m.code: m for m in top}
    return pd.DataFrame({"line_id": t["meter"].map(lambda c: code[c].line_id), "month": t["start"].dt.month,
                         "activity": t["meter"].map(lambda c: code[c].carrier), "amount": t["total"]})


def monthly_kgce(session: Session, org_id: str, year: int, convention: str = "equivalent") -> pd.DataFrame:
    """Monthly energy per line from the meters in coal equivalent (GB/T 2589, ``convention`` for electricity).

    Columns: line_id, month, kgce.  Carriers without a coal-equivalent coefficient are refused by
    :func:`rareeco.energy.enpi.coefficients`' table (never counted as zero)."""
    from rareeco.energy.enpi import coefficients
    from rareeco.inventory.service import factor_table
    from rareeco.reference.usersets import chosen_sets

    coef = coefficients(factor_table(session, org_id, chosen_sets(session, org_id, year)), convention)
    e = line_energy(session, org_id, year)
    unknown = sorted(set(e["activity"]) - set(coef))
    if unknown:
        from rareeco.errors import ValidationFailed

        raise ValidationFailed(f"no coal-equivalent coefficient for {', '.join(unknown)}",
                               fix="meter a carrier of GB/T 2589 (electricity, natural gas, diesel, LPG)")
    e["kgce"] = e["amount"] * e["activity"].map({a: c[0] for a, c in coef.items()})
    return e.groupby(["line_id", "month"], as_index=False).agg(kgce=("kgce", "sum"))


def _family(activity: str) -> str:
    """Carriers one meter measures together: every electricity source of a line passes its incomer meter."""
    return "electricity" if activity.startswith("electricity.") else activity


def metered_records(session: Session, org_id: str, year: int, records: pd.DataFrame) -> pd.DataFrame:
    """The ledger's records with each line's *metered* carriers replaced by the meters' months.

    ``records`` is a frame of :func:`rareeco.inventory.service.load_records`.  For a line whose top meters
    measure a carrier (electricity of every source, natural gas…), the records of that carrier are dropped
    and one record per meter month takes their place; carriers without a meter (diesel, say) stay as
    invoiced.  The EnPI then comes from the meters wherever there are meters.
    """
    energy = line_energy(session, org_id, year)
    if energy.empty:
        return records
    covered = {(int(ln), _family(a)) for ln, a in zip(energy["line_id"], energy["activity"], strict=True)}
    fam = records["activity"].map(_family)
    hit = [pd.notna(ln) and (int(ln), f) in covered for ln, f in zip(records["line_id"], fam, strict=True)]
    drop = pd.Series(hit, index=records.index) & (records["activity"] != "electricity.green_certificate")
    site = {m.line_id: m.site_id for m in meters(session, org_id) if m.line_id is not None}
    start = pd.to_datetime({"year": year, "month": energy["month"], "day": 1})
    add = pd.DataFrame({"id": -1, "site_id": energy["line_id"].map(site), "line_id": energy["line_id"],
                        "product_id": None, "activity": energy["activity"], "period_start": start,
                        "period_end": start + pd.offsets.MonthEnd(0), "amount": energy["amount"]})
    return pd.concat([records.loc[~drop], add], ignore_index=True)
