"""Live meter readings over MQTT into the time-series store (docs/meters-mqtt.md).

**Topic scheme**: ``rareeco/<org>/meters/<meter code>`` — one topic per meter; the subscriber takes the whole
organisation with ``rareeco/<org>/meters/+``.  **Payload** (UTF-8 JSON), one reading or a batch::

    {"ts": "2025-06-01T08:00:00+08:00", "value": 12.5}
    {"ts": 1748736000, "value": 12.5, "flag": "E"}
    {"readings": [{"ts": "2025-06-01T08:00:00", "value": 12.5}, {"ts": "2025-06-01T08:15:00", "value": 11.9}]}

``ts`` is ISO 8601 or epoch seconds (fractions of a second are dropped); without an offset it is the
organisation's local time.  It opens the interval the value covers (``stamp="end"`` says it closes it, as in
``rareeco meter import --stamp end``).  ``value`` is a JSON number in the unit of the meter's series; ``flag``
(optional) is a data flag of up to 4 characters.

**Zero loss** (at-least-once): MQTT v5, QoS 1, a persistent session (a stable client id, ``clean_start`` false
and a session-expiry interval) so the broker keeps the subscription and queues readings while the subscriber is
down; manual acknowledgement: a message's PUBACK is sent only after the transaction holding its readings has
committed, so a crash before the commit makes the broker deliver it again, and the copy is dropped by the
store's primary key.  The subscriber announces a Receive Maximum of 65,535 so the broker keeps sending while a
batch is being committed (Mosquitto honours it; its own ``max_inflight_messages``, 20, then does not apply).

A writer (the thread that calls :meth:`Subscriber.run`) drains the in-memory queue filled by paho's network
thread every ``flush_ms`` or ``batch_max`` messages, one transaction per batch; each subscriber run is one
:class:`~rareeco.ledger.models.SeriesBatch` (source ``mqtt://host:port/rareeco/<org>/meters/+``) whose counts
and findings are updated in every transaction.  A malformed message (bad JSON, unknown meter, unreadable time
or value, NaN) never stops the subscriber: it becomes a finding of the batch (topic, payload excerpt, reason,
fix), is logged, and is acknowledged — it can never succeed.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import paho.mqtt.client as paho
import pandas as pd
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, select

from rareeco.errors import RareecoError, ValidationFailed
from rareeco.ingest.meter_csv import org_timezone
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import Meter, Point, Series, SeriesBatch
from rareeco.timeseries.store import LISTED_PER_CODE, SPIKE_MADS, SPIKE_RATIO, Findings, Written, latest, write

log = logging.getLogger(__name__)

#: Messages taken per transaction at most, and the longest a received message waits for its transaction [ms].
BATCH_MAX = 20_000
FLUSH_MS = 200
#: Announced in CONNECT: how many unacknowledged QoS 1 messages the broker may have in flight to us (MQTT 5
#: §3.1.2.11.3; 65,535 is the protocol's maximum).
RECEIVE_MAXIMUM = 65_535
#: How long the broker keeps the session (subscription and queued readings) after a disconnect [s].
SESSION_EXPIRY_S = 7 * 86_400
#: Characters of a malformed payload kept in its finding.
EXCERPT_CHARS = 200
#: Transactions retried (1 s apart) before the subscriber gives up; unacknowledged messages stay with the broker.
COMMIT_RETRIES = 3
#: Published messages the publisher waits to have acknowledged before it sends more (below 65,535 packet ids).
PUBLISH_WINDOW = 10_000
#: Recent values per meter that a live reading is compared with for the spike check, and the fewest needed.
SPIKE_WINDOW = 96
SPIKE_MIN_HISTORY = 10

Progress = Callable[[dict[str, Any]], None]
#: A received message as queued for the writer: (connection generation, packet id, QoS, topic, payload).
Msg = tuple[int, int, int, bytes, bytes | bytearray]


class BrokerError(RareecoError, ConnectionError):
    """The MQTT broker cannot be reached or refused the connection or the subscription."""

    code = "broker_unavailable"
    http_status = 503


def topic_prefix(org_id: str) -> str:
    """``rareeco/<org>/meters/`` — a meter's topic is this followed by its code."""
    bad = set("/+#") & set(org_id)
    if bad or not org_id:
        raise ValidationFailed(f"organisation id {org_id!r} cannot be an MQTT topic level",
                               fix="use an organisation id without '/', '+' or '#'")
    return f"rareeco/{org_id}/meters/"


