"""The LCA engine on systems solved by hand (DESIGN.md style 9), plus properties and Monte Carlo statistics.

The factors and amounts below are made up for the tests; they describe no real process.

The hand system: electricity ⇄ steel with a loop, and coal
---------------------------------------------------------------
Processes (each makes 1 unit per run): electricity [kWh], steel [kg], coal [kg].

    electricity uses 0.01 kg steel and 0.5 kg coal per kWh, emits 0.9 kg CO2
    steel       uses 2 kWh electricity per kg,               emits 1.5 kg CO2
    coal        uses 0.1 kWh electricity per kg,             emits 0.01 kg CH4
    method "test-gwp": CO2 → 1, CH4 → 27 (kg CO2e per kg)

         elec  steel  coal                    q = 1ᵀCB = [0.9, 1.5, 0.27]
    A = [ 1     -2    -0.1 ]   elec
        [-0.01   1     0   ]   steel
        [-0.5    0     1   ]   coal

Demand 1 kg steel, f = [0, 1, 0].  From rows 2 and 3: s_steel = 1 + 0.01 s_elec, s_coal = 0.5 s_elec;
row 1: s_elec = 2 s_steel + 0.1 s_coal = 2 + 0.02 s_elec + 0.05 s_elec  ⇒  0.93 s_elec = 2:
    s = [200/93, 95/93, 100/93] ≈ [2.150538, 1.021505, 1.075269]
    g_CO2 = 0.9·200/93 + 1.5·95/93 = 322.5/93,   g_CH4 = 0.01·100/93 = 1/93
    score = 322.5/93 + 27/93 = 349.5/93 ≈ 3.758065 kg CO2e
    by process: electricity 180/93, steel 142.5/93, coal 27/93;  by flow: CO2 322.5/93, CH4 27/93.
Adjoint Aᵀλ = q: λ_steel = 1.5 + 2λ_elec, λ_coal = 0.27 + 0.1λ_elec,
    λ_elec − 0.01λ_steel − 0.5λ_coal = 0.9 ⇒ 0.93λ_elec = 1.05 ⇒ λ = [105/93, 349.5/93, 35.61/93].
Supply chain of 1 kg steel: steel (direct 1.5, cumulative 349.5/93) → 2 kWh electricity (direct 1.8,
cumulative 210/93) → {1 kg coal (direct 0.27, cumulative 35.61/93), 0.02 kg steel (cumulative 6.99/93)}.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rareeco.errors import UnitError
from rareeco.lca import (
    LCA,
    AllocationError,
    BiosphereExchange,
    CoProduct,
    DatedPrice,
    Flow,
    LCAError,
    Method,
    MonteCarlo,
    MultiOutputProcess,
    Process,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
    UnknownReferenceError,
    economic_allocation,
    mass_allocation,
    matrix_data,
    monte_carlo,
    physical_allocation,
    substitution,
    summarise,
)
from rareeco.lca import uncertainty as unc_module
from rareeco.lca.matrices import ExchangeArrays, MatrixData
from rareeco.lca.solve import SuperLUFactorisation, topological_order

TEST_GWP = Method("test-gwp", "kg CO2e", {"co2": 1.0, "ch4": 27.0})
FLOWS = (Flow("co2", "carbon dioxide", "kg"), Flow("ch4", "methane", "kg"))
PROCESSES = (
    Process("electricity", "electricity, medium voltage", "electricity", "kWh", "CN-NM"),
    Process("steel", "steel, hot rolled", "steel", "kg", "CN"),
    Process("coal", "hard coal, mined", "hard coal", "kg", "CN-NM"),
)


def hand_system(*, coal_unit: str | None = None, coal_amount: float = 0.5,
                elec_unc: Uncertainty | None = None, co2_unc: Uncertainty | None = None) -> ProductSystem:
    return ProductSystem(
        processes=PROCESSES, flows=FLOWS,
        technosphere=(
            TechnosphereExchange("electricity", "steel", 0.01),
            TechnosphereExchange("electricity", "coal", coal_amount, unit=coal_unit),
            TechnosphereExchange("steel", "electricity", 2.0, uncertainty=elec_unc),
            TechnosphereExchange("coal", "electricity", 0.1),
        ),
        biosphere=(
            BiosphereExchange("electricity", "co2", 0.9),
            BiosphereExchange("steel", "co2", 1.5, uncertainty=co2_unc),
            BiosphereExchange("coal", "ch4", 0.01),
        ),
        methods={"test-gwp": TEST_GWP},
    )


@pytest.fixture
def lca() -> LCA:
    return LCA.from_system(hand_system(), "test-gwp")


# --- deterministic results against the hand solution ------------------------------------------------

def test_matrices_are_the_textbook_ones(lca: LCA) -> None:
    np.testing.assert_array_equal(lca.A.toarray(), [[1, -2, -0.1], [-0.01, 1, 0], [-0.5, 0, 1]])
    np.testing.assert_array_equal(lca.B.toarray(), [[0.9, 1.5, 0], [0, 0, 0.01]])
    np.testing.assert_array_equal(lca.C.toarray(), [[1, 0], [0, 27]])
    assert lca.data.processes.ids == ("electricity", "steel", "coal")
    assert lca.data.flows.index("ch4") == 1


def test_supply_vector_and_score_match_the_hand_solution(lca: LCA) -> None:
    s = lca.supply({"steel": 1.0})
    np.testing.assert_allclose(s, [200 / 93, 95 / 93, 100 / 93], rtol=1e-14)
    np.testing.assert_allclose(lca.inventory({"steel": 1.0}), [322.5 / 93, 1 / 93], rtol=1e-14)
    assert lca.score({"steel": 1.0}) == pytest.approx(349.5 / 93, rel=1e-14)
    # linear in the demand
    assert lca.score({"steel": 2.5}) == pytest.approx(2.5 * 349.5 / 93, rel=1e-14)


def test_product_scores_and_batched_scores(lca: LCA) -> None:
    np.testing.assert_allclose(lca.product_scores(), [105 / 93, 349.5 / 93, 35.61 / 93], rtol=1e-13)
    demands = [{"steel": 1.0}, {"electricity": 1.0}, {"coal": 2.0, "steel": 1.0}]
    expected = [349.5 / 93, 105 / 93, 2 * 35.61 / 93 + 349.5 / 93]
    for direction in ("forward", "adjoint", "auto"):
        np.testing.assert_allclose(lca.scores(demands, direction=direction), expected, rtol=1e-13)
    np.testing.assert_allclose(lca.scores(demands, direction="forward", chunk=1), expected, rtol=1e-13)
    S = lca.supplies(demands)
    np.testing.assert_allclose(S[:, 0], [200 / 93, 95 / 93, 100 / 93], rtol=1e-14)


def test_contributions_by_process_and_by_flow_sum_to_the_score(lca: LCA) -> None:
    c = lca.contributions({"steel": 1.0})
    assert c.score == pytest.approx(349.5 / 93, rel=1e-14)
    assert c.unit == "kg CO2e"
    assert c.by_process == pytest.approx({"electricity": 180 / 93, "steel": 142.5 / 93, "coal": 27 / 93}, rel=1e-13)
    assert c.by_flow == pytest.approx({"co2": 322.5 / 93, "ch4": 27 / 93}, rel=1e-13)
    assert math.fsum(c.by_process.values()) == pytest.approx(c.score, rel=1e-14)
    assert math.fsum(c.by_flow.values()) == pytest.approx(c.score, rel=1e-14)
    assert c.top_processes(1) == [("electricity", pytest.approx(180 / 93))]


def test_supply_chain_tree(lca: LCA) -> None:
    root = lca.supply_chain({"steel": 1.0}, depth=3, min_share=0.0)
    assert root.cumulative == pytest.approx(349.5 / 93, rel=1e-13)
    (steel,) = root.children
    assert (steel.process, steel.amount, steel.unit, steel.depth) == ("steel", 1.0, "kg", 1)
    assert steel.direct == pytest.approx(1.5) and steel.cumulative == pytest.approx(349.5 / 93, rel=1e-13)
    (elec,) = steel.children
    assert elec.amount == pytest.approx(2.0) and elec.direct == pytest.approx(1.8)
    assert elec.cumulative == pytest.approx(210 / 93, rel=1e-13)
    coal, steel_again = elec.children                  # sorted by cumulative score
    assert (coal.process, coal.amount) == ("coal", pytest.approx(1.0))
    assert coal.cumulative == pytest.approx(35.61 / 93, rel=1e-13) and coal.direct == pytest.approx(0.27)
    assert (steel_again.process, steel_again.amount) == ("steel", pytest.approx(0.02))
    assert steel_again.cumulative == pytest.approx(0.02 * 349.5 / 93, rel=1e-13)
    # each node: cumulative = direct + Σ children (nothing cut off above the last level)
    for node in (steel, elec):
        assert node.cumulative == pytest.approx(node.direct + sum(c.cumulative for c in node.children), rel=1e-13)
    assert all(n.depth <= 3 for n in root.walk()) and max(n.depth for n in root.walk()) == 3
    # cut-offs: by depth, and by share (0.02 kg steel is 0.02·349.5/349.5 = 2 % of the total)
    assert lca.supply_chain({"steel": 1.0}, depth=1).children[0].children == ()
    shallow = lca.supply_chain({"steel": 1.0}, depth=3, min_share=0.05)
    assert [c.process for c in shallow.children[0].children[0].children] == ["coal"]
    assert shallow.children[0].share == pytest.approx(1.0)
    with pytest.raises(LCAError, match="more than 5 nodes"):
        lca.supply_chain({"steel": 1.0}, depth=10, min_share=0.0, max_nodes=5)


def test_solvers_agree(lca: LCA) -> None:
    for solver in ("superlu", "colamd"):
        other = LCA(lca.data, solver=solver)
        assert other.score({"steel": 1.0}) == pytest.approx(349.5 / 93, rel=1e-13)
        np.testing.assert_allclose(other.product_scores(), lca.product_scores(), rtol=1e-13)
    with pytest.raises(LCAError, match="unknown solver"):
        LCA(lca.data, solver="magic").score({"steel": 1.0})  # type: ignore[arg-type]


def test_topological_order_makes_a_triangular_matrix_triangular() -> None:
    rng = np.random.default_rng(3)
    n = 200
    rows, cols = [], []
    for j in range(n - 1):
        for i in rng.choice(np.arange(j + 1, n), size=min(3, n - 1 - j), replace=False):
            rows.append(int(i))
            cols.append(j)
    A = sp.csc_matrix((np.r_[np.ones(n), -0.1 * np.ones(len(rows))], (np.r_[np.arange(n), rows],
                                                                      np.r_[np.arange(n), cols])), shape=(n, n))
    p = rng.permutation(n)
    shuffled = A[p][:, p].tocsc()
    order = topological_order(shuffled)
    assert sorted(order.tolist()) == list(range(n))
    permuted = shuffled[order][:, order]
    assert sp.triu(permuted, 1).nnz == 0            # lower triangular again: no fill in LU
    fac = SuperLUFactorisation(shuffled)
    assert fac.fill == shuffled.nnz + n              # L (with its unit diagonal) + U: no fill at all
    b = rng.random(n)
    np.testing.assert_allclose(shuffled @ fac.solve(b), b, atol=1e-12)
    np.testing.assert_allclose(shuffled.T @ fac.solve(b, trans=True), b, atol=1e-12)


def test_an_unstable_diagonal_pivot_falls_back_to_partial_pivoting() -> None:
    # not an M-matrix: keeping the tiny diagonal pivot would lose ~11 digits; the check after factorising
    # sees it and refactorises with partial pivoting
    A = sp.csc_matrix(np.array([[2e-6, 1.0, 0.3], [1.0, 1.0, 0.2], [0.1, 0.7, 2.0]]))
    fac = SuperLUFactorisation(A)
    assert fac.pivoted
    b = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(fac.solve(b), np.linalg.solve(A.toarray(), b), rtol=1e-14)
    # a technosphere-like matrix in wildly mixed units keeps its diagonal pivots
    rng = np.random.default_rng(0)
    d = 10 ** rng.uniform(-4, 4, 3)
    hand = LCA.from_system(hand_system(), "test-gwp").A
    scaled = sp.diags(d) @ hand @ sp.diags(1 / d)
    assert not SuperLUFactorisation(scaled).pivoted


# --- units and references -------------------------------------------------------------------------

def test_exchange_units_are_converted_when_the_system_is_built() -> None:
    in_tonnes = LCA.from_system(hand_system(coal_unit="t", coal_amount=0.0005), "test-gwp")
    assert in_tonnes.score({"steel": 1.0}) == pytest.approx(349.5 / 93, rel=1e-13)
    in_grams = LCA.from_system(hand_system(coal_unit="g", coal_amount=500.0), "test-gwp")
    np.testing.assert_allclose(in_grams.A.toarray()[2, 0], -0.5)
    converted = hand_system(coal_unit="t", coal_amount=0.0005).technosphere[1]
    assert (converted.amount, converted.unit) == (pytest.approx(0.5), "kg")
    # a triangular's bounds are converted with the amount
    s = ProductSystem(PROCESSES, FLOWS, (TechnosphereExchange("steel", "coal", 0.001, "t",
                                                             Uncertainty.triangular(0.0005, 0.002)),))
    assert s.technosphere[0].uncertainty == Uncertainty.triangular(0.5, 2.0)


def test_a_wrong_dimension_names_the_process_and_the_exchange() -> None:
    with pytest.raises(UnitError) as err:
        hand_system(coal_unit="kWh")
    assert "'electricity'" in err.value.message and "'coal'" in err.value.message and "kWh" in err.value.message
    assert err.value.fix and "same dimension" in err.value.fix
    with pytest.raises(UnitError, match="'steel'.*'co2'"):
        ProductSystem(PROCESSES, FLOWS, biosphere=(BiosphereExchange("steel", "co2", 1.0, unit="MJ"),))


def test_unknown_references_and_bad_data_are_errors() -> None:
    with pytest.raises(UnknownReferenceError, match="'aluminium'"):
        ProductSystem(PROCESSES, FLOWS, (TechnosphereExchange("steel", "aluminium", 1.0),))
    with pytest.raises(UnknownReferenceError, match="'n2o'"):
        ProductSystem(PROCESSES, FLOWS, biosphere=(BiosphereExchange("steel", "n2o", 1.0),))
    with pytest.raises(LCAError, match="twice"):
        ProductSystem(PROCESSES + PROCESSES[:1], FLOWS)
    with pytest.raises(LCAError, match="finite"):
        ProductSystem(PROCESSES, FLOWS, (TechnosphereExchange("steel", "coal", float("nan")),))
    with pytest.raises(LCAError, match="outside"):
        ProductSystem(PROCESSES, FLOWS, (TechnosphereExchange("steel", "coal", 5.0,
                                                              uncertainty=Uncertainty.uniform(1, 2)),))
    lca = LCA.from_system(hand_system(), "test-gwp")
    with pytest.raises(UnknownReferenceError):
        lca.score({"magnet": 1.0})
    with pytest.raises(UnknownReferenceError):
        hand_system().method("ef-3.1")


def test_a_singular_system_is_an_error_not_a_number() -> None:
    procs = (Process("a", "a", "a", "kg"), Process("b", "b", "b", "kg"))
    # b makes 1 kg and uses 1 kg of itself: no net output
    s = ProductSystem(procs, FLOWS, (TechnosphereExchange("b", "b", 1.0),), methods={"test-gwp": TEST_GWP})
    with pytest.raises(LCAError, match="singular"):
        LCA.from_system(s, "test-gwp").score({"a": 1.0})


# --- allocation -------------------------------------------------------------------------------------

def separation(inputs_kwh: float = 10.0, co2_kg: float = 2.0) -> MultiOutputProcess:
    return MultiOutputProcess(
        "sx", "solvent extraction", (CoProduct("prnd", "PrNd oxide", 0.2, "kg"), CoProduct("lace", "La/Ce", 0.8, "kg")),
        technosphere=(TechnosphereExchange("sx", "electricity", inputs_kwh, uncertainty=Uncertainty.normal(1.0)),),
        biosphere=(BiosphereExchange("sx", "co2", co2_kg),))


def test_mass_allocation_by_hand() -> None:
    a = mass_allocation(separation())
    assert a.factors == pytest.approx({"prnd": 0.2, "lace": 0.8})
    prnd = next(p for p in a.processes if p.id == "prnd")
    assert (prnd.production_amount, prnd.unit) == (0.2, "kg")
    by = {(x.consumer, x.supplier): x for x in a.technosphere}
    assert by["prnd", "electricity"].amount == pytest.approx(2.0)            # 10 kWh × 0.2
    assert by["prnd", "electricity"].uncertainty == Uncertainty.normal(pytest.approx(0.2))
    assert {b.process: b.amount for b in a.biosphere} == pytest.approx({"prnd": 0.4, "lace": 1.6})
    # one output in t: the same factors
    t = MultiOutputProcess("sx", "sx", (CoProduct("prnd", "PrNd oxide", 0.0002, "t"),
                                        CoProduct("lace", "La/Ce", 800, "g")))
    assert mass_allocation(t).factors == pytest.approx({"prnd": 0.2, "lace": 0.8})
    with pytest.raises(AllocationError, match="not a mass"):
        mass_allocation(MultiOutputProcess("x", "x", (CoProduct("a", "a", 1, "kWh"), CoProduct("b", "b", 1, "kg"))))
    assert mass_allocation(MultiOutputProcess("x", "x", (CoProduct("a", "a", 1, "kWh"), CoProduct("b", "b", 1, "kg"))),
                           {"a": 3.0}).factors == pytest.approx({"a": 0.75, "b": 0.25})


def test_economic_allocation_uses_the_price_in_force_on_the_date() -> None:
    prices = [DatedPrice("prnd", 100.0, "CNY", "kg", date(2024, 1, 1)),
              DatedPrice("prnd", 120.0, "CNY", "kg", date(2025, 1, 1), source="test"),
              DatedPrice("lace", 2000.0, "CNY", "t", date(2020, 1, 1))]
    a = economic_allocation(separation(), prices, date(2025, 6, 30))
    # values: 0.2 × 120 = 24, 0.8 × 2 = 1.6 ⇒ 24/25.6 = 0.9375, 1.6/25.6 = 0.0625
    assert a.factors == pytest.approx({"prnd": 0.9375, "lace": 0.0625}, rel=1e-14)
    assert a.basis == pytest.approx({"prnd": 24.0, "lace": 1.6}) and a.basis_unit == "CNY"
    assert "2025-01-01" in a.notes["prnd"]
    earlier = economic_allocation(separation(), prices, date(2024, 6, 30))
    assert earlier.factors["prnd"] == pytest.approx(20 / 21.6)
    with pytest.raises(AllocationError, match="no price"):
        economic_allocation(separation(), prices, date(2019, 1, 1))
    with pytest.raises(AllocationError, match="currencies"):
        economic_allocation(separation(), [*prices, DatedPrice("lace", 1, "USD", "kg", date(2025, 2, 1))],
                            date(2025, 6, 30))


def test_physical_allocation_and_substitution_solve_by_hand() -> None:
    a = physical_allocation(separation(), {"prnd": 0.99, "lace": 0.5}, "REO content", "kg REO")
    # 0.2 × 0.99 = 0.198, 0.8 × 0.5 = 0.4 ⇒ 0.198/0.598
    assert a.factors["prnd"] == pytest.approx(0.198 / 0.598) and a.method == "physical:REO content"
    # substitution: La/Ce displaces a made-up "lace-market" process
    sub = substitution(separation(), "prnd", {"lace": "lace-market"})
    assert sub.factors == {"prnd": 1.0, "lace": 0.0}
    assert [p.id for p in sub.processes] == ["prnd"]
    avoided = [x for x in sub.technosphere if x.supplier == "lace-market"]
    assert len(avoided) == 1 and avoided[0].amount == -0.8
    procs = (PROCESSES[0], Process("lace-market", "La/Ce, market", "La/Ce", "kg"), *sub.processes)
    s = ProductSystem(procs, FLOWS, (*sub.technosphere,),
                      (*sub.biosphere, BiosphereExchange("electricity", "co2", 0.5),
                       BiosphereExchange("lace-market", "co2", 1.0)), {"test-gwp": TEST_GWP})
    # 1 kg PrNd oxide = 5 runs: 50 kWh × 0.5 + 10 kg CO2 − 4 kg La/Ce avoided × 1 = 31
    assert LCA.from_system(s, "test-gwp").score({"prnd": 1.0}) == pytest.approx(31.0, rel=1e-13)
    with pytest.raises(AllocationError, match="substitute"):
        substitution(separation(), "prnd", {})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-6, 1e6), st.floats(0.0, 1e6)), min_size=1, max_size=8)
       .filter(lambda xs: sum(p for _, p in xs) > 0))
def test_allocation_factors_sum_to_one_and_conserve_every_exchange(outputs_prices: list[tuple[float, float]]) -> None:
    products = tuple(CoProduct(f"p{i}", f"p{i}", amount, "kg") for i, (amount, _) in enumerate(outputs_prices))
    mop = MultiOutputProcess("m", "m", products, (TechnosphereExchange("m", "electricity", 7.0),),
                             (BiosphereExchange("m", "co2", 3.0),))
    prices = [DatedPrice(f"p{i}", price, "CNY", "kg", date(2025, 1, 1)) for i, (_, price) in enumerate(outputs_prices)]
    for a in (mass_allocation(mop), economic_allocation(mop, prices, date(2025, 12, 31)),
              physical_allocation(mop, {p.id: 1.0 + i for i, p in enumerate(products)}),
              substitution(mop, "p0", {p.id: "electricity" for p in products[1:]})):
        assert math.fsum(a.factors.values()) == pytest.approx(1.0, abs=1e-12)
        assert all(f >= 0 for f in a.factors.values())
        if a.method != "substitution":   # allocated processes together use and emit what the original did
            assert math.fsum(x.amount for x in a.technosphere) == pytest.approx(7.0, rel=1e-12)
            assert math.fsum(b.amount for b in a.biosphere) == pytest.approx(3.0, rel=1e-12)


# --- Monte Carlo --------------------------------------------------------------------------------------

def test_distribution_parameters_are_checked() -> None:
    assert Uncertainty.lognormal(gsd=math.exp(0.3)).sigma == pytest.approx(0.3)
    with pytest.raises(LCAError):
        Uncertainty.lognormal(sigma=0.3, gsd=1.2)
    with pytest.raises(LCAError, match="> 1"):
        Uncertainty.lognormal(gsd=0.9)
    with pytest.raises(LCAError, match="positive"):
        hand_system(co2_unc=Uncertainty.normal(-1.0))


def test_monte_carlo_is_reproducible_with_a_seed_and_independent_of_batching() -> None:
    data = matrix_data(hand_system(elec_unc=Uncertainty.lognormal(sigma=0.2),
                                   co2_unc=Uncertainty.triangular(1.0, 2.5)), "test-gwp")
    a = monte_carlo(data, {"steel": {"steel": 1.0}}, 500, seed=7)
    b = monte_carlo(data, {"steel": {"steel": 1.0}}, 500, seed=7, batch_size=33)
    np.testing.assert_array_equal(a.scores, b.scores)
    c = monte_carlo(data, {"steel": {"steel": 1.0}}, 500, seed=8)
    assert not np.array_equal(a.scores, c.scores)
    mc = MonteCarlo(data, {"steel": {"steel": 1.0}}, seed=7)
    first, second = mc.run(200), mc.run(300)      # continuing the stream = one run of 500
    np.testing.assert_array_equal(np.vstack([first.scores, second.scores]), a.scores)


def brute_force_scores(data: MatrixData, t_vals: np.ndarray, b_vals: np.ndarray,
                       demand: dict[str, float]) -> list[float]:
    """Rebuild A and B with each iteration's draws and solve from scratch (the slow, obvious way)."""
    tech, bio = data.technosphere, data.biosphere
    out = []
    for i in range(t_vals.shape[0]):
        t_amounts, b_amounts = tech.amounts.copy(), bio.amounts.copy()
        t_amounts[tech.uncertain] = t_vals[i]
        b_amounts[bio.uncertain] = b_vals[i]
        it = MatrixData(ExchangeArrays.certain(tech.rows, tech.cols, t_amounts),
                        ExchangeArrays.certain(bio.rows, bio.cols, b_amounts), data.characterisation,
                        data.processes, data.flows)
        out.append(LCA(it, solver="colamd").score(demand))
    return out


