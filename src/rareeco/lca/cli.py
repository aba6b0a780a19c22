"""``rareeco lca``: run a model document (docs/lca-model.md) from the command line.

Mounted in :mod:`rareeco.cli` as ``app.add_typer(lca_app, name="lca")``.  Errors are one readable
line each (with the model's findings below it) and exit code 1, also when ``lca_app`` runs on its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rareeco.errors import RareecoError
from rareeco.lca.model import demand_of, load_model
from rareeco.lca.solve import LCA

lca_app = typer.Typer(help="Life-cycle assessment of product systems written as model documents.",
                      no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@lca_app.callback()
def _lca() -> None:
    """Life-cycle assessment of product systems written as model documents (docs/lca-model.md)."""


def run_model(model_path: Path, demands: list[str], method: str | None, top: int = 10) -> dict[str, Any]:
    """Score ``demands`` of the model at ``model_path`` with ``method``: what ``rareeco lca run --json`` prints."""
    model = load_model(model_path)
    m = model.method(method)
    demand = demand_of(model.system, demands)
    lca = LCA.from_system(model.system, m.id)
    c = lca.contributions(demand)
    names = {p.id: p.name for p in model.system.processes}
    units = {p.id: p.unit for p in model.system.processes}
    return {
        "model": model.name,
        "method": m.id,
        "method_name": m.name,
        "unit": m.unit,
        "score": c.score,
        "demand": [{"process": k, "amount": v, "unit": units[k]} for k, v in demand.items()],
        "contributions": [{"process": pid, "name": names[pid], "score": value,
                           "share": value / c.score if c.score else 0.0}
                          for pid, value in c.top_processes(top) if value != 0.0],
        "by_flow": dict(sorted(c.by_flow.items(), key=lambda kv: -abs(kv[1]))),
    }


@lca_app.command("run")
def run(
    model: Annotated[Path, typer.Argument(help="model document (.yaml, .yml or .json; see docs/lca-model.md)")],
    demand: Annotated[list[str], typer.Option("--demand", "-d",
                                              help='PRODUCT=AMOUNT [UNIT], e.g. "steel=1 kg"; repeatable')],
    method: Annotated[str | None, typer.Option("--method", "-m",
                                               help="method id (default: the model's only method)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="how many processes to list")] = 10,
) -> None:
    """Score a demand: the score, its unit and the processes contributing most."""
    err = Console(stderr=True)
    try:
        result = run_model(model, demand, method, top)
    except RareecoError as exc:
        err.print(f"[red]error[/red] {escape(exc.line())}", highlight=False, soft_wrap=True)
        for f in exc.findings[:50]:
            err.print(f"  {escape(f.message)} — {escape(f.fix or '')}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        return
    out = Console(width=120)
    demand_text = ", ".join(f"{d['amount']:g} {d['unit']} {d['process']}" for d in result["demand"])
    out.print(f"model   {escape(result['model'])}\ndemand  {escape(demand_text)}\nmethod  {escape(result['method'])}"
              f"\nscore   {result['score']:.10g}\nunit    {escape(result['unit'])}", highlight=False)
    table = Table(title=f"top contributions by process ({result['unit']})", title_justify="left")
    table.add_column("process")
    table.add_column("name")
    table.add_column("score", justify="right")
    table.add_column("share", justify="right")
    for c in result["contributions"]:
        table.add_row(c["process"], c["name"], f"{c['score']:.6g}", f"{c['share']:.1%}")
    out.print(table)
