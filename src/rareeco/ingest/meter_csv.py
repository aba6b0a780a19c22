"""Meter interval data from CSV, any interval, into the time-series store (docs/meters.md).

Two layouts, told apart by the header:

- **long**: ``meter,timestamp,value[,flag]`` — one reading per row;
- **wide**: ``timestamp,<meter>,<meter>,…`` — one column per meter (SCADA and logger exports); an empty cell is
  a missing reading, not an error.

Timestamps are ISO 8601; without an offset they are the organisation's local time.  ``stamp="end"`` says the
timestamp closes the interval (most electricity meters), so the point is filed at ``ts − interval``.
Values are in the unit of the meter's series (``rareeco meter tree`` shows it).

The file is one transaction: a blocking finding anywhere (unknown meter, unreadable time or value) stores
nothing and names the row and column.  The file's checksum refuses a second import; overlapping files are
de-duplicated point by point.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import DuplicateImportError, Finding, ValidationFailed
from rareeco.ledger.models import Meter, Series, SeriesBatch
from rareeco.ledger.structure import get_org
from rareeco.timeseries.store import Findings, Written, latest, write

#: Rows read per chunk (long layout); wide files read CHUNK_POINTS // columns rows.
CHUNK_POINTS = 2_000_000
#: Blocking findings listed before the file is given up.
MAX_BLOCKING = 50
Progress = Callable[[int], None]


def org_timezone(session: Session, org_id: str) -> str:
    """The organisation's time zone (``settings.energy.timezone``; China Standard Time when unset)."""
    org = get_org(session, org_id)
    return str(((org.settings or {}).get("energy") or {}).get("timezone", "Asia/Shanghai"))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_times(raw: pd.Series, tz: str) -> pd.Series:
    """ISO 8601 strings → UTC epoch seconds (NaN where unreadable).  Each distinct string is parsed once: a long
    file repeats every time once per meter."""
    codes, uniques = pd.factorize(raw)
    t = pd.Series(pd.to_datetime(pd.Series(uniques, dtype=object), format="ISO8601", errors="coerce"))
    if getattr(t.dt, "tz", None) is None:
        t = t.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    seconds = t.dt.as_unit("s").astype("int64").where(t.notna())
    return pd.Series(seconds.to_numpy()[codes], index=raw.index)


def _chunks(path: Path, layout: str, columns: list[str]) -> Iterator[pd.DataFrame]:
    rows = CHUNK_POINTS if layout == "long" else max(1, CHUNK_POINTS // max(1, len(columns) - 1))
    yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=rows, skipinitialspace=True)


