"""Regression baselines, savings, Guideline 14 uncertainty and degree-days (rareeco.energy.baseline).

Every expected value here is one a person can check by hand or from the stated law.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rareeco.energy.baseline import (
    Model,
    best_model,
    degree_days,
    fit_model,
    fit_models,
    fractional_savings_uncertainty,
    monthly_degree_days,
    predict,
    production_note,
    range_warnings,
    savings,
)


def synthetic(seed: int = 7, n: int = 24) -> pd.DataFrame:
    """energy = 1000 + 2.5 × production + 8 × HDD + N(0, 20²) per month; ``noise`` is unrelated to energy."""
    rng = np.random.default_rng(seed)
    production = rng.uniform(800, 1200, n)  # t per month
    hdd = rng.uniform(0, 500, n)  # K·d per month
    energy = 1000 + 2.5 * production + 8 * hdd + rng.normal(0, 20, n)  # MWh per month
    return pd.DataFrame({"energy": energy, "production": production, "HDD": hdd, "noise": rng.normal(0, 1, n)},
                        index=pd.period_range("2023-01", periods=n, freq="M"))


def test_best_model_recovers_the_known_law() -> None:
    models = fit_models(synthetic(), "energy", ["production", "HDD", "noise"])
    assert len(models) == 7  # 2**3 - 1 combinations
    best = best_model(models)
    assert best is not None and best.valid and best.reasons == []
    assert best.variables == ("production", "HDD")
    assert best.coefficients["production"] == pytest.approx(2.5, abs=0.15)
    assert best.coefficients["HDD"] == pytest.approx(8.0, abs=0.15)
    assert best.coefficients["const"] == pytest.approx(1000, abs=150)
    assert best.r2 > 0.99 and best.n == 24
    assert best.residual_std == pytest.approx(20, rel=0.5)
    assert production_note(best, ["production"]) is None


def test_pure_noise_variable_is_rejected_by_its_p_value() -> None:
    models = {m.variables: m for m in fit_models(synthetic(), "energy", ["production", "HDD", "noise"])}
    with_noise = models[("production", "HDD", "noise")]
    assert with_noise.p_values["noise"] > 0.2
    assert not with_noise.valid
    assert any("'noise'" in r and "p-value" in r for r in with_noise.reasons)
    only_noise = models[("noise",)]
    assert not only_noise.valid
    assert any("'noise'" in r for r in only_noise.reasons)
    assert any("R²" in r for r in only_noise.reasons)


def test_fewer_than_ten_points_is_invalid_with_that_reason() -> None:
    d = synthetic(n=9)
    m = fit_model(d, "energy", ["production", "HDD"])
    assert m.n == 9 and not m.valid
    assert m.reasons == ["only 9 data points; at least 10 are required"]  # every other rule holds
    assert best_model([m]) is None


def test_exact_line_is_recovered_exactly() -> None:
    """10 points on energy = 3 + 2·x: slope 2, intercept 3, R² = 1, zero residuals."""
    x = np.arange(1.0, 11.0)
    m = fit_model(pd.DataFrame({"e": 3 + 2 * x, "x": x}), "e", ["x"])
    assert m.coefficients["const"] == pytest.approx(3.0, abs=1e-9)
    assert m.coefficients["x"] == pytest.approx(2.0, abs=1e-12)
    assert m.r2 == pytest.approx(1.0)
    assert m.residual_std == pytest.approx(0.0, abs=1e-9)


def test_small_ols_by_hand() -> None:
    """x = 0,1,2,3; y = 1,3,2,4.  x̄ = 1.5, ȳ = 2.5, Sxy = 4, Sxx = 5 → slope 0.8, intercept 1.3.
    Residuals −0.3, 0.9, −0.9, 0.3 → SSE = 1.8; SST = 5 → R² = 0.64, adj. R² = 1 − 0.36·3/2 = 0.46;
    residual std = √(1.8/2) = √0.9."""
    m = fit_model(pd.DataFrame({"y": [1.0, 3, 2, 4], "x": [0.0, 1, 2, 3]}), "y", ["x"])
    assert m.coefficients["x"] == pytest.approx(0.8)
    assert m.coefficients["const"] == pytest.approx(1.3)
    assert m.r2 == pytest.approx(0.64)
    assert m.adj_r2 == pytest.approx(0.46)
    assert m.residual_std == pytest.approx(math.sqrt(0.9))
    assert m.means == {"x": 1.5} and m.energy_mean == 2.5
    assert not m.valid and "only 4 data points; at least 10 are required" in m.reasons


def hand_model() -> Model:
    """energy = 100 + 2 × prod; 12 baseline months, residual std 10, mean energy 200 → CV = 0.05;
    prod baseline mean 50, std 5 → 3σ range 35 … 65."""
    return Model(energy="e", variables=("prod",), coefficients={"const": 100.0, "prod": 2.0},
                 p_values={"const": 0.0, "prod": 0.0}, model_p=0.0, r2=0.9, adj_r2=0.89, n=12, residual_std=10.0,
                 energy_mean=200.0, means={"prod": 50.0}, stds={"prod": 5.0}, valid=True, reasons=[])


def test_savings_and_cusum_by_hand() -> None:
    """prod 50, 60, 40 → baseline 200, 220, 180; actual 190, 215, 165 → savings 10, 5, 15; CUSUM 10, 15, 30;
    total 30 of 600 predicted → F = 0.05."""
    rep = pd.DataFrame({"prod": [50.0, 60, 40], "e": [190.0, 215, 165]}, index=["Jan", "Feb", "Mar"])
    s = savings(hand_model(), rep, "e")
    assert s.table["baseline"].tolist() == [200, 220, 180]
    assert s.table["savings"].tolist() == [10, 5, 15]
    assert s.table["cusum"].tolist() == [10, 15, 30]
    assert s.total == 30 and s.baseline_total == 600 and s.fraction == pytest.approx(0.05)
    assert s.confidence == 0.68


def test_guideline14_uncertainty_by_hand() -> None:
    """CV = 0.05, n = 12, p = 2 (10 dof), m = 3, F = 0.05.  At 90 %: t(0.95, 10) = 1.8125 (tables);
    ΔE/E = 1.26 × 1.8125 × 0.05 × √((1 + 2/12)/3) / 0.05 = 1.26 × 1.8125 × 0.62361 = 1.4241;
    absolute ±1.4241 × 30 = ±42.72 (the savings are not significant at 90 %)."""
    t, fsu = fractional_savings_uncertainty(cv=0.05, n=12, n_params=2, m=3, fraction=0.05, confidence=0.90)
    assert t == pytest.approx(1.8125, abs=1e-4)
    assert fsu == pytest.approx(1.4241, abs=1e-3)
    rep = pd.DataFrame({"prod": [50.0, 60, 40], "e": [190.0, 215, 165]})
    s = savings(hand_model(), rep, "e", confidence=0.90)
    assert s.fractional_uncertainty == pytest.approx(1.4241, abs=1e-3)
    assert s.uncertainty == pytest.approx(42.72, abs=0.05)
    # 68 %: t(0.84, 10) = 1.0464 → ΔE/E = 1.26 × 1.0464 × 0.62361 = 0.8222
    t68, fsu68 = fractional_savings_uncertainty(cv=0.05, n=12, n_params=2, m=3, fraction=0.05)
    assert t68 == pytest.approx(1.0464, abs=1e-3)
    assert fsu68 == pytest.approx(0.8222, abs=1e-3)
    assert fractional_savings_uncertainty(0.05, 12, 2, 3, 0.0)[1] == math.inf


def test_range_warnings_outside_three_sigma() -> None:
    rep = pd.DataFrame({"prod": [50.0, 65.0, 70.0, 30.0]}, index=["Jan", "Feb", "Mar", "Apr"])
    w = range_warnings(hand_model(), rep)
    assert len(w) == 2  # 65 is on the edge and allowed
    assert w[0].startswith("period Mar: prod = 70") and w[1].startswith("period Apr: prod = 30")


def test_production_note_when_no_production_variable() -> None:
    m = fit_model(synthetic(), "energy", ["HDD"])
    note = production_note(m, ["production"])
    assert note is not None and "no production variable" in note


def test_degree_days_by_hand() -> None:
    """Base 18 °C: T = 10, 18, 25, 17.5 → HDD 8, 0, 0, 0.5; CDD 0, 0, 7, 0.
    Monthly: January (30th, 31st) HDD 8, February (1st, 2nd) 0.5; CDD 0 and 7."""
    temps = pd.Series([10.0, 18.0, 25.0, 17.5], index=pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-01",
                                                                         "2024-02-02"]))
    hdd = degree_days(temps)
    cdd = degree_days(temps, kind="cooling")
    assert hdd.tolist() == [8.0, 0.0, 0.0, 0.5]
    assert cdd.tolist() == [0.0, 0.0, 7.0, 0.0]
    assert degree_days(temps, base_c=15.5).tolist() == [5.5, 0.0, 0.0, 0.0]
    assert monthly_degree_days(hdd).tolist() == [8.0, 0.5]
    assert monthly_degree_days(cdd).tolist() == [0.0, 7.0]
    assert [str(p) for p in monthly_degree_days(hdd).index] == ["2024-01", "2024-02"]
    with pytest.raises(ValueError):
        degree_days(temps, kind="both")  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), a=st.floats(100, 5000), b=st.floats(0.1, 10), c=st.floats(-5, 20))
def test_reporting_equal_to_the_prediction_saves_nothing(seed: int, a: float, b: float, c: float) -> None:
    rng = np.random.default_rng(seed)
    base = pd.DataFrame({"p": rng.uniform(100, 200, 15), "h": rng.uniform(0, 300, 15)})
    base["e"] = a + b * base["p"] + c * base["h"] + rng.normal(0, 5, 15)
    m = fit_model(base, "e", ["p", "h"])
    rep = pd.DataFrame({"p": rng.uniform(100, 200, 6), "h": rng.uniform(0, 300, 6)})
    rep["e"] = predict(m, rep)
    s = savings(m, rep, "e")
    scale = abs(s.baseline_total)     # a negative c can make the predicted total negative (hypothesis found it)
    assert np.allclose(s.table["savings"], 0.0, atol=1e-9 * scale)
    assert abs(s.total) <= 1e-9 * scale
    assert np.allclose(s.table["cusum"], 0.0, atol=1e-9 * scale)
