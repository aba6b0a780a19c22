"""A station simulator that drives the HJ 212 gateway: tests, the benchmark and the demo (docs/hj212-gateway.md).

``N`` stations, one TCP connection each, upload **minute data** (CN=2051, HJ 212-2017 §6.6.5 Table 9) of a
rare-earth roasting-kiln stack with Flag=5 (HJ 212-2017, reply asked), ``count`` frames in all, and time each
9014 data reply: the **ack latency** is from the frame's write to its reply's arrival.

* ``rate`` > 0: open loop, ``rate`` frames/s in all, round robin over the stations (a frame every ``N / rate``
  seconds per station, whatever the replies do).  ``rate`` = 0: closed loop, as fast as the gateway
  acknowledges, each station keeping ``window`` frames unacknowledged.
* ``malformed`` = K: K bad frames ride along with the valid ones, each written just before a valid frame of
  the same station (so every kind of garbage is followed by traffic that must still be served), the kinds in
  turn: ``bad_crc`` (a digit of the CRC changed), ``bad_length`` (the length field one short), ``truncated``
  (the first half of a frame), ``oversize`` (a 1,500-byte data segment), ``unknown_mn`` (a valid frame of an
  unregistered MN, on a connection of its own, which the gateway closes).

Station ``i`` has MN ``<prefix><i:06d>`` (:func:`station_mn`) and, by default, the standard's example password
123456; :func:`register_stations` registers them.  The readings (synthetic, plausible magnitudes for a
scrubbed roasting-kiln flue gas; :data:`POLLUTANTS`) follow a random walk per station; each station cycles
through :data:`VALUE_SETS` precomputed sets so that building a frame costs little more than its CRC.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import RareecoError
from rareeco.ingest import hj212
from rareeco.ingest.hj212_gateway import DEFAULT_PORT, add_station, new_event_loop
from rareeco.ledger.models import CemsStation

#: Station clock of the first minute every station uploads (naive: the station's local time).
T0 = datetime(2026, 1, 1, 0, 0)
#: The default access password: the one of the standard's examples (HJ 212-2017 Appendix C).
DEFAULT_PASSWORD = "123456"
DEFAULT_PREFIX = "SIMRK"
#: Kinds of bad frame, sent in turn (``--malformed``); each is the gateway's finding reason for it.
MALFORMED_KINDS = ("bad_crc", "bad_length", "truncated", "oversize", "unknown_mn")
#: Data-segment size of an ``oversize`` bad frame [bytes] (the standard's limit is 1024).
OVERSIZE_BYTES = 1500
#: Precomputed minute value sets per station, cycled.
VALUE_SETS = 32
#: Frames in flight per station in closed-loop mode (``rate`` = 0).
WINDOW = 4
#: Seconds to wait for the last replies after the last frame was written.
ACK_TIMEOUT_S = 15.0

#: (code, what, unit, typical value, relative spread, decimals) — Appendix B Table B.2 codes; the values are
#: synthetic, of the magnitude of a roasting-kiln stack after acid recovery and scrubbing.
POLLUTANTS = (
    ("a21026", "SO2", "mg/m3", 60.0, 0.25, 2),
    ("a21018", "fluoride", "mg/m3", 1.5, 0.3, 3),
    ("a34013", "particulate", "mg/m3", 8.0, 0.3, 2),
    ("a19001", "O2", "%", 14.0, 0.05, 2),
    ("a00000", "flue-gas flow", "m3/s", 15.0, 0.08, 2),
)


class GatewayUnavailable(RareecoError, ConnectionError):
    """The simulator cannot connect to the gateway."""

    code = "gateway_unavailable"
    http_status = 503


def station_mn(prefix: str, index: int) -> str:
    """The MN of simulated station ``index`` (from 1)."""
    return f"{prefix}{index:06d}"


def register_stations(session: Session, org_id: str, site_code: str, n: int, prefix: str = DEFAULT_PREFIX,
                      password: str = DEFAULT_PASSWORD, actor: str = "cli") -> list[tuple[str, str]]:
    """Register simulated stations 1..n at a site (those not registered yet); returns their (MN, PW)."""
    wanted = [station_mn(prefix, i) for i in range(1, n + 1)]
    have = set(session.execute(select(CemsStation.mn).where(CemsStation.mn.in_(wanted))).scalars())
    for i, mn in enumerate(wanted, start=1):
        if mn not in have:
            add_station(session, org_id, site_code, mn, password, name=f"simulated roasting kiln stack {i}",
                        actor=actor)
    return [(mn, password) for mn in wanted]


def value_sets(rng: random.Random, sets: int = VALUE_SETS) -> list[str]:
    """``sets`` data areas (after DataTime) of one station's minutes: Avg, Min, Max, Flag per pollutant, and the
    flow's Cou [m3 over the minute]; a random walk around :data:`POLLUTANTS`."""
    level = {code: typical * (0.8 + 0.4 * rng.random()) for code, _w, _u, typical, _s, _d in POLLUTANTS}
    out = []
    for _ in range(sets):
        items = []
        for code, _what, _unit, typical, spread, dec in POLLUTANTS:
            avg = level[code] = max(0.05 * typical, level[code] * (1 + spread * 0.2 * (rng.random() - 0.5)))
            lo, hi = avg * (1 - spread * rng.random() / 2), avg * (1 + spread * rng.random() / 2)
            item = f"{code}-Avg={avg:.{dec}f},{code}-Min={lo:.{dec}f},{code}-Max={hi:.{dec}f}"
            if code == "a00000":
                item += f",{code}-Cou={avg * 60:.1f}"
            items.append(item + f",{code}-Flag=N")
        out.append(";".join(items))
    return out


