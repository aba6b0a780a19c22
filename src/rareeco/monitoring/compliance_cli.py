"""``rareeco compliance``: outlets' settings, processing of the stored HJ 212 frames, hourly values, exceedance
events and their acknowledgement, the webhook, yearly quantities and the monthly report (docs/compliance.md).

Mounted in :mod:`rareeco.cli` as ``app.add_typer(compliance_app, name="compliance")``; it uses the root command's
``--db`` and output helpers (imported when a command runs).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

compliance_app = typer.Typer(help="Air and water compliance: outlets and permit limits, CEMS processing, "
                                  "exceedance events, webhook, monthly report.", no_args_is_help=True)
settings_app = typer.Typer(help="The organisation's compliance settings (outlets, pollutants, limits).",
                           no_args_is_help=True)
compliance_app.add_typer(settings_app, name="settings")
out = Console()
err = Console(stderr=True)
log = logging.getLogger("rareeco.compliance")

Org = Annotated[str, typer.Option("--org", help="organisation id")]
Json = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def _root() -> Any:
    import rareeco.cli as root

    return root


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


# ---------------------------------------------------------------- settings

def read_settings_file(path: Path) -> Any:
    """The YAML (or JSON) of a settings file; a syntax error names the line and column."""
    from rareeco.errors import ValidationFailed
    from rareeco.lca.model import parse_document

    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ValidationFailed(f"{path}: {exc.strerror}", fix="give the path of the settings file") from None
    return parse_document(text, path.name)


@settings_app.command("import")
def settings_import(path: Annotated[Path, typer.Argument(help="the settings file (YAML)")], org: Org) -> None:
    """Check and store the compliance settings (they replace the previous ones). Every error names its place in
    the file; nothing is stored when there is one."""
    from sqlalchemy import select

    from rareeco.ledger.models import CemsStation
    from rareeco.monitoring import outlets

    root = _root()
    raw = json.loads(json.dumps(read_settings_file(path), default=str))   # YAML dates → text, as stored (JSON)
    parsed = outlets.parse(raw, path.name)         # errors name the file and the place in it
    with root.session() as s:
        outlets.save(s, org, raw)
        known = set(s.execute(select(CemsStation.mn).where(CemsStation.org_id == org)).scalars())
    n_p = sum(len(o.pollutants) for o in parsed.outlets)
    n_l = sum(len(p.limits) for o in parsed.outlets for p in o.pollutants)
    out.print(f"{org}: {len(parsed.outlets)} outlets, {n_p} pollutants, {n_l} limits imported from {path.name}",
              highlight=False)
    for o in parsed.outlets:
        if o.mn not in known:
            err.print(f"[yellow]advisory[/yellow] outlet {o.code}: no station {o.mn} is registered — "
                      f"rareeco hj212 station add {org} {o.site} {o.mn} --password …", highlight=False)


@settings_app.command("show")
def settings_show(org: Org, as_json: Json = False) -> None:
    """The stored compliance settings (JSON: exactly as imported)."""
    from rareeco.ledger.structure import get_org
    from rareeco.monitoring import outlets

    root = _root()
    with root.session() as s:
        raw = (get_org(s, org).settings or {}).get("compliance") or {}
        parsed = outlets.parse(raw, f"settings of {org}")
    if as_json:
        root.print_json(raw)
        return
    v = parsed.validity
    out.print(f"validity: hour valid with ≥ {v.hour_min_valid_fraction:.0%} of its values, day with ≥ "
              f"{v.day_min_valid_hours} valid hours; webhook: {parsed.webhook_url or 'none'}"
              + (f" (secret from ${parsed.webhook_secret_env})" if parsed.webhook_secret_env else ""),
              highlight=False)
    t = Table(title=f"{org} — outlets, pollutants and limits")
    for c in ("outlet", "MN", "ref. O2 %", "pollutant", "unit", "limits"):
        t.add_column(c)
    for o in parsed.outlets:
        for i, p in enumerate(o.pollutants):
            lims = "\n".join(f"{x.kind} {x.limit.value:g} {x.limit.unit}/{x.limit.period}" for x in p.limits) or "–"
            t.add_row(o.code if i == 0 else "", o.mn if i == 0 else "",
                      ("–" if o.reference_o2_pct is None else f"{o.reference_o2_pct:g}") if i == 0 else "",
                      f"{p.code} {p.name}", p.unit, lims)
    out.print(t)


@settings_app.command("template")
def settings_template(name: Annotated[str, typer.Argument(help="the standard: gb26451")],
                      out_path: Annotated[Path | None, typer.Option("--out", help="write to this file instead of "
                                                                    "printing")] = None) -> None:
    """A settings skeleton from a standard's template: its pollutants with their HJ 212 codes, every limit
    value the standard's text is not verified for left empty (import refuses it until you fill it in)."""
    from rareeco.monitoring.settings_template import skeleton

    text = skeleton(name)
    if out_path is None:
        sys.stdout.write(text)
        return
    out_path.write_text(text, "utf-8")
    err.print(f"{out_path} written: fill in every null and CHANGE-ME, then rareeco compliance settings import "
              f"{out_path} --org ORG", highlight=False)


