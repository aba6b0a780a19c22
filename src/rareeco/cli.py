"""The ``rareeco`` command line (Typer).  Errors are one readable line each, never a traceback."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from rareeco.circularity.cli import circularity_app
from rareeco.declare.epd_cli import epd_app
from rareeco.declare.pact_cli import pact_app
from rareeco.energy.energy_cli import add_energy_commands
from rareeco.energy.measures_cli import measure_app
from rareeco.errors import Finding, RareecoError
from rareeco.ingest.hj212_cli import hj212_app
from rareeco.ingest.supplier_cli import supplier_app
from rareeco.lca.cli import lca_app
from rareeco.monitoring.compliance_cli import compliance_app
from rareeco.monitoring.zld_cli import zld_app

app = typer.Typer(help="rareeco — carbon accounting for the rare-earth industry / 稀土行业碳核算平台",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
org_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
site_app = typer.Typer(help="Sites of an organisation.", no_args_is_help=True)
line_app = typer.Typer(help="Production lines of a site.", no_args_is_help=True)
product_app = typer.Typer(help="Products of an organisation.", no_args_is_help=True)
meter_app = typer.Typer(help="Meters: the tree, interval data (CSV, MQTT), sub-meter balance.", no_args_is_help=True)
factors_app = typer.Typer(help="Reference factor sets: list, show, add.", no_args_is_help=True)
template_app = typer.Typer(help="Import templates.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rows rejected by --partial imports.", no_args_is_help=True)
period_app = typer.Typer(help="Verification periods: lock and unlock.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Web users and their roles.", no_args_is_help=True)
inventory_app = typer.Typer(help="The organisational GHG inventory.", invoke_without_command=True)
footprint_app = typer.Typer(help="Product carbon footprints from the ledger (ISO 14067).", invoke_without_command=True)
energy_app = typer.Typer(help="Energy management: energy performance indicators (ISO 50001).", no_args_is_help=True)
for _name, _sub in (("org", org_app), ("site", site_app), ("line", line_app), ("product", product_app),
                    ("meter", meter_app), ("factors", factors_app), ("template", template_app),
                    ("quarantine", quarantine_app), ("period", period_app), ("audit", audit_app), ("token", token_app),
                    ("user", user_app),
                    ("inventory", inventory_app), ("footprint", footprint_app), ("energy", energy_app)):
    app.add_typer(_sub, name=_name)
app.add_typer(lca_app, name="lca")
app.add_typer(epd_app, name="epd")
app.add_typer(pact_app, name="pact")
app.add_typer(supplier_app, name="supplier")
app.add_typer(circularity_app, name="circularity")
app.add_typer(hj212_app, name="hj212")
app.add_typer(compliance_app, name="compliance")
app.add_typer(zld_app, name="zld")
add_energy_commands(energy_app)
energy_app.add_typer(measure_app, name="measure")

out = Console()
err = Console(stderr=True)
_state: dict[str, Any] = {"db": None, "engine": None}

Org = Annotated[str, typer.Option("--org", help="organisation id")]
Actor = Annotated[str | None, typer.Option("--actor", help="who does this (default: $RAREECO_USER or login)")]


def actor_name(actor: str | None) -> str:
    return actor or os.environ.get("RAREECO_USER") or getpass.getuser()


def engine() -> Engine:
    if _state["engine"] is None:
        from rareeco.ledger.db import make_engine

        _state["engine"] = make_engine(_state["db"])
    eng: Engine = _state["engine"]
    return eng


def session() -> Any:
    from rareeco.ledger.db import session_scope

    return session_scope(engine())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_findings(findings: list[Finding], limit: int = 50) -> None:
    for f in findings[:limit]:
        style = "red" if f.severity == "blocking" else "yellow"
        err.print(f"[{style}]{f.severity}[/{style}] {escape(f.line())}", highlight=False, soft_wrap=True)
    if len(findings) > limit:
        err.print(f"… and {len(findings) - limit} more findings (use --json to see all)")


@app.callback()
def _root(db: Annotated[str | None, typer.Option("--db", help="database URL (default $RAREECO_DATABASE_URL "
                                                     "or sqlite:///rareeco.db)")] = None) -> None:
    _state["db"] = db
    _state["engine"] = None


# ---------------------------------------------------------------- structure

@org_app.command("create")
def org_create(org: str, name: Annotated[str | None, typer.Option(help="display name")] = None,
               actor: Actor = None) -> None:
    """Create an organisation."""
    from rareeco.ledger import structure

    with session() as s:
        structure.create_org(s, org, name, actor_name(actor))
    out.print(f"organisation {org} created")


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    from sqlalchemy import select

    from rareeco.ledger.models import Organisation

    with session() as s:
        for o in s.execute(select(Organisation).order_by(Organisation.id)).scalars():
            out.print(f"{o.id}\t{o.name}")


@site_app.command("add")
def site_add(org: str, site: str, province: Annotated[str, typer.Option(help="ISO 3166-2, e.g. CN-NM")],
             name: Annotated[str | None, typer.Option()] = None,
             grid_region: Annotated[str | None, typer.Option(help="e.g. CN-NORTH (default from province)")] = None,
             actor: Actor = None) -> None:
    """Add a site to an organisation."""
    from rareeco.ledger import structure

    with session() as s:
        st = structure.add_site(s, org, site, province, name, grid_region, actor_name(actor))
        out.print(f"site {org}/{st.code} added ({st.province}, grid {st.grid_region})")


@site_app.command("list")
def site_list(org: str) -> None:
    """List the sites of an organisation."""
    from rareeco.ledger import structure

    with session() as s:
        for st in structure.sites(s, org):
            out.print(f"{st.code}\t{st.province}\t{st.grid_region}\t{st.name}")


@line_app.command("add")
def line_add(org: str, site: str, line: str, name: Annotated[str | None, typer.Option()] = None,
             capacity: Annotated[float | None, typer.Option(help="capacity [t REO/yr]")] = None,
             actor: Actor = None) -> None:
    """Add a production line to a site."""
    from rareeco.ledger import structure

    with session() as s:
        structure.add_line(s, org, site, line, name, capacity, actor_name(actor))
    out.print(f"line {org}/{site}/{line} added")


@meter_app.command("add")
def meter_add(org: str, site: str, meter: str,
              carrier: Annotated[str, typer.Option(help="activity id it measures, e.g. electricity.grid")],
              line: Annotated[str | None, typer.Option(help="line it belongs to")] = None,
              parent: Annotated[str | None, typer.Option(help="the meter this one is a sub-meter of")] = None,
              role: Annotated[str, typer.Option(help="main, sub or generation")] = "main",
              name: Annotated[str, typer.Option(help="what it measures, e.g. SX agitators")] = "",
              unit: Annotated[str | None, typer.Option(help="unit of its interval readings, e.g. kWh "
                                                             "(default: the carrier's unit)")] = None,
              interval_s: Annotated[int | None, typer.Option(help="expected spacing of its readings, in seconds")]
              = None,
              actor: Actor = None) -> None:
    """Register a meter: its id goes in an activity file's meter column and names its interval data."""
    from rareeco.ledger import structure

    with session() as s:
        m = structure.add_meter(s, org, site, meter, carrier, line, actor_name(actor), parent=parent, role=role,
                                name=name, unit=unit, interval_s=interval_s)
    out.print(f"meter {org}/{meter} added ({m.carrier}, {m.role}{', under ' + parent if parent else ''})")


