"""The time-series store: raw points in the ledger database, rolled up per hour, day and month as they arrive.

Design (docs/meters.md):

- **Raw points** live in one table keyed by (series, instant) — on SQLite a ``WITHOUT ROWID`` table, so a series'
  points sit together in primary-key order and a range read is one B-tree scan.  The key makes a point unique:
  an exact repeat is counted as a duplicate and dropped, a repeat with another value is a *conflict* (the stored
  value is kept and the arrival reported).
- **Roll-ups** (sum, count, minimum, maximum per series and hour/day/month of local time) are updated in the
  same transaction as the points they summarise, by adding the new points' aggregates (SQL ``ON CONFLICT DO
  UPDATE``), so a late point, arriving after its hour was rolled up, lands in the right bucket.  A month's energy
  of a meter is then one row, whatever the interval of its data.
- **Bulk paths**: SQLite takes ``executemany`` of prepared inserts inside one transaction; PostgreSQL takes
  ``COPY`` into a temporary table and one ``INSERT … ON CONFLICT DO NOTHING``.

A point's ``ts`` is the UTC start of the interval its value covers [epoch s] (HJ 212's DataTime convention);
importers shift end-stamped data.  Buckets follow the organisation's local time zone.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.ledger.models import Point, Rollup, Series

GRAINS = ("h", "d", "m")
#: How many occurrences of one finding code are listed in full (the rest are counted).
LISTED_PER_CODE = 20
#: A point is a spike when it exceeds the series' chunk median by this many median absolute deviations and is
#: more than SPIKE_RATIO times the median (a robust rule that leaves normal load swings alone).
SPIKE_MADS = 20.0
SPIKE_RATIO = 3.0


@dataclass
class Findings:
    """Findings of one arrival, grouped by code: each code's count and its first occurrences."""

    counts: dict[str, int] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)
    #: series id → what people call it (a meter code), and the zone the times are shown in
    labels: dict[int, str] = field(default_factory=dict)
    tz: str = "UTC"

    def name(self, series_id: int) -> str:
        return self.labels.get(int(series_id), f"series {series_id}")

    def when(self, ts: int) -> str:
        """An instant as local ISO 8601 with its offset."""
        return pd.Timestamp(int(ts), unit="s", tz="UTC").tz_convert(self.tz).isoformat()

    def add(self, code: str, n: int, message: str, **data: Any) -> None:
        """Count ``n`` occurrences of ``code`` and list this one (up to LISTED_PER_CODE per code)."""
        if n <= 0:
            return
        self.counts[code] = self.counts.get(code, 0) + n
        if sum(1 for f in self.listed if f["code"] == code) < LISTED_PER_CODE:
            self.listed.append({"code": code, "count": n, "message": message, **data})

    def more(self, code: str, n: int) -> None:
        """Count ``n`` further occurrences without listing them."""
        if n > 0:
            self.counts[code] = self.counts.get(code, 0) + n

    def to_list(self) -> list[dict[str, Any]]:
        summary = [{"code": c, "count": n, "message": f"{n} in all"} for c, n in sorted(self.counts.items())]
        return summary + self.listed


