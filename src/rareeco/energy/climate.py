"""Outdoor temperatures of a site, kept in the time-series store, for degree-day baselines (ISO 50006 §6.5).

The user provides daily mean temperatures (a weather service's or the plant's own station's); they are a
*level* series ``weather:<site>:temperature_c`` [°C], one point a day, so the store's daily roll-up is the day's
mean and the baselines read them back with :func:`daily_temperatures`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import Finding, ValidationFailed
from rareeco.ingest.meter_csv import org_timezone
from rareeco.ledger.models import Series, SeriesBatch
from rareeco.ledger.structure import get_site, now
from rareeco.timeseries.store import Findings, ensure_series, latest, rollup, write

DAY_S = 86_400


def series_key(site: str) -> str:
    return f"weather:{site}:temperature_c"


def read_csv(path: Path) -> pd.Series:
    """Daily mean temperatures [°C] from a CSV with the columns ``date`` (YYYY-MM-DD) and ``temperature_c``;
    unreadable rows are refused with their row numbers."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"date", "temperature_c"} <= set(frame.columns):
        raise ValidationFailed(f"{path.name} needs the columns date and temperature_c",
                               fix="one row per day: date (YYYY-MM-DD), temperature_c (daily mean, °C)")
    days = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")
    t = pd.to_numeric(frame["temperature_c"], errors="coerce")
    bad = [Finding("bad_value", f"unreadable {col} {frame[col].iloc[i]!r}", file=path.name, row=i + 2, column=col,
                   fix="date as YYYY-MM-DD, temperature as a number in °C")
           for col, miss in (("date", days.isna()), ("temperature_c", t.isna() | (t.abs() > 70)))
           for i in np.flatnonzero(miss.to_numpy())[:50]]
    if bad:
        raise ValidationFailed(f"{path.name}: {len(bad)} unreadable row(s); nothing stored", fix=bad[0].fix,
                               findings=bad)
    return pd.Series(t.to_numpy(float), index=pd.DatetimeIndex(days), name="temperature_c")


def store(session: Session, org_id: str, site: str, temperatures: pd.Series, source: str) -> dict[str, int]:
    """Store daily means [°C] (index: local dates) as the site's temperature series; a day already stored keeps
    its value (a conflict is reported), so importing a file twice changes nothing."""
    get_site(session, org_id, site)
    tz = org_timezone(session, org_id)
    s = ensure_series(session, org_id, series_key(site), "degC", DAY_S, kind="level")
    local = pd.DatetimeIndex(temperatures.index).tz_localize(tz)
    ts = np.asarray(local.tz_convert("UTC").as_unit("s").asi8, dtype=np.int64)
    batch = SeriesBatch(org_id=org_id, source=source[-400:], received_at=now())
    session.add(batch)
    session.flush()
    findings = Findings(labels={s.id: series_key(site)}, tz=tz)
    w = write(session, np.full(len(ts), s.id, dtype=np.int64), ts, temperatures.to_numpy(float), batch.id, tz,
              findings, latest(session, [s.id]), {s.id: DAY_S}, where=source)
    batch.points_stored, batch.points_duplicate, batch.findings = w.stored, w.duplicates, findings.to_list()
    return {"batch": batch.id, "days_stored": w.stored, "duplicates": w.duplicates, "conflicts": w.conflicts}


def daily_temperatures(session: Session, org_id: str, site: str, start: date | None = None,
                       end: date | None = None) -> pd.Series | None:
    """The site's daily mean temperatures [°C] with start ≤ day < end, or None when none are stored."""
    s = session.execute(select(Series).where(Series.org_id == org_id, Series.key == series_key(site))
                        ).scalar_one_or_none()
    if s is None:
        return None
    from datetime import datetime

    days = rollup(session, [s.id], "d", datetime.combine(start, datetime.min.time()) if start else None,
                  datetime.combine(end, datetime.min.time()) if end else None)
    if days.empty:
        return None
    return pd.Series((days["total"] / days["n"]).to_numpy(), index=pd.DatetimeIndex(days["start"]),
                     name="temperature_c")
