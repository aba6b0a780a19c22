"""The figures of the monthly compliance report (docs/compliance.md): a calculator over the CEMS series, the
outlets' settings and the stored exceedance events; :mod:`rareeco.reports.compliance_report` only lays them out.

Per outlet and pollutant, for the local calendar month (up to the last whole hour when the month is not over):

- hours by status — valid, invalid, stopped, missing — and the counts of the values' HJ 212 data flags;
- data availability [%] = valid hours / operating hours (all hours minus stopped ones);
- the monthly average and the maximum of the valid hourly averages at the reference O2 (``converted``);
- days whose valid daily average is above the daily permit limit; per limit, the periods above it;
- emitted quantities [t] for the month and the year to date (one hourly table from 1 January, so the 40 CFR
  75.33 substitution sees the same window as ``rareeco compliance quantities``) against yearly quantity limits;
- the month's exceedance events with their acknowledgement.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

import rareeco
from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.ingest.meter_csv import org_timezone
from rareeco.ledger.models import ComplianceEvent
from rareeco.ledger.structure import get_org
from rareeco.monitoring import compliance
from rareeco.monitoring.compliance import local_time
from rareeco.monitoring.outlets import Settings, load

STATUSES = ("valid", "invalid", "stopped", "missing")


def month_range(month: str) -> tuple[datetime, datetime]:
    """Local naive [start, end) of ``YYYY-MM``."""
    try:
        start = datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ValidationFailed(f"month {month!r} is not YYYY-MM", fix="e.g. --month 2025-12") from None
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


def aware(dt: datetime, tz: str) -> datetime:
    """A local wall-clock time as an aware instant."""
    return pd.Timestamp(dt).tz_localize(tz).to_pydatetime()


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def event_dict(ev: ComplianceEvent, settings: Settings, tz: str) -> dict[str, Any]:
    """An exceedance event as plain data, times in the organisation's local time."""
    try:
        outlet = settings.outlet(ev.outlet)
        p = outlet.pollutant(ev.pollutant)
        names = {"outlet_name": outlet.name, "outlet_name_zh": outlet.name_zh, "pollutant_name": p.name,
                 "pollutant_name_zh": p.name_zh}
    except NotFoundError:   # the settings changed since: keep the codes
        names = {"outlet_name": ev.outlet, "outlet_name_zh": ev.outlet, "pollutant_name": ev.pollutant,
                 "pollutant_name_zh": ev.pollutant}
    start, end = local_time(ev.start, tz), local_time(ev.end, tz)
    assert start is not None and end is not None

    def text(dt: datetime | None) -> str | None:
        return None if dt is None else dt.strftime("%Y-%m-%d %H:%M")

    return {"id": ev.id, "outlet": ev.outlet, "pollutant": ev.pollutant, **names, "period": ev.period,
            "limit_kind": ev.limit_kind, "limit": ev.limit_value, "unit": ev.unit, "start": text(start),
            "end": text(end), "periods": ev.periods, "duration_h": (end - start).total_seconds() / 3600.0,
            "peak": ev.peak, "peak_at": text(local_time(ev.peak_at, tz)), "acknowledged_by": ev.acknowledged_by,
            "acknowledged_at": text(local_time(ev.acknowledged_at, tz)), "comment": ev.comment}


def _flags(texts: pd.Series) -> dict[str, int]:
    """Sum of the hourly flag counts (``"M:30 C:5"``) → ``{"C": 5, "M": 30}``."""
    total: Counter[str] = Counter()
    for t in texts:
        for part in str(t or "").split():
            flag, _, n = part.partition(":")
            total[flag] += int(n or 1)
    return dict(sorted(total.items()))