def _frame(segment: str) -> bytes:
    data = segment.encode("ascii")
    return b"##%04d%s%04X\r\n" % (len(data), data, hj212.crc(data))


class _Clock:
    """DataTime / QN text of minute k, cached (every station uploads the same minutes)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._cache: dict[int, str] = {}

    def __call__(self, k: int) -> str:
        text = self._cache.get(k)
        if text is None:
            text = self._cache[k] = (self.start + timedelta(minutes=k)).strftime("%Y%m%d%H%M%S")
        return text


def malformed_frame(kind: str, valid: bytes) -> bytes:
    """A bad frame of ``kind`` made from a valid one (see the module docstring)."""
    if kind == "bad_crc":
        digit = valid[-3:-2]
        return valid[:-3] + (b"0" if digit != b"0" else b"1") + valid[-2:]
    if kind == "bad_length":
        return b"##%04d" % (int(valid[2:6]) - 1) + valid[6:]
    if kind == "truncated":
        return valid[:len(valid) // 2]
    if kind == "oversize":
        head = valid[6:valid.index(b"CP=&&") + 5]
        seg = head + b"Info=" + b"0" * (OVERSIZE_BYTES - len(head) - 7) + b"&&"
        return b"##%04d%s%04X\r\n" % (len(seg), seg, hj212.crc(seg))
    raise ValueError(f"unknown malformed kind {kind!r}; use one of {', '.join(MALFORMED_KINDS)}")


class _Link(asyncio.Protocol):
    """One simulated station's connection."""

    def __init__(self, sim: _Simulation, mn: str, pw: str, seed: int) -> None:
        self.sim, self.mn, self.pw = sim, mn, pw
        self.rng = random.Random(seed)
        self.sets = value_sets(self.rng)
        self.head = f";ST=31;CN=2051;PW={pw};MN={mn};Flag=5;CP=&&DataTime="
        self.k = 0
        self.pending: dict[bytes, float] = {}
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def next_frame(self) -> tuple[bytes, bytes]:
        """(QN, frame) of this station's next minute."""
        k = self.k
        self.k += 1
        stamp = self.sim.clock(k)
        qn = stamp + "000"
        return qn.encode(), _frame(f"QN={qn}{self.head}{stamp};{self.sets[k % len(self.sets)]}&&")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        sim = self.sim
        buf = self.buf + data if self.buf else data
        now = time.perf_counter()
        start = 0
        while True:
            end = buf.find(b"\r\n", start)
            if end < 0:
                break
            line = buf[start:end]
            start = end + 2
            seg = line[6:-4]
            qa = seg.find(b"QN=")
            qb = seg.find(b";", qa)
            if (line[:2] != b"##" or not line[2:6].isdigit() or int(line[2:6]) != len(seg) or qa < 0 or qb < 0
                    or b";CN=9014;" not in seg or int(line[-4:], 16) != hj212.crc(seg)):
                sim.bad_replies += 1
                continue
            sent = self.pending.pop(seg[qa + 3:qb], None)
            if sent is None:
                sim.unexpected += 1
                continue
            sim.latencies.append(now - sent)
            sim.acked += 1
            sim.last_ack = now
            if sim.closed_loop:
                sim.emit(self)
        self.buf = buf[start:]
        if sim.done_sending and sim.acked + sim.lost >= sim.sent:
            sim.all_acked.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.sim.closing:
            self.sim.dropped += 1
            self.sim.lost += len(self.pending)
            self.pending.clear()
            if self.sim.done_sending and self.sim.acked + self.sim.lost >= self.sim.sent:
                self.sim.all_acked.set()