def import_csv(session: Session, org_id: str, path: Path, stamp: str = "start", actor: str = "cli",
               progress: Progress | None = None) -> dict[str, Any]:
    """Store the readings of ``path``; returns the batch, counts and findings.  Raises ValidationFailed (nothing
    stored) on blocking findings and DuplicateImportError when the same file was imported before."""
    if stamp not in ("start", "end"):
        raise ValidationFailed(f"unknown timestamp convention {stamp!r}",
                               fix="use start (the time opens the interval) or end (it closes it)")
    name = path.name
    digest = file_sha256(path)
    dup = session.execute(select(SeriesBatch).where(SeriesBatch.org_id == org_id,
                                                    SeriesBatch.sha256 == digest)).scalar_one_or_none()
    if dup is not None:
        raise DuplicateImportError(f"{name}: this file (sha256 {digest[:12]}…) is already imported as meter batch "
                                   f"{dup.id} ({dup.source}, {dup.received_at:%Y-%m-%d %H:%M})",
                                   fix="nothing to do; overlapping files with new readings are de-duplicated")
    tz = org_timezone(session, org_id)
    header = list(pd.read_csv(path, nrows=0, skipinitialspace=True).columns)
    lowered = [c.strip().lower() for c in header]
    if {"meter", "timestamp", "value"} <= set(lowered):
        layout = "long"
    elif lowered and lowered[0] in ("timestamp", "time") and len(header) > 1:
        layout = "wide"
    else:
        raise ValidationFailed(f"{name}: the header {header[:5]} is neither layout",
                               fix="use meter,timestamp,value[,flag] (long) or timestamp,<meter>,… (wide)")
    meters = {m.code: m for m in session.execute(select(Meter).where(Meter.org_id == org_id)).scalars()}
    series = {s.id: s for s in session.execute(select(Series).where(Series.org_id == org_id)).scalars()}
    blocking: list[Finding] = []
    if layout == "wide":
        unknown = [c for c in header[1:] if c not in meters or meters[c].series_id is None]
        for c in unknown:
            blocking.append(Finding("unknown_meter", f"column {c!r} is not a meter of {org_id} with a series",
                                    file=name, row=1, column=c,
                                    fix="register it with rareeco meter add, or correct the column name"))
    if blocking:
        raise ValidationFailed(f"{name}: {len(blocking)} unknown meter column(s); nothing stored",
                               fix=blocking[0].fix, findings=blocking)

    series_of = {code: m.series_id for code, m in meters.items() if m.series_id is not None}

    batch = SeriesBatch(org_id=org_id, source=name[-400:], sha256=digest, received_at=pd.Timestamp.now("UTC"))
    session.add(batch)
    session.flush()
    all_ids = [m.series_id for m in meters.values() if m.series_id is not None]
    last_seen = latest(session, all_ids)
    intervals = {i: series[i].interval_s for i in all_ids}
    findings = Findings(labels={m.series_id: m.code for m in meters.values() if m.series_id}, tz=tz)
    total = Written()
    first_row = 2  # file line of the chunk's first data row
    for chunk in _chunks(path, layout, header):
        chunk.columns = [c.strip() for c in chunk.columns]
        lines = np.arange(first_row, first_row + len(chunk))
        first_row += len(chunk)
        if layout == "long":
            cols = {c.lower(): c for c in chunk.columns}
            codes = chunk[cols["meter"]]
            known = codes.isin(series_of)
            for i in np.flatnonzero(~known.to_numpy())[:MAX_BLOCKING]:
                blocking.append(Finding("unknown_meter", f"meter {codes.iloc[i]!r} is not a meter of {org_id} "
                                        "with a series", file=name, row=int(lines[i]), column="meter",
                                        value=str(codes.iloc[i]), fix="register it with rareeco meter add"))
            ts = _parse_times(chunk[cols["timestamp"]], tz)
            raw_v = chunk[cols["value"]]
            v = pd.to_numeric(raw_v, errors="coerce")
            for col, bad in (("timestamp", ts.isna()), ("value", v.isna() | ~np.isfinite(v.fillna(0)))):
                for i in np.flatnonzero(bad.to_numpy())[:MAX_BLOCKING]:
                    blocking.append(Finding(f"bad_{col}", f"unreadable {col} {chunk[cols[col]].iloc[i]!r}",
                                            file=name, row=int(lines[i]), column=cols[col],
                                            value=str(chunk[cols[col]].iloc[i]),
                                            fix="ISO 8601 time, e.g. 2025-06-01T08:00:00+08:00" if col == "timestamp"
                                            else "a number in the meter's unit (decimal point, no thousands mark)"))
            if blocking:
                if len(blocking) >= MAX_BLOCKING:
                    break
                continue
            sid = codes.map(series_of).to_numpy(np.int64)
            tsv = ts.to_numpy(np.int64)
            val = v.to_numpy(float)
            flag = chunk[cols["flag"]].replace("", None).to_numpy(object) if "flag" in cols else None
        else:
            ts = _parse_times(chunk[header[0].strip()], tz)
            for i in np.flatnonzero(ts.isna().to_numpy())[:MAX_BLOCKING]:
                blocking.append(Finding("bad_timestamp", f"unreadable timestamp {chunk.iloc[i, 0]!r}", file=name,
                                        row=int(lines[i]), column=header[0],
                                        fix="ISO 8601 time, e.g. 2025-06-01T08:00:00+08:00"))
            values = chunk.iloc[:, 1:].apply(lambda c: pd.to_numeric(c, errors="coerce"))
            empty = chunk.iloc[:, 1:].to_numpy() == ""
            bad = values.isna().to_numpy() & ~empty
            for r, c in list(zip(*np.nonzero(bad), strict=True))[:MAX_BLOCKING]:
                blocking.append(Finding("bad_value", f"unreadable value {chunk.iloc[r, c + 1]!r}", file=name,
                                        row=int(lines[r]), column=str(chunk.columns[c + 1]),
                                        value=str(chunk.iloc[r, c + 1]),
                                        fix="a number in the meter's unit, or leave the cell empty when missing"))
            if blocking:
                if len(blocking) >= MAX_BLOCKING:
                    break
                continue
            matrix = values.to_numpy(float)
            present = ~np.isnan(matrix)
            ids = np.array([series_of[c] for c in chunk.columns[1:]], dtype=np.int64)
            rows_i, cols_i = np.nonzero(present)
            sid = ids[cols_i]
            tsv = ts.to_numpy(np.int64)[rows_i]
            val = matrix[rows_i, cols_i]
            flag = None
        if stamp == "end":
            step = np.array([intervals.get(int(s)) or 0 for s in np.unique(sid)])
            if (step == 0).any():
                raise ValidationFailed(f"{name}: end-stamped readings need each meter's interval",
                                       fix="set the interval with rareeco meter add --interval-s, or use --stamp start")
            lookup = dict(zip(np.unique(sid).tolist(), step.tolist(), strict=True))
            tsv = tsv - np.array([lookup[s] for s in sid.tolist()], dtype=np.int64)
        total += write(session, sid, tsv, val, batch.id, tz, findings, last_seen, intervals, flag=flag, where=name)
        if progress:
            progress(len(chunk))
    if blocking:
        raise ValidationFailed(f"{name}: {len(blocking)} blocking finding(s); nothing stored",
                               fix=blocking[0].fix, findings=blocking[:MAX_BLOCKING])
    findings.add("duplicate", total.duplicates, f"{total.duplicates} reading(s) already stored were skipped")
    batch.points_stored = total.stored
    batch.points_duplicate = total.duplicates
    batch.findings = findings.to_list()
    from rareeco.ledger import audit

    audit.append(session, actor, "meter.import", f"{org_id}/{name}", org_id,
                 {"batch": batch.id, "sha256": digest, "points": total.stored})
    return {"batch": batch.id, "file": name, "layout": layout, "points_stored": total.stored,
            "duplicates": total.duplicates, "conflicts": total.conflicts, "late": total.late,
            "findings": batch.findings}
