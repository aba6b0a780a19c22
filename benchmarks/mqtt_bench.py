"""Live meter readings over MQTT: messages/s stored with zero loss, against a bare paho subscriber.

    python benchmarks/mqtt_bench.py [--messages 200000] [--meters 100] [--rates 10000,20000,30000,40000,max]
                                    [--db sqlite|postgresql|both] [--plain-io] [--host 127.0.0.1] [--port 1883]

One run, against the Mosquitto broker at --host/--port (docs/meters-mqtt.md describes the subscriber):

1. A fresh ledger (a temporary SQLite file; with ``--db postgresql`` or ``both`` also a fresh PostgreSQL
   database, created and dropped) with one organisation and ``--meters`` meters of 1-minute interval.
2. ``--messages`` single-reading messages (default 200,000 over 100 meters: 2,000 minutes of each), in time
   order, each ``{"ts": "2025-06-01T08:00:00+08:00", "value": …}`` on ``rareeco/<org>/meters/<meter>``.
3. The publisher is a separate process (it must not share the subscriber's GIL) that writes pre-encoded MQTT
   3.1.1 PUBLISH packets (QoS 1) to the broker and counts its PUBACKs — a load generator, not paho, because a
   paho publisher tops out near 10,000 messages/s on this machine and would measure itself.  It offers each
   rate of ``--rates`` (messages/s, open loop: ``max`` = as fast as the socket takes them).
4. For each rate, in the same run:
   * **anchor**: a bare paho subscriber (MQTT 5, QoS 1, Receive Maximum 65,535, paho's automatic PUBACK) that
     does nothing but count — the receive rate of the MQTT client library as it comes;
   * rareeco's own MQTT client (paho with the I/O shortcuts of ``rareeco.ingest.mqtt._Client``, PUBACKs in
     batches of 1,000) counting only: what the subscriber's parsing and storing add is the difference;
   * **rareeco**: ``rareeco.ingest.mqtt.Subscriber`` storing into each database (persistent session, manual
     PUBACK after each commit, roll-ups, findings);
   * with ``--plain-io`` also rareeco with paho's own socket I/O, ``on_message`` and per-message ``ack()``.
5. Counts published (PUBACKs the publisher got from the broker) against received and stored: **lost** is
   published − stored.  Mosquitto drops a subscriber's messages once Receive Maximum (65,535) are in flight
   and 1,000 (``max_queued_messages``) more are queued, i.e. when the publisher runs ahead of the subscriber
   by more than 66,535 messages; its log says so, and the table shows whether it did for each subscriber.

Prints messages/s (handled ÷ time from the first message received to the last commit), the ratio to the
paho anchor at the same offered rate, the CPU time per message of the subscriber's process and of the broker,
and the loss.  Nothing passes or fails on time or loss (loss past the broker's limits is a measured result).
The exit status is 1 only if a rareeco run stored other than what it received (each received reading stored
once, the monthly roll-ups counting every stored reading, the values adding up to what was published when
nothing was lost).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import platform
import resource
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench_db import database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BROKER_LOG = "/var/log/mosquitto/mosquitto.log"
BROKER_PID = "/run/mosquitto/mosquitto.pid"
T0 = datetime(2025, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))


# ---------------------------------------------------------------- the load

def reading(k: int, meters: int) -> tuple[int, str, float]:
    """Message k: (meter index, ISO time, value) — all meters at one minute, then the next minute."""
    step, j = divmod(k, meters)
    return j, (T0 + timedelta(minutes=step)).isoformat(), round(10 + j % 7 + 0.1 * (step % 10), 3)


def expected(n: int, meters: int) -> tuple[int, float]:
    return n, sum(reading(k, meters)[2] for k in range(n))


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        n, b = divmod(n, 128)
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def loadgen(host: str, port: int, org: str, n: int, meters: int, rate: float | None, out: Any) -> None:
    """Child process: publish n QoS 1 messages at ``rate`` per second (None: as fast as possible)."""
    packets = []
    for k in range(n):
        j, ts, v = reading(k, meters)
        topic = f"rareeco/{org}/meters/m{j:04d}".encode()
        body = f'{{"ts": "{ts}", "value": {v}}}'.encode()
        vh = struct.pack("!H", len(topic)) + topic + struct.pack("!H", k % 65535 + 1)
        packets.append(b"\x32" + _varlen(len(vh) + len(body)) + vh + body)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cid = f"bench-pub-{uuid.uuid4().hex[:8]}".encode()
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid  # 3.1.1, clean, keep-alive 60
    sock.sendall(b"\x10" + _varlen(len(connect)) + connect)
    connack = sock.recv(4)
    if connack[:2] != b"\x20\x02" or connack[3] != 0:
        raise SystemExit(f"broker refused the publisher: {connack!r}")
    acked = [0]

    def read_acks() -> None:
        pending = b""
        while acked[0] < n:
            chunk = sock.recv(1 << 16)
            if not chunk:
                return
            pending += chunk
            whole = len(pending) // 4  # a PUBACK of 3.1.1 is 4 bytes
            acked[0] += whole
            pending = pending[whole * 4:]

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    chunk = 200
    for a in range(0, n, chunk):
        if rate:
            delay = t0 + a / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        while a - acked[0] > 30_000:  # packet ids must not wrap onto unacknowledged ones
            time.sleep(0.0005)
        sock.sendall(b"".join(packets[a:a + chunk]))
    sent_s = time.perf_counter() - t0
    reader.join(120)
    total_s = time.perf_counter() - t0
    sock.sendall(b"\xe0\x00")
    sock.close()
    out.put({"published": acked[0], "sent_s": sent_s, "acked_s": total_s, "cpu_s": time.process_time() - cpu0})


# ---------------------------------------------------------------- measuring

def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_broker() -> float | None:
    """CPU seconds of the Mosquitto process so far (None when it cannot be read)."""
    try:
        pid = Path(BROKER_PID).read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def broker_log_size() -> int:
    try:
        return Path(BROKER_LOG).stat().st_size
    except OSError:
        return -1


def broker_drops(since: int, client_id: str) -> str:
    """What Mosquitto's log says about dropping messages for ``client_id`` since byte ``since``."""
    if since < 0:
        return "n/a"
    try:
        with open(BROKER_LOG, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "n/a"
    return "dropped" if f"being dropped for client {client_id}" in text else "none"


@dataclass
class Row:
    scenario: str
    offered: str
    published: int
    received: int
    stored: int | None
    seconds: float
    sub_cpu_s: float
    broker_cpu_s: float | None
    pub: dict[str, Any]
    drops: str
    handled: int = 0
    check: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        n = self.handled or self.received
        return n / self.seconds if self.seconds > 0 else 0.0

    @property
    def lost(self) -> int:
        return self.published - (self.stored if self.stored is not None else self.received)


def publish_process(args: argparse.Namespace, org: str, rate: float | None) -> tuple[mp.process.BaseProcess, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=loadgen, args=(args.host, args.port, org, args.messages, args.meters, rate, q))
    proc.start()
    return proc, q


def settle(progress: Any, target: int, quiet_s: float = 3.0, limit_s: float = 120.0) -> None:
    """Wait until ``progress()`` reaches ``target`` or stops moving for ``quiet_s``."""
    last, since, start = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - start < limit_s:
        now = progress()
        if now >= target:
            return
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.05)


