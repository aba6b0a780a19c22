"""Exceedance events from hourly averages, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rareeco.errors import ValidationFailed
from rareeco.monitoring.limits import Limit, exceedances


def test_events_start_end_peak() -> None:
    # SO2 hourly averages against an invented 100 mg/m3 limit: over at 02:00–03:59 (peak 130 at 03:00) and at
    # 06:00; the NaN at 05:00 (no valid average) separates nothing that is over
    idx = pd.date_range("2025-06-01", periods=8, freq="h")
    s = pd.Series([80, 95, 120, 130, 90, np.nan, 101, 99], index=idx)
    ev = exceedances(s, Limit("a21026", 100.0, "mg/m3"))
    assert [(str(e["start"]), str(e["end"]), e["periods"], e["peak"]) for e in ev] == [
        ("2025-06-01 02:00:00", "2025-06-01 04:00:00", 2, 130.0),
        ("2025-06-01 06:00:00", "2025-06-01 07:00:00", 1, 101.0)]
    assert str(ev[0]["peak_at"]) == "2025-06-01 03:00:00" and ev[0]["exceedance_pct"] == pytest.approx(30.0)
    assert ev[0]["duration_h"] == 2.0


def test_a_gap_in_time_splits_an_event() -> None:
    idx = pd.DatetimeIndex(["2025-06-01 01:00", "2025-06-01 02:00", "2025-06-01 05:00"])
    ev = exceedances(pd.Series([150.0, 150.0, 150.0], index=idx), Limit("a21026", 100.0, "mg/m3"))
    assert [e["periods"] for e in ev] == [2, 1]


def test_daily_limits_and_bad_limits() -> None:
    idx = pd.date_range("2025-06-01", periods=3, freq="D")
    ev = exceedances(pd.Series([5.0, 7.0, 4.0], index=idx), Limit("a21018", 6.0, "mg/m3", "d"))
    assert len(ev) == 1 and ev[0]["duration_h"] == 24.0
    with pytest.raises(ValidationFailed, match="positive"):
        Limit("a21018", 0.0, "mg/m3")
    with pytest.raises(ValidationFailed, match="period"):
        Limit("a21018", 1.0, "mg/m3", "w")
