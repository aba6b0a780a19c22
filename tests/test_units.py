"""Units: conversions at the import boundary and GWP contexts."""

import pint
import pytest

from rareeco.errors import UnitError
from rareeco.units import Q_, conversion_factor, gwp_context, to_co2e_t


@pytest.mark.parametrize(("src", "dst", "factor"), [
    ("kWh", "MWh", 1e-3), ("GJ", "MWh", 1 / 3.6), ("万Nm3", "Nm3", 1e4), ("kg", "t", 1e-3), ("吨", "t", 1.0),
    ("t·km", "tkm", 1.0), ("万kWh", "MWh", 10.0), ("千瓦时", "MWh", 1e-3), ("GJ/wanNm3", "TJ/Nm3", 1e-7),
    ("kg CO2/TJ", "t CO2/TJ", 1e-3),
])
def test_conversion_factors(src: str, dst: str, factor: float) -> None:
    assert conversion_factor(src, dst) == pytest.approx(factor, rel=1e-12)


def test_wrong_dimension_and_unknown_unit_say_how_to_fix() -> None:
    with pytest.raises(UnitError, match="not convertible") as e:
        conversion_factor("kWh", "t")
    assert e.value.fix and "same kind" in e.value.fix
    with pytest.raises(UnitError, match="unknown unit"):
        conversion_factor("bogons", "t")


def test_gases_do_not_add_without_a_gwp_context() -> None:
    with pytest.raises(pint.DimensionalityError):
        Q_(1, "t CF4") + Q_(1, "t CO2")
    with pytest.raises(pint.DimensionalityError):
        Q_(1, "t CF4").to("t CO2e")


def test_gwp_context_converts_each_gas() -> None:
    ctx = gwp_context("test", {"CO2": 1.0, "CF4": 7380.0, "C2F6": 12400.0})
    assert to_co2e_t(Q_(2, "t CF4"), ctx) == pytest.approx(14760.0)
    assert to_co2e_t(Q_(500, "kg C2F6"), ctx) == pytest.approx(6200.0)
    assert to_co2e_t(Q_(3, "t CO2"), ctx) == pytest.approx(3.0)


@pytest.mark.parametrize("text", ["(", "2024/02/29", "9**9**9 kWh", "10^400 kWh", "-1 kWh", "0 kWh", "5", "",
                                  "1/0 kWh"])
def test_text_that_is_not_a_unit_is_a_unit_error_quickly(text: str) -> None:
    with pytest.raises(UnitError):
        conversion_factor(text, "MWh")