def run_anchor(args: argparse.Namespace, rate: float | None, tuned: bool = False) -> Row:
    """A subscriber that only counts: paho as it comes (the anchor), or rareeco's tuned client (``tuned``)."""
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from rareeco.ingest.mqtt import _Client

    org = f"bench-anchor-{uuid.uuid4().hex[:8]}"
    cid = f"bench-anchor-{uuid.uuid4().hex[:8]}"
    count, first, last = [0], [0.0], [0.0]
    subscribed = threading.Event()
    mids: list[int] = []

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        now = time.perf_counter()
        if not count[0]:
            first[0] = now
        count[0] += 1
        last[0] = now

    def sink(mid: int, _qos: int, _topic: bytes, _payload: bytes) -> None:
        on_message(None, None, None)
        mids.append(mid)
        if len(mids) >= 1000:
            client.ack_many(mids)
            mids.clear()

    if tuned:
        client = _Client(paho.CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5, manual_ack=True)
        client.sink = sink
    else:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=cid, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 65_535
    client.connect(args.host, args.port, properties=props)
    client.loop_start()
    client.subscribe(f"rareeco/{org}/meters/+", qos=1)
    subscribed.wait(10)
    log0, cpu0, b0 = broker_log_size(), cpu_self(), cpu_broker()
    proc, q = publish_process(args, org, rate)
    pub = q.get(timeout=600)
    proc.join()
    settle(lambda: count[0], pub["published"])
    cpu1, b1 = cpu_self(), cpu_broker()
    client.disconnect()
    client.loop_stop()
    name = "anchor: rareeco's MQTT client, counting" if tuned else "anchor: bare paho subscriber, counting"
    return Row(name, offered(rate), pub["published"], count[0], None,
               last[0] - first[0], cpu1 - cpu0, None if b0 is None or b1 is None else b1 - b0, pub,
               broker_drops(log0, cid))


