"""Ledger benchmark: import 1,000,000 activity rows and run the inventory of every year they cover.

    python benchmarks/ledger_bench.py [--rows 1000000] [--db sqlite|postgresql|both]

It writes a deterministic CSV (``--meters`` meters, default 1,000, each with one reading a day from
2022-01-01, spread over four sites; electricity.grid in kWh and fuel.natural_gas in Nm3), then for
each database

* imports it with :func:`rareeco.ingest.activity.import_activity` (one batch, one transaction);
* runs :func:`rareeco.inventory.service.inventory` for each calendar year (default options, which
  also compute the other method for comparison) and :func:`rareeco.inventory.service.compute` alone.

SQLite uses a temporary file; PostgreSQL a fresh database it creates and drops (``--pg-url`` names
the server's admin database, default postgresql://postgres@127.0.0.1:5432/postgres).

The *floor* is the same aggregation without a ledger: read the CSV, convert to canonical units,
multiply by the same factors (taken from rareeco's factor tables) and sum by site and month, once
with pandas and once with DuckDB.  Totals of rareeco and both floors must agree to 1e-6 relative
(the script exits 1 otherwise).  Times are reported with ratios rareeco ÷ floor; there is no
pass/fail on timing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench_db import database
from rareeco.ingest.activity import import_activity
from rareeco.inventory import grid, sources
from rareeco.inventory.calculate import gwp_multipliers
from rareeco.inventory.service import compute, inventory
from rareeco.ledger import structure
from rareeco.ledger.db import make_engine, session_scope
from rareeco.reference.catalogue import activities, grid_regions
from rareeco.units import conversion_factor

ORG = "bench"
START = date(2022, 1, 1)
METHOD, GWP = "ghg-protocol", "ar6"
# (site, province): a province with its own grid factor, one whose factor stops in 2022 (then the
# regional grid), one with only a regional factor — so the factor choice is exercised as well.
SITES = (("baotou", "CN-NM"), ("ganzhou", "CN-JX"), ("leshan", "CN-SC"), ("longyan", "CN-FJ"))
# meter m: site SITES[m % 4]; every fourth meter (m % 4 == 3 … shifted per site) is a gas meter
ACTIVITIES = (("electricity.grid", "kWh"), ("fuel.natural_gas", "Nm3"))
REL_TOL = 1e-6
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# ---------------------------------------------------------------- data

def generate(path: Path, meters: int, days: int, seed: int = 20240601) -> int:
    """Write ``meters × days`` daily readings to ``path``; returns the number of rows.

    Deterministic: the same arguments always give the same bytes.  Written in chunks of meters so
    memory stays small for any size.
    """
    rng = np.random.default_rng(seed)
    day = np.datetime64(START.isoformat()) + np.arange(days)
    day_text = np.datetime_as_string(day, unit="D").astype(object)
    season = 1.0 + 0.25 * np.cos(2 * np.pi * (np.arange(days) - 15) / 365.25)
    base = rng.uniform(2_000.0, 60_000.0, size=meters)        # kWh/day or Nm3/day
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("site,line,meter,period_start,period_end,activity,amount,unit\n")
        chunk = max(1, 200_000 // days)
        for m0 in range(0, meters, chunk):
            ms = np.arange(m0, min(meters, m0 + chunk))
            site_idx = ms % len(SITES)
            kind = ((ms // len(SITES)) % 4 == 3).astype(int)   # a quarter of each site's meters are gas
            noise = rng.normal(1.0, 0.08, size=(ms.size, days)).clip(0.5, 1.5)
            amount = (base[ms][:, None] * season[None, :] * noise).ravel()
            rep = np.repeat
            site = np.array([s for s, _ in SITES], dtype=object)[rep(site_idx, days)]
            line = np.where((site == "baotou") & (rep(kind, days) == 0), "sep", "")
            meter = np.array([f"M{m:05d}" for m in ms], dtype=object)[rep(np.arange(ms.size), days)]
            act = np.array([a for a, _ in ACTIVITIES], dtype=object)[rep(kind, days)]
            unit = np.array([u for _, u in ACTIVITIES], dtype=object)[rep(kind, days)]
            d = np.tile(day_text, ms.size)
            frame = pd.DataFrame({"site": site, "line": line, "meter": meter, "period_start": d,
                                  "period_end": d, "activity": act, "amount": np.round(amount, 3),
                                  "unit": unit})
            frame.to_csv(f, header=False, index=False, float_format="%.3f", lineterminator="\n")
            n += len(frame)
    return n


def years_of(days: int) -> list[int]:
    last = np.datetime64(START.isoformat()) + (days - 1)
    return list(range(START.year, int(str(last)[:4]) + 1))


def factor_frame(years: list[int]) -> pd.DataFrame:
    """t CO2e per *file* unit for every (site, activity, year): the floor's only input besides the CSV.

    Values come from rareeco's factor tables and source functions (the same factors the inventory uses:
    the grid factor the site's province, region or country has for the year, IPCC 2006 for gas).
    """
    table = factor_table_builtin()
    cat = activities()
    mult, _ = gwp_multipliers(table, GWP, {"CO2"})
    regions = grid_regions()
    rows = []
    for year in years:
        for site, province in SITES:
            for act, unit in ACTIVITIES:
                a = cat[act]
                to_canon = conversion_factor(unit, a.unit)
                if a.calc == "grid_electricity":
                    f = grid.location_factor(table, province, regions[province], year).factor
                    coefs = sources.grid_location(f).items
                else:
                    coefs = sources.coefficients(a, METHOD, table).items
                t_per_unit = sum(c.t_per_unit * mult[c.gas] for c in coefs)
                rows.append({"site": site, "activity": act, "year": year, "scope": a.scope,
                             "t_co2e_per_file_unit": t_per_unit * to_canon})
    return pd.DataFrame(rows)


def factor_table_builtin() -> Any:
    from rareeco.reference import FactorTable, builtin_sets

    return FactorTable(builtin_sets())


# ---------------------------------------------------------------- floors

def floor_pandas(csv: Path, factors: pd.DataFrame) -> pd.DataFrame:
    """Read, convert, multiply, group by site and month (t CO2e, location-based)."""
    df = pd.read_csv(csv, usecols=["site", "period_start", "period_end", "activity", "amount"],
                     dtype={"site": "category", "activity": "category"}, engine="c")
    if not (df["period_start"] == df["period_end"]).all():
        raise SystemExit("floor assumes daily readings (period_start == period_end)")
    ym = df["period_start"].str.slice(0, 7)
    df["year"] = ym.str.slice(0, 4).astype("int64")
    df["month"] = ym
    keys = ["site", "activity", "year"]
    df = df.merge(factors[[*keys, "t_co2e_per_file_unit"]], on=keys, how="left", validate="many_to_one")
    if df["t_co2e_per_file_unit"].isna().any():
        raise SystemExit("floor: a row without factor")
    df["t_co2e"] = df["amount"] * df["t_co2e_per_file_unit"]
    out = df.groupby(["site", "month"], observed=True)["t_co2e"].sum().reset_index()
    return out.astype({"site": str})


def floor_duckdb(csv: Path, factors: pd.DataFrame) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    con.register("factors", factors)
    out = con.execute(f"""
        SELECT r.site, strftime(r.period_start, '%Y-%m') AS month,
               sum(r.amount * f.t_co2e_per_file_unit) AS t_co2e
        FROM read_csv('{csv}', header=true, columns={{'site': 'VARCHAR', 'line': 'VARCHAR',
             'meter': 'VARCHAR', 'period_start': 'DATE', 'period_end': 'DATE', 'activity': 'VARCHAR',
             'amount': 'DOUBLE', 'unit': 'VARCHAR'}}) r
        JOIN factors f ON f.site = r.site AND f.activity = r.activity AND f.year = year(r.period_start)
        GROUP BY ALL ORDER BY ALL""").df()
    con.close()
    return out


# ---------------------------------------------------------------- measuring

@dataclass
class Row:
    what: str
    seconds: float
    rows: int | None = None
    floor: str | None = None         # key of the floor this is compared with
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    floors: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def profiled(enabled: bool, out: Path | None, label: str) -> Iterator[None]:
    if not enabled:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        if out is not None:
            prof.dump_stats(str(out / f"{label}.prof"))
        print(f"\n--- profile: {label} (top 25 by cumulative time) ---")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def compare(label: str, got: pd.DataFrame, ref: pd.DataFrame, report: Report) -> float:
    """Largest relative difference of t CO2e by site and month; records a problem above REL_TOL."""
    m = ref.merge(got, on=["site", "month"], how="outer", suffixes=("_ref", "_got"), indicator=True)
    if (m["_merge"] != "both").any():
        odd = m[m["_merge"] != "both"].head().to_dict("records")
        report.problems.append(f"{label}: site-months differ: {odd}")
        return float("inf")
    rel = (m["t_co2e_got"] - m["t_co2e_ref"]).abs() / m["t_co2e_ref"].abs().clip(lower=1e-12)
    worst = float(rel.max())
    if worst > REL_TOL:
        report.problems.append(f"{label}: by site and month differs from the pandas floor by {worst:.3g} "
                               "relative")
    return worst


def rareeco_site_month(payloads: dict[int, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for p in payloads.values():
        for key, v in p["by_site_month"].items():
            site, month = key.split(" / ")
            rows.append({"site": site, "month": month, "t_co2e": v["total_t_co2e"]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- databases

def run_db(kind: str, csv: Path, n_rows: int, years: list[int], ref: pd.DataFrame, report: Report,
           args: argparse.Namespace) -> str:
    with database(kind, Path(args.workdir), args.pg_url) as (url, version):
        engine = make_engine(url)
        try:
            with session_scope(engine) as s:
                structure.create_org(s, ORG, actor="bench")
                for site, province in SITES:
                    structure.add_site(s, ORG, site, province, actor="bench")
                structure.add_line(s, ORG, "baotou", "sep", actor="bench")

            stages: dict[str, float] = {}

            def progress(stage: str, _n: int) -> None:
                stages[stage] = time.perf_counter()

            def do_import() -> Any:
                data = csv.read_bytes()
                with session_scope(engine) as s:
                    r = import_activity(s, ORG, data, csv.name, actor="bench", progress=progress)
                stages["committed"] = time.perf_counter()
                return r

            gc.collect()
            t0 = time.perf_counter()
            with profiled(args.profile, args.profile_dir, f"{kind}-import"):
                result = do_import()
            t_import = time.perf_counter() - t0
            if result.rows_stored != n_rows:
                report.problems.append(f"{kind}: stored {result.rows_stored} of {n_rows} rows")
            report.rows.append(Row(f"{kind}: import", t_import, n_rows, "pandas"))
            for a, b, label in (("read", "validate", "parse CSV"),
                                ("validate", "store", "validate + overlap check"),
                                ("store", "done", "insert records"), ("done", "committed", "commit")):
                if a in stages and b in stages:
                    report.rows.append(Row(f"{kind}:   import — {label}", stages[b] - stages[a]))

            payloads: dict[int, dict[str, Any]] = {}
            t_inv = 0.0
            for year in years:
                def do_inventory(y: int = year) -> dict[str, Any]:
                    with session_scope(engine) as s:
                        return inventory(s, ORG, y, METHOD, GWP, actor="bench")

                first = args.profile and year == years[0]
                with profiled(first, args.profile_dir, f"{kind}-inventory-{year}"):
                    dt, payloads[year] = timed(do_inventory)
                t_inv += dt
                recs = payloads[year]["provenance"]["records"]
                report.rows.append(Row(f"{kind}: inventory {year} (both methods)", dt, recs))
            report.rows.append(Row(f"{kind}: inventory, all years", t_inv, n_rows, "pandas"))
            t_compute = 0.0
            for year in years:
                def do_compute(y: int = year) -> Any:
                    with session_scope(engine) as s:
                        return compute(s, ORG, y, METHOD, GWP)

                dt, _ = timed(do_compute)
                t_compute += dt
            report.rows.append(Row(f"{kind}: compute only ({METHOD}), all years", t_compute, n_rows,
                                   "pandas"))
            report.rows.append(Row(f"{kind}: import + inventory", t_import + t_inv, n_rows, "pandas",
                                   note="headline"))
            worst = compare(kind, rareeco_site_month(payloads), ref, report)
            total = sum(p["total_t_co2e"] for p in payloads.values())
            ref_total = float(ref["t_co2e"].sum())
            rel = abs(total - ref_total) / abs(ref_total)
            if rel > REL_TOL:
                report.problems.append(f"{kind}: total {total} vs floor {ref_total} ({rel:.3g} relative)")
            print(f"  {kind}: total {total:,.3f} t CO2e vs floor {ref_total:,.3f} (rel. {rel:.1e}); "
                  f"by site-month worst rel. {worst:.1e}; peak RSS so far {peak_rss_mb():,.0f} MB",
                  flush=True)
        finally:
            engine.dispose()
        return version


# ---------------------------------------------------------------- main

def machine(versions: list[str]) -> str:
    import duckdb

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines()
                      if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}){mem}; {platform.system()} {platform.release()}\n"
            f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
            f"DuckDB {duckdb.__version__}; " + ", ".join(versions))


def table(report: Report) -> str:
    out = [f"{'step':<52} {'seconds':>9} {'rows/s':>11} {'× pandas':>9} {'× DuckDB':>9}"]
    for r in report.rows:
        rate = f"{r.rows / r.seconds:,.0f}" if r.rows and r.seconds else ""
        ratio_p = ratio_d = ""
        if r.floor:
            ratio_p = f"{r.seconds / report.floors['pandas']:.1f}"
            ratio_d = f"{r.seconds / report.floors['duckdb']:.1f}"
        out.append(f"{r.what:<52} {r.seconds:>9.2f} {rate:>11} {ratio_p:>9} {ratio_d:>9}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    p.add_argument("--days", type=int, default=1000,
                   help="daily readings per meter (default 1000: 2022-01-01 to 2024-09-26); "
                        "meters = rows ÷ days")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--pg-url", default=os.environ.get("RAREECO_BENCH_PG_URL", DEFAULT_PG),
                   help="PostgreSQL admin database URL (a database is created there and dropped)")
    p.add_argument("--workdir", default=None, help="where the CSV and SQLite file go (default: a temp dir)")
    p.add_argument("--profile", action="store_true", help="cProfile the import and the first inventory")
    p.add_argument("--profile-dir", type=Path, default=None, help="also write .prof files here")
    args = p.parse_args(argv)

    days = max(1, min(args.days, args.rows))
    meters = max(1, args.rows // days)
    years = years_of(days)
    tmp = tempfile.TemporaryDirectory(prefix="rareeco-bench-") if args.workdir is None else None
    args.workdir = args.workdir or tmp.name  # type: ignore[union-attr]
    csv = Path(args.workdir) / f"activity-{meters}x{days}.csv"
    report = Report()
    try:
        dt, n_rows = timed(lambda: generate(csv, meters, days))
        size_mb = csv.stat().st_size / 1e6
        print(f"generated {n_rows:,} rows ({meters:,} meters × {days:,} days, {size_mb:,.0f} MB) "
              f"in {dt:.1f} s; years {years}", flush=True)
        factors = factor_frame(years)

        report.floors["pandas"], ref = timed(lambda: floor_pandas(csv, factors))
        report.floors["duckdb"], duck = timed(lambda: floor_duckdb(csv, factors))
        report.rows.append(Row("floor: pandas (read, convert, ×factor, group)", report.floors["pandas"],
                               n_rows))
        report.rows.append(Row("floor: DuckDB (same, SQL on the CSV)", report.floors["duckdb"], n_rows))
        compare("duckdb floor", duck, ref, report)
        del duck
        print(f"floors done; peak RSS so far {peak_rss_mb():,.0f} MB", flush=True)

        versions = []
        for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
            versions.append(run_db(kind, csv, n_rows, years, ref, report, args))
    finally:
        if tmp is not None:
            tmp.cleanup()

    print()
    print(machine(versions))
    print(f"{n_rows:,} rows; peak RSS {peak_rss_mb():,.0f} MB; ratios are rareeco ÷ floor (no timing limits)")
    print()
    print(table(report))
    if report.problems:
        print("\nTOTALS DISAGREE:\n  " + "\n  ".join(report.problems))
        return 1
    print(f"\ntotals agree: rareeco (every database) and DuckDB match the pandas floor by site and month "
          f"to {REL_TOL:g} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
