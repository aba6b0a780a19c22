"""``rareeco lca``: run a model document (docs/lca-model.md) from the command line.

Mounted in :mod:`rareeco.cli` as ``app.add_typer(lca_app, name="lca")``.  Errors are one readable
line each (with the model's findings below it) and exit code 1, also when ``lca_app`` runs on its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rareeco.errors import RareecoError
from rareeco.lca.model import load_model
from rareeco.lca.recycling import total_score
from rareeco.lca.solve import LCA

lca_app = typer.Typer(help="Life-cycle assessment of product systems written as model documents.",
                      no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


@lca_app.callback()
def _lca() -> None:
    """Life-cycle assessment of product systems written as model documents (docs/lca-model.md)."""


LIBRARY = Path(__file__).parent / "library"


def model_path_of(text: str | Path) -> Path:
    """A model path, or ``library:NAME`` for a model of rareeco's library (docs/lca-library.md)."""
    text = str(text)
    if not text.startswith("library:"):
        return Path(text)
    path = LIBRARY / f"{text.removeprefix('library:')}.yaml"
    if not path.is_file():
        names = ", ".join(f"library:{p.stem}" for p in sorted(LIBRARY.glob("*.yaml")))
        raise RareecoError(f"no library model {text!r}", fix=f"library models: {names}")
    return path


def parse_parameters(texts: list[str] | None) -> dict[str, float]:
    """``NAME=VALUE`` overrides of model parameters."""
    out: dict[str, float] = {}
    for t in texts or []:
        name, sep, value = t.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise RareecoError(f"--param {t!r} is not NAME=NUMBER", fix="write e.g. --param naoh_share=0") from None
    return out


def run_model(model_path: Path | str, demands: list[str], method: str | None, top: int = 10,
              allocation: str | None = None, parameters: dict[str, float] | None = None) -> dict[str, Any]:
    """Score ``demands`` of the model at ``model_path`` with ``method``: what ``rareeco lca run --json`` prints.

    ``allocation`` overrides the model's (``mass``, ``economic[:YYYY-MM-DD]``, ``physical:<property>``,
    ``substitution``); ``parameters`` override parameter values.  ``score`` is the declared score: the product
    system's under the cut-off rule (``module_d`` apart), with ``module_d`` added under avoided-burden
    (docs/lca-model.md).
    """
    model = load_model(model_path_of(model_path), allocation=allocation, parameters=parameters)
    m = model.method(method)
    demand = model.demand(demands)
    lca = LCA.from_system(model.system, m.id)
    c = lca.contributions(demand)
    d = model.module_d(lca, demand)
    names = {p.id: p.name for p in model.system.processes}
    units = {p.id: p.unit for p in model.system.processes}
    result: dict[str, Any] = {
        "model": model.name,
        "method": m.id,
        "method_name": m.name,
        "unit": m.unit,
        "score": total_score(c.score, d),
        "demand": [{"process": k, "amount": v, "unit": units[k]} for k, v in demand.items()],
        "contributions": [{"process": pid, "name": names[pid], "score": value,
                           "share": value / c.score if c.score else 0.0}
                          for pid, value in c.top_processes(top) if value != 0.0],
        "by_flow": dict(sorted(c.by_flow.items(), key=lambda kv: -abs(kv[1]))),
    }
    if model.allocations and model.allocation_rule is not None:
        rule = model.allocation_rule
        result["allocation"] = {
            "method": rule.method, "property": rule.property, "date": rule.on.isoformat() if rule.on else None,
            "processes": [{"process": pid, "shares_percent": {k: 100.0 * f for k, f in a.factors.items()},
                           "basis": a.basis, "basis_unit": a.basis_unit, "notes": a.notes}
                          for pid, a in model.allocations.items()]}
    if d is not None:
        result["module_d"] = d.value
        result["recycling"] = {
            "rule": d.rule, "module_d_in_score": d.included, "product_system_score": c.score,
            "materials": [{"replaces": b.replaces, "materials": list(b.materials), "recovered": b.recovered,
                           "secondary_input": b.secondary_input, "net": b.net, "route_burden": b.route_burden,
                           "virgin_burden": b.virgin_burden, "quality_ratio": b.quality_ratio, "module_d": b.value}
                          for b in d.materials]}
    return result


