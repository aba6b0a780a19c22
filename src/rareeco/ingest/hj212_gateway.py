"""The HJ 212 gateway: an asyncio TCP server for many CEMS stations (docs/hj212-gateway.md).

Stations (data loggers) connect and upload frames (HJ 212-2017 §6.3); the gateway splits the byte stream into
frames, checks each with the codec's fast path (:func:`rareeco.ingest.hj212.check_frame`: framing, CRC, header
fields and DataTime, refusing what :func:`~rareeco.ingest.hj212.parse` refuses for them; the rest of the data area
is parsed when the stored frame is processed), authenticates the station against ``cems_stations`` (MN
registered and active, PW matching its SHA-256), **stores** the frame in ``hj212_frames`` and only **after the
commit** writes back the reply the frame asks for (9014 data reply, 9013 notification reply;
:func:`rareeco.ingest.hj212.reply`).  Anything wrong on a connection — a bad frame, an unknown station, a client
that stalls — is a :class:`~rareeco.ledger.models.GatewayFinding` with the action taken (connection ``kept`` or
``closed``); no single connection can stop or starve the others.

Design (per process: one event loop, one writer thread; :func:`serve` ``workers`` runs several processes on one
port with ``SO_REUSEPORT``, each a whole gateway):

* **Framing**: frames are located by ``##`` and the 4-digit length, confirmed by CR LF at the announced end.  A
  connection buffers at most one frame of the standard's maximum size (``##`` + 4 + 1024 + 4 + CR LF =
  :data:`MAX_FRAME_BYTES`) beyond what it is scanning: a length over 1024 is ``oversize`` at once, and a frame
  whose length and terminator disagree is cut at the first CR LF or ``##`` and reported; then the scanner
  resynchronises on the next ``##``.
* **Group commit**: accepted frames (and findings) go to one queue drained by one writer thread; each
  transaction takes everything queued (up to ``batch_max`` items), transactions start at most every
  :data:`LINGER_MS`, so batches grow with the load and the commit cost is shared; the rows go in with one ``COPY``
  (PostgreSQL) or one ``executemany`` (SQLite) per batch.  On SQLite the writer's connection uses
  ``synchronous=FULL``: the write-ahead log is fsynced at every commit, so an acknowledged frame survives a power
  cut; PostgreSQL commits are durable with its defaults (``synchronous_commit=on``).
* **Acknowledge after commit**: the writer hands each committed batch back to the event loop, which writes the
  replies (one write per connection per batch).  A connection closed before its frame committed gets no reply;
  the frame is stored all the same and the station resends it (at-least-once: the processing step removes
  copies by station, command and DataTime).
* **Split uploads** (Flag bit D): every part is stored as received, in its own row, and gets its own 9014 after
  its commit (HJ 212-2017 Table C.50: the host answers each part with that part's QN).  Reassembly waits for the
  processing step (:class:`rareeco.ingest.hj212.Reassembler` over stored rows): holding parts in memory until the
  last arrives would either acknowledge parts that are not stored, or delay their 9014 beyond the station's
  timeout (5–10 s, §6.2 Table 1).
* **Backpressure**: when more than ``high_water`` frames wait for their commit, the gateway stops reading from
  every socket (the kernel's buffers then slow the stations down) and resumes below half of it; memory stays
  bounded by ``high_water`` frames plus one read per connection.
* **Registry**: active stations are read from ``cems_stations`` at start and every ``registry_refresh_s``.

The connection policy for each finding reason is :data:`POLICY` (documented in docs/hj212-gateway.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from rareeco.errors import ConflictError, ValidationFailed
from rareeco.ingest import hj212
from rareeco.ledger.models import CemsStation, GatewayFinding, Hj212Frame, Organisation

log = logging.getLogger(__name__)

#: TCP port the gateway listens on by default (HJ 212 names none; platforms pick their own).
DEFAULT_PORT = 2121
#: The longest frame the standard allows [bytes]: ``##``, 4 length digits, 1024-byte segment, 4 CRC digits, CR LF.
MAX_FRAME_BYTES = 2 + 4 + hj212.MAX_SEGMENT_BYTES + 4 + 2
#: A connection with no bytes for this long is closed [s].  Stations send minute data every few minutes and
#: reconnect on their own; an idle socket only holds a file descriptor.
IDLE_TIMEOUT_S = 900.0
#: A frame whose first bytes arrived must be complete within this time [s] (HJ 212-2017 §6.2 Table 1: a
#: station's response timeout is 5–10 s).
FRAME_TIMEOUT_S = 10.0
#: Bad frames in a row after which a connection is closed (a peer that does not speak HJ 212).
MAX_BAD_FRAMES = 10
#: Bytes discarded since the last good frame after which a connection is closed (garbage without ``##``).
MAX_JUNK_BYTES = 64 * 1024
#: Connections held at most; one more is closed at once.
MAX_CONNECTIONS = 10_000
#: Unsent reply bytes a connection may hold before it counts as not reading [bytes].
MAX_UNSENT_BYTES = 256 * 1024
#: Items (frames and findings) per transaction at most.
BATCH_MAX = 5_000
#: Shortest time between the starts of two commits [ms]: frames arriving meanwhile share the next one.
LINGER_MS = 5.0
#: Frames waiting for their commit above which the gateway stops reading from sockets (resumes at half).
HIGH_WATER = 20_000
#: How often the station registry is reloaded from ``cems_stations`` [s].
REGISTRY_REFRESH_S = 10.0
#: A frame of an unknown MN makes the gateway reload the registry at once (holding that frame until then), at most
#: once per this interval [s]; within it, unknown MNs are refused straight away (a flood costs one reload per
#: interval).
REGISTRY_MIN_RELOAD_S = 1.0
#: How often the stats callback is called [s].
STATS_INTERVAL_S = 10.0
#: Seconds between two attempts of a failed transaction (the same frames, still unacknowledged).
RETRY_S = 1.0
#: Failed transactions retried during a stop before the rest is given up (not acknowledged).
STOP_RETRIES = 3
#: Longest wait for the commit lock that gateway workers on one SQLite file share before committing without it [s].
COMMIT_LOCK_WAIT_S = 5.0
#: Characters of the offending bytes kept in a finding (``PW=`` masked).
EXCERPT_BYTES = 96

Action = Literal["kept", "closed"]
#: What the gateway does with the connection for each finding reason (docs/hj212-gateway.md, "Policy").
#: Frame errors keep the connection and resynchronise on the next ``##`` — until ``max_bad_frames`` in a row or
#: ``max_junk_bytes`` discarded, when the finding that crosses the limit is recorded as ``closed``.
POLICY: dict[str, Action] = {
    **{reason: "kept" for reason in hj212.REASONS if reason != "too_many_parts"},
    "unknown_mn": "closed",       # not a registered, active station: nothing it sends can be stored
    "bad_password": "closed",     # wrong PW: a misconfigured logger or someone guessing
    "slow_client": "closed",      # a frame started and not finished within frame_timeout_s
    "idle_timeout": "closed",     # nothing received for idle_timeout_s
    "peer_closed": "closed",      # the station closed the connection in the middle of a frame (recorded only)
    "not_reading": "closed",      # the station does not read its replies (unsent bytes over the limit)
    "too_many_connections": "closed",
}

_MASK_PW = re.compile(rb"PW=[^;&]*")
_SNIFF_MN = re.compile(rb"MN=([0-9A-Za-z_.\-]{1,24})[;&]")


# ---------------------------------------------------------------- stations

@dataclass(frozen=True)
class Station:
    """A registered, active station as the gateway knows it."""

    id: int
    org_id: str
    mn: str
    password_sha256: str
    tz: ZoneInfo  # the organisation's time zone: the station's clock (DataTime) is read in it


def password_hash(password: str) -> str:
    """SHA-256 (hex) of a station's access password (PW), as stored in ``cems_stations``."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def add_station(session: Session, org_id: str, site_code: str, mn: str, password: str, name: str = "",
                actor: str = "cli") -> CemsStation:
    """Register a station (data logger) at a site: its MN and access password (stored as SHA-256).

    Raises
    ------
    ValidationFailed
        MN or PW not of the form HJ 212-2017 §6.3.2 allows (MN 1–24 of 0-9 A-Z a-z _ - .; PW 1–6 of 0-9 a-z A-Z).
    ConflictError
        The MN is registered already (MNs are unique across organisations: a frame names only its MN).
    """
    from rareeco.ledger import audit, structure

    site = structure.get_site(session, org_id, site_code)
    for key, value in (("MN", mn), ("PW", password)):
        rule, what = hj212._HEADER_RULES[key]
        if not rule.fullmatch(value):
            raise ValidationFailed(f"{key} {value if key == 'MN' else '…'!r} is not {what}",
                                   fix=f"configure the data logger with a {key} of that form")
    if session.execute(select(CemsStation).where(CemsStation.mn == mn)).scalar_one_or_none() is not None:
        raise ConflictError(f"station MN={mn} is registered already", fix="use the MN of another data logger")
    st = CemsStation(org_id=org_id, site_id=site.id, mn=mn, name=name or mn, password_sha256=password_hash(password),
                     active=True, created_at=datetime.now(UTC))
    session.add(st)
    session.flush()
    audit.append(session, actor, "hj212.station.add", f"{org_id}/{mn}", org_id, {"site": site_code, "name": st.name})
    return st


