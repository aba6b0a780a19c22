"""Data for the pages (read from the ledger and the calculators; no HTML here)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rareeco.inventory.service import compute
from rareeco.ledger.models import FindingRecord, ImportBatch

SCOPES = ("scope1_t_co2e", "scope2_location_t_co2e", "scope2_market_t_co2e", "scope3_t_co2e")


def data_years(session: Session, org_id: str) -> list[int]:
    """Calendar years touched by the organisation's active batches, newest first."""
    lo, hi = session.execute(select(func.min(ImportBatch.period_start), func.max(ImportBatch.period_end))
                             .where(ImportBatch.org_id == org_id, ImportBatch.status == "active")).one()
    if lo is None or hi is None:
        return [date.today().year]
    return list(range(hi.year, lo.year - 1, -1))


def open_findings(session: Session, org_id: str) -> list[FindingRecord]:
    """Findings stored with the organisation's active batches (advisory ones a person should look at)."""
    q = (select(FindingRecord).join(ImportBatch, ImportBatch.id == FindingRecord.batch_id)
         .where(FindingRecord.org_id == org_id, ImportBatch.status == "active")
         .order_by(FindingRecord.id.desc()).limit(50))
    return list(session.execute(q).scalars())


def overview_data(session: Session, org_id: str, year: int | None) -> dict[str, Any]:
    years = data_years(session, org_id)
    year = year if year in years else years[0]
    p, _ = compute(session, org_id, year)
    prev = compute(session, org_id, year - 1)[0] if (year - 1) in years else None
    production = sum(p["production_t"].values())
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    monthly = {k: [round(p["by_month"].get(m, {}).get(k, 0.0), 3) for m in months] for k in SCOPES}
    sites = sorted(p["by_site"])
    chart = {
        "months": months, "monthly": monthly,
        "sites": sites,
        "site_location": [round(p["by_site"][s]["scope2_location_t_co2e"], 3) for s in sites],
        "site_market": [round(p["by_site"][s]["scope2_market_t_co2e"], 3) for s in sites],
    }
    return {
        "year": year, "years": years, "p": p, "prev": prev, "chart": chart,
        "yoy": (p["total_t_co2e"] / prev["total_t_co2e"] - 1) if prev and prev["total_t_co2e"] else None,
        "production_t": production,
        "intensity": p["total_t_co2e"] / production if production else None,
        "prev_intensity": (prev["total_t_co2e"] / sum(prev["production_t"].values())
                           if prev and sum(prev["production_t"].values()) else None),
        "findings": open_findings(session, org_id),
    }