def _print_run(result: dict[str, Any]) -> None:
    out = Console(width=120)
    unit = result["unit"]
    demand_text = ", ".join(f"{d['amount']:g} {d['unit']} {d['process']}" for d in result["demand"])
    out.print(f"model   {escape(result['model'])}\ndemand  {escape(demand_text)}\nmethod  {escape(result['method'])}"
              f"\nscore   {result['score']:.10g}\nunit    {escape(unit)}", highlight=False)
    if "recycling" in result:
        r = result["recycling"]
        where = (f"avoided-burden: in the score; the product system alone {r['product_system_score']:.10g}"
                 if r["module_d_in_score"] else "cut-off: reported apart, not in the score")
        out.print(f"module D {result['module_d']:.10g} ({where})", highlight=False)
    table = Table(title=f"top contributions by process ({unit})", title_justify="left")
    for col, right in (("process", False), ("name", False), ("score", True), ("share", True)):
        table.add_column(col, justify="right" if right else "left")
    for c in result["contributions"]:
        table.add_row(c["process"], c["name"], f"{c['score']:.6g}", f"{c['share']:.1%}")
    out.print(table)
    if "allocation" in result:
        a = result["allocation"]
        how = {"economic": f" (prices on {a['date']})", "physical": f" (by {a['property']})"}.get(a["method"], "")
        out.print(f"allocation {a['method']}{how}", highlight=False)
        table = Table()
        for col, right in (("process", False), ("co-product", False), ("share", True), ("basis", True)):
            table.add_column(col, justify="right" if right else "left")
        for p in a["processes"]:
            for k, share in p["shares_percent"].items():
                table.add_row(p["process"], k, f"{share:.1f}%", f"{p['basis'][k]:.6g} {escape(p['basis_unit'])}")
        out.print(table)
    if "recycling" in result:
        out.print(f"module D by material ({escape(unit)}; amounts in the replaced product's unit)", highlight=False)
        table = Table()
        for col in ("replaces", "recovered", "secondary in", "net out", "route", "virgin", "quality", "module D"):
            table.add_column(col, justify="left" if col == "replaces" else "right")
        for b in result["recycling"]["materials"]:
            table.add_row(b["replaces"], *(f"{b[k]:.6g}" for k in ("recovered", "secondary_input", "net",
                                                                      "route_burden", "virgin_burden",
                                                                      "quality_ratio", "module_d")))
        out.print(table)