# ---------------------------------------------------------------- processing

def cycle(engine: Any, org: str, now: datetime | None = None) -> dict[str, Any]:
    """One processing round: the stored frames not yet processed → CEMS series; exceedances detected over the
    whole local days those frames cover (from the start of an event still running then, so it is extended, not
    doubled); pending webhook deliveries sent.  Returns what it did."""
    import pandas as pd
    from sqlalchemy import func, select

    from rareeco.ingest.meter_csv import org_timezone
    from rareeco.ledger.db import session_scope
    from rareeco.ledger.models import CemsStation, ComplianceEvent, Hj212Frame
    from rareeco.monitoring import compliance, outlets, processing
    from rareeco.monitoring.compliance_month import aware

    with session_scope(engine) as s:
        tz = org_timezone(s, org)
        lo, hi = s.execute(select(func.min(Hj212Frame.data_time), func.max(Hj212Frame.data_time)).where(
            Hj212Frame.station_id.in_(select(CemsStation.id).where(CemsStation.org_id == org)),
            Hj212Frame.processed.is_(False))).one()
        webhook = outlets.load(s, org).webhook_url
    done = processing.process(engine, org, now=now)
    result: dict[str, Any] = {"processing": done.to_dict(), "range": None, "new_events": [], "webhook": None}
    if lo is not None and hi is not None:
        def day(t: Any) -> datetime:
            ts = pd.Timestamp(t)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
            return ts.tz_convert(tz).tz_localize(None).floor("D").to_pydatetime()

        start, end = day(lo), day(hi) + timedelta(days=1)
        with session_scope(engine) as s:   # an event still running at the range's start: detect from its start
            running = s.execute(select(func.min(ComplianceEvent.start)).where(
                ComplianceEvent.org_id == org, ComplianceEvent.end >= aware(start, tz).astimezone(UTC))).scalar()
        if running is not None:
            first = compliance.local_time(running, tz)
            assert first is not None
            start = min(start, first.replace(hour=0, minute=0, second=0, microsecond=0))
        result["range"] = {"start": start.strftime("%Y-%m-%d"), "end": end.strftime("%Y-%m-%d")}
        with session_scope(engine) as s:
            new = compliance.detect(s, org, start, end, now=now)
            result["new_events"] = [{"id": e.id, "outlet": e.outlet, "pollutant": e.pollutant, "period": e.period,
                                     "limit": e.limit_value, "limit_kind": e.limit_kind, "peak": e.peak}
                                    for e in new]
    if webhook:
        with session_scope(engine) as s:
            result["webhook"] = compliance.deliver(s, org)
    return result


def _cycle_line(r: dict[str, Any]) -> str:
    p = r["processing"]
    rng = f" over {r['range']['start']} – {r['range']['end']}" if r["range"] else ""
    hook = r["webhook"]
    found = ", ".join(f"{f['code']} {f['count']:,}" for f in p["findings"]
                      if str(f.get("message", "")).endswith(" in all"))
    return (f"{p['frames']:,} frames, {p['points_stored']:,} points stored ({p['duplicates']:,} duplicates, "
            f"{p['waiting_parts']:,} split parts waiting); {len(r['new_events'])} new exceedance events{rng}"
            + (f"; webhook {hook['delivered']} delivered, {hook['failed']} failed" if hook else "")
            + (f"; findings: {found}" if found else ""))


