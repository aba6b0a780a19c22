"""``rareeco energy baseline`` and ``rareeco energy report``: regression baselines with savings, and the monthly
energy report (docs/energy.md).

Added to the ``energy`` group of :mod:`rareeco.cli` by :func:`add_energy_commands`; the ledger session and the
output helpers are the root CLI's (imported when a command runs, so this module imports nothing heavy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)

Convention = Annotated[str, typer.Option(help="electricity to coal equivalent: equivalent (0.1229 kgce/kWh) or "
                                              "generation (0.404)")]


def read_variables(path: Path) -> Any:
    """Monthly relevant variables from a CSV: a column ``month`` (YYYY-MM), then one column per variable."""
    import pandas as pd

    from rareeco.errors import ValidationFailed

    frame = pd.read_csv(path, dtype={"month": str})
    if "month" not in frame.columns or len(frame.columns) < 2:
        raise ValidationFailed(f"{path.name} needs a column month and at least one variable column",
                               fix="one row per month: month (YYYY-MM), then e.g. ore_grade_pct")
    return frame.set_index("month")


def _kgce(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def show_baseline(r: dict[str, Any]) -> None:
    """The baseline as Rich tables: every model, the chosen one, the reporting months and the savings."""
    t = Table(title=f"{r['organisation']} {r['line']} — baseline {r['baseline_year']}: every model "
                    f"(OLS, energy in kgce/month)")
    for col in ("variables", "R²", "adj. R²", "model p", "n", "CV(RMSE)", "valid"):
        t.add_column(col, justify="left" if col in ("variables", "valid") else "right")
    for m in r["models"]:
        why = "yes" if m["valid"] else "no: " + "; ".join(m["reasons"])
        t.add_row(("* " if m["chosen"] else "") + " + ".join(m["variables"]), f"{m['r2']:.3f}",
                  f"{m['adj_r2']:.3f}", f"{m['model_p']:.2g}" if m["model_p"] is not None else "—", str(m["n"]),
                  f"{m['cv_rmse']:.1%}" if m["cv_rmse"] is not None else "—", why)
    out.print(t)
    if r.get("temperature_source"):
        out.print(f"degree-days from {r['temperature_source']} (bases {r['degree_day_bases_c']['heating']:g} °C "
                  f"heating, {r['degree_day_bases_c']['cooling']:g} °C cooling)", highlight=False)
    m = r["model"]
    if m is None:
        out.print("no valid model: no savings (see the reasons above)", highlight=False)
    else:
        ps = ", ".join(f"p({k}) = {v:.2g}" for k, v in m["p_values"].items() if v is not None)
        out.print(f"chosen (* highest adjusted R² of the valid models): {m['formula']}", highlight=False)
        out.print(f"R² {m['r2']:.4f}, adjusted R² {m['adj_r2']:.4f}, {ps}", highlight=False)
    if r["reporting"]:
        t = Table(title=f"{r['year']}: baseline − actual = savings (kgce)")
        for col in ("month", "actual", "baseline", "savings", "CUSUM"):
            t.add_column(col, justify="left" if col == "month" else "right", no_wrap=True)
        for row in r["reporting"]:
            t.add_row(row["month"], _kgce(row["actual_kgce"]), _kgce(row["baseline_kgce"]),
                      _kgce(row["savings_kgce"]), _kgce(row["cusum_kgce"]))
        out.print(t)
    sv = r["savings"]
    if sv:
        out.print(f"savings {r['year']} ({sv['months']} months): {sv['total_kgce']:,.0f} kgce = "
                  f"{sv['fraction']:.2%} of the baseline", highlight=False)
        for u in sv["uncertainty"]:
            frac = "—" if u["fractional"] is None else f"{u['fractional']:.1%}"
            out.print(f"  ± {_kgce(u['kgce'])} kgce at {u['confidence']:.0%} confidence (t = {u['t']:.3f}; "
                      f"fractional savings uncertainty {frac}, ASHRAE Guideline 14)", highlight=False)
        out.print("  Guideline 14: savings exceed the 68 % uncertainty by 2× or more" if sv["guideline14_ok"]
                  else "  Guideline 14: the 68 % uncertainty is 50 % of the savings or more — not significant",
                  highlight=False)
    for w in r["range_warnings"]:
        err.print(f"[yellow]advisory[/yellow] {w}", highlight=False, soft_wrap=True)
    for n in r["notes"]:
        err.print(f"note: {n}", highlight=False, soft_wrap=True)


def add_energy_commands(energy_app: typer.Typer) -> None:
    """Register ``baseline`` and ``report`` on the ``energy`` group."""

    @energy_app.command("baseline")
    def energy_baseline(
        org: Annotated[str, typer.Option("--org", help="organisation id")],
        line: Annotated[str, typer.Option(help="SITE/LINE, e.g. baotou/separation")],
        baseline_year: Annotated[int, typer.Option(help="the baseline year")],
        year: Annotated[int, typer.Option(help="the reporting year")],
        convention: Convention = "equivalent",
        temperatures: Annotated[Path | None, typer.Option(help="CSV of daily mean temperatures (date, temperature_c) "
                                                               "→ heating/cooling degree-days as candidates")] = None,
        variables: Annotated[Path | None, typer.Option(help="CSV of more monthly relevant variables (month, then "
                                                            "one column per variable)")] = None,
        through_month: Annotated[int | None, typer.Option(help="last month of the reporting period (to date)")] = None,
        stored_temperatures: Annotated[bool, typer.Option(help="without --temperatures, use the site's daily "
                                                               "temperatures of the time-series store")] = True,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Regression energy baseline of a line (OLS on every combination of production, degree-days and your
        variables; EnPI/VERIFI validity; best adjusted R²) and the savings, CUSUM and Guideline 14 uncertainty
        of the reporting year."""
        import rareeco.cli as root
        from rareeco.energy.climate import read_csv
        from rareeco.energy.service import baseline

        temps = read_csv(temperatures) if temperatures else None
        more = read_variables(variables) if variables else None
        with root.session() as s:
            r = baseline(s, org, line, baseline_year, year, convention, variables=more, temperatures=temps,
                         through_month=through_month, stored_temperatures=stored_temperatures)
        if as_json:
            root.print_json(r)
            return
        show_baseline(r)

    @energy_app.command("report")
    def energy_report(
        org: Annotated[str, typer.Option("--org", help="organisation id")],
        month: Annotated[str, typer.Option(help="the month reported, YYYY-MM")],
        out_path: Annotated[Path, typer.Option("--out", help="file to write (.pdf or .xlsx)")],
        lang: Annotated[str, typer.Option(help="en or zh")] = "en",
        fmt: Annotated[str | None, typer.Option("--format", help="pdf or xlsx (default: from --out)")] = None,
        convention: Convention = "equivalent",
        quota_map: Annotated[Path | None, typer.Option(
            "--map", help="YAML: product id → route:product of the GB 29435 template (default: the file "
                          "RAREECO_ENERGY_QUOTA_MAP names)")] = None,
        baseline_year: Annotated[int | None, typer.Option(help="baseline year (default: the year before)")] = None,
    ) -> None:
        """The monthly energy report (PDF or Excel, English or Chinese): energy per carrier and line, production,
        EnPI month on month and year on year, GB 29435 quota levels, baseline savings and CUSUM to date."""
        import rareeco.cli as root
        from rareeco.energy.month import configured_quota_map, load_quota_map, month_summary
        from rareeco.errors import ValidationFailed
        from rareeco.reports.energy_report import energy_pdf, energy_xlsx

        kind = (fmt or out_path.suffix.lstrip(".")).lower()
        if kind not in ("pdf", "xlsx"):
            raise ValidationFailed(f"unknown report format {kind!r}", fix="use --format pdf or xlsx (or --out *.pdf)")
        mapping = load_quota_map(quota_map) if quota_map else configured_quota_map()
        with root.session() as s:
            summary = month_summary(s, org, month, convention, mapping, baseline_year)
        (energy_pdf if kind == "pdf" else energy_xlsx)(summary, out_path, lang)
        out.print(f"{out_path} written ({kind}, {lang}): {org} {month}", highlight=False)