def stations(session: Session, org_id: str) -> list[tuple[CemsStation, str]]:
    """The stations of an organisation with their site codes, by MN."""
    from rareeco.ledger.models import Site

    rows = session.execute(select(CemsStation, Site.code).join(Site, Site.id == CemsStation.site_id)
                           .where(CemsStation.org_id == org_id).order_by(CemsStation.mn)).all()
    return [(st, code) for st, code in rows]


def load_registry(engine: Engine) -> dict[str, Station]:
    """MN → :class:`Station` of every active station (plain rows: it runs every few seconds; a reader, so on
    SQLite it does not wait for the writer's lock)."""
    from rareeco.ledger.db import read_only

    with read_only(engine).connect() as c:
        zones = {oid: ZoneInfo(str(((cfg or {}).get("energy") or {}).get("timezone", "Asia/Shanghai")))
                 for oid, cfg in c.execute(select(Organisation.id, Organisation.settings))}
        rows = c.execute(select(CemsStation.id, CemsStation.org_id, CemsStation.mn, CemsStation.password_sha256)
                         .where(CemsStation.active.is_(True))).all()
    shanghai = ZoneInfo("Asia/Shanghai")
    return {mn: Station(sid, org, mn, pw, zones.get(org, shanghai)) for sid, org, mn, pw in rows}


# ---------------------------------------------------------------- the writer

#: An accepted frame waiting for its commit: its connection, its row (:data:`FRAME_COLUMNS`, in the driver's form)
#: and the reply to send after the commit.  A plain tuple: one is made per frame.
_Pending = tuple["_Connection", tuple[Any, ...], bytes | None]