@compliance_app.command("process")
def process_cmd(org: Org, as_json: Json = False) -> None:
    """Process the stored HJ 212 frames into CEMS series, detect exceedances over the days they cover, and send
    the pending webhook notifications."""
    root = _root()
    r = cycle(root.engine(), org)
    if as_json:
        root.print_json(r)
        return
    out.print(_cycle_line(r), highlight=False)
    if r["processing"]["findings"]:
        err.print("[yellow]advisory[/yellow] the findings are listed one by one with --json", highlight=False)


@compliance_app.command("watch")
def watch_cmd(org: Org, every: Annotated[float, typer.Option("--every", help="seconds between rounds")] = 60.0,
              cycles: Annotated[int, typer.Option(help="stop after this many rounds (0: until Ctrl-C)")] = 0) -> None:
    """Process in a loop until Ctrl-C, for running beside 'rareeco hj212 serve'; an error is logged and the next
    round runs."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    root = _root()
    engine = root.engine()
    n = 0
    try:
        while True:
            n += 1
            began = time.monotonic()
            try:
                log.info("%s: %s", org, _cycle_line(cycle(engine, org)))
            except Exception as exc:  # noqa: BLE001 — a bad round must not stop the watcher
                log.error("%s: round %d failed: %s: %s", org, n, type(exc).__name__, exc)
            if cycles and n >= cycles:
                break
            time.sleep(max(0.0, every - (time.monotonic() - began)))
    except KeyboardInterrupt:
        err.print("stopped", highlight=False)


# ---------------------------------------------------------------- reading

@compliance_app.command("hours")
def hours_cmd(org: Org, outlet: Annotated[str, typer.Option(help="outlet code, e.g. DA001")],
              day: Annotated[str, typer.Option(help="local day, YYYY-MM-DD")], as_json: Json = False) -> None:
    """An outlet's hourly values for one day: measured, O2, at the reference O2, flow, kg/h, status, flags."""
    from rareeco.errors import ValidationFailed
    from rareeco.monitoring import compliance, outlets

    root = _root()
    try:
        start = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise ValidationFailed(f"day {day!r} is not YYYY-MM-DD", fix="e.g. --day 2025-12-01") from None
    with root.session() as s:
        settings = outlets.load(s, org)
        hours = compliance.outlet_hours(s, org, settings.outlet(outlet), start, start + timedelta(days=1), settings)
    rows: list[dict[str, Any]] = []
    for rec in hours.to_dict("records"):
        r: dict[str, Any] = {str(k): v for k, v in rec.items()}
        rows.append({"hour": r["hour"].strftime("%Y-%m-%d %H:00"), "pollutant": r["pollutant"],
                     **{k: (None if r[k] is None or r[k] != r[k] else float(r[k]))
                        for k in ("measured", "o2", "converted", "flow_m3_h", "kg_h")},
                     "status": r["status"], "flags": r["flags"], "source": r["source"],
                     "substituted": bool(r["substituted"]), "method": r["method"]})
    if as_json:
        root.print_json(rows)
        return
    t = Table(title=f"{org} {outlet} — {day} (mg/m3 standard dry; converted at the reference O2)")
    for c in ("hour", "pollutant", "measured", "O2 %", "converted", "flow m3/h", "kg/h", "status", "flags"):
        t.add_column(c, justify="right" if c not in ("hour", "pollutant", "status", "flags") else "left")
    for row in rows:
        t.add_row(row["hour"][11:], row["pollutant"], _fmt(row["measured"]), _fmt(row["o2"], 1),
                  _fmt(row["converted"]), _fmt(row["flow_m3_h"], 0), _fmt(row["kg_h"], 3), row["status"], row["flags"])
    out.print(t)