def meter_topic(org_id: str, meter: str) -> str:
    """The topic a meter's readings are published on."""
    if not meter or set("/+#") & set(meter):
        raise ValidationFailed(f"meter code {meter!r} cannot be an MQTT topic level",
                               fix="use a meter code without '/', '+' or '#'")
    return topic_prefix(org_id) + meter


# ---------------------------------------------------------------- payload

Problem = tuple[str, str, str]  # (code, reason, fix)
_json = json.JSONDecoder().decode
TS_FIX = "ISO 8601 with an offset (2025-06-01T08:00:00+08:00) or epoch seconds"


def epoch_parser(tz: str) -> Callable[[Any], int]:
    """A function turning a payload's ``ts`` into UTC epoch seconds; raises ValueError when it cannot.

    ISO 8601 strings without an offset are local time in ``tz``; a local time that a daylight-saving change
    makes ambiguous or skips is refused rather than guessed.  Results are cached (a meter fleet sends the same
    instants over and over).
    """
    zone = ZoneInfo(tz)

    @lru_cache(maxsize=65_536)
    def from_text(text: str) -> int:
        t = datetime.fromisoformat(text)
        if t.tzinfo is None:
            early, late = t.replace(tzinfo=zone, fold=0), t.replace(tzinfo=zone, fold=1)
            if early.utcoffset() != late.utcoffset():
                raise ValueError(f"local time {text} is ambiguous or skipped in {tz} (daylight saving)")
            t = early
        return math.floor(t.timestamp())

    def parse(ts: Any) -> int:
        if isinstance(ts, str):
            return from_text(ts)
        if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts):
            return math.floor(ts)
        raise ValueError(f"ts {ts!r} is neither an ISO 8601 string nor epoch seconds")

    return parse


Parsed = tuple[int, float, str | None]  # (ts [epoch s], value, flag)


