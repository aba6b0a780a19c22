"""``rareeco hj212``: CEMS stations, the HJ 212 gateway and its simulator (docs/hj212-gateway.md).

Mounted in :mod:`rareeco.cli` as ``app.add_typer(hj212_app, name="hj212")``; it uses the root command's ``--db``.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rareeco.ingest.hj212_gateway import (
    BATCH_MAX,
    DEFAULT_PORT,
    FRAME_TIMEOUT_S,
    HIGH_WATER,
    IDLE_TIMEOUT_S,
    MAX_BAD_FRAMES,
    MAX_CONNECTIONS,
    REGISTRY_REFRESH_S,
)
from rareeco.ingest.hj212_simulate import ACK_TIMEOUT_S, DEFAULT_PASSWORD, DEFAULT_PREFIX, WINDOW

hj212_app = typer.Typer(help="HJ 212 CEMS data: stations, the TCP gateway, a station simulator.", no_args_is_help=True)
station_app = typer.Typer(help="CEMS stations (data loggers) the gateway accepts.", no_args_is_help=True)
hj212_app.add_typer(station_app, name="station")
out = Console()
err = Console(stderr=True)

Host = Annotated[str, typer.Option(help="address to listen on / connect to")]
Port = Annotated[int, typer.Option(help="TCP port")]
Json = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def _root() -> Any:
    import rareeco.cli as root

    return root


@station_app.command("add")
def station_add(org: str, site: str, mn: Annotated[str, typer.Argument(help="the data logger's MN (1–24 of 0-9 A-Z "
                                                                             "a-z _ - .)")],
                password: Annotated[str, typer.Option(help="its access password PW (1–6 of 0-9 a-z A-Z; '-': read "
                                                      "from standard input); stored as SHA-256")],
                name: Annotated[str, typer.Option(help="the outlet, e.g. 'roasting kiln stack DA001'")] = "",
                actor: Annotated[str | None, typer.Option("--actor")] = None) -> None:
    """Register a station: the gateway accepts its frames from the next registry refresh on."""
    from rareeco.ingest.hj212_gateway import add_station

    root = _root()
    pw = sys.stdin.readline().strip() if password == "-" else password
    with root.session() as s:
        st = add_station(s, org, site, mn, pw, name, actor=root.actor_name(actor))
        out.print(f"station {mn} added at {org}/{site} ({st.name})", highlight=False)


@station_app.command("list")
def station_list(org: str, as_json: Json = False) -> None:
    """The stations of an organisation."""
    from rareeco.ingest.hj212_gateway import stations

    root = _root()
    with root.session() as s:
        rows = [{"mn": st.mn, "site": site, "name": st.name, "active": st.active,
                 "created_at": st.created_at.strftime("%Y-%m-%d %H:%M")} for st, site in stations(s, org)]
    if as_json:
        root.print_json(rows)
        return
    t = Table(title=f"{org} — CEMS stations")
    for c in ("MN", "site", "name", "active", "registered"):
        t.add_column(c, no_wrap=c != "name")
    for r in rows:
        t.add_row(str(r["mn"]), str(r["site"]), str(r["name"]), "yes" if r["active"] else "no", str(r["created_at"]))
    out.print(t)


@hj212_app.command("serve")
def serve_cmd(host: Host = "127.0.0.1", port: Port = DEFAULT_PORT,
              idle_timeout_s: Annotated[float, typer.Option(help="close a connection silent this long")]
              = IDLE_TIMEOUT_S,
              frame_timeout_s: Annotated[float, typer.Option(help="close a connection whose started frame is not "
                                                             "complete within this time")] = FRAME_TIMEOUT_S,
              max_bad_frames: Annotated[int, typer.Option(help="close a connection after this many bad frames in a "
                                                          "row")] = MAX_BAD_FRAMES,
              max_connections: Annotated[int, typer.Option(help="connections held at most")] = MAX_CONNECTIONS,
              batch_max: Annotated[int, typer.Option(help="frames and findings per transaction at most")]
              = BATCH_MAX,
              high_water: Annotated[int, typer.Option(help="stop reading sockets while this many frames wait for "
                                                      "their commit")] = HIGH_WATER,
              registry_refresh_s: Annotated[float, typer.Option(help="reload the stations this often")]
              = REGISTRY_REFRESH_S,
              stats_s: Annotated[float, typer.Option(help="print counters this often")] = 10.0,
              workers: Annotated[int, typer.Option(min=1, help="gateway processes sharing the port (SO_REUSEPORT, "
                                                   "Linux), each with its own database connection and group "
                                                   "commit")] = 1,
              as_json: Json = False) -> None:
    """Run the HJ 212 gateway until Ctrl-C / SIGTERM: store every valid frame, then acknowledge it (9014)."""
    from rareeco.ingest.hj212_gateway import GatewayOptions, serve

    root = _root()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    engine = root.engine()  # migrate before listening
    options = GatewayOptions(idle_timeout_s=idle_timeout_s, frame_timeout_s=frame_timeout_s,
                             max_bad_frames=max_bad_frames, max_connections=max_connections, batch_max=batch_max,
                             high_water=high_water, registry_refresh_s=registry_refresh_s, stats_interval_s=stats_s)

    def ready(gw: Any) -> None:
        procs = f" ({workers} worker processes)" if workers > 1 else ""
        err.print(f"HJ 212 gateway listening on {host}:{gw.port}{procs}; {len(gw.registry)} stations registered; "
                  "Ctrl-C stops", highlight=False)

    def shown(st: dict[str, Any]) -> None:
        err.print(_line(st), highlight=False)

    result = serve(engine, host, port, options, on_stats=shown, on_ready=ready, workers=workers)
    if as_json:
        root.print_json(result)
    else:
        out.print("stopped: " + _line(result), highlight=False)


def _line(st: dict[str, Any]) -> str:
    by = ", ".join(f"{k} {v:,}" for k, v in st["findings_by_reason"].items()) or "none"
    return (f"{st['seconds']:,.0f} s: {st['connections_open']:,} connections open ({st['connections_total']:,} "
            f"in all), {st['stored']:,} frames stored ({st['stored_per_s']:,.0f}/s), {st['replies']:,} replies, "
            f"{st['pending']:,} pending{' (reading paused)' if st['paused'] else ''}; findings: {by}")


@hj212_app.command("simulate")
def simulate_cmd(stations: Annotated[int, typer.Option(help="simulated stations, one connection each")] = 10,
                 rate: Annotated[float, typer.Option(help="valid frames/s in all (0: as fast as acknowledged)")]
                 = 10.0,
                 count: Annotated[int, typer.Option(help="valid frames to send in all")] = 100,
                 host: Host = "127.0.0.1", port: Port = DEFAULT_PORT,
                 malformed: Annotated[int, typer.Option(help="bad frames mixed in (bad CRC, wrong length, "
                                                        "truncated, oversize, unknown MN, in turn)")] = 0,
                 register: Annotated[tuple[str, str] | None, typer.Option(help="ORG SITE: register the simulated "
                                                                          "stations there first")] = None,
                 prefix: Annotated[str, typer.Option(help="MN prefix; station i is PREFIX + i as 6 digits")]
                 = DEFAULT_PREFIX,
                 password: Annotated[str, typer.Option(help="the stations' PW")] = DEFAULT_PASSWORD,
                 window: Annotated[int, typer.Option(help="with --rate 0: frames in flight per station")] = WINDOW,
                 ack_timeout_s: Annotated[float, typer.Option(help="wait this long for the last replies")]
                 = ACK_TIMEOUT_S,
                 seed: Annotated[int, typer.Option(help="seed of the readings and of where bad frames go")] = 1,
                 as_json: Json = False) -> None:
    """Drive a gateway with simulated roasting-kiln stations sending minute data (CN=2051, Flag=5)."""
    from rareeco.ingest.hj212_simulate import register_stations, simulate, station_mn

    root = _root()
    if register is not None:
        with root.session() as s:
            pairs = register_stations(s, register[0], register[1], stations, prefix, password,
                                      actor=root.actor_name(None))
    else:
        pairs = [(station_mn(prefix, i), password) for i in range(1, stations + 1)]

    options: dict[str, Any] = {"malformed": malformed, "window": window, "seed": seed, "ack_timeout_s": ack_timeout_s}
    if as_json:
        r = simulate(pairs, count, rate, host, port, **options)
    else:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task(f"{len(pairs):,} stations → {host}:{port}", total=count)

            def shown(st: dict[str, Any]) -> None:
                bar.update(task, completed=st["acked"], description=f"{len(pairs):,} stations → {host}:{port}: "
                           f"{st['sent']:,} sent, {st['acked']:,} acknowledged")

            r = simulate(pairs, count, rate, host, port, progress=shown, **options)
    if as_json:
        root.print_json(r)
        return
    lat = r["latency_ms"]
    bad = ", ".join(f"{k} {v:,}" for k, v in sorted(r["malformed_sent"].items())) or "none"
    out.print(f"{r['stations']:,} stations: {r['sent']:,} frames sent, {r['acked']:,} acknowledged, {r['unacked']:,} "
              f"unacknowledged in {r['seconds']:.1f} s ({r['acked_per_s'] or 0:,.0f}/s); ack latency p50 "
              f"{lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; bad frames sent: {bad}"
              + (f" ({r['unknown_mn_closed']:,} unknown-MN connections closed by the gateway)"
                 if r["malformed_sent"].get("unknown_mn") else ""), highlight=False)
    if r["connections_dropped"] or r["bad_replies"]:
        err.print(f"[yellow]{r['connections_dropped']} connections dropped by the gateway, {r['bad_replies']} bad "
                  "replies[/yellow]", highlight=False)


@hj212_app.command("findings")
def findings_cmd(org: Annotated[str | None, typer.Option("--org", help="only findings about this organisation's "
                                                         "stations")] = None,
                 limit: Annotated[int, typer.Option(help="newest N")] = 50, as_json: Json = False) -> None:
    """What the gateway found wrong on its connections (bad frames, unknown stations, slow clients), newest first."""
    from sqlalchemy import select

    from rareeco.ledger.models import GatewayFinding

    root = _root()
    q = select(GatewayFinding).order_by(GatewayFinding.id.desc()).limit(limit)
    if org:
        q = q.where(GatewayFinding.org_id == org)
    with root.session() as s:
        rows = [{"at": f.at.isoformat(timespec="seconds"), "peer": f.peer, "mn": f.mn, "reason": f.reason,
                 "action": f.action, "message": f.message, "excerpt": f.excerpt} for f in s.execute(q).scalars()]
    if as_json:
        root.print_json(rows)
        return
    for r in rows:
        out.print(f"{r['at']} {r['peer']} {r['mn'] or '-'} {r['reason']} ({r['action']}): {r['message']}",
                  highlight=False, soft_wrap=True)
