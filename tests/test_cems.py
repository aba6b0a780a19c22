"""CEMS processing (HJ 75-2017 conversions, hourly/daily validity, 40 CFR 75.33), each figure worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rareeco.errors import ValidationFailed
from rareeco.monitoring import cems


def test_conversions_by_hand() -> None:
    # 100 mg/m3 at 90,000 Pa and 150 °C: × 101325/90000 × (273 + 150)/273 = × 1.125833 × 1.549451
    assert cems.to_standard_state(100.0, 90_000.0, 150.0) == pytest.approx(174.4423, rel=1e-6)
    assert cems.to_dry_basis(50.0, 10.0) == pytest.approx(55.5556, rel=1e-5)          # 50 / 0.9
    assert cems.ppm_to_mg_m3(100.0, "SO2") == pytest.approx(286.0, rel=1e-4)          # 64.064 / 22.4 × 100
    assert cems.nox_as_no2(100.0, 10.0) == pytest.approx(100 * 46.005 / 30.006 + 10)  # 163.32
    assert cems.to_reference_o2(60.0, 12.0, 9.0) == pytest.approx(80.0)               # 60 × (21 − 9)/(21 − 12)
    assert cems.emission_rate_kg_h(35.0, 200_000.0) == pytest.approx(7.0)             # 35 mg × 2e5 m3 = 7 kg
    assert cems.molar_mass("NO2") == pytest.approx(14.007 + 2 * 15.999)


def test_refusals_name_the_channel() -> None:
    with pytest.raises(ValidationFailed, match="O2"):
        cems.to_reference_o2(60.0, np.array([12.0, 21.0]), 9.0)
    with pytest.raises(ValidationFailed, match="moisture"):
        cems.to_dry_basis(50.0, 100.0)


def minutes(hour: str, values: list[float], flags: list[str]) -> tuple[pd.Series, pd.Series]:
    idx = pd.date_range(hour, periods=len(values), freq="min")
    return pd.Series(values, index=idx), pd.Series(flags, index=idx)


def test_hourly_validity_and_flags() -> None:
    # 50 normal minutes of 10 and 10 maintenance minutes of 1000: the maintenance values are left out, and
    # 50 ≥ 0.75 × 60 valid values make the hour valid with a mean of 10
    v, f = minutes("2025-06-01 08:00", [10.0] * 50 + [1000.0] * 10, ["N"] * 50 + ["M"] * 10)
    h = cems.hourly(v, f, 60)
    assert h.iloc[0][["mean", "n_valid", "status", "flags"]].tolist() == [10.0, 50, "valid", "M:10"]
    # 40 valid minutes are short of 45: invalid, no average
    v, f = minutes("2025-06-01 09:00", [10.0] * 60, ["N"] * 40 + ["C"] * 20)
    h = cems.hourly(v, f, 60)
    assert h.iloc[0]["status"] == "invalid" and h.iloc[0]["mean"] is None
    # the plant stopped the whole hour: stopped, not missing
    v, f = minutes("2025-06-01 10:00", [0.0] * 60, ["F"] * 60)
    assert cems.hourly(v, f, 60).iloc[0]["status"] == "stopped"
    # a stricter rule is configuration
    v, f = minutes("2025-06-01 08:00", [10.0] * 50 + [1000.0] * 10, ["N"] * 50 + ["M"] * 10)
    assert cems.hourly(v, f, 60, cems.Validity(hour_min_valid_fraction=0.9)).iloc[0]["status"] == "invalid"


def test_daily_needs_enough_valid_hours() -> None:
    idx = pd.date_range("2025-06-01", periods=24, freq="h")
    hours = pd.DataFrame({"mean": [5.0] * 20 + [None] * 4, "status": ["valid"] * 20 + ["invalid"] * 4}, index=idx)
    d = cems.daily(hours)
    assert d.iloc[0][["mean", "valid_hours", "status"]].tolist() == [5.0, 20, "valid"]
    assert cems.daily(hours, cems.Validity(day_min_valid_hours=21)).iloc[0]["status"] == "invalid"


def test_missing_data_substitution_tiers() -> None:
    s = pd.Series([10.0, np.nan, np.nan, 20.0] + [float(x) for x in range(1, 21)])
    out = cems.substitute_missing(s, 96.0, 500.0)
    assert out["value"].iloc[1:3].tolist() == [15.0, 15.0]                   # average of 10 and 20
    assert out["method"].iloc[1] == "average before/after" and out["substituted"].sum() == 2
    long_gap = pd.Series([10.0] + [np.nan] * 10 + [20.0] + [float(x) for x in range(1, 21)])
    p95 = float(long_gap.dropna().quantile(0.95))
    assert cems.substitute_missing(long_gap, 92.0, 500.0)["value"].iloc[5] == pytest.approx(p95)
    assert cems.substitute_missing(s, 85.0, 500.0)["value"].iloc[1] == 20.0    # the maximum hourly value
    assert cems.substitute_missing(s, 70.0, 500.0)["value"].iloc[1] == 500.0   # the maximum potential value


def test_quantity() -> None:
    assert cems.quantity_t(pd.Series([7.0] * 24 + [np.nan])) == pytest.approx(0.168)   # 7 kg/h × 24 h
