"""The PACT host under load: 10,000 published footprints, 64 concurrent buyers over HTTPS on loopback.

    python benchmarks/pact_bench.py [--footprints 10000] [--clients 64] [--seconds 10] [--workers 1]
                                    [--page-size 50] [--db sqlite|postgresql]

One run: loads the demo producer into a fresh ledger, publishes its 2025 footprints (validated against the PACT
schema), then stores ``--footprints`` footprints in total (copies of those payloads under new ids, as a
producer with many products and lots would have), registers one buyer granted every product and starts
``rareeco pact serve --workers N`` (HTTPS, self-signed certificate) in a subprocess.

The anchor, measured in the same run and served the same way (uvicorn, the same workers, the same certificate,
FastAPI), is ``GET /hello`` returning a small JSON object: the cost of TLS + HTTP + the framework alone.

Each scenario runs ``--clients`` concurrent clients (httpx.AsyncClient, HTTP/1.1 keep-alive, one connection
each, certificate verified) for ``--seconds`` after a warm-up, and reports requests/s, p50 and p99 latency and
the ratios to the anchor.  The load generator shares the machine's cores with the server, so the figures are
those of the pair.  Nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import Response

hello_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


async def hello(_request: Any) -> Response:
    """The anchor: the smallest JSON answer the same stack can give (a plain route, as the host's are)."""
    return Response(b'{"hello":"world"}', media_type="application/json")


hello_app.add_route("/hello", hello, methods=["GET"], include_in_schema=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, ctx: ssl.SSLContext, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            httpx.get(url, verify=ctx, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def prepare(db_url: str, count: int) -> tuple[str, str, list[str]]:
    """Demo ledger, its 2025 footprints published, ``count`` footprints in all, one buyer; (id, secret, ids)."""
    from sqlalchemy import insert

    from rareeco.declare import pact
    from rareeco.demo.load import load_demo
    from rareeco.ledger.db import make_engine, session_scope
    from rareeco.ledger.models import PactFootprint

    engine = make_engine(db_url)
    with session_scope(engine) as s:
        load_demo(s)
    with session_scope(engine) as s:
        from rareeco.footprint.service import footprints

        products = sorted(footprints(s, "demo", 2025)["products"])
        templates = [pact.publish(s, "demo", p, 2025, "bench").payload for p in products]
        client, secret = pact.add_client(s, "demo", "Benchmark buyer", "bench", [], ["*"])
        client_id = client.client_id
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    ids = [t["id"] for t in templates]
    rows = []
    for i in range(count - len(templates)):
        t = templates[i % len(templates)]
        code = t["productIds"][0].rsplit(":", 1)[1]
        pid = str(uuid.uuid4())
        created = base + timedelta(seconds=i)
        payload = {**t, "id": pid, "created": pact.iso(created),
                   "productIds": [*t["productIds"], f"urn:rareeco:lot:demo:{code}:{i:06d}"]}
        rows.append({"id": pid, "org_id": "demo", "product_code": code, "status": "Active", "created_at": created,
                     "updated_at": None, "valid_from": pact.parse_time(t["validityPeriodStart"]),
                     "valid_until": pact.parse_time(t["validityPeriodEnd"]), "result_id": None, "payload": payload})
        ids.append(pid)
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(PactFootprint), rows[start:start + 1000])
    engine.dispose()
    return client_id, secret, ids


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str                      # hello | one | pages
    rate: float | None = None      # offered requests/s over all clients (None: each client as fast as it can)


async def _drive(sc: Scenario, base: str, ids: list[str], clients: range, start: float, warmup: float,
                 seconds: float, cafile: str, headers: dict[str, str], page_size: int) -> dict[str, Any]:
    """Clients ``clients`` of one generator process.  Latency is measured from the moment a request was due
    (closed loop: when it was sent; open loop: its slot in the schedule, so a late server shows up)."""
    ctx = ssl.create_default_context(cafile=cafile)
    latencies: list[float] = []
    completed = 0                  # answers received inside the measured window
    errors = 0
    stop_warm, stop = start + warmup, start + warmup + seconds

    async def one_client(k: int) -> None:
        nonlocal errors, completed
        rng = random.Random(k)
        nxt: str | None = None
        interval = None if sc.rate is None else CLIENTS_TOTAL[0] / sc.rate
        n = 0
        async with httpx.AsyncClient(verify=ctx, headers=headers, timeout=30.0,
                                     limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as c:
            while True:
                now = time.time()
                if interval is None:
                    due = now
                else:
                    due = start + (k / CLIENTS_TOTAL[0]) * interval + n * interval
                    n += 1
                    if due > now:
                        await asyncio.sleep(due - now)
                if due >= stop:
                    return
                if sc.kind == "hello":
                    r = await c.get(f"{base}/hello")
                elif sc.kind == "one":
                    r = await c.get(f"{base}/3/footprints/{ids[rng.randrange(len(ids))]}")
                else:
                    r = await c.get(nxt or f"{base}/3/footprints?limit={page_size}&offset="
                                    f"{rng.randrange(0, len(ids), page_size)}")
                    link = r.headers.get("link", "")
                    nxt = link[1:link.index(">")] if link else None
                done = time.time()
                if r.status_code != 200:
                    errors += 1
                if due >= stop_warm:
                    latencies.append(done - due)
                if stop_warm <= done < stop:
                    completed += 1

    cpu0 = time.process_time()
    await asyncio.gather(*(one_client(k) for k in clients))
    return {"latencies": latencies, "completed": completed, "errors": errors, "cpu_s": time.process_time() - cpu0}


CLIENTS_TOTAL = [64]


def _generator(args: tuple[Any, ...]) -> dict[str, Any]:
    """One load-generator process (uvloop when installed)."""
    sc, base, ids, lo, hi, total, start, warmup, seconds, cafile, headers, page_size = args
    CLIENTS_TOTAL[0] = total
    coro = _drive(sc, base, ids, range(lo, hi), start, warmup, seconds, cafile, headers, page_size)
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run(coro)


def cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its children, from /proc (Linux); NaN elsewhere."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        pids = [pid]
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                with contextlib.suppress(OSError):
                    if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(d.name))
        total = 0.0
        for p in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (OSError, ValueError):
        return float("nan")


def run_scenario(sc: Scenario, pool: Any, base: str, ids: list[str], clients: int, generators: int,
                 warmup: float, seconds: float, cafile: str, headers: dict[str, str], page_size: int,
                 server_pids: list[int]) -> dict[str, Any]:
    start = time.time() + 1.0
    bounds = [(g * clients // generators, (g + 1) * clients // generators) for g in range(generators)]
    cpu_before = sum(cpu_of_tree(p) for p in server_pids)
    parts = pool.map(_generator, [(sc, base, ids, lo, hi, clients, start, warmup, seconds, cafile, headers,
                                   page_size) for lo, hi in bounds])
    cpu_server = sum(cpu_of_tree(p) for p in server_pids) - cpu_before
    lat = sorted(x for part in parts for x in part["latencies"])
    n = len(lat)
    return {"scenario": sc.name, "offered_rps": sc.rate, "requests": n, "errors": sum(p["errors"] for p in parts),
            "rps": sum(p["completed"] for p in parts) / seconds, "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(n - 1, int(0.99 * n))],
            "client_cpu_s": sum(p["cpu_s"] for p in parts), "server_cpu_s": cpu_server,
            "wall_s": warmup + seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footprints", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--generators", type=int, default=2, help="load-generator processes sharing the clients")
    ap.add_argument("--rate", type=float, default=1000.0, help="offered req/s of the open-loop scenarios")
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()

    from rareeco.tls import self_signed

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"note: load average {load_before:.2f} before the run — other processes share the cores and the "
              "figures will be lower and noisier", flush=True)
    scenarios = [Scenario("anchor: GET /hello", "hello"),
                 Scenario("GET /3/footprints/{id}", "one"),
                 Scenario(f"GET /3/footprints, pages of {args.page_size}", "pages"),
                 Scenario(f"anchor: GET /hello at {args.rate:,.0f}/s", "hello", args.rate),
                 Scenario(f"GET /3/footprints/{{id}} at {args.rate:,.0f}/s", "one", args.rate)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pg_admin = None
        if args.db == "postgresql":
            from sqlalchemy import create_engine, text

            dbname = f"rareeco_pactbench_{uuid.uuid4().hex[:8]}"
            pg_admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with pg_admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{dbname}"'))
            db_url = args.pg_url.rsplit("/", 1)[0] + "/" + dbname
        else:
            db_url = f"sqlite:///{tmp / 'ledger.db'}"
        t0 = time.monotonic()
        client_id, secret, ids = prepare(db_url, args.footprints)
        print(f"loaded {len(ids):,} footprints in {time.monotonic() - t0:.1f} s ({args.db})", flush=True)
        tls = self_signed(tmp / "tls")
        ctx = ssl.create_default_context(cafile=str(tls.cert))
        env = {**os.environ, "RAREECO_PACT_TLS_DIR": str(tmp / "tls")}
        port, anchor_port = free_port(), free_port()
        host = subprocess.Popen([sys.executable, "-m", "rareeco.cli", "--db", db_url, "pact", "serve", "--port",
                                 str(port), "--workers", str(args.workers), "--cert", str(tls.cert), "--key",
                                 str(tls.key)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        anchor = subprocess.Popen([sys.executable, "-m", "uvicorn", "pact_bench:hello_app", "--app-dir",
                                   str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(anchor_port),
                                   "--workers", str(args.workers), "--ssl-certfile", str(tls.cert),
                                   "--ssl-keyfile", str(tls.key), "--log-level", "warning"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        results = []
        try:
            url, anchor_url = f"https://127.0.0.1:{port}", f"https://127.0.0.1:{anchor_port}"
            wait_up(f"{url}/.well-known/openid-configuration", ctx, host)
            wait_up(f"{anchor_url}/hello", ctx, anchor)
            r = httpx.post(f"{url}/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret),
                           verify=ctx)
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            first = httpx.get(f"{url}/3/footprints", params={"limit": args.page_size}, headers=headers, verify=ctx,
                              timeout=120)
            assert first.status_code == 200 and "link" in first.headers, first.text[:300]
            one = httpx.get(f"{url}/3/footprints/{ids[-1]}", headers=headers, verify=ctx)
            assert one.status_code == 200 and one.json()["data"]["id"] == ids[-1]
            page_bytes, one_bytes = len(first.content), len(one.content)
            with multiprocessing.get_context("spawn").Pool(args.generators) as pool:
                for sc in scenarios:
                    base = anchor_url if sc.kind == "hello" else url
                    server = anchor if sc.kind == "hello" else host
                    res = run_scenario(sc, pool, base, ids, args.clients, args.generators, args.warmup,
                                       args.seconds, str(tls.cert), headers, args.page_size, [server.pid])
                    results.append(res)
                    print(f"  {sc.name}: {res['rps']:,.0f} req/s, p50 {res['p50_ms']:.1f} ms, "
                          f"p99 {res['p99_ms']:.1f} ms", flush=True)
        finally:
            for p in (host, anchor):
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            if pg_admin is not None:
                from sqlalchemy import text

                with pg_admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))

    import fastapi
    import uvicorn

    print(f"\n{os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"Python {platform.python_version()}, uvicorn {uvicorn.__version__}, FastAPI {fastapi.__version__}, "
          f"httpx {httpx.__version__}; {ssl.OPENSSL_VERSION}")
    print(f"{len(ids):,} footprints ({args.db}); {args.clients} clients in {args.generators} generator processes, "
          f"HTTP/1.1 keep-alive over TLS on loopback; {args.workers} server worker{'s' * (args.workers > 1)}; "
          f"{args.seconds:g} s per scenario after {args.warmup:g} s warm-up; one footprint {one_bytes:,} B, "
          f"one page {page_bytes:,} B")
    print(f"load average before the run {load_before:.2f}, after {os.getloadavg()[0]:.2f} (1 min; includes this run)")
    print("CPU: cores busy on average during the scenario (server: all its processes; load: the generators)\n")
    print(f"{'scenario':38} {'requests':>9} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'÷ anchor':>8} {'server cores':>12} {'server µs/req':>13} {'load µs/req':>11}")
    anchors = {None: results[0], args.rate: results[3]}
    for r in results:
        a = anchors[r["offered_rps"]]
        done = r["requests"] * (args.warmup + args.seconds) / args.seconds     # CPU is counted over warm-up too
        print(f"{r['scenario']:38} {r['requests']:>9,} {r['errors']:>6} {r['rps']:>7,.0f} {r['p50_ms']:>7.1f} "
              f"{r['p99_ms']:>7.1f} {r['rps'] / a['rps']:>8.2f} {r['server_cpu_s'] / r['wall_s']:>12.2f} "
              f"{1e6 * r['server_cpu_s'] / done:>13,.0f} {1e6 * r['client_cpu_s'] / done:>11,.0f}")
    print("\n÷ anchor: req/s relative to the anchor of the same kind (as fast as possible, or the offered rate);"
          "\nserver µs/req: CPU time of the server processes per request — what the host costs, whoever else "
          "uses the cores;\nload µs/req: the same for the load generators (httpx).")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "pact_bench.json").write_text(json.dumps({"args": vars(args), "load_before": load_before,
                                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
