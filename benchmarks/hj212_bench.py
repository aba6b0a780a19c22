"""HJ 212 gateway: messages/s stored and acknowledged, ack latency, and garbage mixed in — against a bare anchor.

    python benchmarks/hj212_bench.py [--stations 1000] [--count 100000] [--rate 5000] [--rate-count 50000]
                                     [--malformed 10000] [--db sqlite|postgresql|both] [--pg-url URL]
                                     [--workers 1,2] [--profile]

One run (docs/hj212-gateway.md describes the gateway):

1. A fresh ledger (a temporary SQLite file; with ``--db postgresql`` or ``both`` also a fresh PostgreSQL
   database, created and dropped) with one organisation, one site and ``--stations`` registered stations.
2. Each scenario starts the server in a **separate process** (client and server must not share a GIL; this
   machine has 2 cores: one for each) and drives it from this process with ``rareeco.ingest.hj212_simulate``:
   one TCP connection per station over loopback, minute data (CN=2051, Flag=5: reply asked), every 9014 reply
   checked (CRC, CN, QN) and timed from the frame's write to the reply's arrival.
3. Scenarios, per server:
   * **max**: closed loop, each station keeping 4 frames unacknowledged, ``--count`` frames: the most frames/s
     the server accepts (= stores and acknowledges);
   * **fixed**: ``--rate`` frames/s open loop, ``--rate-count`` frames: ack latency p50/p99 at that load;
   * **garbage** (gateway only): the fixed scenario with ``--malformed`` bad frames mixed in (bad CRC, wrong
     length, truncated, oversize, unknown MN, in turn; each written just before a valid frame of the same station,
     unknown MNs on connections of their own); then one more valid frame on a new connection to show the server
     is still serving.
4. Servers: the **anchor**, a bare asyncio (uvloop) server in the same kind of process that splits frames on
   CR LF and answers each with its 9014 at once — no CRC check, no parsing, no storing; then the rareeco gateway
   on SQLite (WAL, ``synchronous=FULL``: every commit fsynced) and/or PostgreSQL (``synchronous_commit=on``),
   once per ``--workers`` count (``serve --workers N``: N processes on the port with SO_REUSEPORT, each with
   its own connection and group commit; the anchor is always one process).
5. Checks per gateway scenario: frames acknowledged = frames sent = rows stored; findings by reason = bad frames
   sent by kind; every unknown-MN connection closed by the server.  Exit status 1 if a check fails; nothing
   passes or fails on time.

Prints frames/s (acknowledged ÷ time from the first write to the last reply), the ratio to the anchor, latency
percentiles [ms], the server's CPU per frame [µs] (all its worker processes; not the database server's) and
the simulated stations' CPU per frame [µs] (on 2 cores the stations and the server share the machine).
The figures of the last full run, with their explanation, are in docs/hj212-gateway.md ("Performance").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_db import database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# ---------------------------------------------------------------- servers (child processes)

def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _anchor_main(conn: Any) -> None:
    """A bare server: split on CR LF, answer each frame with its 9014 at once (QN echoed), nothing else."""
    import signal

    from rareeco.ingest import hj212
    from rareeco.ingest.hj212_gateway import new_event_loop

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t, self.buf = transport, b""

        def data_received(self, data: bytes) -> None:
            buf = self.buf + data
            out, start = [], 0
            while (end := buf.find(b"\r\n", start)) >= 0:
                line, start = buf[start:end], end + 2
                a = line.find(b"QN=")
                b = line.find(b";", a)
                m = line.find(b"MN=")
                seg = b"QN=%s;ST=91;CN=9014;PW=123456;MN=%s;Flag=4;CP=&&&&" % (line[a + 3:b],
                                                                              line[m + 3:line.find(b";", m)])
                out.append(b"##%04d%s%04X\r\n" % (len(seg), seg, hj212.crc(seg)))
            self.buf = buf[start:]
            if out:
                self.t.write(b"".join(out))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=4096)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        conn.send(server.sockets[0].getsockname()[1])
        cpu0 = _cpu_s()
        await stop.wait()
        server.close()
        conn.send({"cpu_s": _cpu_s() - cpu0})

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())


def _gateway_main(conn: Any, url: str, profile: str | None, workers: int) -> None:
    import cProfile
    import logging

    from rareeco.ingest.hj212_gateway import GatewayOptions, serve
    from rareeco.ledger.db import make_engine

    logging.basicConfig(level=logging.WARNING)
    engine = make_engine(url, migrate=False)

    def ready(gw: Any) -> None:
        conn.send(gw.port)

    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    # the counters include the CPU of the gateway process(es) from listening to stopping ("cpu_s")
    stats = serve(engine, "127.0.0.1", 0, GatewayOptions(stats_interval_s=3600), on_ready=ready, workers=workers)
    if prof and profile:
        prof.disable()
        prof.dump_stats(profile)
    conn.send(stats)
    engine.dispose()


class Server:
    """A server in a child process: ``port`` once it listens; ``stop()`` returns its final counters."""

    def __init__(self, kind: str, url: str = "", profile: str | None = None, workers: int = 1) -> None:
        ctx = mp.get_context("spawn")
        self.parent, child = ctx.Pipe()
        target, args = ((_anchor_main, (child,)) if kind == "anchor" else
                        (_gateway_main, (child, url, profile, workers)))
        # not a daemon: a gateway with several workers starts processes of its own
        self.proc = ctx.Process(target=target, args=args, daemon=False)
        self.proc.start()
        if not self.parent.poll(60):
            self.proc.kill()
            raise RuntimeError("the server did not start")
        self.port = int(self.parent.recv())

    def stop(self) -> dict[str, Any]:
        assert self.proc.pid is not None
        os.kill(self.proc.pid, 15)
        out = self.parent.recv() if self.parent.poll(120) else {}
        self.proc.join(30)
        if self.proc.exitcode is None:
            self.proc.kill()
        return dict(out)


# ---------------------------------------------------------------- the ledger

def make_ledger(url: str, stations: int) -> list[tuple[str, str]]:
    from rareeco.ingest.hj212_simulate import register_stations
    from rareeco.ledger import structure
    from rareeco.ledger.db import make_engine, session_scope

    eng = make_engine(url)
    with session_scope(eng) as s:
        structure.create_org(s, "bench")
        structure.add_site(s, "bench", "baotou", "CN-NM")
        out = register_stations(s, "bench", "baotou", stations, actor="bench")
    eng.dispose()
    return out


def counts(url: str) -> tuple[int, dict[str, int]]:
    from sqlalchemy import func, select

    from rareeco.ledger.db import make_engine, session_scope
    from rareeco.ledger.models import GatewayFinding, Hj212Frame

    eng = make_engine(url, migrate=False)
    with session_scope(eng) as s:
        frames = int(s.scalar(select(func.count()).select_from(Hj212Frame)) or 0)
        by = dict(s.execute(select(GatewayFinding.reason, func.count()).group_by(GatewayFinding.reason)).all())
    eng.dispose()
    return frames, {str(k): int(v) for k, v in by.items()}


# ---------------------------------------------------------------- scenarios

async def probe(port: int, station: tuple[str, str]) -> bool:
    """One valid frame on a new connection; True if its 9014 comes back."""
    from dataclasses import replace

    from rareeco.ingest import hj212

    mn, pw = station
    msg = hj212.Message(st="31", cn="2051", pw=pw, mn=mn, qn="20991231235900000", flag=5,
                        cp=hj212.CP({"DataTime": "20991231235900"}, {"a21026": {"Avg": 1.0, "Flag": "N"}}))
    msg = replace(msg, segment=hj212.build_segment(msg))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(hj212.frame(msg))
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
        return hj212.parse(line).cn == "9014"
    finally:
        writer.close()


def run_scenario(server: str, scenario: str, url: str, stations: list[tuple[str, str]], count: int, rate: float,
                 malformed: int, profile: str | None, workers: int = 1) -> dict[str, Any]:
    from rareeco.ingest.hj212_simulate import simulate

    before = counts(url) if server != "anchor" else (0, {})
    srv = Server(server, url, profile, workers)
    try:
        cpu0 = time.process_time()
        sim = simulate(stations, count, rate, port=srv.port, malformed=malformed, window=4, seed=7)
        client_cpu_s = time.process_time() - cpu0
        alive = None
        if scenario == "garbage":
            with asyncio.Runner() as r:
                alive = r.run(probe(srv.port, stations[0]))
    finally:
        st = srv.stop()
    label = server if workers == 1 else f"{server} ×{workers}"
    row: dict[str, Any] = {"server": label, "scenario": scenario, "offered": rate or "max", **sim,
                           "server_cpu_us": round(st.get("cpu_s", 0) / max(sim["acked"], 1) * 1e6, 1),
                           "client_cpu_us": round(client_cpu_s / max(sim["acked"], 1) * 1e6, 1),
                           "server_stats": st, "alive": alive}
    problems = []
    if server != "anchor":
        after = counts(url)
        stored = after[0] - before[0] - (1 if alive else 0)
        findings = {k: v - before[1].get(k, 0) for k, v in after[1].items() if v - before[1].get(k, 0)}
        row |= {"stored": stored, "findings": findings}
        if not sim["sent"] == sim["acked"] == stored == count:
            problems.append(f"sent {sim['sent']}, acknowledged {sim['acked']}, stored {stored}, planned {count}")
        if findings != sim["malformed_sent"]:
            problems.append(f"findings {findings} != bad frames sent {sim['malformed_sent']}")
        if sim["unknown_mn_closed"] != sim["malformed_sent"].get("unknown_mn", 0):
            problems.append("an unknown-MN connection was not closed")
        if scenario == "garbage" and not alive:
            problems.append("the server did not answer after the garbage")
    elif sim["acked"] != sim["sent"]:
        problems.append(f"anchor: sent {sim['sent']}, acknowledged {sim['acked']}")
    row["problems"] = problems
    return row


def machine(pg_url: str | None) -> str:
    import sqlalchemy

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import uvloop
        uv = uvloop.__version__
    except ImportError:
        uv = "absent"
    pg = ""
    if pg_url:
        eng = sqlalchemy.create_engine(pg_url)
        with eng.connect() as c:
            pg = ", PostgreSQL " + str(c.exec_driver_sql("SHOW server_version").scalar())
        eng.dispose()
    return (f"{os.cpu_count()} cores ({cpu}); {platform.system()} {platform.release()}\n"
            f"Python {platform.python_version()}, uvloop {uv}, SQLAlchemy {sqlalchemy.__version__}, "
            f"SQLite {sqlite3.sqlite_version}{pg}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=1000)
    ap.add_argument("--count", type=int, default=100_000, help="frames of the max scenario")
    ap.add_argument("--rate", type=float, default=5000, help="frames/s of the fixed and garbage scenarios")
    ap.add_argument("--rate-count", type=int, default=50_000, help="frames of the fixed and garbage scenarios")
    ap.add_argument("--malformed", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("RAREECO_TEST_PG_URL", DEFAULT_PG))
    ap.add_argument("--workers", default="1,2", help="gateway worker processes to measure, comma-separated "
                    "(serve --workers; SO_REUSEPORT)")
    ap.add_argument("--profile", action="store_true", help="cProfile each gateway's max run with one worker "
                    "(hj212-*.prof)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    started = time.perf_counter()
    load0 = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        dbs: list[tuple[str, str]] = []
        if a.db in ("sqlite", "both"):
            dbs.append(("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}"))
        if a.db in ("postgresql", "both"):
            pg_url, _ = stack.enter_context(database("postgresql", Path(tmp), a.pg_url))
            dbs.append(("postgresql", pg_url))
        stations = []
        for _name, url in dbs:
            stations = make_ledger(url, a.stations)
        plan = [("max", a.count, 0.0, 0), ("fixed", a.rate_count, a.rate, 0)]
        for scenario, count, rate, bad in plan:
            rows.append(run_scenario("anchor", scenario, "", stations, count, rate, bad, None))
            print(_line(rows[-1], rows), file=sys.stderr, flush=True)
        for name, url in dbs:
            for workers in [int(w) for w in a.workers.split(",")]:
                for scenario, count, rate, bad in [*plan, ("garbage", a.rate_count, a.rate, a.malformed)]:
                    prof = (f"hj212-{name}-{scenario}.prof" if a.profile and scenario == "max" and workers == 1
                            else None)
                    rows.append(run_scenario(name, scenario, url, stations, count, rate, bad, prof, workers))
                    print(_line(rows[-1], rows), file=sys.stderr, flush=True)
    if a.json:
        print(__import__("json").dumps(rows, indent=2, default=str))
    pg = a.pg_url if a.db in ("postgresql", "both") else None
    print(report(rows, a, load0, time.perf_counter() - started, machine(pg)))
    return 1 if any(r["problems"] for r in rows) else 0


HEAD = (f"{'server':<14}{'scenario':<9}{'offered/s':>10}{'sent':>9}{'acked':>9}{'stored':>9}{'bad':>7}"
        f"{'frames/s':>10}{'×anchor':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'srv µs':>8}{'cli µs':>8}  checks")


def _line(r: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    anchor = next((x for x in rows if x["server"] == "anchor" and x["scenario"] == r["scenario"]), None)
    if anchor is None and r["scenario"] == "garbage":
        anchor = next((x for x in rows if x["server"] == "anchor" and x["scenario"] == "fixed"), None)
    ratio = (f"{r['acked_per_s'] / anchor['acked_per_s']:.2f}" if anchor and r is not anchor
             and anchor["acked_per_s"] else "")
    lat = r["latency_ms"]
    offered = f"{r['offered']:,.0f}" if isinstance(r["offered"], float) else str(r["offered"])
    stored = f"{r['stored']:,}" if "stored" in r else ""
    bad = f"{sum(r['malformed_sent'].values()):,}" if r["malformed_sent"] else ""
    checks = "; ".join(r["problems"]) or "ok" + (", alive" if r["alive"] else "")
    return (f"{r['server']:<14}{r['scenario']:<9}{offered:>10}{r['sent']:>9,}{r['acked']:>9,}{stored:>9}{bad:>7}"
            f"{r['acked_per_s']:>10,.0f}{ratio:>8}{lat['p50']:>8}{lat['p99']:>8}{lat['max']:>8}"
            f"{r['server_cpu_us']:>8}{r['client_cpu_us']:>8}  {checks}")


def report(rows: list[dict[str, Any]], a: argparse.Namespace, load0: float, seconds: float, host: str) -> str:
    lines = [host, f"{a.stations:,} stations over loopback, one connection each; max: {a.count:,} frames closed "
             f"loop (4 in flight per station); fixed: {a.rate_count:,} frames at {a.rate:,.0f}/s; garbage: the same "
             f"with {a.malformed:,} bad frames; load average before {load0:.2f}, after {os.getloadavg()[0]:.2f}; "
             f"run time {seconds:.0f} s", "", HEAD]
    lines += [_line(r, rows) for r in rows]
    lines += ["", "frames/s: acknowledged ÷ time from the first write to the last reply; latency: write → 9014 "
              "arrival; srv µs: CPU of the server process(es) per acknowledged frame; cli µs: CPU of the simulated "
              "stations (this process) per acknowledged frame; bad: bad frames sent."]
    for r in rows:
        if r.get("findings"):
            lines.append(f"{r['server']} {r['scenario']}: findings {r['findings']}, unknown-MN connections closed "
                         f"{r['unknown_mn_closed']}, connections the server dropped {r['connections_dropped']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