def month_summary(session: Session, org_id: str, month: str, now: datetime | None = None) -> dict[str, Any]:
    """The monthly compliance figures of ``org_id`` for ``month`` (YYYY-MM) as JSON-ready data."""
    settings = load(session, org_id)
    if not settings.outlets:
        raise ValidationFailed(f"{org_id} has no compliance settings",
                               fix="rareeco compliance settings import FILE --org " + org_id)
    tz = org_timezone(session, org_id)
    start, end = month_range(month)
    now_local = pd.Timestamp(now or datetime.now(UTC)).tz_convert(tz).tz_localize(None).floor("h").to_pydatetime()
    through = min(end, now_local)
    if through <= start:
        raise ValidationFailed(f"{month} has not begun", fix="report a month that has started")
    year_start = datetime(start.year, 1, 1)
    out_outlets = []
    for outlet in settings.outlets:
        ytd = compliance.outlet_hours(session, org_id, outlet, year_start, through, settings)
        hours = ytd[pd.DatetimeIndex(ytd["hour"]) >= pd.Timestamp(start)] if len(ytd) else ytd
        days = compliance.outlet_days(hours, settings) if len(hours) else pd.DataFrame()
        q_ytd = compliance.quantities(ytd)
        rows = []
        for p in outlet.pollutants:
            g = hours[hours["pollutant"] == p.code]
            status = g["status"].astype(str)
            counts = {s: int((status == s).sum()) for s in STATUSES}
            operating = len(g) - counts["stopped"]
            conv = g["converted"].astype(float).where(status == "valid")
            mean, peak = _num(conv.mean()), _num(conv.max())
            peak_at = (None if peak is None else
                       pd.Timestamp(g["hour"].to_numpy()[int(conv.fillna(float("-inf")).to_numpy().argmax())]))
            d = days[days["pollutant"] == p.code] if len(days) else pd.DataFrame(columns=["mean", "status"])
            d_mean = d["mean"].astype(float) if len(d) else pd.Series(dtype=float)
            q = q_ytd[q_ytd["pollutant"] == p.code]
            month_q = q[q["month"] == month]
            t_month = float(month_q["t"].sum()) if len(month_q) else 0.0
            t_ytd = float(q["t"].sum()) if len(q) else 0.0
            limits = []
            for spec in p.limits:
                lim = spec.limit
                row: dict[str, Any] = {"kind": spec.kind, "period": lim.period, "value": lim.value, "unit": lim.unit,
                                       "source": lim.source}
                if lim.period == "h":
                    row["over"] = int((conv > lim.value).sum())
                elif lim.period == "d":
                    row["over"] = int((d_mean > lim.value).sum())
                else:
                    row["over"] = int(t_ytd > lim.value)
                    row["share_pct"] = 100.0 * t_ytd / lim.value
                limits.append(row)
            daily_permits = [x["value"] for x in limits if x["period"] == "d" and x["kind"] == "permit"]
            yearly = [x for x in limits if x["period"] == "y"]
            rows.append({
                "code": p.code, "name": p.name, "name_zh": p.name_zh, "unit": p.unit,
                "hours": {**counts, "total": len(g)}, "flags": _flags(g["flags"]),
                "availability_pct": 100.0 * counts["valid"] / operating if operating else None,
                "mean": mean, "max": peak, "max_at": None if peak_at is None else peak_at.strftime("%Y-%m-%d %H:00"),
                "valid_days": int((d["status"] == "valid").sum()) if len(d) else 0, "days": len(d),
                "days_over_daily_limit": (int((d_mean > min(daily_permits)).sum()) if daily_permits else None),
                "daily_limit": min(daily_permits) if daily_permits else None,
                "limits": limits,
                "quantity_t_month": t_month, "quantity_t_ytd": t_ytd,
                "substituted_h_month": int(month_q["substituted_h"].sum()) if len(month_q) else 0,
                "substituted_h_ytd": int(q["substituted_h"].sum()) if len(q) else 0,
                "yearly_limit_t": min(x["value"] for x in yearly) if yearly else None,
                "yearly_share_pct": (100.0 * t_ytd / min(x["value"] for x in yearly)) if yearly else None})
        out_outlets.append({"code": outlet.code, "name": outlet.name, "name_zh": outlet.name_zh, "mn": outlet.mn,
                            "site": outlet.site, "line": outlet.line, "reference_o2_pct": outlet.reference_o2_pct,
                            "basis": outlet.basis, "substitution": outlet.substitution, "pollutants": rows})
    evs = [event_dict(e, settings, tz) for e in compliance.events(session, org_id, aware(start, tz), aware(end, tz))]
    org = get_org(session, org_id)
    return {
        "organisation": org_id, "organisation_name": org.name, "month": month, "timezone": tz,
        "period": {"start": start.strftime("%Y-%m-%d %H:%M"), "end": end.strftime("%Y-%m-%d %H:%M"),
                   "through": through.strftime("%Y-%m-%d %H:%M"), "complete": through >= end},
        "validity": {"hour_min_valid_fraction": settings.validity.hour_min_valid_fraction,
                     "day_min_valid_hours": settings.validity.day_min_valid_hours},
        "outlets": out_outlets, "events": evs,
        "totals": {"events": len(evs), "permit_events": sum(e["limit_kind"] == "permit" for e in evs),
                   "unacknowledged": sum(e["acknowledged_by"] is None for e in evs)},
        "generated": {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                      "software_version": rareeco.__version__},
    }