def parse_payload(payload: bytes | bytearray, to_epoch: Callable[[Any], int]) -> tuple[list[Parsed], list[Problem]]:
    """The readings ``(ts [epoch s], value, flag)`` of one message, and the problems of the unreadable ones.

    A batch message keeps its good readings; each bad one is a problem naming its index.
    """
    try:
        doc = _json(payload.decode())  # text first: json.loads would sniff the encoding of bytes
    except (UnicodeDecodeError, ValueError) as exc:
        return [], [("bad_json", f"not JSON: {exc}", 'send UTF-8 JSON: {"ts": "…", "value": 12.5}')]
    if isinstance(doc, dict) and "readings" in doc:
        items, many = doc["readings"], True
        if not isinstance(items, list):
            return [], [("bad_payload", "readings is not a list",
                         'send {"readings": [{"ts": …, "value": …}, …]}')]
    else:
        items, many = [doc], False
    out: list[Parsed] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        at = f"reading {i}: " if many else ""
        if not isinstance(item, dict) or "ts" not in item or "value" not in item:
            problems.append(("bad_payload", f"{at}not an object with ts and value",
                             'send {"ts": "2025-06-01T08:00:00+08:00", "value": 12.5}'))
            continue
        try:
            ts = to_epoch(item["ts"])
        except (ValueError, TypeError, OverflowError) as exc:
            problems.append(("bad_timestamp", f"{at}unreadable ts {item['ts']!r}: {exc}", TS_FIX))
            continue
        v = item["value"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            problems.append(("bad_value", f"{at}value {v!r} is not a finite number",
                             "a JSON number in the meter's unit (no quotes, no NaN); leave a missing reading out"))
            continue
        flag = item.get("flag")
        if flag is not None and (not isinstance(flag, str) or len(flag) > 4):
            problems.append(("bad_flag", f"{at}flag {flag!r} is not a text of up to 4 characters",
                             "use a short data flag such as N, E or M, or leave it out"))
            continue
        out.append((ts, float(v), flag))
    return out, problems


def encode_readings(readings: Iterable[tuple[Any, Any, str | None]]) -> bytes:
    """The JSON payload of one or more readings ``(ts, value, flag)``: a single object for one, a batch else."""
    items = [{"ts": ts, "value": v} | ({"flag": f} if f else {}) for ts, v, f in readings]
    doc = items[0] if len(items) == 1 else {"readings": items}
    return json.dumps(doc, separators=(",", ":")).encode()


# ---------------------------------------------------------------- client

class _Client(paho.Client):
    """paho's client with three shortcuts for high message rates (same protocol and broker behaviour).

    * Reads: paho reads each packet with three or four ``recv`` calls and handles one packet per ``select``;
      here one ``recv`` fills a buffer and every whole packet in it is handled before the next ``select``.
    * Incoming QoS 0/1 PUBLISH packets go straight to ``sink(mid, qos, topic, payload)``: paho would build a
      ``Properties`` object (~10 µs), an ``MQTTMessage`` and match the topic against its callbacks for each.
      The subscriber does not use PUBLISH properties (it announces no topic aliases, so every packet names
      its topic).
    * Acknowledgements: :meth:`ack_many` queues the PUBACKs of a committed batch as one write instead of a
      packet, a wake-up and a ``send`` each.

    These use paho internals (``_sock_recv``, ``_in_packet``, ``_handle_publish``, ``_packet_queue``; the
    dependency is pinned to paho-mqtt 2.x); ``tuned=False`` keeps paho's own I/O, ``on_message`` and ``ack``.
    """

    def __init__(self, *args: Any, tuned: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tuned = tuned and all(hasattr(self, a) for a in ("_packet_queue", "_sock_recv", "_in_packet",
                                                                "_handle_publish"))
        self._rbuf = b""
        self._rpos = 0
        self.sink: Callable[[int, int, bytes, bytes], None] | None = None

    def _handle_publish(self) -> paho.MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if not self._tuned or self.sink is None or qos == 2 or self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        pos = 2 + int.from_bytes(packet[0:2], "big")
        topic = bytes(packet[2:pos])
        mid = 0
        if qos:
            mid = int.from_bytes(packet[pos:pos + 2], "big")
            pos += 2
        length, shift = 0, 0
        while True:  # the properties' length, a variable byte integer (MQTT 5 §1.5.5); the properties are skipped
            byte = packet[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        self.sink(mid, qos, topic, bytes(packet[pos + length:]))
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._tuned:
            return super()._sock_recv(bufsize)
        if self._rpos >= len(self._rbuf):
            self._rbuf, self._rpos = super()._sock_recv(1 << 18), 0
            if not self._rbuf:
                return b""
        out = self._rbuf[self._rpos:self._rpos + bufsize]
        self._rpos += len(out)
        return out

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and self._rpos < len(self._rbuf):
            rc = super().loop_read(max_packets)
        return rc

    def reconnect(self) -> paho.MQTTErrorCode:
        self._rbuf, self._rpos = b"", 0
        return super().reconnect()

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK (reason: success) for each QoS 1 message id, in the order received (MQTT 5 §4.6)."""
        if not mids:
            return
        if not self._tuned:
            for mid in mids:
                self.ack(mid, 1)
            return
        # MQTT 5 §3.4.2.1: a PUBACK with reason 0x00 and no properties may omit both (remaining length 2).
        blob = struct.pack(f">{len(mids)}I", *[0x4002_0000 | mid for mid in mids])
        self._packet_queue(paho.PUBACK, blob, 0, 0)


# ---------------------------------------------------------------- subscriber

@dataclass
class Stats:
    """What a subscriber run did so far."""

    received: int = 0        # messages received (including redelivered copies)
    handled: int = 0         # messages whose transaction committed (or that were malformed) and were acked
    readings: int = 0        # readings read from good payloads
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    late: int = 0
    malformed: int = 0       # messages with at least one unreadable reading, or for an unknown meter
    flushes: int = 0
    reconnects: int = 0
    seconds: float = 0.0     # from the first message received to the last commit

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["messages_per_s"] = round(self.handled / self.seconds, 1) if self.seconds > 0 else None
        return d


class Subscriber:
    """Readings of one organisation's meters from an MQTT broker into the ledger (see the module docstring).

    ``run()`` blocks until ``stop()`` (e.g. from a signal handler), ``count`` messages handled, or ``seconds``
    elapsed; it flushes and acknowledges what is stored, disconnects (the broker keeps the session) and returns
    the run's summary.
    """

    def __init__(self, engine: Engine, org_id: str, host: str = "127.0.0.1", port: int = 1883,
                 client_id: str | None = None, stamp: str = "start", actor: str = "cli",
                 flush_ms: int = FLUSH_MS, batch_max: int = BATCH_MAX, receive_maximum: int = RECEIVE_MAXIMUM,
                 session_expiry_s: int = SESSION_EXPIRY_S, tuned_io: bool = True) -> None:
        if stamp not in ("start", "end"):
            raise ValidationFailed(f"unknown timestamp convention {stamp!r}",
                                   fix="use start (ts opens the interval) or end (it closes it)")
        self.engine, self.org_id, self.host, self.port = engine, org_id, host, port
        self.prefix = topic_prefix(org_id)
        self.topic = self.prefix + "+"
        self.client_id = client_id or f"rareeco-meters-{org_id}"
        self.stamp, self.actor = stamp, actor
        self.flush_s, self.batch_max = flush_ms / 1000, batch_max
        self.receive_maximum, self.session_expiry_s = receive_maximum, session_expiry_s
        self.source = f"mqtt://{host}:{port}/{self.topic}"
        self.stats = Stats()
        self.findings = Findings()
        self.batch_id: int | None = None
        self.session_present: bool | None = None
        self._queue: deque[Msg] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        #: Set once the broker has confirmed the subscription (readings published from then on reach this run).
        self.ready = threading.Event()
        self._connect_error: str | None = None
        self._generation = 0
        self._first_at: float | None = None
        self._logged: dict[str, int] = {}
        self.tz = "UTC"
        self.to_epoch = epoch_parser(self.tz)
        self.sids: dict[str, int] = {}
        self._by_topic: dict[bytes, int] = {}
        self.intervals: dict[int, int | None] = {}
        self.last_seen: dict[int, int] = {}
        self._recent: dict[int, deque[float]] = {}
        #: meter → (median, MAD, readings they were computed from, readings added since)
        self._spread: dict[int, tuple[float, float, int, int]] = {}
        self._client = _Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5,
                               manual_ack=True, tuned=tuned_io)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.sink = self._sink
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe

    # -- network thread (paho) --------------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, flags: paho.ConnectFlags, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._connect_error = f"the broker refused the connection: {reason}"
            self._connected.set()
            self.ready.set()
            return
        self._generation += 1  # acks of deliveries on an earlier connection must not be sent on this one
        if self.session_present is None:
            self.session_present = bool(flags.session_present)
        else:
            self.stats.reconnects += 1
            log.warning("reconnected to %s:%s (session present: %s)", self.host, self.port, flags.session_present)
        # Retained messages only on a new subscription: a resumed session does not get them again.
        client.subscribe(self.topic, options=SubscribeOptions(qos=1, retainHandling=1))
        self._connected.set()

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            self._connect_error = f"the broker refused the subscription to {self.topic}: {reasons[0]}"
        self.ready.set()

    def _sink(self, mid: int, qos: int, topic: bytes, body: bytes | bytearray) -> None:
        if self._first_at is None:
            self._first_at = time.perf_counter()
        self.stats.received += 1
        self._queue.append((self._generation, mid, qos, topic, body))
        if len(self._queue) >= self.batch_max:
            self._wake.set()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        self._sink(msg.mid, msg.qos, msg._topic, msg.payload)  # paho's own path (tuned_io=False)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._generation += 1  # from now on, nothing received before is acknowledged (the broker resends it)
        self._disconnected.set()
        if not self._stop.is_set():
            log.warning("disconnected from %s:%s (%s); paho reconnects", self.host, self.port, reason)

    # -- writer (the thread that calls run) --------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run()`` to flush, acknowledge and return (safe from any thread or a signal handler)."""
        self._stop.set()
        self._wake.set()

    def _prepare(self) -> None:
        """The organisation's time zone, meters and newest stored instants (before connecting)."""
        with session_scope(self.engine) as s:
            self.tz = org_timezone(s, self.org_id)
            self.findings = Findings(tz=self.tz)
            self._load_meters(s)
            self.last_seen = latest(s, list(self.intervals))
        self.to_epoch = epoch_parser(self.tz)

    def _open_batch(self) -> None:
        """This run's meter batch (once subscribed, so a broker that cannot be reached leaves none behind)."""
        with session_scope(self.engine) as s:
            batch = SeriesBatch(org_id=self.org_id, source=self.source[-400:], sha256=None,
                                received_at=datetime.now(UTC), findings=[])
            s.add(batch)
            s.flush()
            self.batch_id = batch.id

    def _load_meters(self, s: Any) -> None:
        rows = s.execute(select(Meter.code, Meter.series_id).where(Meter.org_id == self.org_id,
                                                                    Meter.series_id.is_not(None))).all()
        self.sids = {code: int(sid) for code, sid in rows}
        self.findings.labels = {sid: code for code, sid in self.sids.items()}
        self._by_topic = {(self.prefix + code).encode(): sid for code, sid in self.sids.items()}
        self.intervals = {
            int(i): n for i, n in s.execute(select(Series.id, Series.interval_s).where(Series.org_id == self.org_id))}

    def _problem(self, code: str, topic_b: bytes, raw: bytes | bytearray, reason: str, fix: str) -> None:
        topic = topic_b.decode("utf-8", "replace")
        excerpt = raw[:EXCERPT_CHARS].decode("utf-8", "replace")
        self.findings.add(code, 1, f"{topic}: {reason}", topic=topic, payload=excerpt, reason=reason, fix=fix,
                          where=self.source)
        n = self._logged[code] = self._logged.get(code, 0) + 1
        if n <= LISTED_PER_CODE:
            log.warning("%s on %s: %s — %s (payload %r)", code, topic, reason, fix, excerpt)
        elif n == LISTED_PER_CODE + 1:
            log.warning("more %s findings: counted in batch %s, no longer logged", code, self.batch_id)

    def _flush(self, msgs: list[Msg]) -> tuple[Written, int, int]:
        """Store one batch of messages in one transaction; (what was written, readings, malformed messages)."""
        plen = len(self.prefix)
        sid_l: list[int] = []
        ts_l: list[int] = []
        val_l: list[float] = []
        flag_l: list[str | None] = []
        malformed = 0
        with session_scope(self.engine) as s:
            reloaded = False
            for _g, _mid, _q, topic, raw in msgs:
                sid = self._by_topic.get(topic)
                if sid is None and not reloaded:
                    self._load_meters(s)  # a meter added while the subscriber runs
                    reloaded = True
                    sid = self._by_topic.get(topic)
                if sid is None:
                    code = topic[plen:].decode("utf-8", "replace")
                    malformed += 1
                    self._problem("unknown_meter", topic, raw, f"meter {code!r} is not a meter of {self.org_id} "
                                  "with a series", "register it with rareeco meter add, or correct the topic")
                    continue
                readings, problems = parse_payload(raw, self.to_epoch)
                if self.stamp == "end" and readings:
                    step = self.intervals.get(sid)
                    if step:
                        readings = [(ts - step, v, f) for ts, v, f in readings]
                    else:
                        readings = []
                        problems.append(("no_interval", f"end-stamped readings of {self.findings.name(sid)} need "
                                         "the meter's interval", "set it with rareeco meter add --interval-s, or "
                                         "run with --stamp start"))
                if problems:
                    malformed += 1
                    for pcode, reason, fix in problems:
                        self._problem(pcode, topic, raw, reason, fix)
                for ts, v, f in readings:
                    sid_l.append(sid)
                    ts_l.append(ts)
                    val_l.append(v)
                    flag_l.append(f)
            flags = np.array(flag_l, dtype=object) if any(f is not None for f in flag_l) else None
            sid_a, ts_a, val_a = (np.array(sid_l, dtype=np.int64), np.array(ts_l, dtype=np.int64),
                                  np.array(val_l, dtype=float))
            self._live_spikes(s, sid_a, ts_a, val_a)
            out = write(s, sid_a, ts_a, val_a, self.batch_id or 0, self.tz, self.findings, self.last_seen,
                        self.intervals, flag=flags, where=self.source)
            batch = s.get(SeriesBatch, self.batch_id)
            assert batch is not None
            batch.points_stored += out.stored
            batch.points_duplicate += out.duplicates
            summary = copy.deepcopy(self.findings)
            summary.add("duplicate", self.stats.duplicates + out.duplicates,
                        f"{self.stats.duplicates + out.duplicates} reading(s) already stored were skipped")
            batch.findings = summary.to_list()
        self._remember(sid_a, ts_a, val_a)
        return out, len(ts_l), malformed

    def _window(self, s: Any, sid: int) -> deque[float]:
        w = self._recent.get(sid)
        if w is None:  # first reading of this meter in the run: its newest stored values
            rows = s.execute(select(Point.value).where(Point.series_id == sid).order_by(Point.ts.desc())
                             .limit(SPIKE_WINDOW)).scalars().all()
            w = self._recent[sid] = deque(reversed(rows), maxlen=SPIKE_WINDOW)
        return w

    def _live_spikes(self, s: Any, sid: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        """The store's spike rule for meters with few readings in this batch, against their recent values.

        The store judges a reading against the median of the same meter's readings in the batch it writes (10 or
        more); live, a batch holds one or two readings of a meter, so they are judged against the meter's last
        SPIKE_WINDOW values instead (same rule: SPIKE_MADS median absolute deviations above the median and
        SPIKE_RATIO times it).
        """
        if not len(sid):
            return
        order = np.lexsort((ts, sid))
        sid, ts, value = sid[order], ts[order], value[order]
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        for a, b in zip(starts.tolist(), np.r_[starts[1:], len(sid)].tolist(), strict=True):
            if b - a >= SPIKE_MIN_HISTORY:
                continue  # the store judges these
            m = int(sid[a])
            window = self._window(s, m)
            if len(window) < SPIKE_MIN_HISTORY:
                continue
            med, mad, n, added = self._spread.get(m, (0.0, 0.0, 0, SPIKE_MIN_HISTORY))
            if added >= SPIKE_MIN_HISTORY // 2:  # the median of ~100 values moves slowly: refreshed every 5
                hist = np.fromiter(window, dtype=float)
                med, n = float(np.median(hist)), len(hist)
                mad = float(np.median(np.abs(hist - med)))
                self._spread[m] = (med, mad, n, 0)
            for t, v in zip(ts[a:b].tolist(), value[a:b].tolist(), strict=True):
                if med > 0 and v > med + SPIKE_MADS * mad and v > SPIKE_RATIO * med:
                    self.findings.add("spike", 1, f"{self.findings.name(m)} at {self.findings.when(t)}: {v:g} "
                                      f"against a median of {med:g} over its {n} previous readings — check "
                                      "the meter or the register rollover", series_id=m, ts=self.findings.when(t),
                                      value=v, where=self.source)

    def _remember(self, sid: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        """Add a committed batch's readings to the recent values of the meters already followed."""
        order = np.lexsort((ts, sid))
        for m, v in zip(sid[order].tolist(), value[order].tolist(), strict=True):
            w = self._recent.get(m)
            if w is not None:
                w.append(v)
                med, mad, n, added = self._spread.get(m, (0.0, 0.0, 0, SPIKE_MIN_HISTORY))
                self._spread[m] = (med, mad, n, added + 1)

    def _commit(self, msgs: list[Msg]) -> None:
        """Store ``msgs`` (retrying a failed transaction), then acknowledge them."""
        for attempt in range(COMMIT_RETRIES + 1):
            saved = copy.deepcopy(self.findings), dict(self.last_seen), dict(self._logged)
            try:
                out, readings, malformed = self._flush(msgs)
                break
            except Exception as exc:
                self.findings, self.last_seen, self._logged = saved
                if attempt == COMMIT_RETRIES:
                    # Give up: nothing of this batch is acknowledged, so the broker keeps it for the next run.
                    log.error("storing a batch of %d messages failed %d times; stopping", len(msgs), attempt + 1)
                    raise
                log.error("storing a batch of %d messages failed (%s); retrying", len(msgs), exc)
                time.sleep(1.0)
        gen = self._generation
        self._client.ack_many([mid for g, mid, qos, _t, _r in msgs if qos == 1 and g == gen])
        st = self.stats
        st.handled += len(msgs)
        st.readings += readings
        st.stored += out.stored
        st.duplicates += out.duplicates
        st.conflicts += out.conflicts
        st.late += out.late
        st.malformed += malformed
        st.flushes += 1
        if self._first_at is not None:
            st.seconds = time.perf_counter() - self._first_at

    def _take(self, most: int) -> list[Msg]:
        q = self._queue
        return [q.popleft() for _ in range(min(len(q), most))]

    def run(self, count: int | None = None, seconds: float | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
        """Subscribe and store until stopped; returns the summary (batch id, counts, findings)."""
        self._prepare()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        try:
            self._client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        except OSError as exc:
            raise BrokerError(f"MQTT broker {self.host}:{self.port} unreachable: {exc}",
                              fix="start it (mosquitto -d -c /etc/mosquitto/mosquitto.conf) or give --host/--port"
                              ) from exc
        self._client.loop_start()
        try:
            if not (self._connected.wait(10) and self.ready.wait(10)) or self._connect_error:
                raise BrokerError(self._connect_error or f"no CONNACK or SUBACK from {self.host}:{self.port} in "
                                  "10 s", fix="check the broker's log and that this client id is allowed")
            self._open_batch()
            log.info("subscribed to %s as %s (session present: %s); batch %s", self.topic, self.client_id,
                     self.session_present, self.batch_id)
            deadline = time.monotonic() + seconds if seconds is not None else None
            while not self._stop.is_set():
                if len(self._queue) < self.batch_max:
                    wait = self.flush_s if deadline is None else min(self.flush_s, deadline - time.monotonic())
                    self._wake.wait(max(0.0, wait))
                    self._wake.clear()
                msgs = self._take(self.batch_max)
                if msgs:
                    self._commit(msgs)
                    if progress:
                        progress(self.stats.to_dict())
                if (deadline is not None and time.monotonic() >= deadline) or \
                        (count is not None and self.stats.handled >= count):
                    self._stop.set()
            # Stopping: store what was received until now; later arrivals stay unacknowledged with the broker,
            # which delivers them again to the next run of this client id.
            left = len(self._queue)
            while left > 0:
                msgs = self._take(min(left, self.batch_max))
                self._commit(msgs)
                left -= len(msgs)
            if progress:
                progress(self.stats.to_dict())
            return self._close()
        finally:
            self._stop.set()
            self._disconnected.clear()
            if self._client.disconnect() == paho.MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._disconnected.wait(5)  # the DISCONNECT is queued after the last acknowledgements
            self._client.loop_stop()

    def _close(self) -> dict[str, Any]:
        from rareeco.ledger import audit

        with session_scope(self.engine) as s:
            batch = s.get(SeriesBatch, self.batch_id)
            assert batch is not None
            audit.append(s, self.actor, "meter.mqtt", f"{self.org_id}/{self.source}", self.org_id,
                         {"batch": batch.id, "points": batch.points_stored, "messages": self.stats.handled,
                          "malformed": self.stats.malformed})
            findings = list(batch.findings or [])
        return {"batch": self.batch_id, "source": self.source, "client_id": self.client_id,
                "session_present": self.session_present, **self.stats.to_dict(), "findings": findings}


def subscribe(engine: Engine, org_id: str, count: int | None = None, seconds: float | None = None,
              progress: Progress | None = None, stop: threading.Event | None = None,
              **options: Any) -> dict[str, Any]:
    """Run a :class:`Subscriber` until ``count`` messages, ``seconds``, or ``stop`` is set; returns its summary."""
    sub = Subscriber(engine, org_id, **options)
    if stop is not None:
        def relay() -> None:
            stop.wait()
            sub.stop()

        threading.Thread(target=relay, daemon=True).start()
    return sub.run(count=count, seconds=seconds, progress=progress)


# ---------------------------------------------------------------- publisher (tests, demo, gateways)

Reading = tuple[str, Any, Any, str | None]  # (meter code, ts, value, flag)


def publish(org_id: str, readings: Iterable[Reading], host: str = "127.0.0.1", port: int = 1883,
            per_message: int = 1, qos: int = 1, client_id: str | None = None) -> int:
    """Publish readings ``(meter, ts, value, flag)`` on the meters' topics; returns the messages published.

    ``per_message`` > 1 groups consecutive readings of the same meter into batch payloads.  With QoS 1 it
    returns once the broker has acknowledged every message.
    """
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=paho.MQTTv5)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise BrokerError(f"MQTT broker {host}:{port} unreachable: {exc}",
                          fix="start it (mosquitto -d -c /etc/mosquitto/mosquitto.conf) or give --host/--port") from exc
    client.loop_start()
    window: deque[paho.MQTTMessageInfo] = deque()
    sent = 0
    try:
        for meter, group in _groups(readings, per_message):
            body = encode_readings([(t, v, f) for _m, t, v, f in group])
            info = client.publish(meter_topic(org_id, meter), body, qos=qos)
            if info.rc != paho.MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise BrokerError(f"publishing to {host}:{port} failed: {paho.error_string(info.rc)}",
                                  fix="check the broker")
            window.append(info)
            sent += 1
            while len(window) > PUBLISH_WINDOW:
                window.popleft().wait_for_publish(60)
        for info in window:
            info.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def _groups(readings: Iterable[Reading], size: int) -> Iterator[tuple[str, list[Reading]]]:
    group: list[Reading] = []
    for r in readings:
        if group and (r[0] != group[0][0] or len(group) >= size):
            yield group[0][0], group
            group = []
        group.append(r)
    if group:
        yield group[0][0], group


def csv_readings(path: Path) -> Iterator[Reading]:
    """The readings of a meter CSV in either layout of ``rareeco meter import`` (long or wide), as written.

    Times pass through as text (the subscriber reads them in the organisation's time zone); a value that is not
    a number is sent as text so the subscriber reports it.
    """
    header = [c.strip().lower() for c in pd.read_csv(path, nrows=0, skipinitialspace=True).columns]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]

    def number(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    if {"meter", "timestamp", "value"} <= set(header):
        cols = {c.lower(): c for c in frame.columns}
        flags = frame[cols["flag"]] if "flag" in cols else [None] * len(frame)
        for m, t, v, f in zip(frame[cols["meter"]], frame[cols["timestamp"]], frame[cols["value"]], flags,
                              strict=True):
            yield m.strip(), t.strip(), number(v.strip()), f or None
    elif header and header[0] in ("timestamp", "time") and len(header) > 1:
        for meter in frame.columns[1:]:
            for t, v in zip(frame.iloc[:, 0], frame[meter], strict=True):
                if v.strip() != "":
                    yield meter, t.strip(), number(v.strip()), None
    else:
        raise ValidationFailed(f"{path.name}: the header {header[:5]} is neither layout",
                               fix="use meter,timestamp,value[,flag] (long) or timestamp,<meter>,… (wide)")
