"""rareeco's engine against bw2calc, the field's reference engine, on the same matrices.

Systems are exported with :func:`rareeco.lca.brightway.to_datapackage` (bw_processing datapackages) and
solved by ``bw2calc.LCA``; scores must agree to a relative difference below 1e-9 (issue 4).  Random
systems come from hypothesis: 5–60 processes, sparse, mostly triangular (suppliers after consumers),
some loops, productive (each process's inputs per unit of output sum to less than one unit of
"everything"), half of them in mixed units (rows and columns rescaled over six orders of magnitude),
with a few biosphere flows and a made-up method.

Without bw2calc the tests skip with a message, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rareeco.lca import LCA, MonteCarlo, Uncertainty, matrix_data
from rareeco.lca.brightway import to_datapackage
from rareeco.lca.matrices import ExchangeArrays, IndexMap, MatrixData

IN_CI = os.environ.get("CI", "").lower() == "true"
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # bw2calc warns when no fast sparse solver (pypardiso/umfpack) is present
        import bw2calc
        import bw_processing  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the machine
    if IN_CI:
        raise RuntimeError(f"bw2calc is required in CI (pip install -e '.[test]'): {exc}") from exc
    pytest.skip(f"bw2calc not installed ({exc}); pip install -e '.[test]' to compare with the reference engine",
                allow_module_level=True)

from test_lca_engine import hand_system  # noqa: E402  (after the skip: the same hand system)

REL = 1e-9


def bw_score(data: MatrixData, demand: dict[str, float]) -> tuple[float, np.ndarray]:
    exp = to_datapackage(data, uncertainty=False)
    lca = bw2calc.LCA(exp.demand(demand), data_objs=[exp.datapackage])
    lca.lci()
    lca.lcia()
    # bw2calc's supply array is in its own column order; put it in rareeco's
    supply = np.array([lca.supply_array[lca.dicts.activity[exp.process_ids[p]]] for p in data.processes.ids])
    return float(lca.score), supply


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def test_hand_system_agrees_with_bw2calc() -> None:
    data = matrix_data(hand_system(coal_unit="t", coal_amount=0.0005), "test-gwp")
    ours = LCA(data)
    for demand in ({"steel": 1.0}, {"electricity": 3.0, "coal": 0.5}):
        theirs, supply = bw_score(data, demand)
        assert rel_diff(ours.score(demand), theirs) < REL
        np.testing.assert_allclose(ours.supply(demand), supply, rtol=REL)
    assert ours.score({"steel": 1.0}) == pytest.approx(349.5 / 93, rel=1e-13)


@st.composite
def random_systems(draw: st.DrawFn) -> tuple[MatrixData, dict[str, float]]:
    n = draw(st.integers(5, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    loop_share = draw(st.sampled_from([0.0, 0.05, 0.2]))
    rng = np.random.default_rng(seed)
    production = rng.uniform(0.5, 2.0, n)
    rows, cols, vals = list(range(n)), list(range(n)), list(production)
    for j in range(n):
        k = int(rng.integers(0, 5))
        if k == 0:
            continue
        loops = rng.random(k) < loop_share
        upstream = np.arange(j + 1, n)
        suppliers = [int(rng.choice(upstream)) if (not loop and upstream.size) else int(rng.integers(0, n))
                     for loop in loops]
        shares = rng.dirichlet(np.ones(k)) * rng.uniform(0.1, 0.9) * production[j]
        # Σ inputs < production (in units of the suppliers' production): a productive, non-singular system
        for i, share in zip(suppliers, shares, strict=True):
            rows.append(i)
            cols.append(j)
            vals.append(-share * production[i] / max(production.max(), 1.0) / 2)
    # products in mixed units (kWh, t, tkm …): a unit change of product i scales row i by d_i and the
    # inputs per unit of i (column i) by 1/d_i; production amounts per run vary too
    if draw(st.booleans()):
        d = 10 ** rng.uniform(-3, 3, n)
        per_run = 10 ** rng.uniform(-1, 1, n)
        r_, c_ = np.asarray(rows), np.asarray(cols)
        vals = list(np.asarray(vals) * d[r_] / d[c_] * per_run[c_])
    m = int(rng.integers(1, 8))
    nb = int(rng.integers(1, 3 * n))
    b_rows, b_cols = rng.integers(0, m, nb), rng.integers(0, n, nb)
    b_vals = rng.lognormal(0, 2, nb) * np.where(rng.random(nb) < 0.1, -1, 1)
    c = rng.normal(1, 2, m)
    c[0] = 1.0 if c[0] == 0 else c[0]
    data = MatrixData(ExchangeArrays.certain(rows, cols, vals), ExchangeArrays.certain(b_rows, b_cols, b_vals), c,
                      IndexMap(tuple(f"p{i}" for i in range(n))), IndexMap(tuple(f"f{i}" for i in range(m))), "kg CO2e")
    demanded = rng.choice(n, size=int(rng.integers(1, 4)), replace=False)
    return data, {f"p{i}": float(rng.uniform(0.1, 10)) for i in demanded}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_systems())
def test_random_systems_agree_with_bw2calc(system: tuple[MatrixData, dict[str, float]]) -> None:
    data, demand = system
    ours = LCA(data)
    theirs, supply = bw_score(data, demand)
    s = ours.supply(demand)
    score = ours.score(demand)
    # Negative factors and uptakes can make a score a tiny difference of large contributions; then both
    # engines' rounding is relative to the contributions, and so is the comparison.
    scale = max(abs(theirs), float(np.abs(ours.q * s).sum()) * 1e-6)
    assert abs(score - theirs) <= REL * scale
    # a small element of the supply vector carries rounding relative to the vector's largest elements
    np.testing.assert_allclose(s, supply, rtol=REL, atol=REL * float(np.abs(supply).max()))
    # the adjoint (all products at once) gives the same score
    assert abs(float(ours.scores([demand, demand])[0]) - theirs) <= REL * scale


def test_monte_carlo_means_agree_with_bw2calc_within_monte_carlo_error() -> None:
    """Same distributions, independent random numbers: the means must agree within their MC errors."""
    data = matrix_data(hand_system(elec_unc=Uncertainty.lognormal(sigma=0.3),
                                   co2_unc=Uncertainty.triangular(1.0, 2.5)), "test-gwp")
    ours = MonteCarlo(data, {"steel": {"steel": 1.0}}, seed=1).run(20_000).summary()["steel"]
    exp = to_datapackage(data, uncertainty=True)
    lca = bw2calc.LCA(exp.demand({"steel": 1.0}), data_objs=[exp.datapackage], use_distributions=True,
                      seed_override=1)
    lca.lci()
    lca.lcia()
    theirs = []
    for _ in range(600):
        next(lca)
        theirs.append(lca.score)
    t = np.asarray(theirs)
    sem = np.hypot(ours.sem, t.std(ddof=1) / np.sqrt(t.size))
    assert abs(ours.mean - t.mean()) < 4 * sem
    assert t.std(ddof=1) == pytest.approx(ours.std, rel=0.15)
