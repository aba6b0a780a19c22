"""Processing of stored HJ 212 frames into CEMS time series (docs/compliance.md).

The gateway stores every accepted frame in ``hj212_frames`` before it acknowledges it; this module reads the
frames not yet processed, parses their data areas, merges split uploads (PNUM/PNO) and writes one point per
factor and instant into the time-series store, with the factor's data flag:

============  ===========  ==========================  =====================================
CN            suffix kept  series key                  interval
============  ===========  ==========================  =====================================
2011 real     ``Rtd``      ``cems:<MN>:<code>:rtd``    ``RtdInterval`` when sent, else 30 s
2051 minute   ``Avg``      ``cems:<MN>:<code>``        the outlet's ``interval_s`` (60 s)
2061 hour     ``Avg``      ``cems:<MN>:<code>:h``      3,600 s
2031 day      ``Avg``      ``cems:<MN>:<code>:d``      86,400 s
============  ===========  ==========================  =====================================

Equipment status and running time (2021, 2041) carry no concentrations; their frames are marked processed and
counted.  A point's instant is the frame's DataTime (the start of the period, HJ 212-2017 Table 4) in UTC.
Processing is idempotent: the store drops a point it already holds, so a frame processed twice (a crash between
the write and the mark) is never counted twice.  Values that are not numbers are findings, never a stop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from rareeco.ingest import hj212
from rareeco.ingest.meter_csv import org_timezone
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import CemsStation, Hj212Frame, SeriesBatch
from rareeco.monitoring import outlets
from rareeco.timeseries import store

#: CN → (suffix whose value is stored, series key tag, default interval [s]).
UPLOADS: dict[str, tuple[str, str, int]] = {
    "2011": ("Rtd", ":rtd", 30),
    "2051": ("Avg", "", 60),
    "2061": ("Avg", ":h", 3600),
    "2031": ("Avg", ":d", 86400),
}
#: Uploads without concentrations (equipment status, running time): marked processed, nothing stored.
NO_SERIES = frozenset({"2021", "2041"})
#: Frames processed per transaction.
CHUNK = 20_000
#: A split upload whose missing parts have not arrived this long after its first part is processed with the
#: parts there are (and a finding) [s].
INCOMPLETE_AFTER_S = 600


def series_key(mn: str, code: str, cn: str) -> str:
    """The time-series key of factor ``code`` of station ``mn`` for upload ``cn`` (see the module table)."""
    return f"cems:{mn}:{code}{UPLOADS[cn][1]}"


@dataclass
class Processed:
    """What one processing run did."""

    frames: int = 0
    messages: int = 0
    points_stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    waiting_parts: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "messages": self.messages, "points_stored": self.points_stored,
                "duplicates": self.duplicates, "conflicts": self.conflicts, "waiting_parts": self.waiting_parts,
                "skipped": self.skipped, "findings": self.findings}


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def process(engine: Engine, org_id: str, *, now: datetime | None = None, chunk: int = CHUNK) -> Processed:
    """Process the organisation's unprocessed frames, oldest first, ``chunk`` frames per transaction (the points
    and the frames' processed mark commit together).  Minute series take the interval of the outlet whose MN
    they carry (its ``interval_s``), 60 s for a station without an outlet."""
    now = now or datetime.now(UTC)
    with session_scope(engine) as s:
        tz = org_timezone(s, org_id)
        stations = {sid: mn for sid, mn in s.execute(
            select(CemsStation.id, CemsStation.mn).where(CemsStation.org_id == org_id))}
        intervals = {o.mn: o.interval_s for o in outlets.load(s, org_id).outlets}
    out = Processed()
    after = 0
    while stations:
        with session_scope(engine) as s:
            rows = s.execute(
                select(Hj212Frame.id, Hj212Frame.station_id, Hj212Frame.cn, Hj212Frame.data_time,
                       Hj212Frame.received_at, Hj212Frame.segment)
                .where(Hj212Frame.station_id.in_(list(stations)), Hj212Frame.processed.is_(False),
                       Hj212Frame.id > after)
                .order_by(Hj212Frame.id).limit(chunk)).all()
            if not rows:
                break
            after = rows[-1].id
            _chunk(s, org_id, tz, stations, rows, intervals, now, out)
    return out


def _chunk(session: Session, org_id: str, tz: str, stations: dict[int, str], rows: Sequence[Any],
           intervals: dict[str, int], now: datetime, out: Processed) -> None:
    findings = store.Findings(tz=tz)
    done: list[int] = []
    messages: list[tuple[hj212.Message, datetime]] = []
    parts: dict[tuple[Any, ...], list[tuple[int, hj212.Message, datetime, datetime]]] = defaultdict(list)
    for r in rows:
        out.frames += 1
        mn = stations[r.station_id]
        try:
            msg = hj212.parse_segment(r.segment)
        except hj212.FrameError as exc:  # the gateway checked it; a stored frame that no longer parses is reported
            findings.add("unreadable_frame", 1, f"frame {r.id} of {mn}: {exc}", frame_id=r.id)
            done.append(r.id)
            continue
        if msg.cn in NO_SERIES or msg.cn not in UPLOADS:
            out.skipped[msg.cn] = out.skipped.get(msg.cn, 0) + 1
            done.append(r.id)
            continue
        if r.data_time is None:
            findings.add("no_data_time", 1, f"frame {r.id} of {mn} (CN={msg.cn}) has no DataTime: its values "
                         "cannot be placed in time — set the data logger to send DataTime", frame_id=r.id)
            done.append(r.id)
            continue
        if msg.split:
            parts[hj212.Reassembler.key(msg)].append((r.id, msg, _utc(r.data_time), _utc(r.received_at)))
            continue
        messages.append((msg, _utc(r.data_time)))
        done.append(r.id)
    for key, group in parts.items():
        group.sort(key=lambda g: g[1].pno or 0)
        pnum = group[0][1].pnum or 0
        have = {g[1].pno for g in group}
        complete = len(have) == pnum
        oldest = min(g[3] for g in group)
        if not complete and now - oldest < timedelta(seconds=INCOMPLETE_AFTER_S):
            out.waiting_parts += len(group)
            continue  # the other parts may still come: leave these unprocessed
        if not complete:
            missing = sorted(set(range(1, pnum + 1)) - {p for p in have if p is not None})
            findings.add("incomplete_split", 1, f"{key[0]} CN={key[2]} at {key[4]}: parts {missing} of {pnum} "
                         f"never arrived; the {len(have)} received were processed", mn=key[0])
        messages.append((hj212.merge(g[1] for g in group), group[0][2]))
        done.extend(g[0] for g in group)
    _write(session, org_id, tz, messages, intervals, findings, out)
    for i in range(0, len(done), 5000):
        session.execute(update(Hj212Frame).where(Hj212Frame.id.in_(done[i:i + 5000])).values(processed=True))
    out.findings.extend(findings.to_list())


def _write(session: Session, org_id: str, tz: str, messages: list[tuple[hj212.Message, datetime]],
           intervals: dict[str, int], findings: store.Findings, out: Processed) -> None:
    series: dict[str, int] = {}
    step: dict[int, int | None] = {}
    sid: list[int] = []
    ts: list[int] = []
    val: list[float] = []
    flags: list[str] = []
    for msg, when in messages:
        out.messages += 1
        suffix, _tag, default_step = UPLOADS[msg.cn]
        t = int(when.timestamp())
        for code, values in msg.cp.values.items():
            v = values.get(suffix)
            if v is None:
                continue
            if not isinstance(v, float):
                findings.add("bad_value", 1, f"{msg.mn} {code}-{suffix}={str(v)[:20]!r} at {when.isoformat()} is not "
                             "a number — check the data logger's channel", mn=msg.mn, factor=code)
                continue
            key = series_key(msg.mn, code, msg.cn)
            s = series.get(key)
            if s is None:
                interval = (intervals.get(msg.mn, default_step) if msg.cn == "2051" else
                            int(float(msg.cp.fields.get("RtdInterval", default_step))) if msg.cn == "2011"
                            else default_step)
                s = series[key] = store.ensure_series(session, org_id, key, "", interval, kind="level").id
                step[s] = interval
                findings.labels[s] = key
            flag = values.get("Flag")
            sid.append(s)
            ts.append(t)
            val.append(v)
            flags.append(str(flag) if isinstance(flag, str) and flag else "N")
    if not sid:
        return
    batch = SeriesBatch(org_id=org_id, source="hj212://processing", sha256=None, received_at=datetime.now(UTC))
    session.add(batch)
    session.flush()
    last_seen = store.latest(session, list(series.values()))
    written = store.write(session, np.asarray(sid, dtype=np.int64), np.asarray(ts, dtype=np.int64),
                          np.asarray(val, dtype=float), batch.id, tz, findings, last_seen, step,
                          flag=np.asarray(flags, dtype=object), where="hj212")
    batch.points_stored, batch.points_duplicate = written.stored, written.duplicates
    batch.findings = findings.to_list()
    out.points_stored += written.stored
    out.duplicates += written.duplicates
    out.conflicts += written.conflicts