@meter_app.command("tree")
def meter_tree(org: str, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The meter tree: site → line → equipment, main and sub-meters."""
    from rareeco.energy.meters import tree

    with session() as s:
        rows = tree(s, org)
    if json_out:
        print_json(rows)
        return
    t = Table(title=f"{org} — meters")
    for c in ("meter", "carrier", "role", "unit", "interval [s]", "site / line"):
        t.add_column(c)
    for r in rows:
        t.add_row("  " * r["depth"] + r["code"], r["carrier"], r["role"], r["unit"], str(r["interval_s"] or ""),
                  f"{r['site']} / {r['line'] or '—'}")
    out.print(t)


@meter_app.command("import")
def meter_import(org: str, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
                 stamp: Annotated[str, typer.Option(help="start: the time opens the interval; end: it closes it")]
                 = "start",
                 json_out: Annotated[bool, typer.Option("--json")] = False, actor: Actor = None) -> None:
    """Load interval readings from CSV (long: meter,timestamp,value[,flag]; wide: timestamp,<meter>,…)."""
    from rareeco.ingest.meter_csv import import_csv

    with session() as s:
        r = import_csv(s, org, file, stamp=stamp, actor=actor_name(actor))
    if json_out:
        print_json(r)
        return
    out.print(f"batch {r['batch']}: {r['points_stored']:,} readings stored ({r['layout']} layout), "
              f"{r['duplicates']:,} duplicates skipped, {r['conflicts']:,} conflicts, {r['late']:,} late")
    for f in r["findings"]:
        if "series_id" in f or f.get("where"):
            err.print(f"[yellow]advisory[/yellow] {escape(f['code'])}: {escape(f['message'])}", highlight=False)


@meter_app.command("balance")
def meter_balance(org: str, grain: Annotated[str, typer.Option(help="h, d or m")] = "m",
                  start: Annotated[str | None, typer.Option("--from", help="local start, e.g. 2025-01-01")] = None,
                  end: Annotated[str | None, typer.Option("--to", help="local end (exclusive)")] = None,
                  json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Sub-meter balance: main meter against the sum of its sub-meters, unaccounted share per period."""
    from datetime import datetime

    from rareeco.energy.meters import balance

    with session() as s:
        rows = balance(s, org, grain, datetime.fromisoformat(start) if start else None,
                       datetime.fromisoformat(end) if end else None)
    if json_out:
        print_json(rows)
        return
    t = Table(title=f"{org} — sub-meter balance")
    for c in ("meter", "period", "main", "Σ sub-meters", "unaccounted", "%", "missing"):
        t.add_column(c, justify="right" if c in ("main", "Σ sub-meters", "unaccounted", "%") else "left")
    for r in rows:
        pct = r["unaccounted_pct"]
        period = r["period"][:16] if grain == "h" else r["period"][:10]
        t.add_row(r["meter"], period, f"{r['main']:,.3f} {r['unit']}", f"{r['sub_total']:,.3f}",
                  f"{r['unaccounted']:,.3f}", "" if pct is None else f"{pct:.1f}", ", ".join(r["missing"]))
    out.print(t)


@meter_app.command("mqtt")
def meter_mqtt(org: str, host: Annotated[str, typer.Option(help="MQTT broker")] = "127.0.0.1",
               port: Annotated[int, typer.Option()] = 1883,
               client_id: Annotated[str | None, typer.Option(help="stable id of the persistent session "
                                                                 "(default rareeco-meters-ORG)")] = None,
               count: Annotated[int | None, typer.Option(help="stop after N messages")] = None,
               seconds: Annotated[float | None, typer.Option(help="stop after S seconds")] = None,
               stamp: Annotated[str, typer.Option(help="start: ts opens the interval; end: it closes it")] = "start",
               session_expiry_s: Annotated[int, typer.Option(help="seconds the broker keeps the session and "
                                                                  "queues readings while stopped")] = 7 * 86_400,
               json_out: Annotated[bool, typer.Option("--json")] = False, actor: Actor = None) -> None:
    """Subscribe to rareeco/ORG/meters/+ and store live readings until Ctrl-C (docs/meters-mqtt.md)."""
    import signal

    from rareeco.ingest.mqtt import Subscriber

    sub = Subscriber(engine(), org, host=host, port=port, client_id=client_id, stamp=stamp,
                     actor=actor_name(actor), session_expiry_s=session_expiry_s)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sub.stop())
    if json_out:
        r = sub.run(count=count, seconds=seconds)
    else:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task(f"{sub.topic}: waiting")

            def shown(st: dict[str, Any]) -> None:
                bar.update(task, description=f"{sub.topic}: {st['handled']:,} messages, {st['stored']:,} stored, "
                           f"{st['malformed']:,} malformed")

            r = sub.run(count=count, seconds=seconds, progress=shown)
    if json_out:
        print_json(r)
        return
    rate = f", {r['messages_per_s']:,.0f} messages/s" if r["messages_per_s"] else ""
    out.print(f"batch {r['batch']} ({r['source']}, session {'resumed' if r['session_present'] else 'new'}): "
              f"{r['handled']:,} messages{rate}, {r['stored']:,} readings stored, {r['duplicates']:,} duplicates "
              f"skipped, {r['conflicts']:,} conflicts, {r['late']:,} late, {r['malformed']:,} malformed")
    for f in r["findings"]:
        if "series_id" in f or "topic" in f:
            err.print(f"[yellow]advisory[/yellow] {escape(f['code'])}: {escape(f['message'])}", highlight=False)


