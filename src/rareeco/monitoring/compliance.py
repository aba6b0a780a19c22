"""An outlet's hourly and daily averages, emitted quantities and exceedance events (docs/compliance.md).

Reads the CEMS series that :mod:`rareeco.monitoring.processing` wrote and applies the rules of
:mod:`rareeco.monitoring.cems` per the outlet's settings (:mod:`rareeco.monitoring.outlets`):

1. per channel, the hourly average of the minute values with its validity (HJ 75-2017 §12 as the settings'
   ``validity``) and flags; an hour without minute data takes the data logger's own hourly value (CN 2061), when
   there is one, with its flag;
2. an ``actual_wet`` outlet's minute concentrations are first taken to standard state and dry basis (HJ 75-2017
   appendix) with the flue gas' temperature, pressure and moisture channels;
3. the hourly concentration at the outlet's reference O2 (``C × (21 − O2_ref) / (21 − O2_hour)``): the hourly
   average is converted with the hour's average O2, the way HJ 75 converts averages, not per minute;
4. the emission rate [kg/h] = measured (not O2-converted) standard dry concentration × standard dry flow;
5. daily averages of the valid converted hours; quantities [t] as the sum of the hourly rates, with 40 CFR 75.33
   substitution of missing hours when the outlet asks for it;
6. exceedance events of hourly and daily limits, stored and notified.

Times: hours and days are local wall-clock times of the organisation (naive timestamps); points are UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.ingest.meter_csv import org_timezone
from rareeco.ledger.models import ComplianceEvent, Point, Series, WebhookDelivery
from rareeco.monitoring import cems
from rareeco.monitoring.limits import exceedances
from rareeco.monitoring.outlets import FLOW_UNITS, MOISTURE, O2, PRESSURE, TEMPERATURE, Outlet, Settings, load
from rareeco.monitoring.processing import series_key


def _utc_seconds(local: datetime, tz: str) -> int:
    return int(pd.Timestamp(local).tz_localize(tz).tz_convert("UTC").timestamp())


def _channel(session: Session, org_id: str, key: str, lo: int, hi: int, tz: str) -> pd.DataFrame:
    """Points of one series in [lo, hi) [epoch s] indexed by local naive time: columns value, flag."""
    sid = session.execute(select(Series.id).where(Series.org_id == org_id, Series.key == key)).scalar()
    if sid is None:
        return pd.DataFrame({"value": pd.Series(dtype=float), "flag": pd.Series(dtype=object)})
    rows = session.execute(select(Point.ts, Point.value, Point.flag).where(
        Point.series_id == sid, Point.ts >= lo, Point.ts < hi).order_by(Point.ts)).all()
    # columns from plain tuples: pandas probing each Row object for attributes costs seconds on a month of minutes
    cols = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], []]
    frame = pd.DataFrame(dict(zip(["ts", "value", "flag"], cols, strict=True)))
    idx = pd.to_datetime(frame["ts"].astype("int64"), unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    return pd.DataFrame({"value": frame["value"].astype(float).to_numpy(),
                         "flag": frame["flag"].fillna("N").to_numpy()}, index=pd.DatetimeIndex(idx))


def _hours(minute: pd.DataFrame, logger_hours: pd.DataFrame, interval_s: int, validity: cems.Validity) -> pd.DataFrame:
    """Hourly averages from minute data, completed by the logger's hourly values (``source`` minute | logger)."""
    parts = []
    if len(minute):
        h = cems.hourly(minute["value"], minute["flag"], interval_s, validity)
        h["source"] = "minute"
        parts.append(h)
    if len(logger_hours):
        h = cems.hourly(logger_hours["value"], logger_hours["flag"], 3600, cems.Validity(1.0, 1))
        h["source"] = "logger"
        if parts:
            h = h[~h.index.isin(parts[0].index)]
        parts.append(h)
    if not parts:
        return pd.DataFrame(columns=["mean", "n_valid", "n_expected", "status", "flags", "source"])
    return pd.concat(parts).sort_index()