@pytest.mark.parametrize("dense", [True, False])
def test_monte_carlo_scores_equal_solving_each_draw_from_scratch(dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not dense:
        monkeypatch.setattr(unc_module, "DENSE_FOREGROUND_LIMIT", 0)
    # uncertainty only on coal's electricity use ⇒ coal and its consumers (electricity, steel) are foreground;
    # plus a background process ("grid") used by coal but using nothing uncertain
    procs = (*PROCESSES, Process("grid", "grid", "grid", "kWh"))
    s = hand_system()
    s = ProductSystem(procs, FLOWS,
                      (*s.technosphere[:3], TechnosphereExchange("coal", "electricity", 0.1,
                                                                 uncertainty=Uncertainty.uniform(0.05, 0.2)),
                       TechnosphereExchange("coal", "grid", 0.3, uncertainty=Uncertainty.normal(0.05))),
                      (*s.biosphere, BiosphereExchange("grid", "co2", 0.7)), {"test-gwp": TEST_GWP})
    data = matrix_data(s, "test-gwp")
    mc = MonteCarlo(data, {"steel": {"steel": 1.0}, "grid": {"grid": 2.0}}, seed=11)
    assert mc.foreground_size == 3                   # grid stays in the background
    result = mc.run(40, batch_size=16)
    t_vals, b_vals = MonteCarlo(data, {"x": {"steel": 1.0}}, seed=11).draw(40)
    np.testing.assert_allclose(result.column("steel"), brute_force_scores(data, t_vals, b_vals, {"steel": 1.0}),
                               rtol=1e-11)
    np.testing.assert_allclose(result.column("grid"), 1.4, rtol=1e-14)
    whole = MonteCarlo(data, {"steel": {"steel": 1.0}, "grid": {"grid": 2.0}}, seed=11, partition=False)
    assert whole.foreground_size == 4
    np.testing.assert_allclose(whole.run(40).scores, result.scores, rtol=1e-11)


def test_monte_carlo_mean_of_a_lognormal_exchange_converges_to_the_analytic_mean() -> None:
    sigma = 0.5
    data = matrix_data(hand_system(co2_unc=Uncertainty.lognormal(sigma=sigma)), "test-gwp")
    n = 20_000
    result = monte_carlo(data, {"steel": {"steel": 1.0}}, n, seed=2024)
    # score is linear in steel's CO2: (349.5 − 1.5·95)/93 + x·95/93, E[x] = 1.5·exp(σ²/2)
    analytic = (349.5 - 142.5) / 93 + 1.5 * math.exp(sigma**2 / 2) * 95 / 93
    s = result.summary()["steel"]
    assert s.n == n
    assert abs(s.mean - analytic) < 4 * s.sem
    # the median of the score is that of the lognormal
    assert s.percentiles[50.0] == pytest.approx((349.5 - 142.5) / 93 + 1.5 * 95 / 93, rel=0.02)


@pytest.mark.parametrize(("uncertainty", "mean"), [
    (Uncertainty.normal(0.3), 1.5), (Uncertainty.triangular(1.0, 2.6), (1.0 + 1.5 + 2.6) / 3),
    (Uncertainty.uniform(1.0, 2.2), 1.6),
])
def test_monte_carlo_means_of_other_distributions(uncertainty: Uncertainty, mean: float) -> None:
    data = matrix_data(hand_system(co2_unc=uncertainty), "test-gwp")
    s = monte_carlo(data, {"steel": {"steel": 1.0}}, 20_000, seed=5).summary()["steel"]
    analytic = (349.5 - 142.5) / 93 + mean * 95 / 93
    assert abs(s.mean - analytic) < 4 * s.sem


def test_common_random_numbers_across_compared_demands() -> None:
    data = matrix_data(hand_system(elec_unc=Uncertainty.lognormal(sigma=0.3), co2_unc=Uncertainty.normal(0.2)),
                       "test-gwp")
    demands = {"one": {"steel": 1.0}, "two": {"steel": 2.0}, "elec": {"electricity": 1.0}}
    r = monte_carlo(data, demands, 300, seed=1)
    # same draws for every demand: 2 kg steel is exactly twice 1 kg in every iteration
    np.testing.assert_allclose(r.column("two"), 2 * r.column("one"), rtol=1e-13)
    # and the draws do not depend on which demands are compared
    alone = monte_carlo(data, {"one": {"steel": 1.0}}, 300, seed=1)
    np.testing.assert_array_equal(alone.column("one"), r.column("one"))
    # so a comparison carries only the noise of what differs: two − one has the spread of one, not √5 times it
    assert np.std(r.column("two") - r.column("one")) == pytest.approx(np.std(r.column("one")), rel=1e-12)


def test_summarise() -> None:
    s = summarise(np.array([1.0, 2.0, 3.0, 4.0]), percentiles=(50.0,))
    assert (s.mean, s.n, s.percentiles) == (2.5, 4, {50.0: 2.5})
    assert s.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1)) and s.sem == pytest.approx(s.std / 2)
    with pytest.raises(LCAError):
        summarise(np.array([]))


def test_no_uncertainty_gives_the_deterministic_score() -> None:
    r = monte_carlo(matrix_data(hand_system(), "test-gwp"), {"s": {"steel": 1.0}}, 5, seed=0)
    assert r.foreground_size == 0
    np.testing.assert_allclose(r.scores[:, 0], 349.5 / 93, rtol=1e-13)
