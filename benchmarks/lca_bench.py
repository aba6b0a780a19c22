"""LCA engine benchmark: rareeco against bw2calc on the same matrices, in the same run.

    python benchmarks/lca_bench.py                 # the full run recorded in benchmarks/README.md (~10 min)
    python benchmarks/lca_bench.py --quick         # 1,000 and 5,000 processes, fewer iterations (~1 min)

What it measures (no pass/fail on time; it exits 1 only if the two engines disagree):

1. One LCI+LCIA on random ecoinvent-like systems of 1,000, 5,000 and 20,000 processes, end to end
   (matrices built from the same exchange arrays, factorised, solved, characterised) and the solve
   alone (matrices already built), rareeco ÷ bw2calc; scores must agree to 1e-9.
2. Every product of the largest system, one unit each: rareeco batched (adjoint: one transposed
   solve; forward: demands as columns of one right-hand side, 256 at a time) against bw2calc one by
   one with its factorisation reused (``lci(factorize=True)`` then ``lcia(demand)``); bw2calc is timed
   on a sample of ``--sample`` products and extrapolated (said so in the output).
3. Monte Carlo of a 100-process foreground (all exchanges uncertain: lognormal, normal, triangular,
   uniform) over a certain background: iterations per second of rareeco (``MonteCarlo``) and of
   bw2calc 3's Monte Carlo (``LCA(use_distributions=True)`` and ``next()``; bw2calc 3 has no
   ``MonteCarloLCA`` class), with the means compared within their Monte Carlo errors.
4. Peak memory (VmHWM) of a fresh process doing cases 1 and 2 on the largest system, per engine.

The random systems: processes in a random order (as in a database); each has 1 + Poisson(7) inputs:
40 % from a "core" of 5 % of processes (energy, transport, basic materials; Zipf-popular) and the rest
from "product-family" neighbours upstream (geometric distance, mean 100), 1 % local back-edges
(loops); the core's inputs come from the core itself, so it is one big loop.  Inputs per unit of
output sum to < 0.8 before each product gets a unit (a factor 10^U(-2, 2): row × d_i, column ÷ d_j,
as kWh, MJ, t, kg and tkm differ).  ~2,000 biosphere flows, 1 + Poisson(19) per process, lognormal
amounts; one method characterising 150 of them.  Without the units bw2calc (SuperLU, COLAMD on Aᵀ)
needs about 2 s to factorise the 20,000-process matrix, close to the 1.7 s bw2calc's authors report
for ecoinvent 3.9 cutoff (bw2calc issue #176); with them 2.3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
from scipy.sparse.csgraph import connected_components

from rareeco.lca import LCA, MonteCarlo, matrix_data
from rareeco.lca.brightway import to_datapackage
from rareeco.lca.matrices import LOGNORMAL, NORMAL, TRIANGULAR, UNIFORM, ExchangeArrays, IndexMap, MatrixData
from rareeco.lca.solve import ColamdFactorisation, SuperLUFactorisation

bw2calc: Any = None


def import_bw2calc() -> Any:
    """bw2calc, imported on first use (so that rareeco's memory probe does not load it)."""
    global bw2calc
    if bw2calc is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "install pypardiso" advice
            import bw2calc as module
        bw2calc = module
    return bw2calc


# --- random systems -------------------------------------------------------------------------------

def technosphere(n: int, rng: np.random.Generator, k: int = 8, core_frac: float = 0.05, p_loop: float = 0.01,
                 family: float = 100.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of an ecoinvent-like A in topological order (0 = most downstream); see the module notes."""
    n_core = max(4, int(core_frac * n))
    core0 = n - n_core
    n_in = rng.poisson(k - 1, size=n) + 1
    cols = np.repeat(np.arange(n), n_in)
    m = cols.size
    rows = np.empty(m, dtype=np.int64)
    is_core = cols >= core0
    rows[is_core] = core0 + rng.integers(0, n_core, size=int(is_core.sum()))
    nc = ~is_core
    from_core = nc & (rng.random(m) < 0.4)
    rows[from_core] = core0 + np.minimum(rng.zipf(1.5, size=m) - 1, n_core - 1)[from_core]
    fam = nc & ~from_core
    span = core0 - cols[fam]
    step = np.minimum(1 + rng.geometric(1 / family, size=int(fam.sum())), np.maximum(span - 1, 1))
    rows[fam] = np.minimum(cols[fam] + step, n - 1)
    back = nc & (rng.random(m) < p_loop)
    rows[back] = np.maximum(0, cols[back] - 1 - rng.integers(0, 20, size=int(back.sum())))
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    share = rng.uniform(0, 1, size=rows.size)
    total = np.bincount(cols, weights=share, minlength=n)
    vals = -share / np.maximum(total[cols], 1e-12) * 0.8 * rng.uniform(0.2, 1, size=n)[cols]
    return np.r_[np.arange(n), rows], np.r_[np.arange(n), cols], np.r_[np.ones(n), vals]


def ecoinvent_like(n: int, seed: int, n_flows: int = 2000, n_cf: int = 150) -> MatrixData:
    rng = np.random.default_rng(seed)
    rows, cols, vals = technosphere(n, rng)
    unit = 10 ** rng.uniform(-2, 2, n)     # products in mixed units: row i × d_i, inputs per unit of j ÷ d_j
    vals = vals * unit[rows] / unit[cols]
    perm = rng.permutation(n)              # a database's order, not a topological one
    rows, cols = perm[rows], perm[cols]
    nb = rng.poisson(19, size=n) + 1
    b_cols = np.repeat(np.arange(n), nb)
    b_rows = np.minimum(rng.zipf(1.3, size=b_cols.size) - 1, n_flows - 1)
    b_rows = rng.permutation(n_flows)[b_rows]
    b_vals = rng.lognormal(-3, 2, size=b_cols.size)
    c = np.zeros(n_flows)
    c[rng.choice(n_flows, n_cf, replace=False)] = rng.lognormal(0, 2, n_cf)
    return MatrixData(ExchangeArrays.certain(rows, cols, vals), ExchangeArrays.certain(b_rows, b_cols, b_vals), c,
                      IndexMap(tuple(f"p{i}" for i in range(n))), IndexMap(tuple(f"f{j}" for j in range(n_flows))),
                      unit="kg CO2e")


def with_foreground(bg: MatrixData, n_fg: int, seed: int) -> tuple[MatrixData, list[str]]:
    """``bg`` plus a foreground chain of ``n_fg`` processes whose exchanges are all uncertain."""
    rng = np.random.default_rng(seed)
    nb, nf = len(bg.processes), len(bg.flows)
    r, c, v = [], [], []
    for j in range(n_fg):
        up = np.arange(j + 1, n_fg)
        fg_in = rng.choice(up, size=min(up.size, int(rng.integers(1, 4))), replace=False) if up.size else []
        inputs = [(nb + int(i), -rng.uniform(0.05, 0.3)) for i in fg_in]
        if j > 5 and rng.random() < 0.1:   # a recycling loop: a downstream product back into the chain
            inputs.append((nb + int(rng.integers(0, j)), -rng.uniform(0.01, 0.05)))
        inputs += [(int(i), -rng.lognormal(0, 1)) for i in rng.integers(0, nb, size=int(rng.integers(2, 6)))]
        for i, amount in inputs:
            r.append(i)
            c.append(nb + j)
            v.append(amount)
    t_rows, t_cols, t_vals = np.array(r), np.array(c), np.array(v)
    b_rows = rng.choice(nf, size=3 * n_fg)
    b_cols = nb + np.repeat(np.arange(n_fg), 3)
    b_vals = rng.lognormal(0, 1, size=3 * n_fg)

    def uncertain(vals: np.ndarray) -> ExchangeArrays:
        k = vals.size
        dist = np.array([LOGNORMAL, NORMAL, TRIANGULAR, UNIFORM], dtype=np.int8)[np.arange(k) % 4]
        scale = np.where(dist == LOGNORMAL, rng.uniform(0.1, 0.4, k), np.abs(vals) * 0.1)
        lo, hi = vals - np.abs(vals) * 0.2, vals + np.abs(vals) * 0.2
        return ExchangeArrays(np.zeros(k, np.int64), np.zeros(k, np.int64), vals, dist, scale, lo, hi)

    ut, ub = uncertain(t_vals), uncertain(b_vals)
    prod = ExchangeArrays.certain(nb + np.arange(n_fg), nb + np.arange(n_fg), np.ones(n_fg))
    tech = ExchangeArrays.concatenate([bg.technosphere, prod, ExchangeArrays(t_rows, t_cols, t_vals, ut.distribution,
                                                                            ut.scale, ut.minimum, ut.maximum)])
    bio = ExchangeArrays.concatenate([bg.biosphere, ExchangeArrays(b_rows, b_cols, b_vals, ub.distribution, ub.scale,
                                                                   ub.minimum, ub.maximum)])
    ids = tuple(bg.processes.ids) + tuple(f"fg{j}" for j in range(n_fg))
    return MatrixData(tech, bio, bg.characterisation, IndexMap(ids), bg.flows, unit=bg.unit), ["fg0", "fg1", "fg2"]


# --- helpers ----------------------------------------------------------------------------------------

def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bw_lca(exp: Any, demand: dict[str, float], **kw: Any) -> Any:
    lca = import_bw2calc().LCA(exp.demand(demand), data_objs=[exp.datapackage], **kw)
    lca.lci()
    lca.lcia()
    return lca


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def structure(data: MatrixData) -> str:
    A = data.technosphere_matrix()
    _, labels = connected_components(A, directed=True, connection="strong")
    return f"nnz(A) {A.nnz:,}, largest loop {np.bincount(labels).max():,} processes, nnz(B) {len(data.biosphere):,}"


# --- the cases ----------------------------------------------------------------------------------------

def say(lines: list[str], *new: str) -> None:
    for line in new:
        print(line, flush=True)
        lines.append(line)


def single(sizes: list[int], failures: list[str]) -> list[str]:
    lines: list[str] = []
    say(lines, "", "1. One LCI+LCIA (one unit of one product; best of 3, 1 for bw2calc at ≥ 20,000)", "",
             f"{'processes':>9}  {'rareeco s':>9}  {'bw2calc s':>9}  {'ratio':>6}  {'solve: rareeco':>14}  "
             f"{'bw2calc':>8}  {'ratio':>6}  {'nnz(LU) rareeco':>15}  {'COLAMD(Aᵀ)':>10}  structure")
    for n in sizes:
        data = ecoinvent_like(n, seed=n)
        exp = to_datapackage(data, uncertainty=False)
        demand = {data.processes.ids[0]: 1.0}
        rep_bw = 1 if n >= 20000 else 3

        t_ours, s_ours = best_of(lambda d=data, f=demand: LCA(d).score(f), 3)
        t_theirs, s_theirs = best_of(lambda e=exp, f=demand: float(bw_lca(e, f).score), rep_bw)
        if rel(s_ours, s_theirs) > 1e-9:
            failures.append(f"{n}: rareeco {s_ours!r} vs bw2calc {s_theirs!r}")
        ours = LCA(data)
        f = ours.demand_vector(demand)
        t_solve, _ = best_of(lambda a=ours.A, b=f: SuperLUFactorisation(a).solve(b), 3)
        theirs = bw_lca(exp, demand)
        # with pypardiso, bw2calc keeps the factorisation of an unchanged matrix: drop it so each repeat refactorises
        reset = getattr(theirs, "_delete_solver_state", lambda: None)
        t_bsolve, _ = best_of(lambda r=reset, t=theirs: (r(), t.lci_calculation()), rep_bw)
        fill_ours = SuperLUFactorisation(ours.A).fill
        colamd = ColamdFactorisation(ours.A)
        fill_bw = int(colamd._lu.L.nnz + colamd._lu.U.nnz)
        say(lines, f"{n:>9,}  {t_ours:>9.3f}  {t_theirs:>9.3f}  {t_ours / t_theirs:>6.3f}  {t_solve:>14.3f}  "
            f"{t_bsolve:>8.3f}  {t_solve / t_bsolve:>6.3f}  {fill_ours:>15,}  {fill_bw:>10,}  {structure(data)}")
    say(lines, "   (end to end: matrices from the same exchange arrays + factorise + solve + B s + C g; "
                 "solve: factorise + solve on built matrices; ratio = rareeco ÷ bw2calc)")
    return lines


def all_products(n: int, sample: int, failures: list[str]) -> list[str]:
    data = ecoinvent_like(n, seed=n)
    exp = to_datapackage(data, uncertainty=False)
    ids = data.processes.ids
    lines: list[str] = []
    say(lines, "", f"2. Every product of the {n:,}-process system ({n:,} demands of one unit)", "")
    # rareeco, adjoint: one transposed solve gives all
    t0 = time.perf_counter()
    ours = LCA(data)
    adj = ours.product_scores().copy()
    t_adj = time.perf_counter() - t0
    # rareeco, forward: demands as columns, 256 at a time
    t0 = time.perf_counter()
    ours_f = LCA(data)
    fwd = np.empty(n)
    chunk = 256
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        F = np.zeros((n, k))
        F[np.arange(start, start + k), np.arange(k)] = 1.0
        fwd[start:start + k] = ours_f.scores(F, direction="forward", chunk=chunk)
    t_fwd = time.perf_counter() - t0
    # bw2calc one by one, factorisation reused, on a sample
    rng = np.random.default_rng(0)
    picks = rng.choice(n, size=min(sample, n), replace=False)
    t0 = time.perf_counter()
    lca = bw2calc.LCA(exp.demand({ids[0]: 1.0}), data_objs=[exp.datapackage])
    lca.lci(factorize=True)
    lca.lcia()
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    bw = []
    for i in picks:
        lca.lcia(exp.demand({ids[i]: 1.0}))
        bw.append(float(lca.score))
    t_each = (time.perf_counter() - t0) / len(picks)
    t_bw = t_setup + t_each * n
    worst = max(max(rel(adj[i], b), rel(fwd[i], b)) for i, b in zip(picks, bw, strict=True))
    if worst > 1e-9:
        failures.append(f"all products: worst relative difference {worst:.2e}")
    say(lines, f"{'engine':<66}  {'seconds':>9}  {'per demand ms':>13}  {'speed-up':>8}",
              f"{'bw2calc one by one (factorize=True, lcia(demand)), extrapolated':<66}  {t_bw:>9.2f}  "
              f"{1e3 * t_each:>13.3f}  {1.0:>8.1f}",
              f"{'rareeco batched, forward (256 columns per solve)':<66}  {t_fwd:>9.2f}  {1e3 * t_fwd / n:>13.3f}  "
              f"{t_bw / t_fwd:>8.1f}",
              f"{'rareeco batched, adjoint (one solve of Aᵀλ = q)':<66}  {t_adj:>9.3f}  {1e3 * t_adj / n:>13.5f}  "
              f"{t_bw / t_adj:>8.0f}",
              f"   bw2calc timed on {len(picks)} random products after a {t_setup:.2f} s setup and factorisation, "
              f"then extrapolated to {n:,}: setup + {n:,} × per-demand time. rareeco times include building the",
              f"   matrices and factorising. Worst relative difference rareeco vs bw2calc on the sample: {worst:.1e}.")
    return lines


def monte_carlo(bg_n: int, iterations: int, bw_iterations: int, failures: list[str]) -> list[str]:
    data, products = with_foreground(ecoinvent_like(bg_n, seed=bg_n), 100, seed=1)
    n_unc = int(data.technosphere.uncertain.sum() + data.biosphere.uncertain.sum())
    return compare_monte_carlo(data, products, f"3. Monte Carlo: 100-process foreground ({n_unc} uncertain "
                               f"exchanges) over a certain {bg_n:,}-process background", iterations, bw_iterations,
                               failures)


def demo_chain() -> tuple[MatrixData, list[str]]:
    """The demo producer's 2025 product system (economic allocation), as ``rareeco footprint`` builds it."""
    import tempfile

    from rareeco.demo.load import load_demo
    from rareeco.footprint.service import read_year, systems
    from rareeco.footprint.system import METHOD
    from rareeco.ledger.db import make_engine, session_scope

    with tempfile.TemporaryDirectory() as tmp:
        eng = make_engine(f"sqlite:///{tmp}/demo.db")
        with session_scope(eng) as s:
            load_demo(s)
            built, _ = systems(read_year(s, "demo", 2025))
        eng.dispose()
    return matrix_data(built["economic"].system, METHOD), ["ndfeb-magnet", "ndfeb-magnet-recycled", "prnd-oxide"]


def rare_earth_chain(iterations: int, bw_iterations: int, failures: list[str]) -> list[str]:
    data, products = demo_chain()
    n_unc = int(data.technosphere.uncertain.sum() + data.biosphere.uncertain.sum())
    return compare_monte_carlo(data, products, f"3b. Monte Carlo of the rare-earth chain: the demo producer's 2025 "
                               f"footprint system ({len(data.processes)} processes, {n_unc} uncertain exchanges, "
                               "all lognormal)", iterations, bw_iterations, failures)


def compare_monte_carlo(data: MatrixData, products: list[str], title: str, iterations: int, bw_iterations: int,
                        failures: list[str]) -> list[str]:
    exp = to_datapackage(data, uncertainty=True)
    lines: list[str] = []
    say(lines, "", title, "")
    demand = {products[0]: 1.0}
    MonteCarlo(data, {"p": demand}, seed=2).run(200)      # warm-up (first-call costs)
    t0 = time.perf_counter()
    mc = MonteCarlo(data, {"p": demand}, seed=1)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = mc.run(iterations)
    t_ours = time.perf_counter() - t0
    ours_s = ours.summary()["p"]
    t0 = time.perf_counter()
    mc3 = MonteCarlo(data, {p: {p: 1.0} for p in products}, seed=1)
    r3 = mc3.run(iterations)
    t_ours3 = time.perf_counter() - t0
    k_whole = max(20, bw_iterations // 4)
    t0 = time.perf_counter()
    MonteCarlo(data, {"p": demand}, seed=1, partition=False).run(k_whole)
    t_whole = time.perf_counter() - t0
    t0 = time.perf_counter()
    lca = bw2calc.LCA(exp.demand(demand), data_objs=[exp.datapackage], use_distributions=True, seed_override=1)
    lca.lci()
    lca.lcia()
    t_bw_setup = time.perf_counter() - t0
    theirs = []
    t0 = time.perf_counter()
    for _ in range(bw_iterations):
        next(lca)
        theirs.append(float(lca.score))
    t_bw = time.perf_counter() - t0
    th = np.asarray(theirs)
    th_mean, th_sem = th.mean(), th.std(ddof=1) / np.sqrt(th.size)
    z = (ours_s.mean - th_mean) / np.hypot(ours_s.sem, th_sem)
    if abs(z) > 4:
        failures.append(f"Monte Carlo means differ: z = {z:.1f}")
    ips_bw = bw_iterations / t_bw
    say(lines, f"{'engine':<62}  {'iterations':>10}  {'seconds':>8}  {'it/s':>9}  {'× bw2calc':>9}",
              f"{'bw2calc LCA(use_distributions=True) + next()':<62}  {bw_iterations:>10,}  {t_bw:>8.2f}  "
              f"{ips_bw:>9.1f}  {1.0:>9.1f}",
              f"{'rareeco MonteCarlo, background split off (default)':<62}  {iterations:>10,}  {t_ours:>8.2f}  "
              f"{iterations / t_ours:>9.0f}  {iterations / t_ours / ips_bw:>9.0f}",
              f"{'rareeco MonteCarlo, 3 products compared (common random numbers)':<62}  {iterations:>10,}  "
              f"{t_ours3:>8.2f}  {iterations / t_ours3:>9.0f}  {iterations / t_ours3 / ips_bw:>9.0f}",
              f"{'rareeco MonteCarlo(partition=False): refactorise all of A':<62}  {k_whole:>10,}  {t_whole:>8.2f}  "
              f"{k_whole / t_whole:>9.1f}  {k_whole / t_whole / ips_bw:>9.1f}",
              f"   setup: rareeco {t_setup:.2f} s (foreground {mc.foreground_size} processes, background factorised "
              f"once), bw2calc {t_bw_setup:.2f} s",
              f"   mean score: rareeco {ours_s.mean:.6g} ± {ours_s.sem:.2g} (n = {ours_s.n:,}), "
              f"bw2calc {th_mean:.6g} ± {th_sem:.2g} (n = {th.size:,}); z = {z:+.2f} "
              f"({'agree' if abs(z) <= 4 else 'DISAGREE'} within Monte Carlo error, |z| ≤ 4)",
              f"   std: rareeco {ours_s.std:.4g}, bw2calc {th.std(ddof=1):.4g}; 3-product run: "
              f"{', '.join(f'{k} {v.mean:.4g}' for k, v in r3.summary().items())}")
    return lines


def proc_status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process; ru_maxrss would include the parent's peak after exec."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return peak_rss_mb()


def memory_probe(engine: str, n: int) -> None:
    """Run in a fresh process: build the n-process system, one LCI+LCIA and (rareeco) all product scores."""
    if engine == "bw2calc":
        import_bw2calc()
    baseline = proc_status_mb("VmRSS")
    data = ecoinvent_like(n, seed=n)
    demand = {data.processes.ids[0]: 1.0}
    if engine == "rareeco":
        lca = LCA(data)
        lca.score(demand)
        lca.product_scores()
        F = np.zeros((n, 256))
        F[np.arange(256), np.arange(256)] = 1.0
        lca.scores(F, direction="forward")
    else:
        exp = to_datapackage(data, uncertainty=False)
        bw_lca(exp, demand)
    print(f"{proc_status_mb('VmHWM'):.0f} {baseline:.0f}")


def memory(n: int) -> list[str]:
    out = []
    for engine in ("rareeco", "bw2calc"):
        res = subprocess.run([sys.executable, __file__, "--probe", engine, "--probe-size", str(n)],
                             capture_output=True, text=True, check=True)
        peak, base = (float(x) for x in res.stdout.strip().splitlines()[-1].split())
        out.append(f"{engine} {peak:,.0f} MB (of which {base:,.0f} MB after imports)")
    lines: list[str] = []
    say(lines, "", f"4. Peak memory (max RSS of a fresh process: generate the {n:,}-process system, one LCI+LCIA; "
        "rareeco also all product scores and 256 forward columns): " + ", ".join(out))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--sample", type=int, default=50, help="bw2calc products timed one by one, then extrapolated")
    ap.add_argument("--mc-iterations", type=int, default=10_000)
    ap.add_argument("--bw-mc-iterations", type=int, default=200)
    ap.add_argument("--mc-background", type=int, default=5000)
    ap.add_argument("--quick", action="store_true", help="sizes 1,000 and 5,000; 2,000 / 50 MC iterations")
    ap.add_argument("--probe", choices=["rareeco", "bw2calc"], help=argparse.SUPPRESS)
    ap.add_argument("--probe-size", type=int, default=20000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        memory_probe(args.probe, args.probe_size)
        return 0
    if args.quick:
        args.sizes, args.mc_iterations, args.bw_mc_iterations, args.mc_background = "1000,5000", 2000, 50, 1000
    sizes = [int(s) for s in args.sizes.split(",")]
    import_bw2calc()
    import bw_processing

    header = [f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}); {platform.platform()}",
              f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
              f"bw2calc {bw2calc.__version__} (pypardiso: {bw2calc.PYPARDISO}, umfpack: {bw2calc.UMFPACK}), "
              f"bw_processing {bw_processing.__version__}",
              "ratios are rareeco ÷ bw2calc or speed-ups over bw2calc, measured in this run (no timing limits)"]
    for line in header:
        print(line, flush=True)
    # warm up both engines (imports, first-call costs)
    warm = ecoinvent_like(200, seed=1)
    LCA(warm).score({"p0": 1.0})
    bw_lca(to_datapackage(warm, uncertainty=False), {"p0": 1.0})
    failures: list[str] = []
    t0 = time.perf_counter()
    single(sizes, failures)
    all_products(max(sizes), args.sample, failures)
    monte_carlo(args.mc_background, args.mc_iterations, args.bw_mc_iterations, failures)
    rare_earth_chain(args.mc_iterations, args.bw_mc_iterations, failures)
    memory(max(sizes))
    print(f"\nrun time {time.perf_counter() - t0:.0f} s; peak RSS of this process {peak_rss_mb():,.0f} MB")
    if failures:
        print("DISAGREEMENT: " + "; ".join(failures))
        return 1
    print("rareeco and bw2calc agree: scores to 1e-9 relative, Monte Carlo means within 4 standard errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