@meter_app.command("publish")
def meter_publish(org: str, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
                  host: Annotated[str, typer.Option(help="MQTT broker")] = "127.0.0.1",
                  port: Annotated[int, typer.Option()] = 1883,
                  per_message: Annotated[int, typer.Option(help="readings of one meter per message")] = 1) -> None:
    """Publish a CSV's readings (the layouts of meter import) on rareeco/ORG/meters/<meter>, QoS 1."""
    from rareeco.ingest.mqtt import csv_readings, publish

    readings = list(csv_readings(file))
    n = publish(org, readings, host=host, port=port, per_message=per_message)
    out.print(f"{len(readings):,} readings published in {n:,} messages to {host}:{port} (rareeco/{org}/meters/…)")


@product_app.command("add")
def product_add(org: str, product: str, name: Annotated[str | None, typer.Option()] = None,
                name_zh: Annotated[str, typer.Option()] = "", actor: Actor = None) -> None:
    """Add a product (lower-kebab-case id, e.g. prnd-oxide)."""
    from rareeco.ledger import structure

    with session() as s:
        structure.add_product(s, org, product, name, name_zh, actor=actor_name(actor))
    out.print(f"product {org}/{product} added")


# ---------------------------------------------------------------- catalogue and factors

@app.command("activities")
def activities_cmd(lang: Annotated[str, typer.Option(help="en or zh")] = "en",
                   as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The activity catalogue: ids, canonical units, scopes."""
    from rareeco.reference.catalogue import activities

    cat = activities()
    if as_json:
        print_json([a.__dict__ for a in cat.values()])
        return
    t = Table("activity", "unit", "scope", "category", "label")
    for a in cat.values():
        t.add_row(a.activity, a.unit, str(a.scope or "—"), a.category, a.label(lang))
    out.print(t)


def _factor_sets(org: str | None) -> list[Any]:
    """The organisation's own factor sets (latest versions), then the built-in ones."""
    from rareeco.reference import builtin_sets

    if not org:
        return builtin_sets()
    from rareeco.inventory.service import user_set
    from rareeco.reference.usersets import set_ids

    with session() as s:
        return [user_set(s, org, i) for i in set_ids(s, org)] + builtin_sets()


@factors_app.command("list")
def factors_list(org: Annotated[str | None, typer.Option("--org", help="include this organisation's sets")] = None,
                 kind: Annotated[str | None, typer.Option(help="only this kind, e.g. grid_co2")] = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every factor with its value, unit, verification tag and source."""

    sets = _factor_sets(org)
    rows = [f for st in sets for f in st.factors if kind is None or f.kind == kind]
    if as_json:
        print_json([{**f.__dict__, "valid_from": f.valid_from, "valid_to": f.valid_to} for f in rows])
        return
    t = Table("factor_id", "value", "unit", "tag", "source", title="reference factors (V verified, S secondary "
              "— unverified, C computed, U user-supplied)")
    for f in rows:
        t.add_row(f.factor_id, f"{f.value:g}", f.unit, f.tag, f.source)
    out.print(t)


@factors_app.command("show")
def factors_show(factor_id: str, org: Annotated[str | None, typer.Option("--org")] = None) -> None:
    """One factor, whole, with its source and set."""
    from rareeco.reference import TAGS

    sets = _factor_sets(org)
    for st in sets:
        for f in st.factors:
            if f.factor_id == factor_id:
                out.print(f"[bold]{f.factor_id}[/bold]  ({st.title})", highlight=False)
                for k in ("kind", "key", "year", "gas", "value", "unit", "source", "version", "valid_from",
                          "valid_to", "note"):
                    v = getattr(f, k)
                    if v not in (None, ""):
                        out.print(f"  {k:11} {v}", highlight=False)
                out.print(f"  {'tag':11} {f.tag} — {TAGS[f.tag]}", highlight=False)
                out.print(f"  {'set':11} {st.set_id} (sha256 {st.sha256[:16]})", highlight=False)
                return
    raise RareecoError(f"no factor {factor_id!r}", fix="see the ids with: rareeco factors list")


@factors_app.command("add")
def factors_add(file: Path, org: Org, set_id: Annotated[str | None, typer.Option(help="default: file stem")] = None,
                actor: Actor = None) -> None:
    """Add a factor set (CSV with the columns of the built-in sets) for an organisation."""
    from rareeco.reference.usersets import add_factor_set

    with session() as s:
        fs = add_factor_set(s, org, file.read_text("utf-8"), set_id or file.stem, actor_name(actor))
    out.print(f"factor set {fs.set_id} added ({len(fs.factors)} factors, sha256 {fs.sha256[:16]}); "
              f"choose it with: rareeco inventory --org {org} --factors {fs.set_id}")


@factors_app.command("use")
def factors_use(org: str, sets: list[str], year: Annotated[int | None, typer.Option(help="only this year")] = None,
                actor: Actor = None) -> None:
    """Choose the user factor sets an organisation's inventory uses (before the built-in sets)."""
    from rareeco.reference.usersets import choose_sets

    with session() as s:
        choose_sets(s, org, sets, year, actor_name(actor))
    out.print(f"{org} uses {', '.join(sets)} for {year or 'every year'} (then the built-in sets)")


@template_app.command("activity")
def template_activity(xlsx: Annotated[Path | None, typer.Option(help="write an Excel template")] = None,
                      csv: Annotated[Path | None, typer.Option(help="write a CSV template")] = None) -> None:
    """Write the activity-data import template."""
    from rareeco.ingest import template

    if not xlsx and not csv:
        raise RareecoError("say where to write the template", fix="give --xlsx FILE or --csv FILE")
    if xlsx:
        template.write_xlsx(xlsx)
        out.print(f"wrote {xlsx}")
    if csv:
        template.write_csv(csv)
        out.print(f"wrote {csv}")


# ---------------------------------------------------------------- import

@app.command("import")
def import_cmd(file: Path, org: Org,
               partial: Annotated[bool, typer.Option(help="keep valid rows, quarantine the rest")] = False,
               replace: Annotated[int | None, typer.Option(help="supersede this batch id atomically")] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False, actor: Actor = None) -> None:
    """Import activity data from CSV or Excel (.xlsx)."""
    from rareeco.ingest.activity import import_activity

    if not file.exists():
        raise RareecoError(f"{file}: no such file", fix="check the path")
    data = file.read_bytes()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task(f"importing {file.name}", total=4)
        stages = {"read": 1, "validate": 2, "store": 3, "done": 4}

        def progress(stage: str, n: int) -> None:
            bar.update(task, completed=stages.get(stage, 0), description=f"{file.name}: {stage} ({n:,} rows)")

        try:
            with session() as s:
                r = import_activity(s, org, data, file.name, actor_name(actor), partial, replace, progress)
        except RareecoError as exc:
            if as_json:
                print_json({"error": exc.to_dict()})
                raise typer.Exit(1) from exc
            raise
    if as_json:
        print_json(r.to_dict())
        return
    print_findings(r.findings)
    msg = f"batch {r.batch_id}: {r.rows_stored:,} of {r.rows_total:,} rows imported from {r.file_name}"
    if r.rows_quarantined:
        msg += f"; {r.rows_quarantined:,} quarantined (rareeco quarantine list --org {org})"
    if r.superseded_batch:
        msg += f"; batch {r.superseded_batch} superseded"
    out.print(msg, highlight=False)


@app.command("batches")
def batches_cmd(org: str) -> None:
    """Import batches of an organisation."""
    from rareeco.ingest.activity import batches

    t = Table("batch", "file", "sha256", "by", "at", "rows", "quarantined", "status")
    with session() as s:
        for b in batches(s, org):
            t.add_row(str(b.id), b.file_name, b.sha256[:12], b.imported_by, f"{b.imported_at:%Y-%m-%d %H:%M}",
                      f"{b.rows_stored:,}", str(b.rows_quarantined),
                      b.status + (f" by {b.superseded_by_id}" if b.superseded_by_id else ""))
    out.print(t)


@quarantine_app.command("list")
def quarantine_list(org: Org, batch: Annotated[int | None, typer.Option()] = None,
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Rows kept out of the ledger, with their reasons."""
    from rareeco.ingest.activity import quarantine_rows

    with session() as s:
        rows = [{"batch": q.batch_id, "row": q.row_no, "reasons": q.reasons, "raw": q.raw}
                for q in quarantine_rows(s, org, batch)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"batch {r['batch']} row {r['row']}: " + "; ".join(map(str, r["reasons"])),  # type: ignore[call-overload]
                  highlight=False)
    if not rows:
        out.print("no quarantined rows")


@app.command("findings")
def findings_cmd(org: str, batch: Annotated[int | None, typer.Option()] = None) -> None:
    """Findings recorded with stored batches."""
    from sqlalchemy import select

    from rareeco.ledger.models import FindingRecord

    with session() as s:
        q = select(FindingRecord).where(FindingRecord.org_id == org).order_by(FindingRecord.id)
        if batch is not None:
            q = q.where(FindingRecord.batch_id == batch)
        found = [Finding(f.code, f.message, "blocking" if f.severity == "blocking" else "advisory", f.file, f.row,
                         f.column, f.value, f.fix) for f in s.execute(q).scalars()]
    print_findings(found, limit=10_000)
    if not found:
        out.print("no findings")


# ---------------------------------------------------------------- inventory

@inventory_app.callback()
def inventory_cmd(ctx: typer.Context, org: Annotated[str | None, typer.Option("--org")] = None,
                  year: Annotated[int | None, typer.Option(help="reporting year")] = None,
                  method: Annotated[str, typer.Option(help="ghg-protocol or cn-2015")] = "ghg-protocol",
                  gwp: Annotated[str, typer.Option(help="ar6 or ar5")] = "ar6",
                  factors: Annotated[list[str] | None, typer.Option("--factors", help="user factor set to "
                                                                    "use first (repeatable)")] = None,
                  as_json: Annotated[bool, typer.Option("--json")] = False,
                  xlsx: Annotated[Path | None, typer.Option(help="write the Excel report")] = None,
                  pdf: Annotated[Path | None, typer.Option(help="write the PDF report")] = None,
                  lang: Annotated[str, typer.Option(help="report language: en or zh")] = "en",
                  actor: Actor = None) -> None:
    """Calculate the inventory of a year: scopes 1–3 in t CO2e, by site, month, category and gas."""
    if ctx.invoked_subcommand is not None:
        return
    if org is None or year is None:
        raise RareecoError("--org and --year are required", fix="e.g. rareeco inventory --org demo --year 2025")
    from rareeco.inventory.service import inventory

    with session() as s:
        payload = inventory(s, org, year, method, gwp, factors or None, actor_name(actor))
    if xlsx or pdf:
        from rareeco import reports

        if xlsx:
            reports.inventory_xlsx(payload, xlsx, lang)
            err.print(f"wrote {xlsx}")
        if pdf:
            reports.inventory_pdf(payload, pdf, lang)
            err.print(f"wrote {pdf}")
    if as_json:
        print_json(payload)
        return
    show_inventory(payload)


def show_inventory(p: dict[str, Any]) -> None:
    t = Table(title=f"{p['organisation']} {p['year']} — {p['method']}, GWP {p['gwp_set'].upper()}"
              + (" (locked)" if p.get("locked") else ""))
    t.add_column("t CO2e")
    t.add_column("value", justify="right")
    for k in ("scope1_t_co2e", "scope2_location_t_co2e", "scope2_market_t_co2e", "scope3_t_co2e", "total_t_co2e",
              "total_market_t_co2e"):
        t.add_row(k, f"{p[k]:,.1f}")
    for m, o in p.get("other_methods", {}).items():
        t.add_row(f"total_t_co2e ({m})", f"{o['total_t_co2e']:,.1f}")
    out.print(t)
    for n in p.get("notes", []):
        out.print(f"[yellow]note[/yellow] {escape(n)}", highlight=False)
    for u in p.get("unquantified", []):
        out.print(f"[yellow]not quantified[/yellow] {u['activity']}: {u.get('amount', 0):,.1f} {u.get('unit', '')}"
                  f" — {escape(u['reason'])}", highlight=False)


@inventory_app.command("explain")
def inventory_explain(org: Org, year: Annotated[int, typer.Option()],
                      site: Annotated[str | None, typer.Option()] = None,
                      line: Annotated[str | None, typer.Option(help="a line of --site")] = None,
                      month: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
                      activity: Annotated[str | None, typer.Option()] = None,
                      scope: Annotated[str | None, typer.Option(help="1, 2, 2m (market) or 3")] = None,
                      method: Annotated[str, typer.Option()] = "ghg-protocol",
                      gwp: Annotated[str, typer.Option()] = "ar6",
                      factors: Annotated[list[str] | None, typer.Option("--factors")] = None,
                      as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Walk one number back to its activity rows, factor rows and their sources."""
    from rareeco.inventory.explain import explain, render_text

    with session() as s:
        ex = explain(s, org, year, site=site, month=month, activity=activity, scope=scope, method=method,
                     gwp_set=gwp, factor_sets=factors or None, line=line)
    if as_json:
        print_json(ex)
        return
    out.print(render_text(ex), highlight=False, markup=False)


# ---------------------------------------------------------------- product footprints

@footprint_app.callback()
def footprint_cmd(ctx: typer.Context, org: Annotated[str | None, typer.Option("--org")] = None,
                  product: Annotated[str | None, typer.Option(help="product id (default: every product)")] = None,
                  year: Annotated[int | None, typer.Option(help="reporting year")] = None,
                  allocation: Annotated[str | None, typer.Option(help="mass or economic (default: the "
                                                                 "organisation's settings)")] = None,
                  gwp: Annotated[str, typer.Option(help="ar6 or ar5")] = "ar6",
                  iterations: Annotated[int, typer.Option(help="Monte Carlo iterations (0: none)")] = 2000,
                  as_json: Annotated[bool, typer.Option("--json")] = False, actor: Actor = None) -> None:
    """Footprint of the products made in a year, per declared unit, from the ledger's data."""
    if ctx.invoked_subcommand is not None:
        return
    if org is None or year is None:
        raise RareecoError("--org and --year are required",
                           fix="e.g. rareeco footprint --org demo --product prnd-oxide --year 2025")
    from rareeco.footprint.service import footprints, product_footprint

    with session() as s:
        payload = footprints(s, org, year, gwp, iterations, actor_name(actor))
    chosen = [product] if product else sorted(payload["products"])
    results = [product_footprint(payload, p, allocation) for p in chosen]
    if as_json:
        print_json(results[0] if product else results)
        return
    show_footprints(results)


def show_footprints(results: list[dict[str, Any]]) -> None:
    first = results[0]
    t = Table(title=f"{first['organisation']} {first['year']} — kg CO2e per declared unit, GWP100 "
              f"{first['gwp_set'].upper()}, allocation {first['allocation']}")
    for col in ("product", "declared unit", "kg CO2e", "mass", "economic", "95 % interval", "primary data"):
        t.add_column(col, justify="left" if col in ("product", "declared unit") else "right", no_wrap=True)
    for r in results:
        u = r.get("uncertainty")
        interval = f"{u['percentiles']['p2.5']:.2f}–{u['percentiles']['p97.5']:.2f}" if u else ""
        t.add_row(r["product"], r["declared_unit"], f"{r['kg_co2e_per_declared_unit']:.3f}",
                  *(f"{r['by_allocation_kg_co2e'][a]:.3f}" if a in r["by_allocation_kg_co2e"] else "n/a"
                    for a in ("mass", "economic")),
                  interval, f"{r['primary_data_share_pct']:.1f} %")
    out.print(t)
    if len(results) == 1:
        r = first
        out.print("top contributions (kg CO2e):", highlight=False)
        for k, v in list(r["contributions_kg_co2e"].items())[:8]:
            out.print(f"  {k}: {v:.3f}", highlight=False)
        for a, factors in r["allocation_factors"].items():
            shares = ", ".join(f"{p} {100 * f:.2f} %" for p, f in factors.items())
            out.print(f"{a} allocation of {r['line']}: {shares} (sum {100 * sum(factors.values()):.2f} %)",
                      highlight=False)
    for n in first["notes"]:
        out.print(f"[yellow]note[/yellow] {escape(n)}", highlight=False)
    for x in first["excluded"]:
        out.print(f"[yellow]excluded[/yellow] {escape(x.get('activity') or x.get('line') or '')}: "
                  f"{escape(str(x['reason']))}", highlight=False)


@footprint_app.command("settings")
def footprint_settings(org: Org, file: Annotated[Path | None, typer.Argument(help="YAML settings to store")] = None,
                       actor: Actor = None) -> None:
    """Show the footprint settings of an organisation, or store new ones from FILE (docs/footprints.md)."""
    from rareeco.footprint.service import config_of, set_config

    with session() as s:
        if file is None:
            from rareeco.ledger.models import FootprintConfig as ConfigRecord

            rec = s.execute(select(ConfigRecord).where(ConfigRecord.org_id == org)
                            .order_by(ConfigRecord.id.desc()).limit(1)).scalar_one_or_none()
            out.print(rec.content if rec else f"# {org}: default settings\n{config_of(s, org)}", highlight=False,
                      markup=False)
            return
        cfg = set_config(s, org, file.read_text("utf-8"), actor_name(actor))
    err.print(f"footprint settings of {org} stored (sha256 {cfg.sha256[:16]})")


# ---------------------------------------------------------------- energy

@energy_app.command("enpi")
def energy_enpi(org: Org, year: Annotated[int, typer.Option(help="reporting year")],
                convention: Annotated[str, typer.Option(help="electricity to coal equivalent: equivalent "
                                                        "(0.1229 kgce/kWh) or generation (0.404)")] = "equivalent",
                source: Annotated[str, typer.Option(help="energy from the ledger's invoices, or from the meters "
                                                    "where a line is metered")] = "ledger",
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Energy per unit of product per line and product (kgce/t, GJ/t), year on year, against the targets."""
    from rareeco.energy.service import enpi

    with session() as s:
        r = enpi(s, org, year, convention, source)
    if as_json:
        print_json(r)
        return
    t = Table(title=f"{org} {year} — energy per tonne made ({convention} value of electricity, GB/T 2589; "
                    f"energy from the {source})")
    for col in ("line", "kgce/t", "GJ/t", "t made", "year on year", "target", "vs target"):
        t.add_column(col, justify="left" if col == "line" else "right", no_wrap=True)
    for line, v in r["lines"].items():
        yoy, tg = v["yoy_change_pct"], r["targets"].get(line)
        t.add_row(line, f"{v['kgce_per_t']:,.1f}", f"{v['gj_per_t']:,.2f}", f"{v['production_t']:,.1f}",
                  "" if yoy is None else f"{yoy:+.2f} %", "" if tg is None else f"{tg['target_kgce_per_t']:,.1f}",
                  "" if tg is None else f"{tg['gap_pct']:+.1f} % " + ("met" if tg["met"] else "missed"))
    out.print(t)
    yoy = r["yoy_change_pct"]
    out.print(f"organisation: {r['kgce_per_t']:,.1f} kgce/t" + ("" if yoy is None else f", {yoy:+.2f} % on {year - 1}"),
              highlight=False)


@energy_app.command("target")
def energy_target(org: Org, year: Annotated[int, typer.Option(help="the year the target is for")],
                  line: Annotated[str, typer.Option(help="SITE/LINE")],
                  kgce_per_t: Annotated[float, typer.Option(help="energy per tonne to reach [kgce/t]")],
                  convention: Annotated[str, typer.Option(help="coal-equivalent convention of the target")]
                  = "equivalent", actor: Actor = None) -> None:
    """Set a line's energy target for a year (ISO 50001 §6.2); the EnPI reports it met or missed."""
    from rareeco.energy.service import find_line, structure_keys
    from rareeco.energy.targets import set_target

    with session() as s:
        key = find_line(line, structure_keys(s, org)[1])
        set_target(s, org, year, key, kgce_per_t, convention, actor_name(actor))
    out.print(f"target {org} {key} {year}: {kgce_per_t:,.1f} kgce/t ({convention} value)")


@energy_app.command("quota")
def energy_quota(org: Org, year: Annotated[int, typer.Option(help="reporting year")],
                 mapping: Annotated[Path, typer.Option("--map", help="YAML: product id → route:product of the "
                                                       "GB 29435 template (e.g. src/rareeco/demo/energy-quota.yaml)")],
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Which GB 29435-2025 level each mapped product reached in a year (template values: confirm them)."""
    import yaml

    from rareeco.energy.quota import check
    from rareeco.energy.service import enpi

    with session() as s:
        r = enpi(s, org, year, "equivalent")
    rows = check(r["products"], {str(k): str(v) for k, v in (yaml.safe_load(mapping.read_text("utf-8")) or {}).items()})
    if as_json:
        print_json(rows)
        return
    t = Table(title=f"{org} {year} — GB 29435-2025 levels (kgce/t; template values, unverified)")
    for col in ("product", "quota", "kgce/t", "level 1", "level 2", "level 3", "reached"):
        t.add_column(col, justify="left" if col in ("product", "quota") else "right", no_wrap=True)
    for row in rows:
        lim = row["limits_kgce_per_t"]
        t.add_row(row["product"], row["quota"], f"{row['kgce_per_t']:,.1f}", *(f"{lim[lv]:,.0f}" for lv in (1, 2, 3)),
                  "above 3" if row["level"] is None else str(row["level"]))
    out.print(t)


# ---------------------------------------------------------------- periods and audit

@period_app.command("lock")
def period_lock(org: str, period: str, comment: Annotated[str, typer.Option()] = "", actor: Actor = None) -> None:
    """Lock a year (YYYY) or month (YYYY-MM) as verified; a year's inventory is frozen."""
    from rareeco.inventory.service import lock_year

    with session() as s:
        info = lock_year(s, org, period, actor_name(actor), comment)
    msg = f"period {period} of {org} locked by {info['locked_by']}"
    if "frozen_result_id" in info:
        msg += f"; inventory frozen as result {info['frozen_result_id']} ({info['total_t_co2e']:,.1f} t CO2e)"
    out.print(msg, highlight=False)


@period_app.command("unlock")
def period_unlock(org: str, period: str, comment: Annotated[str, typer.Option(help="why (required)")] = "",
                  actor: Actor = None) -> None:
    """Unlock a period (recorded in the audit log, with the comment)."""
    from rareeco.ledger import periods

    with session() as s:
        periods.unlock(s, org, period, actor_name(actor), comment)
    out.print(f"period {period} of {org} unlocked")


@period_app.command("list")
def period_list(org: str) -> None:
    """Locks of an organisation, past and present."""
    from rareeco.ledger import periods

    with session() as s:
        for p in periods.all_locks(s, org):
            state = f"unlocked by {p.unlocked_by} {p.unlocked_at:%Y-%m-%d}: {p.unlock_comment}" if p.unlocked_at \
                else "locked"
            out.print(f"{p.period}\tlocked by {p.locked_by} {p.locked_at:%Y-%m-%d}\t{state}", highlight=False)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exit 1 if any entry was edited, inserted or deleted."""
    from rareeco.ledger import audit

    with session() as s:
        rep = audit.verify(s)
    if rep.ok:
        out.print(f"audit chain intact: {rep.entries} entries")
        return
    for p in rep.problems:
        err.print(f"[red]broken[/red] {p}", highlight=False)
    raise typer.Exit(1)


@audit_app.command("log")
def audit_log(org: Annotated[str | None, typer.Option("--org")] = None, limit: int = 50) -> None:
    """Latest audit entries."""
    from rareeco.ledger import audit

    with session() as s:
        for e in audit.entries(s, org, limit):
            out.print(f"{e.seq}\t{e.at[:19]}\t{e.actor}\t{e.action}\t{e.subject}\t{e.details}", highlight=False)


@token_app.command("create")
def token_create(org: str, name: str, role: Annotated[str, typer.Option()] = "steward", actor: Actor = None) -> None:
    """Create an API token for an organisation (shown once)."""
    from rareeco.ledger import tokens

    with session() as s:
        tok = tokens.create(s, org, name, role, actor_name(actor))
    out.print(tok)


def _password(prompt: str) -> str:
    """A password from standard input when piped (scripts), else asked twice without echo."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(username: str, org: Annotated[str, typer.Option("--org", help="organisation to join")],
             role: Annotated[str, typer.Option(help="admin, steward, verifier or viewer")] = "viewer",
             name: Annotated[str | None, typer.Option(help="display name")] = None,
             lang: Annotated[str, typer.Option(help="en or zh")] = "en", actor: Actor = None) -> None:
    """Add a web user (password asked, or read from standard input) with a role in an organisation."""
    from rareeco.ledger import accounts

    password = _password("password")
    with session() as s:
        accounts.create_user(s, username, password, name, lang, actor_name(actor))
        accounts.grant(s, username, org, role, actor_name(actor))
    out.print(f"user {username} added: {role} of {org}")


@user_app.command("grant")
def user_grant(username: str, org: str, role: str, actor: Actor = None) -> None:
    """Give a user a role in (another) organisation."""
    from rareeco.ledger import accounts

    with session() as s:
        accounts.grant(s, username, org, role, actor_name(actor))
    out.print(f"{username} is {role} of {org}")


@user_app.command("passwd")
def user_passwd(username: str, actor: Actor = None) -> None:
    """Set a user's password (asked, or read from standard input)."""
    from rareeco.ledger import accounts

    password = _password("new password")
    with session() as s:
        accounts.set_password(s, username, password, actor_name(actor))
    out.print(f"password of {username} changed")


# ---------------------------------------------------------------- demo and server

@app.command("demo")
def demo_cmd(serve: Annotated[bool, typer.Option("--serve", help="then serve the web API")] = False,
             host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the demo organisation 'demo' (idempotent), and optionally serve it."""
    from rareeco.demo.compliance import load_compliance
    from rareeco.demo.load import _has_declarations, load_demo, publish_declarations
    from rareeco.ledger.accounts import DEMO_PASSWORD

    with session() as s:
        info = load_demo(s, progress=lambda msg: err.print(msg, highlight=False))
    out.print(info["message"], highlight=False)
    # the stacks through an in-process HJ 212 gateway, after the commit: the gateway writes on its own connections
    out.print(load_compliance(engine(), progress=lambda msg: err.print(msg, highlight=False)), highlight=False)
    with session() as s:   # the declarations last: the EPDs' module A3 reads the stacks' measured emissions
        published = [] if _has_declarations(s) else publish_declarations(s)
    if published:
        out.print("published: " + "; ".join(published), highlight=False)
    out.print(f"demo API token (demo only): {info['token']}", highlight=False)
    if serve:
        out.print(f"sign in at http://{host}:{port}/ as demo / {DEMO_PASSWORD} (admin) or demo-verifier / "
                  f"{DEMO_PASSWORD} (verifier) — demo mode only", highlight=False)
        _serve(host, port, demo_mode=True)


@app.command("serve")
def serve_cmd(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the HTTP API (/api/v1, OpenAPI at /api/v1/openapi.json)."""
    _serve(host, port, demo_mode=False)


def _serve(host: str, port: int, demo_mode: bool) -> None:
    import uvicorn

    from rareeco.api.app import create_app

    eng = engine()  # migrate before serving
    out.print(f"rareeco serving on http://{host}:{port}/  (API /api/v1, docs /api/v1/docs)")
    uvicorn.run(create_app(engine=eng, demo_mode=demo_mode), host=host, port=port, log_level="warning")


def main() -> None:
    try:
        app()
    except RareecoError as exc:
        err.print(f"[red]error[/red] {escape(exc.line())}", highlight=False, soft_wrap=True)
        print_findings(exc.findings)
        sys.exit(1)
    except OperationalError as exc:
        err.print(f"[red]error[/red] database unavailable: {str(exc.orig).strip().splitlines()[0]} — "
                  "check --db / RAREECO_DATABASE_URL", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    # ``python -m rareeco.cli``: the sub-commands import rareeco.cli for --db; let them find this module, not a
    # second copy without the option's value
    sys.modules["rareeco.cli"] = sys.modules[__name__]
    main()