FRAME_COLUMNS = ("station_id", "qn", "cn", "st", "data_time", "received_at", "peer", "segment", "processed")
FINDING_COLUMNS = ("org_id", "at", "peer", "mn", "reason", "message", "excerpt", "action")
#: PostgreSQL types of those columns, for a binary COPY (a test checks them against the models)
PG_TYPES = {FRAME_COLUMNS: ("int4", "text", "text", "text", "timestamptz", "timestamptz", "text", "text", "bool"),
            FINDING_COLUMNS: ("text", "timestamptz", "text", "text", "text", "text", "text", "text")}


def _sqlite_value(v: Any) -> Any:
    # SQLAlchemy's SQLite DATETIME storage format (UTC wall time; the ORM reads it back as such)
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return int(v) if isinstance(v, bool) else v


def _insert(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (already in the driver's form: on SQLite, datetimes as text and booleans as 0/1 — see
    :func:`_sqlite_value`) in the current transaction: COPY on PostgreSQL, ``executemany`` on SQLite — one round
    trip each, so the writer thread gives up the GIL (and waits to get it back) a few times per batch, not per
    row."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(_COPY[table, columns]) as copy:  # type: ignore[attr-defined]
            copy.set_types(PG_TYPES[columns])  # binary: a fifth of the text format's CPU per row
            write = copy.write_row
            for r in rows:
                write(r)
    else:
        cur = raw.cursor()
        cur.executemany(_INSERT[table, columns], rows)
        cur.close()


class _Statements(dict[tuple[str, tuple[str, ...]], str]):
    """COPY / INSERT statements by (table, columns), built once."""

    def __init__(self, template: Callable[[str, tuple[str, ...]], str]) -> None:
        super().__init__()
        self.template = template

    def __missing__(self, key: tuple[str, tuple[str, ...]]) -> str:
        text = self[key] = self.template(*key)
        return text


_COPY = _Statements(lambda table, cols: f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)")
_INSERT = _Statements(lambda table, cols: f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                      f"({', '.join('?' * len(cols))})")


class _Writer:
    """One thread that stores queued frames and findings, a transaction per batch (group commit)."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop,
                 committed: Callable[[list[_Pending], int, bool], None], batch_max: int, linger_ms: float,
                 commit_lock: Any = None) -> None:
        self.engine, self.loop, self.committed, self.batch_max = engine, loop, committed, batch_max
        self.commit_lock = commit_lock
        self.linger_s = linger_ms / 1000
        self.frames: deque[_Pending] = deque()
        self.findings: deque[tuple[Any, ...]] = deque()
        self.wake = threading.Event()
        self.stopping = False
        self.db_errors = 0
        self.batches = 0
        self.thread = threading.Thread(target=self._run, name="hj212-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put_frame(self, item: _Pending) -> None:
        self.frames.append(item)
        if not self.wake.is_set():  # the thread clears it before it looks at the queues: nothing is missed
            self.wake.set()

    def put_finding(self, row: tuple[Any, ...]) -> None:
        self.findings.append(row)
        self.wake.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def _take(self) -> tuple[list[_Pending], list[tuple[Any, ...]]]:
        frames: list[_Pending] = []
        findings: list[tuple[Any, ...]] = []
        room = self.batch_max
        fq, gq = self.frames, self.findings
        while fq and room:
            frames.append(fq.popleft())
            room -= 1
        while gq and room:
            findings.append(gq.popleft())
            room -= 1
        return frames, findings

    def _run(self) -> None:
        conn = None
        failures = 0
        last_start = 0.0
        frames: list[_Pending] = []
        findings: list[tuple[Any, ...]] = []
        while True:
            if not frames and not findings:
                self.wake.clear()  # clear, then look: an item queued after the look sets it again
                if not self.frames and not self.findings:
                    if self.stopping:
                        break
                    self.wake.wait(0.5)
                    continue
                # one commit per linger_ms at most, unless a full batch is waiting: a group gathers meanwhile
                wait = self.linger_s - (time.monotonic() - last_start)
                if wait > 0 and len(self.frames) < self.batch_max and not self.stopping:
                    time.sleep(wait)
                frames, findings = self._take()
                last_start = time.monotonic()
            try:
                if conn is None:
                    conn = self.engine.connect()
                    if self.engine.dialect.name == "sqlite":
                        # fsync the WAL at every commit: an acknowledged frame survives a power cut
                        # (on the DBAPI connection: SQLAlchemy's BEGIN would come first, and SQLite refuses the
                        # pragma inside a transaction)
                        raw = conn.connection.driver_connection
                        assert raw is not None
                        raw.execute("PRAGMA synchronous=FULL")
                # workers sharing a SQLite file take turns on this lock, woken at once when it is free, rather than
                # in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between tries; it only orders the
                # writers (SQLite's own lock still guards the file), so a lock not had in time is not waited for
                locked = self.commit_lock is not None and self.commit_lock.acquire(timeout=COMMIT_LOCK_WAIT_S)
                try:
                    with conn.begin():
                        if frames:
                            _insert(conn, Hj212Frame.__tablename__, FRAME_COLUMNS, [p[1] for p in frames])
                        if findings:
                            _insert(conn, GatewayFinding.__tablename__, FINDING_COLUMNS, findings)
                finally:
                    if locked:
                        self.commit_lock.release()
            except Exception as exc:  # the database is down, full, locked …: keep the batch, retry
                self.db_errors += 1
                failures += 1
                log.error("storing %d frames and %d findings failed (%s); retrying in %g s", len(frames),
                          len(findings), exc, RETRY_S)
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn = None
                if self.stopping and failures > STOP_RETRIES:
                    log.error("giving up %d frames (not acknowledged: the stations will resend them)", len(frames))
                    self.loop.call_soon_threadsafe(self.committed, frames, len(findings), False)
                    frames, findings, failures = [], [], 0
                    continue
                time.sleep(RETRY_S)
                continue
            failures = 0
            self.batches += 1
            self.loop.call_soon_threadsafe(self.committed, frames, len(findings), True)
            frames, findings = [], []
        if conn is not None:
            conn.close()


# ---------------------------------------------------------------- connections

def _peer(transport: asyncio.BaseTransport) -> str:
    info = transport.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        host = str(info[0])
        return f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}"
    return str(info or "?")[:64]


def excerpt(raw: bytes | bytearray, limit: int = EXCERPT_BYTES) -> str:
    """The start of offending bytes for a finding: ``PW=`` masked, non-printable bytes escaped."""
    head = _MASK_PW.sub(b"PW=***", bytes(raw[:limit]))
    text = head.decode("utf-8", "backslashreplace").encode("unicode_escape").decode("ascii")
    return text + ("…" if len(raw) > limit else "")


def reply_frame(msg: hj212.Message | hj212.FrameHeader) -> bytes | None:
    """The frame of the reply ``msg`` is owed (:func:`rareeco.ingest.hj212.reply`), or ``None``.

    The 9014 of an upload is written straight from its fields (a test checks it is byte for byte the codec's);
    anything else goes through the codec.
    """
    if msg.cn in hj212.UPLOAD_CNS:
        flag = msg.flag
        if flag is None or not flag & hj212.FLAG_REPLY:
            return None
        qn = "" if msg.qn is None else f"QN={msg.qn};"
        data = f"{qn}ST=91;CN=9014;PW={msg.pw};MN={msg.mn};Flag={flag & 0xFC};CP=&&&&".encode()
        return b"##%04d%s%04X\r\n" % (len(data), data, hj212.crc_fast(data))
    if isinstance(msg, hj212.FrameHeader):
        msg = hj212.Message(st=msg.st, cn=msg.cn, pw=msg.pw, mn=msg.mn, qn=msg.qn, flag=msg.flag, pnum=msg.pnum,
                            pno=msg.pno, segment=msg.segment)
    answer = hj212.reply(msg)
    return None if answer is None else hj212.frame(answer.segment)


def station_time(text: str, tz: ZoneInfo) -> datetime:
    """A ``DataTime`` the codec accepted (14 or 17 digits, the station's clock in ``tz``) as a UTC datetime."""
    ms = int(text[14:17]) if len(text) == 17 else 0
    return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                    int(text[12:14]), ms * 1000, tzinfo=tz).astimezone(UTC)


class _Clock:
    """The gateway's times in the driver's form: ``received_at`` now, and a station's ``DataTime`` in UTC (cached:
    every station uploads the same minutes).  On SQLite both are text in SQLAlchemy's storage format."""

    CACHE = 4096

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self._second = -1
        self._second_text = ""
        self._times: dict[tuple[str, ZoneInfo], Any] = {}

    def now(self) -> Any:
        if not self.sqlite:
            return datetime.now(UTC)
        t = time.time()
        second = int(t)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((t - second) * 1e6):06d}"

    def data_time(self, text: str | None, tz: ZoneInfo) -> Any:
        if text is None:
            return None
        key = (text, tz)
        value = self._times.get(key)
        if value is None:
            if len(self._times) >= self.CACHE:
                self._times.clear()
            value = station_time(text, tz)
            if self.sqlite:
                value = _sqlite_value(value)
            self._times[key] = value
        return value


class _Connection(asyncio.Protocol):
    """One station's TCP connection: splits the stream into frames and hands them to the gateway."""

    __slots__ = ("gw", "transport", "peer", "buf", "skipping", "bad_run", "junk_run", "last_rx", "partial_since",
                 "closed", "mn", "frames", "held")

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.buf = bytearray()
        self.skipping = False    # after a bad frame: bytes are dropped until the next "##"
        self.bad_run = 0         # bad frames since the last good one
        self.junk_run = 0        # bytes discarded since the last good frame
        self.last_rx = time.monotonic()
        self.partial_since: float | None = None
        self.closed = False
        self.mn: str | None = None  # the last station authenticated on this connection
        self.frames = 0
        self.held: bytes | None = None  # a frame of an unknown MN waiting for a registry reload

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.peer = _peer(transport)
        gw = self.gw
        gw.stats["connections_total"] += 1
        if len(gw.conns) >= gw.max_connections:
            gw.finding(self, "too_many_connections", f"{len(gw.conns)} connections open, the limit is "
                       f"{gw.max_connections}; closed at once", b"")
            return
        gw.conns.add(self)
        if gw.paused:
            self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_rx = time.monotonic()
        self.buf += data
        self.scan()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            if self.buf:
                self.scan(force=True)  # frames read before a pause are still taken
            self.flush_partial()
            self.closed = True
            if self.buf and not self.skipping:
                self.gw.finding(self, "peer_closed", f"the station closed the connection {len(self.buf)} bytes into "
                                "a frame", self.buf, close=False)
        self.gw.conns.discard(self)

    def flush_partial(self) -> None:
        """Take the buffer as a frame if the codec accepts it as it is (a last frame without CR LF)."""
        if self.buf and not self.skipping and not self.closed:
            raw = bytes(self.buf)
            try:
                hj212.check_frame(raw, max_segment=self.gw.max_segment)
            except hj212.FrameError:
                return
            self.buf.clear()
            self.partial_since = None
            self.gw.frame(self, raw)

    # the stream

    def scan(self, force: bool = False) -> None:
        """Take every complete frame off the buffer; report and skip what is not one.

        While the gateway is paused (backpressure) the rest of the buffer waits, unless ``force``.
        """
        buf, gw = self.buf, self.gw
        pos, n = 0, len(buf)
        while not self.closed and self.held is None and (force or not gw.paused):
            if self.skipping or not buf.startswith(b"##", pos):
                j = buf.find(b"##", pos)
                stop = n - 1 if j < 0 and n > pos and buf[n - 1] == 0x23 else (n if j < 0 else j)  # keep a lone '#'
                if stop > pos:
                    self.junk_run += stop - pos
                    if not self.skipping:  # one finding per run of garbage; the rest of the run is dropped
                        self.bad(hj212.FrameError("bad_header", f"{stop - pos} bytes between frames do not start "
                                                  "with '##'", "send HJ 212 frames only"), buf[pos:stop])
                        self.skipping = j < 0
                    elif self.junk_run > gw.max_junk_bytes and not self.closed:
                        gw.finding(self, "bad_header", f"{self.junk_run} bytes discarded since the last good frame "
                                   f"(limit {gw.max_junk_bytes}); connection closed", buf[pos:stop], close=True)
                    pos = stop
                if j < 0 or self.closed:
                    break
                self.skipping = False
                pos = j
            if n - pos < 6:
                break
            digits = bytes(buf[pos + 2:pos + 6])
            if not digits.isdigit():
                self.skip(buf, pos, pos + 6)
                pos += 2
                continue
            size = int(digits)
            if size > gw.max_segment:
                self.skip(buf, pos, pos + 6)
                pos += 6
                continue
            end = pos + 6 + size + 4
            if n >= end + 2 and buf[end] == 0x0D and buf[end + 1] == 0x0A:
                gw.frame(self, bytes(buf[pos:end + 2]))
                pos = end + 2
                continue
            # The length and the terminator disagree, or the frame is not complete yet: the frame ends at the
            # first CR LF or '##' within the largest frame the standard allows.
            limit = min(n, pos + MAX_FRAME_BYTES)
            c = buf.find(b"\r\n", pos + 6, limit)
            h = buf.find(b"##", pos + 2, limit)
            if c >= 0 and (h < 0 or c < h):
                self.skip(buf, pos, c + 2, resync=False)
                pos = c + 2
            elif h >= 0:
                self.skip(buf, pos, h, resync=False)
                pos = h
            elif n >= pos + MAX_FRAME_BYTES:
                self.skip(buf, pos, limit)
                pos = limit
            else:
                break  # wait for the rest
        if pos:
            del buf[:pos]
        if buf and not self.skipping and not self.closed:
            if self.partial_since is None:
                self.partial_since = time.monotonic()
        else:
            self.partial_since = None

    def skip(self, buf: bytearray, start: int, stop: int, resync: bool = True) -> None:
        """``buf[start:stop]`` is not a frame by its length field: report it with the reason the codec gives
        (with ``resync``, drop what follows until the next ``##``).  A frame the codec accepts as it is — one
        without CR LF, which it tolerates — is taken."""
        raw = bytes(buf[start:stop])
        try:
            hj212.check_frame(raw, max_segment=self.gw.max_segment)
        except hj212.FrameError as exc:
            self.junk_run += stop - start
            self.skipping = resync
            self.bad(exc, raw)
            return
        self.gw.frame(self, raw)

    def bad(self, err: hj212.FrameError, raw: bytes | bytearray) -> None:
        gw = self.gw
        self.bad_run += 1
        why = (f"{self.bad_run} bad frames in a row" if self.bad_run >= gw.max_bad_frames else
               f"{self.junk_run} bytes discarded since the last good frame" if self.junk_run > gw.max_junk_bytes
               else "")
        text = err.line() + (f" — {why}, connection closed" if why else "")
        over = bool(why)
        gw.finding(self, err.reason, text, raw, close=over)

    def good(self) -> None:
        self.bad_run = 0
        self.junk_run = 0

    def close(self, abort: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.gw.conns.discard(self)
            if self.transport is not None:
                if abort:
                    self.transport.abort()
                else:
                    self.transport.close()


# ---------------------------------------------------------------- the gateway

@dataclass
class GatewayOptions:
    """Limits and intervals of a :class:`Gateway` (see the module constants for their meaning)."""

    idle_timeout_s: float = IDLE_TIMEOUT_S
    frame_timeout_s: float = FRAME_TIMEOUT_S
    max_bad_frames: int = MAX_BAD_FRAMES
    max_junk_bytes: int = MAX_JUNK_BYTES
    max_connections: int = MAX_CONNECTIONS
    max_unsent_bytes: int = MAX_UNSENT_BYTES
    max_segment: int = hj212.MAX_SEGMENT_BYTES
    batch_max: int = BATCH_MAX
    linger_ms: float = LINGER_MS
    high_water: int = HIGH_WATER
    registry_refresh_s: float = REGISTRY_REFRESH_S
    registry_min_reload_s: float = REGISTRY_MIN_RELOAD_S
    stats_interval_s: float = STATS_INTERVAL_S
    #: listen with SO_REUSEPORT (Linux): several gateway processes share the port (:func:`serve` ``workers``)
    reuse_port: bool = False
    #: a lock (``multiprocessing.Lock``) the workers of one SQLite database hold while they commit
    commit_lock: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Gateway:
    """The HJ 212 gateway (see the module docstring).  ``await start()``, then ``await stop()``.

    ``stats()`` gives the counters at any time; ``on_stats`` (if given) is called with them every
    ``stats_interval_s``.
    """

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 options: GatewayOptions | None = None,
                 on_stats: Callable[[dict[str, Any]], None] | None = None) -> None:
        o = options or GatewayOptions()
        self.engine, self.host, self.port, self.options, self.on_stats = engine, host, port, o, on_stats
        self.max_bad_frames, self.max_junk_bytes = o.max_bad_frames, o.max_junk_bytes
        self.max_connections, self.max_segment = o.max_connections, o.max_segment
        self.conns: set[_Connection] = set()
        self.registry: dict[str, Station] = {}
        self.paused = False
        self.pending = 0                       # frames queued or being committed
        self.stats: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        sqlite = engine.dialect.name == "sqlite"
        self._clock = _Clock(sqlite)           # received_at and DataTime in the driver's form
        self._false = 0 if sqlite else False   # hj212_frames.processed
        self._server: asyncio.AbstractServer | None = None
        self._writer: _Writer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._drained: asyncio.Event | None = None
        self._held: set[_Connection] = set()
        self._reload: asyncio.Task[None] | None = None
        self._demanded_at = -1e9  # when a frame of an unknown MN last made the registry reload
        self._started = 0.0
        self._cpu0 = 0.0
        self._last = (0.0, 0)                  # (time, stored) at the last stats call

    # lifecycle

    async def start(self) -> None:
        """Load the registry, start the writer and listen; ``self.port`` is the bound port afterwards."""
        loop = asyncio.get_running_loop()
        self.registry = await loop.run_in_executor(None, load_registry, self.engine)
        self._writer = _Writer(self.engine, loop, self._committed, self.options.batch_max, self.options.linger_ms,
                               self.options.commit_lock)
        self._writer.start()
        self._server = await loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=4096,
                                                reuse_address=True, reuse_port=self.options.reuse_port or None)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self._started = time.monotonic()
        self._cpu0 = time.process_time()
        self._last = (self._started, 0)
        self._tasks = [asyncio.create_task(self._sweep()), asyncio.create_task(self._refresh())]
        if self.on_stats is not None:
            self._tasks.append(asyncio.create_task(self._report()))
        log.info("HJ 212 gateway on %s:%d, %d stations registered", self.host, self.port, len(self.registry))

    async def stop(self) -> dict[str, Any]:
        """Stop accepting and reading, store and acknowledge what was accepted, close every connection."""
        if self._server is not None:
            self._server.close()
        for t in self._tasks:
            t.cancel()
        self._set_paused(True)
        writer = self._writer
        if writer is not None:
            self._drained = asyncio.Event()
            if self.pending:
                await self._drained.wait()
            writer.stop()
            await asyncio.get_running_loop().run_in_executor(None, writer.thread.join)
            self.stats["db_errors"] = writer.db_errors
        for conn in list(self.conns):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let the transports flush and close
        self.paused = False
        return self.stats_dict()

    # what the connections call

    def frame(self, conn: _Connection, raw: bytes, reloaded: bool = False) -> None:
        """One candidate frame off ``conn``'s stream: check, authenticate, queue for storing (``reloaded``: the
        registry was just reloaded for this frame, so an unknown MN is refused)."""
        self.stats["frames_received"] += 1
        try:
            msg = hj212.check_frame(raw, max_segment=self.max_segment)  # framing, CRC, header, DataTime
        except hj212.FrameError as exc:
            conn.bad(exc, raw)
            return
        st = self.registry.get(msg.mn)
        if st is None and not reloaded and (self._reload is not None and not self._reload.done()
                                            or time.monotonic() - self._demanded_at
                                            >= self.options.registry_min_reload_s):
            # a station registered since the last reload? Hold the frame and reload once (rate-limited).
            conn.held = raw
            if conn.transport is not None:
                conn.transport.pause_reading()
            self._held.add(conn)
            if self._reload is None or self._reload.done():
                self._demanded_at = time.monotonic()
                self._reload = asyncio.get_running_loop().create_task(self._reload_now())
            return
        if st is None:
            conn.mn = msg.mn
            self.finding(conn, "unknown_mn", f"station MN={msg.mn} is not registered or not active — register it "
                         "with rareeco hj212 station add", raw)
            return
        if not hmac.compare_digest(password_hash(msg.pw), st.password_sha256):
            conn.mn = msg.mn
            self.finding(conn, "bad_password", f"station MN={msg.mn} sent a PW that does not match its "
                         "registration — set the same PW in the data logger and in rareeco", raw)
            return
        conn.good()
        conn.mn = msg.mn
        conn.frames += 1
        clock = self._clock
        row = (st.id, msg.qn, msg.cn, msg.st, clock.data_time(msg.data_time, st.tz), clock.now(), conn.peer,
               msg.segment, self._false)
        assert self._writer is not None
        self._writer.put_frame((conn, row, reply_frame(msg)))
        self.stats["frames_accepted"] += 1
        self.pending += 1
        if self.pending >= self.options.high_water and not self.paused:
            self._set_paused(True)

    def finding(self, conn: _Connection, reason: str, message: str, raw: bytes | bytearray,
                close: bool | None = None) -> None:
        """Record a finding on ``conn`` and apply the policy (``close`` overrides :data:`POLICY`)."""
        shut = POLICY.get(reason, "kept") == "closed" if close is None else close
        action: Action = "closed" if shut else "kept"
        self.reasons[reason] += 1
        sniffed = _SNIFF_MN.search(bytes(raw[:hj212.MAX_SEGMENT_BYTES]))
        mn = conn.mn or (sniffed.group(1).decode("ascii") if sniffed else None)
        st = self.registry.get(mn) if mn else None
        row = (st.org_id if st else None, self._clock.now(), conn.peer, mn, reason, message, excerpt(raw), action)
        log.debug("finding %s from %s (%s): %s", reason, conn.peer, action, message)
        if self._writer is not None:
            self._writer.put_finding(row)
        if shut:
            self.stats["closed_by_gateway"] += 1
            conn.close(abort=reason == "not_reading")

    # the writer's callback (event loop)

    def _committed(self, frames: list[_Pending], findings: int, ok: bool) -> None:
        out: dict[_Connection, list[bytes]] = {}
        if ok:
            for conn, _row, answer in frames:
                if answer is not None and not conn.closed:
                    out.setdefault(conn, []).append(answer)
        for conn, replies in out.items():
            tr = conn.transport
            if tr is None or conn.closed:
                continue
            tr.write(b"".join(replies) if len(replies) > 1 else replies[0])
            self.stats["replies"] += len(replies)
            if tr.get_write_buffer_size() > self.options.max_unsent_bytes:
                self.finding(conn, "not_reading", f"{tr.get_write_buffer_size()} bytes of replies unsent: the "
                             "station does not read its socket", b"")
        if ok:
            self.stats["stored"] += len(frames)
            self.stats["findings_stored"] += findings
        else:
            self.stats["not_stored"] += len(frames)
        self.stats["batches"] += 1
        self.pending -= len(frames)
        if self.paused and self._drained is None and self.pending <= self.options.high_water // 2:
            self._set_paused(False)
        if self._drained is not None and self.pending == 0:
            self._drained.set()

    # flow control

    def _set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self.stats["pauses"] += 1
        for conn in list(self.conns):
            tr = conn.transport
            if tr is None or conn.closed or conn.held is not None:
                continue
            if paused:
                tr.pause_reading()
            else:
                tr.resume_reading()
                conn.partial_since = None  # the wait was ours
                conn.last_rx = time.monotonic()
                if conn.buf:
                    conn.scan()

    # periodic tasks

    async def _sweep(self) -> None:
        o = self.options
        tick = max(0.05, min(1.0, o.frame_timeout_s / 4, o.idle_timeout_s / 4))
        while True:
            await asyncio.sleep(tick)
            if self.paused:
                continue
            now = time.monotonic()
            for conn in list(self.conns):
                if conn.closed:
                    continue
                if conn.partial_since is not None and now - conn.partial_since > o.frame_timeout_s:
                    conn.flush_partial()
                if conn.partial_since is not None and now - conn.partial_since > o.frame_timeout_s:
                    self.finding(conn, "slow_client", f"a frame started {now - conn.partial_since:.1f} s ago is "
                                 f"not complete ({len(conn.buf)} bytes; limit {o.frame_timeout_s:g} s)", conn.buf)
                elif now - conn.last_rx > o.idle_timeout_s:
                    self.finding(conn, "idle_timeout", f"nothing received for {now - conn.last_rx:.1f} s (limit "
                                 f"{o.idle_timeout_s:g} s)", b"")

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.registry_refresh_s)
            try:
                self.registry = await loop.run_in_executor(None, load_registry, self.engine)
            except Exception as exc:  # keep the registry we have
                log.error("reloading the station registry failed: %s", exc)

    async def _reload_now(self) -> None:
        """Reload the registry for frames of unknown MNs, then decide them (accepted or refused for good)."""
        try:
            self.registry = await asyncio.get_running_loop().run_in_executor(None, load_registry, self.engine)
        except Exception as exc:
            log.error("reloading the station registry failed: %s", exc)
        held, self._held = self._held, set()
        for conn in held:
            raw, conn.held = conn.held, None
            if conn.closed or raw is None:
                continue
            self.frame(conn, raw, reloaded=True)
            if not conn.closed and conn.transport is not None:
                if not self.paused:
                    conn.transport.resume_reading()
                conn.scan()

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.options.stats_interval_s)
            assert self.on_stats is not None
            self.on_stats(self.stats_dict())

    def stats_dict(self) -> dict[str, Any]:
        """Counters since start: frames received/accepted/stored, replies, findings by reason, connections."""
        now = time.monotonic()
        stored = self.stats["stored"]
        t0, s0 = self._last
        rate = (stored - s0) / (now - t0) if now > t0 else 0.0
        self._last = (now, stored)
        s = self.stats
        return {"seconds": round(now - self._started, 3), "connections_open": len(self.conns),
                "connections_total": s["connections_total"], "stations": len(self.registry),
                "frames_received": s["frames_received"], "frames_accepted": s["frames_accepted"],
                "stored": stored, "replies": s["replies"], "not_stored": s["not_stored"],
                "stored_per_s": round(rate, 1), "pending": self.pending, "paused": self.paused,
                "pauses": s["pauses"], "batches": s["batches"],
                "findings": sum(self.reasons.values()), "findings_by_reason": dict(sorted(self.reasons.items())),
                "closed_by_gateway": s["closed_by_gateway"],
                "db_errors": self._writer.db_errors if self._writer else s["db_errors"],
                "cpu_s": round(time.process_time() - self._cpu0, 3)}


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@dataclass
class Workers:
    """What ``on_ready`` gets from :func:`serve` with several workers: the port they share, the station registry
    and the worker processes' ids."""

    port: int
    registry: dict[str, Station]
    pids: list[int]


