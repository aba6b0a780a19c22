"""Run the inventory on the ledger: load records, choose factor sets, calculate, store with provenance."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

import rareeco
from rareeco.errors import FactorNotFoundError, PeriodLockedError
from rareeco.inventory.calculate import Calculation, SiteInfo, calculate, summarise
from rareeco.inventory.sources import METHODS
from rareeco.ledger import audit, periods
from rareeco.ledger.models import ActivityRecord, FactorSetRecord, ImportBatch, Line, Product, Result, Site
from rareeco.ledger.structure import get_org, now
from rareeco.reference import FactorSet, FactorTable, builtin_sets, parse_factor_set
from rareeco.reference.usersets import chosen_sets

DEFAULT_METHOD = "ghg-protocol"
DEFAULT_GWP = "ar6"


def user_set(session: Session, org_id: str, set_id: str, sha256_prefix: str = "") -> FactorSet:
    """The latest version of a factor set the organisation added (or the version whose SHA-256 starts so)."""
    q = select(FactorSetRecord).where(FactorSetRecord.org_id == org_id, FactorSetRecord.set_id == set_id)
    if sha256_prefix:
        q = q.where(FactorSetRecord.sha256.startswith(sha256_prefix))
    rec = session.execute(q.order_by(FactorSetRecord.id.desc()).limit(1)).scalar_one_or_none()
    if rec is None:
        raise FactorNotFoundError(f"no factor set {set_id!r}{' version ' + sha256_prefix if sha256_prefix else ''} "
                                  f"in {org_id!r}", fix=f"add it with: rareeco factors add FILE --org {org_id}")
    return parse_factor_set(rec.content, set_id)


def factor_table(session: Session, org_id: str, chosen: list[str] | None = None,
                 versions: dict[str, str] | None = None) -> FactorTable:
    """User sets named in ``chosen`` (in that order) take precedence over the built-in sets.

    ``versions`` (set id → SHA-256 prefix, as results record them) pins the user sets to those versions:
    a verified result is recomputed with the factors it was verified with, not newer ones.
    """
    versions = versions or {}
    return FactorTable([user_set(session, org_id, s, versions.get(s, "")) for s in (chosen or [])]
                       + builtin_sets())


def load_records(session: Session, org_id: str, start: date, end: date) -> pd.DataFrame:
    """Records of active batches whose period touches [start, end]."""
    q = (select(ActivityRecord.id, ActivityRecord.site_id, ActivityRecord.line_id, ActivityRecord.product_id,
                ActivityRecord.activity, ActivityRecord.period_start, ActivityRecord.period_end,
                ActivityRecord.amount)
         .join(ImportBatch, ImportBatch.id == ActivityRecord.batch_id)
         .where(ActivityRecord.org_id == org_id, ImportBatch.status == "active",
                ActivityRecord.period_start <= end, ActivityRecord.period_end >= start))
    cols = ["id", "site_id", "line_id", "product_id", "activity", "period_start", "period_end", "amount"]
    result = session.connection().execute(q)
    try:
        # the driver's plain tuples straight into the frame: a million ORM rows would cost seconds
        df = pd.DataFrame.from_records(result.cursor.fetchall(), columns=cols)
    finally:
        result.close()
    for c in ("period_start", "period_end"):   # date objects (PostgreSQL) or ISO text (SQLite)
        df[c] = pd.to_datetime(df[c], format="ISO8601")
    df["amount"] = df["amount"].astype("float64")
    return df


def site_infos(session: Session, org_id: str) -> dict[int, SiteInfo]:
    return {s.id: SiteInfo(s.id, s.code, s.province, s.grid_region)
            for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}


def _codes(session: Session, model: Any, org_id: str) -> dict[int, str]:
    return {r.id: r.code for r in session.execute(select(model).where(model.org_id == org_id)).scalars()}


def input_batches(session: Session, org_id: str, start: date, end: date) -> list[dict[str, Any]]:
    q = select(ImportBatch).where(ImportBatch.org_id == org_id, ImportBatch.status == "active",
                                  ImportBatch.period_start <= end, ImportBatch.period_end >= start)
    return [{"batch_id": b.id, "file": b.file_name, "sha256": b.sha256}
            for b in session.execute(q.order_by(ImportBatch.id)).scalars()]


def compute(session: Session, org_id: str, year: int, method: str = DEFAULT_METHOD, gwp_set: str = DEFAULT_GWP,
            factor_sets: list[str] | None = None, records: pd.DataFrame | None = None,
            versions: dict[str, str] | None = None) -> tuple[dict[str, Any], Calculation]:
    """Calculate (without storing) the inventory of ``year``; returns the payload and the line-level data.

    ``records`` are the year's records from :func:`load_records` when the caller has them already;
    ``versions`` pins the factor sets to recorded versions (see :func:`factor_table`).
    """
    get_org(session, org_id)
    if method not in METHODS:
        raise FactorNotFoundError(f"unknown method {method!r}", fix=f"choose one of {', '.join(METHODS)}")
    start, end = date(year, 1, 1), date(year, 12, 31)
    if factor_sets is None:
        factor_sets = chosen_sets(session, org_id, year)
    table = factor_table(session, org_id, factor_sets, versions)
    if records is None:
        records = load_records(session, org_id, start, end)
    sites = site_infos(session, org_id)
    calc = calculate(records, sites, year, method, table, gwp_set)
    payload = summarise(calc, year, sites, _codes(session, Line, org_id), _codes(session, Product, org_id))
    batches = input_batches(session, org_id, start, end)
    payload.update({
        "organisation": org_id, "year": year, "method": method, "gwp_set": gwp_set,
        "scope2_note": "total_t_co2e uses location-based scope 2; total_market_t_co2e uses market-based",
        "notes": calc.notes, "unquantified": calc.unquantified,
        "factors_used": [{"factor_id": f.factor_id, "set": f.set_id, "value": f.value, "unit": f.unit,
                          "tag": f.tag, "source": f.source, "version": f.version}
                         for f in sorted(calc.factors.values(), key=lambda f: f.factor_id)],
        "provenance": {"factor_sets": table.versions(), "input_batches": batches,
                       "input_sha256": input_sha256(batches),
                       "records": int(records.shape[0]), "software_version": rareeco.__version__,
                       "calculated_at": now().isoformat(timespec="seconds")},
    })
    return payload, calc


def input_sha256(batches: list[dict[str, Any]]) -> str:
    """Checksum of a calculation's inputs: the SHA-256 of the active batches' file hashes, in batch order."""
    return hashlib.sha256("".join(b["sha256"] for b in batches).encode()).hexdigest()


def same_result(session: Session, org_id: str, year: int, method: str, gwp_set: str,
                factor_sets: list[str] | None) -> Result | None:
    """A stored result calculated from exactly these inputs, factor-set versions and software version."""
    chosen = factor_sets if factor_sets is not None else chosen_sets(session, org_id, year)
    versions = factor_table(session, org_id, chosen).versions()
    digest = input_sha256(input_batches(session, org_id, date(year, 1, 1), date(year, 12, 31)))
    q = (select(Result).where(Result.org_id == org_id, Result.kind == "inventory", Result.period == str(year),
                              Result.method == method, Result.gwp_set == gwp_set, Result.input_sha256 == digest,
                              Result.software_version == rareeco.__version__, Result.frozen.is_(False))
         .order_by(Result.id.desc()))
    return next((r for r in session.execute(q).scalars() if r.factor_sets == versions), None)


def verified_compute(session: Session, org_id: str, year: int, method: str,
                     gwp_set: str) -> tuple[dict[str, Any], Calculation, Result] | None:
    """For a locked year with a frozen result: the calculation with the factor-set versions it was verified
    with (for drill-downs), and that result.  None when the year is not locked."""
    lock = periods.overlapping_lock(session, org_id, date(year, 1, 1), date(year, 12, 31))
    frozen = frozen_result(session, org_id, year) if lock is not None and lock.period == str(year) else None
    if frozen is None:
        return None
    builtin = {s.set_id for s in builtin_sets()}
    chosen = [s for s in frozen.factor_sets if s not in builtin]
    payload, calc = compute(session, org_id, year, method, gwp_set, chosen, versions=frozen.factor_sets)
    return payload, calc, frozen


def frozen_result(session: Session, org_id: str, year: int) -> Result | None:
    return session.execute(select(Result).where(Result.org_id == org_id, Result.kind == "inventory",
                                                Result.period == str(year), Result.frozen.is_(True))
                           .order_by(Result.id.desc()).limit(1)).scalar_one_or_none()


def inventory(session: Session, org_id: str, year: int, method: str = DEFAULT_METHOD, gwp_set: str = DEFAULT_GWP,
              factor_sets: list[str] | None = None, actor: str = "cli", compare: bool = True) -> dict[str, Any]:
    """The inventory of ``year``, stored as a result with provenance.

    A locked year returns its frozen (verified) result; asking it with other parameters is refused.
    When a stored result has exactly the same inputs (batch checksums, factor-set versions, method, GWP set,
    software version), it is returned instead of storing a copy: reading the inventory repeatedly (the API,
    the pages) neither recalculates nor grows the results table and the audit log.
    """
    lock = periods.overlapping_lock(session, org_id, date(year, 1, 1), date(year, 12, 31))
    if lock is not None and lock.period == str(year):
        frozen = frozen_result(session, org_id, year)
        if frozen is not None:
            if (frozen.method, frozen.gwp_set) != (method, gwp_set) or factor_sets:
                raise PeriodLockedError(
                    f"recalculation refused: {year} is locked; its verified result uses {frozen.method}/"
                    f"{frozen.gwp_set.upper()} with the factor sets recorded in it",
                    fix=f"read it without options, or ask the verifier to unlock {year}")
            return {**frozen.payload, "locked": True, "result_id": frozen.id}
    same = same_result(session, org_id, year, method, gwp_set, factor_sets)
    if same is not None and (not compare or "other_methods" in same.payload):
        return {**same.payload, "result_id": same.id, "locked": lock is not None and lock.period == str(year)}
    records = load_records(session, org_id, date(year, 1, 1), date(year, 12, 31))   # once for every method
    payload, _ = compute(session, org_id, year, method, gwp_set, factor_sets, records)
    if compare:
        others = {}
        for m in METHODS:
            if m != method:
                p, _ = compute(session, org_id, year, m, gwp_set, factor_sets, records)
                others[m] = {k: p[k] for k in ("total_t_co2e", "scope1_t_co2e", "scope2_location_t_co2e",
                                               "scope2_market_t_co2e", "scope3_t_co2e")}
                others[m]["by_activity"] = p["by_activity"]
        payload["other_methods"] = others
    result = store(session, org_id, year, payload, frozen=False)
    payload["result_id"] = result.id
    payload["locked"] = lock is not None and lock.period == str(year)
    audit.append(session, actor, "inventory.calculate", f"{org_id}/{year}", org_id,
                 {"result_id": result.id, "method": method, "gwp_set": gwp_set,
                  "total_t_co2e": payload["total_t_co2e"], "input_sha256": payload["provenance"]["input_sha256"]})
    return payload


def store(session: Session, org_id: str, year: int, payload: dict[str, Any], frozen: bool) -> Result:
    r = Result(org_id=org_id, kind="inventory", period=str(year), method=payload["method"],
               gwp_set=payload["gwp_set"], factor_sets=payload["provenance"]["factor_sets"],
               input_sha256=payload["provenance"]["input_sha256"], software_version=rareeco.__version__,
               created_at=now(), frozen=frozen, payload=payload)
    session.add(r)
    session.flush()
    return r


def lock_year(session: Session, org_id: str, period: str, actor: str, comment: str = "",
              method: str = DEFAULT_METHOD, gwp_set: str = DEFAULT_GWP) -> dict[str, Any]:
    """Lock a period; a whole year also freezes its inventory result as verified."""
    pl = periods.lock(session, org_id, period, actor, comment)
    out: dict[str, Any] = {"period": pl.period, "locked_by": actor, "locked_at": pl.locked_at.isoformat()}
    if len(period) == 4:
        payload, _ = compute(session, org_id, int(period), method, gwp_set)
        r = store(session, org_id, int(period), payload, frozen=True)
        out["frozen_result_id"] = r.id
        out["total_t_co2e"] = payload["total_t_co2e"]
    return out