@dataclass
class Written:
    """What one write did: points stored, exact duplicates dropped, conflicting repeats kept out, late points."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    late: int = 0

    def __iadd__(self, other: Written) -> Written:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        self.late += other.late
        return self


def ensure_series(session: Session, org_id: str, key: str, unit: str, interval_s: int | None = None,
                  kind: str = "amount") -> Series:
    """The series ``key`` of the organisation, created on first use."""
    if kind not in ("amount", "level"):
        raise ValidationFailed(f"unknown series kind {kind!r}", fix="use amount (summed) or level (averaged)")
    s = session.execute(select(Series).where(Series.org_id == org_id, Series.key == key)).scalar_one_or_none()
    if s is None:
        s = Series(org_id=org_id, key=key, unit=unit, interval_s=interval_s, kind=kind)
        session.add(s)
        session.flush()
    return s


def local_seconds(ts: np.ndarray, tz: str) -> np.ndarray:
    """UTC epoch seconds → local wall-clock seconds from 1970-01-01 in ``tz`` (handles DST where a zone has it)."""
    t = pd.DatetimeIndex(pd.to_datetime(ts, unit="s", utc=True)).tz_convert(tz).tz_localize(None)
    return np.asarray(t.as_unit("s").asi8, dtype=np.int64)


def wall_seconds(when: datetime) -> int:
    """A naive local datetime as local wall-clock seconds from 1970-01-01 (the roll-ups' ``start``)."""
    return calendar.timegm(when.timetuple())


def bucket_starts(local: np.ndarray, grain: str) -> np.ndarray:
    """Local start of each value's hour, day or month [local s]."""
    if grain == "h":
        return local - local % 3600
    if grain == "d":
        return local - local % 86400
    if grain == "m":
        return local.astype("datetime64[s]").astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    raise ValidationFailed(f"unknown grain {grain!r}", fix="use h (hour), d (day) or m (month)")


def _existing(session: Session, sid: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Stored instants and values of one series in [lo, hi], in order."""
    rows = session.execute(select(Point.ts, Point.value).where(Point.series_id == sid, Point.ts >= lo,
                                                               Point.ts <= hi).order_by(Point.ts)).all()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=float)


def latest(session: Session, series_ids: Sequence[int]) -> dict[int, int]:
    """The newest stored instant of each series [epoch s] (series without points are left out)."""
    if not series_ids:
        return {}
    rows = session.execute(select(Point.series_id, func.max(Point.ts)).where(Point.series_id.in_(list(series_ids)))
                           .group_by(Point.series_id)).all()
    return {int(s): int(t) for s, t in rows}


def _insert(session: Session, sid: np.ndarray, ts: np.ndarray, value: np.ndarray, flag: np.ndarray | None,
            batch_id: int) -> None:
    conn = session.connection()
    flags = [None] * len(sid) if flag is None else flag.tolist()
    rows = zip(sid.tolist(), ts.tolist(), value.tolist(), flags, [batch_id] * len(sid), strict=True)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        copy_sql = "COPY points (series_id, ts, value, flag, batch_id) FROM STDIN"
        with raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[attr-defined]
            for r in rows:
                copy.write_row(r)
    else:
        cur = raw.cursor()
        cur.executemany("INSERT INTO points (series_id, ts, value, flag, batch_id) VALUES (?, ?, ?, ?, ?)",
                        rows)  # type: ignore[arg-type]
        cur.close()


def _rollup(session: Session, sid: np.ndarray, ts: np.ndarray, value: np.ndarray, tz: str) -> None:
    """Add the new points' aggregates to their hour, day and month buckets (one upsert per bucket)."""
    local = local_seconds(ts, tz)
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    least, greatest = ("LEAST", "GREATEST") if pg else ("MIN", "MAX")
    sql = ("INSERT INTO rollups (series_id, grain, start, total, n, low, high) VALUES ({p}) "
           "ON CONFLICT (series_id, grain, start) DO UPDATE SET total = rollups.total + excluded.total, "
           f"n = rollups.n + excluded.n, low = {least}(rollups.low, excluded.low), "
           f"high = {greatest}(rollups.high, excluded.high)").format(p=", ".join(["%s" if pg else "?"] * 7))
    raw = conn.connection.dbapi_connection
    assert raw is not None
    for grain in GRAINS:
        frame = pd.DataFrame({"s": sid, "b": bucket_starts(local, grain), "v": value})
        g = frame.groupby(["s", "b"], sort=False)["v"].agg(["sum", "count", "min", "max"]).reset_index()
        rows = zip(g["s"].tolist(), [grain] * len(g), g["b"].tolist(), g["sum"].tolist(), g["count"].tolist(),
                   g["min"].tolist(), g["max"].tolist(), strict=True)
        cur = raw.cursor()
        cur.executemany(sql, list(rows))
        cur.close()


def write(session: Session, sid: np.ndarray, ts: np.ndarray, value: np.ndarray, batch_id: int, tz: str,
          findings: Findings, last_seen: dict[int, int], intervals: dict[int, int | None],
          flag: np.ndarray | None = None, where: str = "") -> Written:
    """Store one chunk of points and roll them up; report duplicates, conflicts, late points, gaps and spikes.

    ``last_seen``: per series, the newest instant stored before this arrival began and updated as it goes (late
    points are older than it); ``intervals``: expected spacing per series [s] for the gap check.  Values must be
    finite (importers refuse the rest with row numbers before calling this).
    """
    out = Written()
    name, when = findings.name, findings.when
    if len(sid) == 0:
        return out
    order = np.lexsort((ts, sid))
    sid, ts, value = sid[order], ts[order], value[order]
    flag = flag[order] if flag is not None else None
    keep = np.ones(len(sid), dtype=bool)
    # repeats inside the chunk
    same = (sid[1:] == sid[:-1]) & (ts[1:] == ts[:-1])
    if same.any():
        idx = np.nonzero(same)[0] + 1
        equal = value[idx] == value[idx - 1]
        out.duplicates += int(equal.sum())
        for i in idx[~equal][:LISTED_PER_CODE]:
            findings.add("conflict", 1, f"{name(sid[i])} at {when(ts[i])}: {value[i]:g} arrived again with another "
                         f"value; {value[i - 1]:g} kept", series_id=int(sid[i]), ts=when(ts[i]), where=where)
        out.conflicts += int((~equal).sum())
        findings.more("conflict", int((~equal).sum()) - LISTED_PER_CODE)
        keep[idx] = False
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    ends = np.r_[starts[1:], len(sid)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        s = int(sid[a])
        seg_ts, seg_v = ts[a:b], value[a:b]
        prev = last_seen.get(s)
        if prev is not None and seg_ts[0] <= prev:
            # overlaps stored data: drop what is already there
            old_ts, old_v = _existing(session, s, int(seg_ts[0]), int(seg_ts[-1]))
            if len(old_ts):
                pos = np.searchsorted(old_ts, seg_ts)
                pos_c = np.minimum(pos, len(old_ts) - 1)
                hit = (old_ts[pos_c] == seg_ts) & keep[a:b]
                equal = hit & (old_v[pos_c] == seg_v)
                clash = hit & ~equal
                out.duplicates += int(equal.sum())
                out.conflicts += int(clash.sum())
                for i in np.flatnonzero(clash)[:LISTED_PER_CODE]:
                    findings.add("conflict", 1, f"{name(s)} at {when(seg_ts[i])}: {seg_v[i]:g} differs from the "
                                 f"stored {old_v[pos_c[i]]:g}, which is kept", series_id=s, ts=when(seg_ts[i]),
                                 where=where)
                findings.more("conflict", int(clash.sum()) - LISTED_PER_CODE)
                keep[a:b] &= ~hit
            late = keep[a:b] & (seg_ts < prev)
            if late.any():
                out.late += int(late.sum())
                findings.add("late", int(late.sum()), f"{name(s)}: {int(late.sum())} points older than the newest "
                             f"already stored ({when(prev)}) arrived out of order and were filed in place",
                             series_id=s, first=when(seg_ts[late][0]), where=where)
        kept_ts, kept_v = seg_ts[keep[a:b]], seg_v[keep[a:b]]
        if not len(kept_ts):
            continue
        step = intervals.get(s)
        if step:
            chain = kept_ts if prev is None or kept_ts[0] < prev else np.r_[prev, kept_ts]
            gap = np.flatnonzero(np.diff(chain) > step)
            for i in gap[:LISTED_PER_CODE]:
                missing = int((chain[i + 1] - chain[i]) // step) - 1
                findings.add("gap", 1, f"{name(s)}: {missing} interval(s) of {step} s missing from "
                             f"{when(chain[i] + step)} to {when(chain[i + 1])}", series_id=s,
                             start=when(chain[i] + step), end=when(chain[i + 1]), where=where)
            findings.more("gap", len(gap) - LISTED_PER_CODE)
        if len(kept_v) >= 10:
            med = float(np.median(kept_v))
            mad = float(np.median(np.abs(kept_v - med)))
            spike = (kept_v > med + SPIKE_MADS * mad) & (kept_v > SPIKE_RATIO * med) & (med > 0)
            for i in np.flatnonzero(spike)[:LISTED_PER_CODE]:
                findings.add("spike", 1, f"{name(s)} at {when(kept_ts[i])}: {kept_v[i]:g} against a median of "
                             f"{med:g} — check the meter or the register rollover", series_id=s,
                             ts=when(kept_ts[i]), value=float(kept_v[i]), where=where)
            findings.more("spike", int(spike.sum()) - LISTED_PER_CODE)
        negative = kept_v < 0
        if negative.any():
            findings.add("negative", int(negative.sum()), f"{name(s)}: {int(negative.sum())} negative value(s), "
                         f"first at {when(kept_ts[negative][0])}", series_id=s, where=where)
        last_seen[s] = max(int(kept_ts[-1]), prev if prev is not None else int(kept_ts[-1]))
    if not keep.any():
        return out
    sid, ts, value = sid[keep], ts[keep], value[keep]
    _insert(session, sid, ts, value, flag[keep] if flag is not None else None, batch_id)
    _rollup(session, sid, ts, value, tz)
    out.stored += len(sid)
    return out


def rollup(session: Session, series_ids: Sequence[int], grain: str, start: datetime | None = None,
           end: datetime | None = None) -> pd.DataFrame:
    """Roll-up rows of ``series_ids`` at ``grain`` with local bucket start in [start, end).

    Columns: ``series_id``, ``start`` (naive local datetime), ``total``, ``n``, ``low``, ``high``; a level series'
    mean is ``total / n``.
    """
    if grain not in GRAINS:
        raise ValidationFailed(f"unknown grain {grain!r}", fix="use h (hour), d (day) or m (month)")
    q = select(Rollup.series_id, Rollup.start, Rollup.total, Rollup.n, Rollup.low, Rollup.high).where(
        Rollup.series_id.in_(list(series_ids)), Rollup.grain == grain)
    if start is not None:
        q = q.where(Rollup.start >= wall_seconds(start))
    if end is not None:
        q = q.where(Rollup.start < wall_seconds(end))
    rows = session.execute(q.order_by(Rollup.series_id, Rollup.start)).all()
    frame = pd.DataFrame(rows, columns=["series_id", "start", "total", "n", "low", "high"])
    frame["start"] = pd.to_datetime(frame["start"].astype("int64"), unit="s")
    return frame


def points(session: Session, series_id: int, start: int, end: int) -> pd.DataFrame:
    """Raw points of one series with ``start`` ≤ ts < ``end`` [epoch s]: columns ts, value, flag, batch_id."""
    if session.get(Series, series_id) is None:
        raise NotFoundError(f"series {series_id} not found", fix="list the meters with rareeco meter tree")
    rows = session.execute(select(Point.ts, Point.value, Point.flag, Point.batch_id).where(
        Point.series_id == series_id, Point.ts >= start, Point.ts < end).order_by(Point.ts)).all()
    return pd.DataFrame(rows, columns=["ts", "value", "flag", "batch_id"])