class _Simulation:
    def __init__(self, host: str, port: int, stations: list[tuple[str, str]], rate: float, count: int,
                 malformed: int, window: int, seed: int, start: datetime, ack_timeout_s: float,
                 progress: Callable[[dict[str, Any]], None] | None) -> None:
        if not stations:
            raise ValueError("simulate at least one station")
        self.host, self.port, self.stations = host, port, stations
        self.rate, self.count, self.window, self.seed = rate, count, window, seed
        self.ack_timeout_s, self.progress = ack_timeout_s, progress
        self.closed_loop = rate <= 0
        self.clock = _Clock(start)
        self.rng = random.Random(seed)
        # bad frames: K draws of the valid frame each is written before; kinds in turn
        self.plan: dict[int, list[str]] = {}
        for i in range(malformed):
            self.plan.setdefault(self.rng.randrange(max(count, 1)), []).append(MALFORMED_KINDS[i % 5])
        self.links: list[_Link] = []
        self.sent = self.acked = self.lost = self.bad_replies = self.unexpected = self.dropped = 0
        self.malformed_sent: Counter[str] = Counter()
        self.rogue_closed = 0
        self.latencies: list[float] = []
        self.next_index = 0
        self.done_sending = False
        self.closing = False
        self.last_ack = 0.0
        self.all_acked = asyncio.Event()
        self.rogues: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(200)

        async def one(i: int, mn: str, pw: str) -> _Link:
            async with gate:
                _t, link = await loop.create_connection(lambda: _Link(self, mn, pw, self.seed * 1_000_003 + i),
                                                        self.host, self.port)
                return link

        try:
            self.links = list(await asyncio.gather(*(one(i, mn, pw) for i, (mn, pw) in enumerate(self.stations))))
        except OSError as exc:
            raise GatewayUnavailable(f"cannot connect to the gateway at {self.host}:{self.port}: {exc}",
                                     fix="start it (rareeco hj212 serve) or give --host/--port") from exc

    def emit(self, link: _Link | None = None) -> bool:
        """Write the next planned frame (with the bad frames planned before it); False when all are sent."""
        i = self.next_index
        if i >= self.count:
            return False
        self.next_index = i + 1
        if link is None:
            link = self.links[i % len(self.links)]
        if link.closed or link.transport is None:
            return True
        qn, frame = link.next_frame()
        bad = self.plan.get(i)
        if bad:
            parts = []
            for kind in bad:
                self.malformed_sent[kind] += 1
                if kind == "unknown_mn":
                    self.rogues.append(asyncio.create_task(self.rogue(frame, link.mn)))
                else:
                    parts.append(malformed_frame(kind, frame))
            frame = b"".join(parts) + frame
        link.pending[qn] = time.perf_counter()
        link.transport.write(frame)
        self.sent += 1
        return True

    async def rogue(self, frame: bytes, mn: str) -> None:
        """A valid frame of an unregistered MN on a connection of its own; counts whether the gateway closes it."""
        unknown = b"ZZUNKNOWN%07d" % self.rng.randrange(10_000_000)
        bad = _frame(frame[6:-6].replace(b"MN=%s;" % mn.encode(), b"MN=%s;" % unknown).decode("ascii"))
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return
        try:
            writer.write(bad)
            with contextlib.suppress(asyncio.TimeoutError, OSError):
                if await asyncio.wait_for(reader.read(), timeout=self.ack_timeout_s) == b"":
                    self.rogue_closed += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def run(self) -> dict[str, Any]:
        await self.connect()
        t0 = time.perf_counter()
        last_report = t0
        if self.closed_loop:
            for _ in range(self.window):
                for link in self.links:
                    self.emit(link)
        else:
            while self.next_index < self.count:
                due = min(self.count, int((time.perf_counter() - t0) * self.rate) + 1)
                while self.next_index < due:
                    self.emit()
                now = time.perf_counter()
                if self.progress is not None and now - last_report >= 1.0:
                    last_report = now
                    self.progress(self.snapshot(now - t0, latency=False))
                await asyncio.sleep(min(0.005, max(0.0, (self.next_index + 1) / self.rate - (now - t0))))
        acked, still = self.acked, time.perf_counter()
        while self.closed_loop and self.next_index < self.count:
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            if self.acked != acked:
                acked, still = self.acked, now
            elif now - still > self.ack_timeout_s:  # no reply for that long: the gateway stopped answering
                break
            if self.progress is not None and now - last_report >= 1.0:
                last_report = now
                self.progress(self.snapshot(now - t0, latency=False))
        sent_done = time.perf_counter()
        self.done_sending = True
        if self.acked + self.lost < self.sent:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.all_acked.wait(), timeout=self.ack_timeout_s)
        if self.rogues:
            await asyncio.gather(*self.rogues)
        end = max(self.last_ack, sent_done) if self.acked else time.perf_counter()
        self.closing = True
        for link in self.links:
            if link.transport is not None:
                link.transport.close()
        await asyncio.sleep(0)
        report = self.snapshot(end - t0)
        if self.progress is not None:
            self.progress(report)
        return report

    def snapshot(self, seconds: float, latency: bool = True) -> dict[str, Any]:
        """The counts so far; with ``latency``, the percentiles too (a sort of every latency: at the end only)."""
        lat = sorted(self.latencies) if latency else []

        def q(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

        unacked = sum(len(link.pending) for link in self.links)
        return {"stations": len(self.stations), "rate_per_s": self.rate or None, "count": self.count,
                "sent": self.sent, "acked": self.acked, "unacked": unacked, "lost_on_closed": self.lost,
                "malformed_sent": dict(self.malformed_sent), "unknown_mn_closed": self.rogue_closed,
                "connections_dropped": self.dropped, "bad_replies": self.bad_replies,
                "unexpected_replies": self.unexpected, "seconds": round(seconds, 3),
                "acked_per_s": round(self.acked / seconds, 1) if seconds > 0 else None,
                "latency_ms": {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": q(1.0),
                               "mean": round(sum(lat) / len(lat) * 1000, 2) if lat else None}}


async def simulate_async(stations: list[tuple[str, str]], count: int, rate: float = 0.0, host: str = "127.0.0.1",
                         port: int = DEFAULT_PORT, malformed: int = 0, window: int = WINDOW, seed: int = 1,
                         start: datetime = T0, ack_timeout_s: float = ACK_TIMEOUT_S,
                         progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Drive a gateway with ``stations`` [(MN, PW)]: ``count`` valid minute frames at ``rate`` frames/s (0: closed
    loop), ``malformed`` bad frames along; returns sent, acknowledged, latency percentiles [ms] and more."""
    sim = _Simulation(host, port, stations, rate, count, malformed, window, seed, start, ack_timeout_s, progress)
    return await sim.run()


def simulate(stations: list[tuple[str, str]], count: int, rate: float = 0.0, host: str = "127.0.0.1",
             port: int = DEFAULT_PORT, **options: Any) -> dict[str, Any]:
    """:func:`simulate_async` on its own (uv)loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(simulate_async(stations, count, rate, host, port, **options))