def serve(engine: Engine, host: str = "127.0.0.1", port: int = DEFAULT_PORT, options: GatewayOptions | None = None,
          on_stats: Callable[[dict[str, Any]], None] | None = None,
          on_ready: Callable[[Any], None] | None = None, workers: int = 1) -> dict[str, Any]:
    """Run a :class:`Gateway` until SIGINT or SIGTERM, then stop it gracefully; returns the final counters.

    With ``workers`` > 1, that many gateway processes listen on the same port (``SO_REUSEPORT``: the kernel
    spreads the connections over them), each with its own event loop, database connection and group commit;
    ``on_stats`` and the result then give the counters summed over the workers (:func:`combine_stats`) and
    ``on_ready`` gets a :class:`Workers`.
    """
    if workers > 1:
        return _serve_workers(engine, host, port, options or GatewayOptions(), on_stats, on_ready, workers)

    async def main() -> dict[str, Any]:
        gw = Gateway(engine, host, port, options, on_stats)
        await gw.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(gw)
        await stop.wait()
        log.info("stopping: storing and acknowledging what was accepted")
        return await gw.stop()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())


# ---------------------------------------------------------------- several worker processes

def combine_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The counters of several gateway workers as one: sums, except ``seconds`` and ``stations`` (the largest)
    and ``paused`` (any)."""
    out: dict[str, Any] = {}
    by: Counter[str] = Counter()
    for d in parts:
        for k, v in d.items():
            if k == "findings_by_reason":
                by.update(v)
            elif k in ("seconds", "stations"):
                out[k] = max(out.get(k, 0), v)
            elif k == "paused":
                out[k] = bool(out.get(k)) or bool(v)
            elif isinstance(v, int | float):
                out[k] = out.get(k, 0) + v
    for k in ("stored_per_s", "cpu_s", "seconds"):
        if k in out:
            out[k] = round(out[k], 3)
    out["findings_by_reason"] = dict(sorted(by.items()))
    out["workers"] = len(parts)
    out["stored_by_worker"] = [d.get("stored", 0) for d in parts]
    return out


def _worker_main(url: str, host: str, port: int, options: GatewayOptions, index: int, outbox: Any,
                 report: bool) -> None:
    """One gateway worker process (see :func:`serve`): reports ``ready``, its counters and its final counters."""
    from rareeco.ledger.db import make_engine

    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s worker {index} %(levelname)s %(message)s")
    engine = make_engine(url, migrate=False)
    try:
        result = serve(engine, host, port, options,
                       on_stats=(lambda st: outbox.put(("stats", index, st))) if report else None,
                       on_ready=lambda gw: outbox.put(("ready", index, gw.port)))
        outbox.put(("final", index, result))
    except BaseException as exc:
        outbox.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        engine.dispose()


def _serve_workers(engine: Engine, host: str, port: int, options: GatewayOptions,
                   on_stats: Callable[[dict[str, Any]], None] | None, on_ready: Callable[[Any], None] | None,
                   workers: int) -> dict[str, Any]:
    import multiprocessing
    import os
    import queue
    from dataclasses import replace

    ctx = multiprocessing.get_context("spawn")  # not fork: this process may hold threads and connections
    inbox = ctx.Queue()
    url = engine.url.render_as_string(hide_password=False)
    opts = replace(options, reuse_port=True,
                   commit_lock=ctx.Lock() if engine.dialect.name == "sqlite" else options.commit_lock)
    stop = threading.Event()
    procs: list[Any] = []
    ready: dict[int, int] = {}
    latest: dict[int, dict[str, Any]] = {}
    final: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}

    def receive(timeout: float) -> None:
        try:
            kind, index, body = inbox.get(timeout=timeout)
        except queue.Empty:
            return
        if kind == "ready":
            ready[index] = body
        elif kind == "stats":
            latest[index] = body
        elif kind == "final":
            final[index] = body
        else:
            failed[index] = body

    def start(index: int, at: int) -> None:
        p = ctx.Process(target=_worker_main, args=(url, host, at, opts, index, inbox, on_stats is not None),
                        name=f"hj212-gateway-{index}")
        p.start()
        procs.append(p)

    def wait_ready(n: int) -> None:
        while len(ready) < n:
            if failed:
                raise RuntimeError(f"a gateway worker failed to start: {next(iter(failed.values()))}")
            if stop.is_set() or any(p.exitcode is not None for p in procs):
                raise RuntimeError("a gateway worker stopped while starting")
            receive(0.1)

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        start(0, port)  # the first binds the port (an ephemeral one for port 0), the others join it
        wait_ready(1)
        for i in range(1, workers):
            start(i, ready[0])
        wait_ready(workers)
        if on_ready is not None:
            on_ready(Workers(ready[0], load_registry(engine), [p.pid for p in procs]))
        due = time.monotonic() + options.stats_interval_s
        while not stop.is_set():
            receive(0.2)
            if failed or any(p.exitcode is not None for p in procs):
                log.error("a gateway worker stopped (%s); stopping the others", failed or "no reason given")
                break
            if on_stats is not None and time.monotonic() >= due and latest:
                due += options.stats_interval_s
                on_stats(combine_stats(list(latest.values())))
    finally:
        for p in procs:
            if p.exitcode is None and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)  # each stops gracefully: stores and acknowledges what it took
        deadline = time.monotonic() + 120
        while any(p.exitcode is None for p in procs) and time.monotonic() < deadline:
            receive(0.1)
        while True:  # what was sent just before the exits
            before = len(final) + len(failed)
            receive(0.05)
            if len(final) + len(failed) == before:
                break
        for p in procs:
            p.join(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return combine_stats([final.get(i) or latest.get(i) or {} for i in range(len(procs))])
