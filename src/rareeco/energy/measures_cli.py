"""``rareeco energy measure``: the register of energy-saving measures, their estimated and verified savings, and the
share of the EnPI change they explain (docs/energy-measures.md).

Mounted in :mod:`rareeco.cli` as ``energy_app.add_typer(measure_app, name="measure")``; the ledger session and the
output helpers are the root CLI's (imported when a command runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rareeco.errors import ValidationFailed

measure_app = typer.Typer(help="Energy-saving measures (ISO 50001 action plans): register them, estimated and verified "
                               "(IPMVP B/C) savings, and how much of the EnPI change they explain.",
                          no_args_is_help=True)
out = Console()
err = Console(stderr=True)

Org = Annotated[str, typer.Option("--org", help="organisation id")]
Actor = Annotated[str | None, typer.Option("--actor", help="who does this (default: $RAREECO_USER or login)")]


def _root() -> Any:
    import rareeco.cli as root  # imported late: rareeco.cli imports this module to mount it

    return root


def _n(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


@measure_app.command("add")
def measure_add(
    org: Org,
    file: Annotated[Path | None, typer.Argument(help="YAML or JSON: one measure, a list, or {prices: […], "
                                                     "measures: […]} (docs/energy-measures.md)")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="update measures whose code exists")] = False,
    code: Annotated[str | None, typer.Option(help="measure id, e.g. bt-pm-motors (without FILE)")] = None,
    name: Annotated[str | None, typer.Option(help="name")] = None,
    kind: Annotated[str | None, typer.Option(help="motors, solar or process")] = None,
    site: Annotated[str | None, typer.Option(help="site code")] = None,
    line: Annotated[str | None, typer.Option(help="line code (option C and per-tonne savings need it)")] = None,
    in_service: Annotated[str | None, typer.Option(help="in-service date, YYYY-MM-DD")] = None,
    option: Annotated[str, typer.Option("--option", help="IPMVP option: B (own meter) or C (whole line)")] = "C",
    meter: Annotated[str | None, typer.Option(help="the measure's meter (option B)")] = None,
    cost_cny: Annotated[float | None, typer.Option(help="investment [CNY]")] = None,
    spec: Annotated[str | None, typer.Option(help="the kind's parameters as JSON, e.g. "
                                                  "'{\"kwp\": 500, \"specific_yield_kwh_per_kwp\": 1400, "
                                                  "\"self_consumed_share\": 0.9}'")] = None,
    actor: Actor = None,
) -> None:
    """Register measures from a file, or one measure from the options."""
    from rareeco.energy import measures_service as svc

    root = _root()
    if file is not None:
        text = file.read_text("utf-8")
    else:
        if not code:
            raise ValidationFailed("give a FILE or at least --code, --name, --kind, --site, --in-service, "
                                   "--cost-cny and --spec", fix="see rareeco energy measure add --help")
        try:
            parsed_spec = json.loads(spec) if spec else None
        except json.JSONDecodeError as e:
            raise ValidationFailed(f"--spec is not JSON: {e.msg}", fix="quote the JSON object in single quotes") from e
        one = {"code": code, "name": name, "kind": kind, "site": site, "line": line, "in_service": in_service,
               "ipmvp_option": option, "meter": meter, "cost_cny": cost_cny, "spec": parsed_spec}
        text = json.dumps({k: v for k, v in one.items() if v is not None})
    with root.session() as s:
        r = svc.add_file(s, org, text, root.actor_name(actor), replace)
    parts = [f"{k} {', '.join(r[k])}" for k in ("added", "updated", "unchanged") if r[k]]
    if r["prices"] is not None:
        parts.append(f"{r['prices']} price(s) stored")
    out.print(f"measures of {org}: " + ("; ".join(parts) or "nothing to do"), highlight=False)


@measure_app.command("list")
def measure_list(org: Org, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The register of measures and the stored energy prices."""
    from rareeco.energy import measures_service as svc

    root = _root()
    with root.session() as s:
        rows, stored = svc.measures(s, org), svc.prices(s, org)
    if as_json:
        root.print_json({"measures": rows, "prices": stored})
        return
    t = Table(title=f"{org} — energy-saving measures")
    for col in ("code", "kind", "site/line", "in service", "IPMVP", "meter", "cost CNY"):
        t.add_column(col, justify="right" if col == "cost CNY" else "left", no_wrap=True)
    for m in rows:
        t.add_row(m["code"], m["kind"], f"{m['site']}/{m['line']}" if m["line"] else m["site"], m["in_service"],
                  m["ipmvp_option"], m["meter"] or "—", _n(m["cost_cny"]))
    out.print(t)
    if stored:
        out.print("prices (user configuration, tag U): " + "; ".join(
            f"{p['carrier']}{' @' + p['site'] if p['site'] else ''} {p['value']:g} {p['unit']}" for p in stored),
            highlight=False, soft_wrap=True)
    else:
        out.print("no energy prices stored: cost saved and payback need them (a prices list in the measures file)")


def _carriers(carriers: dict[str, float]) -> str:
    from rareeco.reference.catalogue import activities

    cat = activities()
    return ", ".join(f"{v:,.0f} {cat[k].unit}" for k, v in carriers.items() if not k.startswith("electricity."))