def run_rareeco(args: argparse.Namespace, url: str, label: str, rate: float | None, tuned: bool) -> Row:
    from sqlalchemy import text

    from rareeco.ingest.mqtt import Subscriber
    from rareeco.ledger import structure
    from rareeco.ledger.db import make_engine, session_scope

    engine = make_engine(url)
    org = f"bench-{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as s:
        structure.create_org(s, org)
        structure.add_site(s, org, "baotou", "CN-NM")
        for j in range(args.meters):
            structure.add_meter(s, org, "baotou", f"m{j:04d}", "electricity.grid", unit="kWh", interval_s=60)
    cid = f"bench-sub-{uuid.uuid4().hex[:8]}"
    sub = Subscriber(engine, org, host=args.host, port=args.port, client_id=cid, session_expiry_s=60,
                     tuned_io=tuned)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(sub.run()))
    thread.start()
    if not sub.ready.wait(10):
        raise SystemExit("the rareeco subscriber did not subscribe in 10 s")
    log0, cpu0, b0 = broker_log_size(), cpu_self(), cpu_broker()
    proc, q = publish_process(args, org, rate)
    pub = q.get(timeout=600)
    proc.join()
    settle(lambda: sub.stats.handled, pub["published"])
    cpu1, b1 = cpu_self(), cpu_broker()
    sub.stop()
    thread.join(60)
    n_exp, sum_exp = expected(pub["published"], args.meters)
    with session_scope(engine) as s:
        stored, total = s.execute(text("SELECT count(*), coalesce(sum(value), 0) FROM points WHERE batch_id = :b"),
                                  {"b": result["batch"]}).one()
        rolled = s.execute(text("SELECT coalesce(sum(n), 0) FROM rollups r JOIN series s ON s.id = r.series_id "
                                "WHERE s.org_id = :o AND r.grain = 'm'"), {"o": org}).scalar_one()
    engine.dispose()
    # Every message received must be stored once and rolled up; when nothing was lost the values must add up.
    problems = []
    if stored != sub.stats.received:
        problems.append(f"received {sub.stats.received:,} but stored {stored:,}")
    if rolled != stored:
        problems.append(f"roll-ups count {rolled:,} of {stored:,} readings")
    if stored == n_exp and abs(total - sum_exp) > 1e-6 * max(1.0, sum_exp):
        problems.append(f"sum of values {total:,.3f}, published {sum_exp:,.3f}")
    check = "; ".join(problems) or "ok"
    return Row(label, offered(rate), pub["published"], sub.stats.received, int(stored), sub.stats.seconds,
               cpu1 - cpu0, None if b0 is None or b1 is None else b1 - b0, pub, broker_drops(log0, cid),
               handled=sub.stats.handled, check=check,
               extra={"flushes": sub.stats.flushes, "duplicates": sub.stats.duplicates})


def offered(rate: float | None) -> str:
    return "max" if rate is None else f"{rate:,.0f}"


# ---------------------------------------------------------------- databases

# ---------------------------------------------------------------- main

def machine(versions: list[str]) -> str:
    import paho.mqtt

    broker = "Mosquitto (version not read)"
    with contextlib.suppress(Exception):
        import subprocess

        broker = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[0]
    return (f"{os.cpu_count()} cores, {platform.machine()}; Linux {platform.release()}\n"
            f"Python {platform.python_version()}, paho-mqtt {paho.mqtt.__version__}; {broker}; " + ", ".join(versions))


