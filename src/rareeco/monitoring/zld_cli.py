"""``rareeco zld``: zero-liquid-discharge records — import a plant's file, show each period's balance and verdict
(docs/zld.md).

Mounted in :mod:`rareeco.cli` as ``app.add_typer(zld_app, name="zld")``; the ledger session and the output helpers
are the root CLI's (imported when a command runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from rareeco.errors import RareecoError

zld_app = typer.Typer(help="Zero liquid discharge: a plant's water and salt balance per period, the zero-discharge "
                           "verdict, recovered salts as co-products.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

Org = Annotated[str, typer.Option("--org", help="organisation id")]
Json = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def _root() -> Any:
    import rareeco.cli as root  # imported late: rareeco.cli imports this module to mount it

    return root


def _n(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


@zld_app.command("import")
def zld_import(
    file: Annotated[Path, typer.Argument(help="YAML file of the plant's periods (format: docs/zld.md)")],
    org: Org,
    actor: Annotated[str | None, typer.Option("--actor", help="who does this (default: $RAREECO_USER or login)")]
    = None,
    as_json: Json = False,
) -> None:
    """Import a ZLD plant's records: periods, salts as co-products (dry t); a corrected file replaces its periods."""
    from rareeco.monitoring.zld_records import import_records

    root = _root()
    if not file.exists():
        raise RareecoError(f"{file}: no such file", fix="check the path")
    try:
        with root.session() as s:
            r = import_records(s, org, file.read_bytes(), file.name, root.actor_name(actor))
    except RareecoError as exc:
        if as_json:
            root.print_json({"error": exc.to_dict()})
            raise typer.Exit(1) from exc
        raise
    if as_json:
        root.print_json(r.to_dict())
        return
    root.print_findings(r.findings)
    msg = (f"batch {r.batch_id}: {len(r.periods)} period(s) of {r.plant} ({', '.join(r.periods)}), "
           f"{r.coproduct_rows} co-product row(s) imported from {r.file_name}")
    if r.superseded_batches:
        msg += f"; batch {', '.join(map(str, r.superseded_batches))} superseded"
    out.print(msg, highlight=False)


@zld_app.command("balance")
def zld_balance(
    org: Org,
    plant: Annotated[str | None, typer.Option("--plant", help="one plant's periods (its code, e.g. BT-ZLD)")] = None,
    month: Annotated[str | None, typer.Option("--month", help="the periods touching a month, YYYY-MM")] = None,
    as_json: Json = False,
) -> None:
    """Each period's water balance, recovery, specific energy and zero-discharge verdict, with the reasons."""
    from rareeco.monitoring.zld_records import report

    root = _root()
    with root.session() as s:
        rows = report(s, org, plant, month)
    if as_json:
        root.print_json(rows)
        return
    if not rows:
        out.print(f"no ZLD periods in {org}" + (f" for {month}" if month else "")
                  + f" — import records with: rareeco zld import FILE --org {org}", highlight=False)
        return
    t = Table(title=f"{org} — zero liquid discharge", box=box.SIMPLE_HEAD)
    for col in ("plant", "period", "closure\n%", "recovery\n%", "kWh/m3\nevaporated", "discharge\nm3",
                "zero\ndischarge"):
        t.add_column(col, justify="left" if col in ("plant", "period", "zero\ndischarge") else "right")
    for r in rows:
        t.add_row(r["plant"], r["period"], f"{r['closure_pct']:+.2f}", _n(r["recovery_pct"], 2),
                  _n(r["kwh_per_m3_evaporated"], 1), _n(r["readings"]["discharge_m3"]),
                  "yes" if r["zero_discharge"] else "NO")
    out.print(t)
    for r in rows:
        for reason in r["reasons"]:
            out.print(f"{r['plant']} {r['period']}: {reason}", highlight=False)
        c = r["conversion"]
        if c and c["co2_off"]:
            ratio = "—" if c["co2_ratio"] is None else f"{c['co2_ratio']:.3f}"
            out.print(f"{r['plant']} {r['period']}: CO2 recycled {c['co2_recycled_t']:g} t is {ratio} × the "
                      f"stoichiometric {c['co2_stoichiometric_t']:.3f} t (± {c['tolerance_pct']:g} %)",
                      highlight=False)