def show_savings(r: dict[str, Any]) -> None:
    """The savings of a year as Rich tables and the reconciliation as text."""
    year = r["year"]
    t = Table(title=f"{r['organisation']} {year} — estimated savings (kgce: {r['convention']} value of electricity, "
                    "GB/T 2589)")
    for col in ("measure", "kWh el.", "other", "kgce", "t CO2", "CNY saved", "payback a"):
        t.add_column(col, justify="left" if col in ("measure", "other") else "right", no_wrap=True)
    for m in r["measures"]:
        e = m["estimated"]
        if e is None:
            t.add_row(m["code"], *(["—"] * 6))
            continue
        y = e["year"]
        t.add_row(m["code"] + ("" if m["counts_in_enpi"] else " *"), _n(y["electricity_kwh"]),
                  _carriers(y["carriers"]), _n(y["kgce"]), _n(y["t_co2"], 1), _n(y["cost_saved_cny"]),
                  _n(e["annual"]["payback_years"], 1))
    out.print(t)
    if any(not m["counts_in_enpi"] for m in r["measures"]):
        out.print("* not in the EnPI: kgce of grid purchases avoided", highlight=False)
    v = Table(title=f"{r['organisation']} {year} — verified savings (IPMVP)")
    for col in ("verified", "IPMVP", "baseline", "method", "kWh el.", "kgce", "± 68 %"):
        v.add_column(col, justify="left" if col in ("verified", "IPMVP", "method") else "right", no_wrap=True)
    covers = []
    for g in r["verified_scopes"]:
        unc = g.get("uncertainty_kgce") or {}
        v.add_row(g["scope"], "C", str(g["baseline_year"]), g.get("method", g["status"]), "—", _n(g.get("kgce")),
                  _n(unc.get("0.68")))
        inside = f" (and {', '.join(g['includes'])}, verified on their own meters)" if g.get("includes") else ""
        covers.append(f"option C covers {g['scope']}: {', '.join(g['measures'])}{inside}")
        if g["status"] == "verified" and not g["guideline14_ok"]:
            share = 100 * unc["0.68"] / abs(g["kgce"])
            covers.append(f"  {g['scope']}: the uncertainty at 68 % is {share:.1f} % of the savings, not below ASHRAE "
                          "Guideline 14's 50 % — a relevant variable is missing (degree-days: rareeco energy baseline "
                          "--temperatures)")
    for m in r["measures"]:
        x = m["verified"]
        if m["ipmvp_option"] != "B":
            continue
        unc = x.get("uncertainty_kgce") or {}
        v.add_row(m["code"] + ("" if m["counts_in_enpi"] else " *"), "B", str(x.get("baseline_year", "—")),
                  x.get("method", x["status"]),
                  _n(x.get("electricity_kwh")), _n(x.get("kgce")), _n(unc.get("0.68")))
    out.print(v)
    for c in covers:
        out.print(c, highlight=False, soft_wrap=True)
    for m in r["measures"]:
        x = m["verified"]
        if x["status"] != "verified":
            err.print(f"{m['code']}: not verified — {x['reason']}" + (f" ({x['fix']})" if x.get("fix") else ""),
                      highlight=False, soft_wrap=True)
    rec = r["reconciliation"]
    if "estimated" not in rec:
        out.print(f"reconciliation: {rec.get('reason')}", highlight=False)
        return
    e = rec["estimated"]
    out.print(f"EnPI {e['enpi_before_kgce_per_t']:,.1f} → {e['enpi_now_kgce_per_t']:,.1f} kgce/t "
              f"({e['enpi_change_pct']:+.2f} %) × {e['production_t']:,.1f} t made = {e['enpi_change_kgce']:,.0f} kgce",
              highlight=False)
    seen: set[tuple[str, str]] = set()
    for label, x in (("estimated", e), ("verified", rec["verified"])):
        share = "—" if x["explained_pct"] is None else f"{x['explained_pct']:.1f} %"
        out.print(f"  {label + ':':<10} measures {x['measures_kgce']:,.0f} kgce = {share} explained "
                  f"({x['unexplained_kgce']:,.0f} kgce by nothing registered)", highlight=False)
        for ex in x["excluded"]:
            if (ex["code"], ex["reason"]) not in seen:
                seen.add((ex["code"], ex["reason"]))
                out.print(f"    not counted{'' if label == 'estimated' else ' as verified'}: {ex['code']} — "
                          f"{ex['reason']}", highlight=False, soft_wrap=True)


@measure_app.command("savings")
def measure_savings(
    org: Org,
    year: Annotated[int, typer.Option(help="reporting year")],
    convention: Annotated[str, typer.Option(help="electricity to coal equivalent: equivalent (0.1229 kgce/kWh) or "
                                                 "generation (0.404)")] = "equivalent",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Estimated and verified savings per measure (kWh, kgce, t CO2, CNY, payback) and the share of the year's EnPI
    change they explain."""
    from rareeco.energy import measures_service as svc

    root = _root()
    with root.session() as s:
        r = svc.savings(s, org, year, convention)
    if as_json:
        root.print_json(r)
        return
    show_savings(r)