@lca_app.command("run")
def run(
    model: Annotated[str, typer.Argument(help="model document (.yaml, .yml or .json; see docs/lca-model.md), or "
                                              "library:NAME (docs/lca-library.md)")],
    demand: Annotated[list[str], typer.Option("--demand", "-d",
                                              help='PRODUCT=AMOUNT [UNIT], e.g. "steel=1 kg"; repeatable')],
    method: Annotated[str | None, typer.Option("--method", "-m",
                                               help="method id (default: the model's only method)")] = None,
    allocation: Annotated[str | None, typer.Option(
        "--allocation", help="split multi-output processes by mass, economic[:YYYY-MM-DD], physical:<property> "
                             "or substitution (default: the model's allocation)")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE: override a model parameter; "
                                                                   "repeatable")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="how many processes to list")] = 10,
) -> None:
    """Score a demand: the score, its unit, the processes contributing most, allocation shares and module D."""
    err = Console(stderr=True)
    try:
        result = run_model(model, demand, method, top, allocation, parse_parameters(param))
    except RareecoError as exc:
        err.print(f"[red]error[/red] {escape(exc.line())}", highlight=False, soft_wrap=True)
        for f in exc.findings[:50]:
            err.print(f"  {escape(f.message)} — {escape(f.fix or '')}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        return
    _print_run(result)


# --- rareeco lca convert: openLCA JSON-LD or Brightway → a model document (docs/lca-import.md) ---------------

def source_kind(path: Path) -> str:
    """``"olca"`` (JSON-LD zip or directory), ``"datapackage"`` (bw_processing) or ``"activities"`` (JSON)."""
    import zipfile

    from rareeco.lca.olca import FOLDERS

    if not path.exists():
        raise RareecoError(f"{path}: no such file or directory", fix="check the path of the source")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
    elif path.suffix.lower() == ".json" and path.is_file():
        return "activities"
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = {n.strip("/").split("/")[0] for n in z.namelist()}
    else:
        raise RareecoError(f"{path}: not a directory, zip or JSON file",
                           fix="give an openLCA JSON-LD zip/directory, a Brightway datapackage (zip/directory) or "
                               "a JSON file of Brightway activity dicts")
    if "datapackage.json" in names:
        return "datapackage"
    if "olca-schema.json" in names or names & set(FOLDERS):
        return "olca"
    raise RareecoError(f"{path}: neither openLCA JSON-LD (processes/, flows/ …) nor a Brightway datapackage "
                       "(datapackage.json)", fix="export JSON-LD from openLCA 2, or a datapackage from Brightway")


def convert_source(source: Path, *, extra: list[Path] | None = None,
                   allocation: Literal["physical", "economic", "causal"] | None = None,
                   drop_unlinked: bool = False, unit_aliases: dict[str, str] | None = None) -> Any:
    """Import ``source`` (kind from :func:`source_kind`) into an :class:`~rareeco.lca.importing.Imported`."""
    from rareeco.lca.brightway import system_from_activities, system_from_datapackage
    from rareeco.lca.model import parse_document
    from rareeco.lca.olca import import_olca

    kind = source_kind(source)
    if extra and kind != "datapackage":
        raise RareecoError("--with adds Brightway datapackages to a datapackage source",
                           fix="drop --with, or convert a Brightway datapackage")
    if kind == "olca":
        return import_olca(source, allocation=allocation, drop_unlinked=drop_unlinked, unit_aliases=unit_aliases)
    if kind == "datapackage":
        return system_from_datapackage([source, *(extra or [])], unit_aliases=unit_aliases,
                                       name=source.stem)
    doc = parse_document(source.read_text(encoding="utf-8"), str(source), "json")
    if isinstance(doc, list):
        doc = {"activities": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("activities"), list):
        raise RareecoError(f"{source}: expected a list of activity dicts or {{\"activities\": [...], "
                           "\"biosphere\": [...], \"methods\": [...]}", fix="see docs/lca-import.md for the shape")
    return system_from_activities(doc["activities"], methods=doc.get("methods", []),
                                  biosphere=doc.get("biosphere", []), drop_unlinked=drop_unlinked,
                                  unit_aliases=unit_aliases, name=str(doc.get("name") or source.stem))


def _aliases(texts: list[str] | None) -> dict[str, str]:
    out = {}
    for t in texts or []:
        name, sep, unit = t.partition("=")
        if not sep or not name.strip() or not unit.strip():
            raise RareecoError(f"--unit-alias {t!r} is not NAME=UNIT", fix='write e.g. --unit-alias "pig place=count"')
        out[name.strip()] = unit.strip()
    return out


@lca_app.command("convert")
def convert(
    source: Annotated[Path, typer.Argument(help="openLCA 2 JSON-LD (zip or directory), Brightway datapackage (zip "
                                                "or directory) or JSON file of Brightway activity dicts")],
    out: Annotated[Path, typer.Argument(help="model document to write (.yaml, .yml or .json)")],
    with_: Annotated[list[Path] | None, typer.Option("--with", help="another Brightway datapackage read together "
                                                                   "with SOURCE (e.g. a method); repeatable")] = None,
    allocation: Annotated[Literal["physical", "economic", "causal"] | None, typer.Option(
        help="openLCA: allocate multi-output processes with their stored factors of this kind "
             "(default: each process's default allocation)")] = None,
    drop_unlinked: Annotated[bool, typer.Option("--drop-unlinked", help="drop inputs without a provider (each "
                                                                       "reported) instead of failing")] = False,
    unit_alias: Annotated[list[str] | None, typer.Option("--unit-alias", help='NAME=UNIT for a unit name rareeco '
                                                                              'does not know, e.g. "pig place=count"; '
                                                                              'repeatable')] = None,
    name: Annotated[str | None, typer.Option(help="name of the model (default: from the source)")] = None,
) -> None:
    """Convert openLCA JSON-LD or Brightway data into a model document (docs/lca-import.md)."""
    from rareeco.lca.importing import model_document
    from rareeco.lca.model import model_from_document

    err = Console(stderr=True)
    try:
        if out.suffix.lower() not in (".yaml", ".yml", ".json"):
            raise RareecoError(f"{out}: the model document must end in .yaml, .yml or .json",
                               fix="name the output e.g. model.yaml")
        imported = convert_source(source, extra=with_, allocation=allocation,
                                  drop_unlinked=drop_unlinked, unit_aliases=_aliases(unit_alias))
        doc = model_document(imported.system, name or imported.name,
                             f"converted by rareeco lca convert from {source.name}")
        model_from_document(doc, str(out))         # what is written must load again
    except RareecoError as exc:
        err.print(f"[red]error[/red] {escape(exc.line())}", highlight=False, soft_wrap=True)
        for f in exc.findings[:50] if len(exc.findings) > 1 else ():   # one finding is the error line already
            err.print(f"  {escape(f.message)} — {escape(f.fix or '')}", highlight=False, soft_wrap=True)
        if len(exc.findings) > 50:
            err.print(f"  … and {len(exc.findings) - 50} more", highlight=False)
        raise typer.Exit(1) from None
    if out.suffix.lower() == ".json":
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
    out.write_text(text, encoding="utf-8")
    for w in imported.warnings:
        err.print(f"[yellow]warning[/yellow] {escape(w.message)} — {escape(w.fix or '')}", highlight=False,
                  soft_wrap=True)
    s = imported.system

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else ('es' if word.endswith('s') else 's')}"

    typer.echo(f"wrote {out}: {n(len(s.processes), 'process')}, {n(len(s.flows), 'flow')}, "
               f"{n(len(s.methods), 'method')} ({n(len(imported.warnings), 'warning')})")