def table(rows: list[Row]) -> str:
    head = (f"{'scenario':<44} {'offered/s':>9} {'published':>10} {'received':>10} {'stored':>10} {'lost':>7} "
            f"{'msg/s':>8} {'× anchor':>8} {'sub µs/msg':>10} {'broker µs/msg':>13} {'broker drops':>12}")
    out = [head]
    anchors = {r.offered: r.rate for r in rows if r.scenario.startswith("anchor: bare paho")}
    for r in rows:
        n = r.handled or r.received or 1
        ratio = "" if r.scenario.startswith("anchor") or not anchors.get(r.offered) else \
            f"{r.rate / anchors[r.offered]:.2f}"
        broker = "" if r.broker_cpu_s is None else f"{1e6 * r.broker_cpu_s / max(1, r.published):,.1f}"
        out.append(f"{r.scenario:<44} {r.offered:>9} {r.published:>10,} {r.received:>10,} "
                   f"{'' if r.stored is None else f'{r.stored:,}':>10} {r.lost:>7,} {r.rate:>8,.0f} {ratio:>8} "
                   f"{1e6 * r.sub_cpu_s / n:>10,.1f} {broker:>13} {r.drops:>12}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200_000, help="single-reading messages per scenario")
    p.add_argument("--meters", type=int, default=100)
    p.add_argument("--rates", default="10000,20000,30000,40000,max",
                   help="offered rates, messages/s, comma-separated; max = as fast as the socket takes them")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("RAREECO_BENCH_PG_URL", DEFAULT_PG))
    p.add_argument("--plain-io", action="store_true", help="also run rareeco with paho's own I/O and acks")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    args = p.parse_args(argv)
    rates = [None if r.strip() == "max" else float(r) for r in args.rates.split(",")]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    load0 = os.getloadavg()[0]
    if load0 > 1.0:
        print(f"note: load average {load0:.2f} before the run — other processes share the cores", flush=True)
    rows: list[Row] = []
    versions: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rareeco-mqtt-bench-") as tmp, contextlib.ExitStack() as stack:
        dbs = [stack.enter_context(database(k, Path(tmp), args.pg_url)) for k in kinds]
        versions = [v for _u, v in dbs]
        for rate in rates:
            for tuned in (False, True):
                rows.append(run_anchor(args, rate, tuned))
                print(f"  {rows[-1].scenario} at {offered(rate)}/s: {rows[-1].rate:,.0f} msg/s, "
                      f"lost {rows[-1].lost:,}", flush=True)
            for (url, version), kind in zip(dbs, kinds, strict=True):
                variants = [(True, "")] + ([(False, ", paho's own I/O")] if args.plain_io else [])
                for tuned, note in variants:
                    rows.append(run_rareeco(args, url, f"rareeco → {kind}{note}", rate, tuned))
                    r = rows[-1]
                    print(f"  {r.scenario} at {offered(rate)}/s: {r.rate:,.0f} msg/s, lost {r.lost:,} "
                          f"({r.check}; {version})", flush=True)
    print()
    print(machine(versions))
    print(f"{args.messages:,} single-reading QoS 1 messages per scenario over {args.meters} meters; publisher: a "
          "separate process writing pre-encoded PUBLISH packets; load average before "
          f"{load0:.2f}, after {os.getloadavg()[0]:.2f}; run time {time.perf_counter() - started:.0f} s")
    print()
    print(table(rows))
    print()
    print("msg/s: messages handled ÷ time from the first received to the last stored (anchor: to the last counted);")
    print("lost: published (acknowledged by the broker to the publisher) − stored (anchor: − received);")
    print("sub µs/msg: CPU of the subscriber's process per message; broker µs/msg: CPU of Mosquitto per message "
          "published;")
    print("broker drops: whether Mosquitto's log says it dropped messages for that subscriber.")
    for r in rows:
        if r.check and r.check != "ok":
            print(f"check failed: {r.scenario} at {r.offered}/s: {r.check}")
    return 1 if any(r.check not in ("", "ok") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