@compliance_app.command("events")
def events_cmd(org: Org, month: Annotated[str | None, typer.Option(help="only this month, YYYY-MM")] = None,
               as_json: Json = False) -> None:
    """Exceedance events (start, end, peak, limit) with their acknowledgement."""
    from rareeco.ingest.meter_csv import org_timezone
    from rareeco.monitoring import compliance, outlets
    from rareeco.monitoring.compliance_month import aware, event_dict, month_range

    root = _root()
    with root.session() as s:
        tz = org_timezone(s, org)
        settings = outlets.load(s, org)
        lo, hi = (None, None)
        if month:
            start, end = month_range(month)
            lo, hi = aware(start, tz), aware(end, tz)
        rows = [event_dict(e, settings, tz) for e in compliance.events(s, org, lo, hi)]
    if as_json:
        root.print_json(rows)
        return
    t = Table(title=f"{org} — exceedance events" + (f" {month}" if month else ""))
    for c in ("id", "outlet", "pollutant", "limit", "start", "end", "peak", "acknowledged"):
        t.add_column(c, justify="right" if c in ("id", "peak") else "left")
    for e in rows:
        ack = f"{e['acknowledged_by']}: {e['comment']}" if e["acknowledged_by"] else "no"
        t.add_row(str(e["id"]), e["outlet"], f"{e['pollutant']} {e['pollutant_name']}",
                  f"{e['limit_kind']} {e['limit']:g} {e['unit']}/{e['period']}", e["start"], e["end"],
                  f"{e['peak']:,.2f}", ack)
    out.print(t)


@compliance_app.command("ack")
def ack_cmd(event_id: Annotated[int, typer.Argument(help="the event's id (rareeco compliance events)")], org: Org,
            comment: Annotated[str, typer.Option(help="what caused it and what was done")],
            actor: Annotated[str | None, typer.Option("--actor", help="who acknowledges (default: $RAREECO_USER "
                                                      "or login)")] = None) -> None:
    """Acknowledge an exceedance event with a comment (once)."""
    from rareeco.monitoring import compliance

    root = _root()
    who = root.actor_name(actor)
    with root.session() as s:
        ev = compliance.acknowledge(s, org, event_id, who, comment)
        out.print(f"event {ev.id} ({ev.outlet} {ev.pollutant}) acknowledged by {who}", highlight=False)


@compliance_app.command("deliver")
def deliver_cmd(org: Org) -> None:
    """Send the pending webhook notifications now (failed ones are retried on the next call)."""
    from rareeco.monitoring import compliance

    root = _root()
    with root.session() as s:
        r = compliance.deliver(s, org)
    out.print(f"{r['delivered']} delivered, {r['failed']} failed", highlight=False)


@compliance_app.command("quantities")
def quantities_cmd(org: Org, year: Annotated[int, typer.Option(help="calendar year")], as_json: Json = False) -> None:
    """Emitted quantity per outlet and pollutant over a calendar year (t), with the hours behind it."""
    from rareeco.monitoring import compliance

    root = _root()
    with root.session() as s:
        rows = compliance.yearly_quantities(s, org, year)
    if as_json:
        root.print_json(rows)
        return
    t = Table(title=f"{org} — emitted quantities {year}")
    for c in ("outlet", "pollutant", "t", "valid h", "substituted h", "missing h"):
        t.add_column(c, justify="left" if c in ("outlet", "pollutant") else "right")
    for r in rows:
        t.add_row(r["outlet"], r["pollutant"], f"{r['t']:,.4f}", str(r["valid_h"]), str(r["substituted_h"]),
                  str(r["missing_h"]))
    out.print(t)


@compliance_app.command("report")
def report_cmd(org: Org, month: Annotated[str, typer.Option(help="the month reported, YYYY-MM")],
               out_path: Annotated[Path, typer.Option("--out", help="file to write (.pdf or .xlsx)")],
               lang: Annotated[str, typer.Option(help="en or zh")] = "en",
               fmt: Annotated[str | None, typer.Option("--format", help="pdf or xlsx (default: from --out)")] = None,
               ) -> None:
    """The monthly compliance report (PDF or Excel, English or Chinese): hours and data availability, averages
    and maxima, days over the daily limit, exceedance events with their acknowledgement, quantities against the
    yearly limits."""
    from rareeco.errors import ValidationFailed
    from rareeco.monitoring.compliance_month import month_summary
    from rareeco.reports.compliance_report import compliance_pdf, compliance_xlsx

    root = _root()
    kind = (fmt or out_path.suffix.lstrip(".")).lower()
    if kind not in ("pdf", "xlsx"):
        raise ValidationFailed(f"unknown report format {kind!r}", fix="use --format pdf or xlsx (or --out *.pdf)")
    with root.session() as s:
        summary = month_summary(s, org, month)
    (compliance_pdf if kind == "pdf" else compliance_xlsx)(summary, out_path, lang)
    out.print(f"{out_path} written ({kind}, {lang}): {org} {month}", highlight=False)
