"""Meter data benchmark: one year of 1-minute readings of 100 meters (52.56 million points) from CSV, then the
monthly energy of every line.

    python benchmarks/meters_bench.py [--meters 100] [--days 365] [--layout wide|long] [--db sqlite|postgresql]

1. Writes a deterministic CSV (``--layout wide``: timestamp + one column per meter, as SCADA exports it; ``long``:
   meter,timestamp,value) of ``--meters`` electricity meters (kWh per minute) on four lines, from 2025-01-01
   local time (Asia/Shanghai).
2. **Ingest**: ``rareeco.ingest.meter_csv.import_csv`` of the whole file in one transaction — parse, check,
   de-duplicate, store the raw points and roll them up per hour, day and month: points/s.
3. **Monthly energy per line** (the energy side of the monthly EnPI): ``rareeco.energy.meters.monthly_kgce``,
   which reads the monthly roll-ups; and, to show what the roll-ups save, the same figure recomputed by SQL
   from the raw points.
4. **Floor**: DuckDB aggregating the same points from a Parquet file (written by DuckDB beforehand, not timed)
   to kgce per line and month.  All three must agree to 1e-9 relative (exit 1 otherwise).  Times are reported
   with ratios against the floor; there is no pass/fail on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from bench_db import database
from rareeco.energy.meters import monthly_kgce
from rareeco.ingest.meter_csv import import_csv
from rareeco.ledger import structure
from rareeco.ledger.db import make_engine, session_scope

LINES = ("sx-1", "sx-2", "metal", "magnet")
TZ = "Asia/Shanghai"


def write_csv(path: Path, meters: int, days: int, layout: str) -> tuple[np.ndarray, pd.DatetimeIndex]:
    t = pd.date_range("2025-01-01", periods=days * 1440, freq="min", tz=TZ)
    rng = np.random.default_rng(20251)
    base = rng.uniform(0.5, 5.0, meters)
    vals = np.round(base * (1 + 0.2 * rng.standard_normal((len(t), meters)).clip(-0.9, 3)), 3)
    stamps = t.strftime("%Y-%m-%dT%H:%M:%S")
    codes = [f"EL-{i:03d}" for i in range(meters)]
    with path.open("w") as f:
        if layout == "wide":
            f.write("timestamp," + ",".join(codes) + "\n")
            for a in range(0, len(t), 50_000):
                block = pd.DataFrame(vals[a:a + 50_000], columns=codes)
                block.insert(0, "timestamp", stamps[a:a + 50_000])
                block.to_csv(f, header=False, index=False)
        else:
            f.write("meter,timestamp,value\n")
            for a in range(0, len(t), 10_000):
                n = len(t[a:a + 10_000])
                block = pd.DataFrame({"meter": np.tile(codes, n), "timestamp": np.repeat(stamps[a:a + 10_000], meters),
                                      "value": vals[a:a + 10_000].ravel()})
                block.to_csv(f, header=False, index=False)
    return vals, t


def setup(url: str, meters: int) -> None:
    engine = make_engine(url)
    with session_scope(engine) as s:
        structure.create_org(s, "bench", "Benchmark")
        structure.add_site(s, "bench", "bt", "CN-NM")
        for ln in LINES:
            structure.add_line(s, "bench", "bt", ln)
        for i in range(meters):
            structure.add_meter(s, "bench", "bt", f"EL-{i:03d}", "electricity.grid", line_code=LINES[i % len(LINES)],
                                unit="kWh", interval_s=60)


def floor(vals: np.ndarray, t: pd.DatetimeIndex, meters: int, kgce_per_kwh: float,
          workdir: Path) -> tuple[float, pd.DataFrame]:
    import duckdb

    con = duckdb.connect()
    parquet = workdir / "points.parquet"
    long = pd.DataFrame({"meter": np.tile(np.arange(meters, dtype=np.int32), len(t)),
                         "ts": np.repeat(t.tz_convert("UTC").tz_localize(None).values, meters),
                         "value": vals.ravel()})
    con.register("long", long)
    con.execute(f"COPY long TO '{parquet}' (FORMAT parquet)")
    del long
    lines = pd.DataFrame({"meter": np.arange(meters, dtype=np.int32), "line": [i % len(LINES) for i in range(meters)]})
    con.register("lines", lines)
    t0 = time.perf_counter()
    out = con.execute(f"""
        SELECT l.line, month(p.ts + INTERVAL 8 HOUR) AS month, sum(p.value) * {kgce_per_kwh} AS kgce
        FROM read_parquet('{parquet}') p JOIN lines l USING (meter) GROUP BY 1, 2 ORDER BY 1, 2""").df()
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--layout", choices=("wide", "long"), default="wide")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="rareeco-meters-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / f"meters-{a.layout}.csv"
    t0 = time.perf_counter()
    vals, t = write_csv(csv, a.meters, a.days, a.layout)
    n = vals.size
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"{n:,} points ({a.meters} meters × {len(t):,} minutes), {a.layout} CSV {csv.stat().st_size / 1e6:,.0f} MB "
          f"written in {time.perf_counter() - t0:.0f} s")
    try:
        with database(a.db, workdir, a.pg_url) as (url, _version):
            setup(url, a.meters)
            engine = make_engine(url)
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                r = import_csv(s, "bench", csv)
            ingest_s = time.perf_counter() - t0
            assert r["points_stored"] == n, r
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                ours = monthly_kgce(s, "bench", 2025)
            rollup_s = time.perf_counter() - t0
            with session_scope(engine) as s:
                from rareeco.energy.enpi import coefficients
                from rareeco.inventory.service import factor_table

                kgce_per_kwh = coefficients(factor_table(s, "bench"), "equivalent")["electricity.grid"][0] / 1000.0
                t0 = time.perf_counter()
                month = ("CAST(strftime('%m', p.ts + 28800, 'unixepoch') AS INTEGER)" if a.db == "sqlite"
                         else "EXTRACT(MONTH FROM to_timestamp(p.ts) AT TIME ZONE 'Asia/Shanghai')::int")
                raw = pd.DataFrame(s.execute(text(
                    f"SELECT m.line_id, {month} AS month, sum(p.value) AS kwh FROM points p "
                    "JOIN meters m ON m.series_id = p.series_id GROUP BY 1, 2")).all(),
                    columns=["line_id", "month", "kwh"])
                raw_s = time.perf_counter() - t0
            floor_s, duck = floor(vals, t, a.meters, kgce_per_kwh, workdir)
            a1 = ours.sort_values(["line_id", "month"])["kgce"].to_numpy()
            a2 = (raw.sort_values(["line_id", "month"])["kwh"] * kgce_per_kwh).to_numpy()
            a3 = duck["kgce"].to_numpy()
            ok = len(a1) == len(a2) == len(a3) and np.allclose(a1, a2, rtol=1e-9) and np.allclose(a1, a3, rtol=1e-9)
            print(f"\n{'step':<44}{'seconds':>10}{'rate':>18}{'÷ floor':>10}")
            print(f"{'ingest CSV (' + a.db + ')':<44}{ingest_s:>10.1f}{n / ingest_s:>14,.0f} pt/s{'':>10}")
            print(f"{'monthly kgce per line, from roll-ups':<44}{rollup_s:>10.3f}{'':>18}{rollup_s / floor_s:>10.2f}")
            print(f"{'monthly kgce per line, SQL over raw points':<44}{raw_s:>10.2f}{'':>18}{raw_s / floor_s:>10.2f}")
            print(f"{'floor: DuckDB over Parquet':<44}{floor_s:>10.3f}{'':>18}{1.0:>10.2f}")
            print(f"\nfigures agree (roll-ups, raw SQL, DuckDB, 1e-9 relative): {'yes' if ok else 'NO'}")
            return 0 if ok else 1
    finally:
        if a.workdir is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