def outlet_hours(session: Session, org_id: str, outlet: Outlet, start: datetime, end: datetime,
                 settings: Settings | None = None) -> pd.DataFrame:
    """Hourly table of ``outlet`` for local hours in [start, end): one row per (hour, pollutant).

    Columns: ``hour``, ``pollutant``, ``measured`` [mg/m3, standard dry], ``o2`` [%], ``converted`` (at the
    reference O2; = measured without one), ``flow_m3_h``, ``kg_h``, ``status`` (valid | invalid | stopped | missing),
    ``flags``, ``source``, ``substituted`` and ``method`` (40 CFR 75.33, for quantities only).
    """
    settings = settings or load(session, org_id)
    tz = org_timezone(session, org_id)
    lo, hi = _utc_seconds(start, tz), _utc_seconds(end, tz)
    hours = pd.date_range(start, end, freq="h", inclusive="left")

    def channel_hours(code: str, convert: Any = None) -> pd.DataFrame:
        minute = _channel(session, org_id, series_key(outlet.mn, code, "2051"), lo, hi, tz)
        if convert is not None and len(minute):
            minute = convert(minute)
        logger = _channel(session, org_id, series_key(outlet.mn, code, "2061"), lo, hi, tz)
        return _hours(minute, logger, outlet.interval_s, settings.validity).reindex(hours)

    to_std = None
    if outlet.basis == "actual_wet":
        t_c = _channel(session, org_id, series_key(outlet.mn, TEMPERATURE, "2051"), lo, hi, tz)["value"]
        p_kpa = _channel(session, org_id, series_key(outlet.mn, PRESSURE, "2051"), lo, hi, tz)["value"]
        x_sw = _channel(session, org_id, series_key(outlet.mn, MOISTURE, "2051"), lo, hi, tz)["value"]

        def to_std(frame: pd.DataFrame) -> pd.DataFrame:
            both = frame.join(pd.DataFrame({"t": t_c, "p": p_kpa, "x": x_sw}), how="left")
            std = cems.to_standard_state(both["value"].to_numpy(), both["p"].to_numpy() * 1000.0, both["t"].to_numpy())
            dry = cems.to_dry_basis(np.nan_to_num(std, nan=np.nan), np.nan_to_num(both["x"].to_numpy(), nan=0.0))
            out = frame.copy()
            out["value"] = dry  # a minute without T, P or moisture has no standard value (NaN → not valid)
            return out

    o2 = channel_hours(O2) if outlet.reference_o2_pct is not None else None
    flow = channel_hours(outlet.flow_code)
    flow_m3_h = flow["mean"].astype(float) * FLOW_UNITS[outlet.flow_unit]
    rows = []
    for p in outlet.pollutants:
        c = channel_hours(p.code, to_std)
        measured = c["mean"].astype(float)
        status = c["status"].fillna("missing")
        if o2 is not None and outlet.reference_o2_pct is not None:
            o2_mean = o2["mean"].astype(float)
            ok = o2_mean.notna() & (o2_mean < 21)
            converted = pd.Series(np.where(ok, measured.to_numpy() * (21 - outlet.reference_o2_pct)
                                           / (21 - o2_mean.where(ok, 0).to_numpy()), np.nan), index=hours)
        else:
            o2_mean, converted = pd.Series(np.nan, index=hours), measured
        stopped = status == "stopped"
        per_m3 = 1000.0 if p.unit == "mg/L" else 1.0   # a water outlet: 1 mg/L = 1,000 mg/m3
        rate = pd.Series(cems.emission_rate_kg_h(measured.to_numpy() * per_m3, flow_m3_h.to_numpy()), index=hours)
        rate[stopped] = 0.0
        rows.append(pd.DataFrame({
            "hour": hours, "pollutant": p.code, "measured": measured.to_numpy(), "o2": o2_mean.to_numpy(),
            "converted": converted.to_numpy(), "flow_m3_h": flow_m3_h.to_numpy(), "kg_h": rate.to_numpy(),
            "status": status.to_numpy(), "flags": c["flags"].fillna("").to_numpy(),
            "source": c["source"].fillna("").to_numpy(), "substituted": False, "method": ""}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return _substitute(out, outlet) if outlet.substitution and len(out) else out


def _substitute(hours: pd.DataFrame, outlet: Outlet) -> pd.DataFrame:
    """Missing hours (invalid or absent, not stopped) get a 40 CFR 75.33 value for the quantities.

    Availability is the share of the window's operating hours with a valid value (the rule's look-back is the
    previous 720 quality-assured hours; the window stands in for it).  Hours outside the monitor's record (before
    its first or after its last reading in the window) are not substituted."""
    out = []
    for code, g in hours.groupby("pollutant", sort=False):
        g = g.copy()
        # operating hours: not stopped, within the monitor's record (hours before its first or after its last
        # reading are not monitored hours — a station installed in March substitutes nothing for January)
        seen = np.flatnonzero((g["status"] != "missing").to_numpy())
        inside = np.zeros(len(g), dtype=bool)
        if len(seen):
            inside[seen[0]:seen[-1] + 1] = True
        running = (g["status"] != "stopped") & inside
        valid = running & g["kg_h"].notna()
        if not valid.any() or valid[running].all():
            out.append(g)
            continue
        availability = 100.0 * valid.sum() / running.sum()
        p = outlet.pollutant(str(code))
        if availability < 80 and p.max_potential is None:
            raise ValidationFailed(f"{outlet.code} {code}: availability {availability:.1f} % needs the maximum "
                                   "potential value (40 CFR 75.33 below 80 %)",
                                   fix=f"set max_potential for {code} in the outlet's settings")
        sub = cems.substitute_missing(g.loc[running, "kg_h"].reset_index(drop=True), availability,
                                      (p.max_potential or 0.0) * float(g["flow_m3_h"].max()) * 1e-6)
        g.loc[running, "kg_h"] = sub["value"].to_numpy()
        g.loc[running, "substituted"] = sub["substituted"].to_numpy()
        g.loc[running, "method"] = sub["method"].to_numpy()
        out.append(g)
    return pd.concat(out, ignore_index=True)


def outlet_days(hours: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Daily averages of the converted hourly values per pollutant (valid with enough valid hours)."""
    rows = []
    for code, g in hours.groupby("pollutant", sort=False):
        frame = pd.DataFrame({"mean": g["converted"].where(g["status"] == "valid").to_numpy(),
                              "status": g["status"].replace("missing", "invalid").to_numpy()},
                             index=pd.DatetimeIndex(g["hour"]))
        d = cems.daily(frame, settings.validity).reset_index()
        d["pollutant"] = code
        rows.append(d)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def quantities(hours: pd.DataFrame) -> pd.DataFrame:
    """Emitted quantity [t] per pollutant and local month from an hourly table, with the hours behind it."""
    if not len(hours):
        return pd.DataFrame(columns=["pollutant", "month", "t", "valid_h", "substituted_h", "missing_h"])
    h = hours.assign(month=pd.DatetimeIndex(hours["hour"]).strftime("%Y-%m"),
                     valid=lambda f: (f["status"] == "valid") & ~f["substituted"],
                     missing=lambda f: f["kg_h"].isna() & (f["status"] != "stopped"))
    g = h.groupby(["pollutant", "month"], sort=False).agg(
        kg=("kg_h", lambda s: float(s.dropna().sum())), valid_h=("valid", "sum"),
        substituted_h=("substituted", "sum"), missing_h=("missing", "sum")).reset_index()
    g["t"] = g["kg"] / 1000.0
    return g.drop(columns="kg")


# --------------------------------------------------------------------------------------- events

def detect(session: Session, org_id: str, start: datetime, end: datetime, now: datetime | None = None
           ) -> list[ComplianceEvent]:
    """Find exceedances of every hourly and daily limit in [start, end) and store them; an event already stored
    (same outlet, pollutant, period and start) is updated, so re-running never doubles one.  New events get a
    pending webhook delivery when a webhook is configured.  Returns the events that are new."""
    now = now or datetime.now(UTC)
    settings = load(session, org_id)
    tz = org_timezone(session, org_id)
    new: list[ComplianceEvent] = []
    for outlet in settings.outlets:
        hours = outlet_hours(session, org_id, outlet, start, end, settings)
        if not len(hours):
            continue
        days = outlet_days(hours, settings)
        for p in outlet.pollutants:
            for spec in p.limits:
                lim = spec.limit
                if lim.period == "h":
                    g = hours[hours["pollutant"] == p.code]
                    series = pd.Series(g["converted"].where(g["status"] == "valid").to_numpy(),
                                       index=pd.DatetimeIndex(g["hour"]))
                elif lim.period == "d":
                    g = days[days["pollutant"] == p.code]
                    series = pd.Series(g["mean"].astype(float).to_numpy(), index=pd.DatetimeIndex(g["day"]))
                else:
                    continue  # quantity limits are compared in the report (quantities over the year)
                for found in exceedances(series, lim):
                    stored = _upsert(session, org_id, outlet.code, lim.period, spec.kind, found, tz, now)
                    if stored is not None:
                        new.append(stored)
    session.flush()
    if settings.webhook_url:
        for ev in new:
            session.add(WebhookDelivery(org_id=org_id, event_id=ev.id, url=settings.webhook_url,
                                        payload=event_payload(ev, settings), created_at=now))
    return new


def _aware(local: Any, tz: str) -> datetime:
    """A local wall-clock time as the UTC instant events are stored in (SQLite keeps no offset)."""
    return pd.Timestamp(local).tz_localize(tz).tz_convert("UTC").to_pydatetime()


def local_time(dt: datetime | None, tz: str) -> datetime | None:
    """A stored instant as the organisation's naive wall-clock time: PostgreSQL returns it aware, SQLite naive in
    UTC (every time of the compliance tables is written in UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _upsert(session: Session, org_id: str, outlet: str, period: str, kind: str, ev: dict[str, Any], tz: str,
            now: datetime) -> ComplianceEvent | None:
    start = _aware(ev["start"], tz)
    row = session.execute(select(ComplianceEvent).where(
        ComplianceEvent.org_id == org_id, ComplianceEvent.outlet == outlet,
        ComplianceEvent.pollutant == ev["pollutant"], ComplianceEvent.period == period,
        ComplianceEvent.limit_value == ev["limit"], ComplianceEvent.start == start)).scalar_one_or_none()
    values = {"end": _aware(ev["end"], tz), "periods": int(ev["periods"]), "peak": float(ev["peak"]),
              "peak_at": _aware(ev["peak_at"], tz)}
    if row is not None:
        for k, v in values.items():
            setattr(row, k, v)
        return None
    row = ComplianceEvent(org_id=org_id, outlet=outlet, pollutant=ev["pollutant"], period=period,
                          limit_value=float(ev["limit"]), unit=str(ev["unit"]), limit_kind=kind, start=start,
                          detected_at=now, **values)
    session.add(row)
    session.flush()
    return row


def events(session: Session, org_id: str, start: datetime | None = None, end: datetime | None = None
           ) -> list[ComplianceEvent]:
    """Events overlapping [start, end) (aware instants), oldest first."""
    q = select(ComplianceEvent).where(ComplianceEvent.org_id == org_id)
    if start is not None:
        q = q.where(ComplianceEvent.end > start.astimezone(UTC))
    if end is not None:
        q = q.where(ComplianceEvent.start < end.astimezone(UTC))
    return list(session.execute(q.order_by(ComplianceEvent.start, ComplianceEvent.outlet)).scalars())


def acknowledge(session: Session, org_id: str, event_id: int, actor: str, comment: str,
                now: datetime | None = None) -> ComplianceEvent:
    """Acknowledge an event with a comment (what happened, what was done); once only."""
    ev = session.get(ComplianceEvent, event_id)
    if ev is None or ev.org_id != org_id:
        raise NotFoundError(f"no exceedance event {event_id} in {org_id}", fix="list them: rareeco compliance events")
    if not comment.strip():
        raise ValidationFailed("an acknowledgement needs a comment", fix="say what caused it and what was done")
    if ev.acknowledged_at is not None:
        raise ValidationFailed(f"event {event_id} was acknowledged by {ev.acknowledged_by} already",
                               fix="add to the plant's log instead")
    ev.acknowledged_by, ev.acknowledged_at, ev.comment = actor, now or datetime.now(UTC), comment.strip()
    return ev


# --------------------------------------------------------------------------------------- webhook

def event_payload(ev: ComplianceEvent, settings: Settings) -> dict[str, Any]:
    outlet = settings.outlet(ev.outlet)
    p = outlet.pollutant(ev.pollutant)
    return {"type": "rareeco.compliance.exceedance", "org": ev.org_id, "event_id": ev.id, "outlet": ev.outlet,
            "outlet_name": outlet.name, "mn": outlet.mn, "pollutant": ev.pollutant, "pollutant_name": p.name,
            "limit": ev.limit_value, "unit": ev.unit, "limit_kind": ev.limit_kind, "period": ev.period,
            "start": ev.start.isoformat(), "end": ev.end.isoformat(), "peak": ev.peak,
            "peak_at": ev.peak_at.isoformat()}


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of the body, sent as ``X-Rareeco-Signature`` (the receiver recomputes it)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(session: Session, org_id: str, timeout_s: float = 5.0, max_attempts: int = 10) -> dict[str, int]:
    """POST each pending delivery; a failure is recorded and retried on the next call (up to ``max_attempts``)."""
    import httpx

    settings = load(session, org_id)
    secret = os.environ.get(settings.webhook_secret_env or "", "") if settings.webhook_secret_env else ""
    counts = {"delivered": 0, "failed": 0}
    pending = session.execute(select(WebhookDelivery).where(
        WebhookDelivery.org_id == org_id, WebhookDelivery.status == "pending").order_by(WebhookDelivery.id)).scalars()
    with httpx.Client(timeout=timeout_s) as client:
        for d in pending:
            body = json.dumps(d.payload, sort_keys=True).encode()
            headers = {"Content-Type": "application/json", "X-Rareeco-Delivery": str(d.id)}
            if secret:
                headers["X-Rareeco-Signature"] = signature(secret, body)
            d.attempts += 1
            try:
                r = client.post(d.url, content=body, headers=headers)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                d.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if d.attempts >= max_attempts:
                    d.status = "failed"
                counts["failed"] += 1
                continue
            d.status, d.delivered_at, d.last_error = "delivered", datetime.now(UTC), None
            counts["delivered"] += 1
    return counts


def yearly_quantities(session: Session, org_id: str, year: int) -> list[dict[str, Any]]:
    """Each outlet's emitted quantity per pollutant over a calendar year [t], with the hours behind it: the
    measured direct emissions of the outlet's line (``site``/``line`` of its settings) for the footprints."""
    settings = load(session, org_id)
    rows = []
    for outlet in settings.outlets:
        hours = outlet_hours(session, org_id, outlet, datetime(year, 1, 1), datetime(year + 1, 1, 1), settings)
        q = quantities(hours)
        for code, g in q.groupby("pollutant", sort=False):
            rows.append({"outlet": outlet.code, "site": outlet.site, "line": outlet.line, "pollutant": code,
                         "t": float(g["t"].sum()), "valid_h": int(g["valid_h"].sum()),
                         "substituted_h": int(g["substituted_h"].sum()), "missing_h": int(g["missing_h"].sum())})
    return rows
