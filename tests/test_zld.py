"""Zero-liquid-discharge balance, worked by hand."""

from __future__ import annotations

import pytest

from rareeco.errors import ValidationFailed
from rareeco.monitoring.zld import Period, Salt, balance

# A month: 10,000 m3 fed, tanks 500 → 300 m3 (200 m3 given up); 9,300 m3 distillate reused, 400 m3 purged to the
# crystalliser, 300 m3 vented, two salts: 250 t NH4Cl at 4 % moisture (10 m3 water) and 100 t Na2SO4 at 10 %
# (10 m3). In 10,200; out 9,300 + 400 + 20 + 300 = 10,020; closure 180 / 10,200 = 1.765 %.
MONTH = Period(feed_m3=10_000, distillate_reused_m3=9_300, purge_m3=400, discharge_m3=0, tank_start_m3=500,
               tank_end_m3=300, vented_m3=300, salts=(Salt("NH4Cl", 250, 4), Salt("Na2SO4", 100, 10)),
               feed_tds_g_l=35.0, purge_tds_g_l=50.0, energy_kwh=480_000)


def test_a_month_that_closes_is_zero_discharge() -> None:
    b = balance(MONTH, tolerance_pct=2.0)
    assert b["water_in_m3"] == 10_200 and b["water_out_m3"] == pytest.approx(10_020)
    assert b["closure_pct"] == pytest.approx(100 * 180 / 10_200)
    assert b["recovery_pct"] == pytest.approx(93.0)
    assert b["kwh_per_m3_evaporated"] == pytest.approx(480_000 / 9_600) and b["kwh_per_m3_feed"] == 48.0
    # salts: 350 t in (10,000 m3 × 35 g/L); out 240 + 90 dry + 400 m3 × 50 g/L = 350 t: the salt balance closes
    assert b["salt_in_t"] == 350.0 and b["salt_out_t"] == pytest.approx(350.0)
    assert b["salt_closure_pct"] == pytest.approx(0)
    assert b["zero_discharge"] is True and b["reasons"] == []


def test_not_zero_discharge_when_the_meter_reads_or_the_balance_is_open() -> None:
    assert balance(MONTH, tolerance_pct=1.5)["zero_discharge"] is False          # 1.765 % > 1.5 %
    leaked = Period(**{**MONTH.__dict__, "discharge_m3": 5.0})
    b = balance(leaked, tolerance_pct=2.0)
    assert b["zero_discharge"] is False and "discharge meter reads 5 m3" in b["reasons"][0]


def test_bad_readings_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="negative"):
        Period(feed_m3=10, distillate_reused_m3=-1, purge_m3=0, discharge_m3=0)
    with pytest.raises(ValidationFailed, match="no feed"):
        Period(feed_m3=0, distillate_reused_m3=0, purge_m3=0, discharge_m3=0)
