"""The one pint registry of rareeco.

Conventions (DESIGN.md style 2–3):

* ``Nm3`` is a cubic metre of gas at normal conditions (0 °C, 101.325 kPa);
  ``wanNm3`` (万Nm3) is 10⁴ Nm3, the unit of Chinese gas statistics.
* ``kgce``/``tce`` (coal equivalent) are their own dimension: converting energy to
  coal equivalent needs a *convention* (GB/T 2589 equivalent or generation-equivalent
  value), which is a reference factor, never an implicit unit conversion.
* Each greenhouse gas is its own dimension (``t CO2``, ``t CF4`` …).  Adding CF4 to
  CO2 is a DimensionalityError; ``t CO2e`` exists only through a named GWP context
  (:func:`gwp_context`), as in openscm-units.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import pint
from pint.facets.context.objects import Context

from rareeco.errors import UnitError

ureg: pint.UnitRegistry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
Q_ = ureg.Quantity

_DEFINITIONS = [
    "Nm3 = meter ** 3",
    "wanNm3 = 10000 * Nm3",
    "tkm = tonne * kilometer",
    "kgce = [coal_equivalent]",
    "tce = 1000 * kgce",
    "C = [carbon]",
    "CO2 = [carbon_dioxide]",
    "CO2e = [carbon_dioxide_equivalent]",
    "CH4 = [methane]",
    "CH4_nonfossil = [methane_nonfossil]",
    "N2O = [nitrous_oxide]",
    "CF4 = [tetrafluoromethane]",
    "C2F6 = [hexafluoroethane]",
    "SF6 = [sulfur_hexafluoride]",
    # currencies: each its own dimension; exchange rates are dated data, never a unit conversion
    "CNY = [currency_cny]",
    "USD = [currency_usd]",
    "EUR = [currency_eur]",
    # EN 15804+A2 / EF 3.1 characterisation units (AP, EP-terrestrial, EP-marine, EP-freshwater): each its own
    # dimension, so an acidification factor is never added to a eutrophication one
    "mol_H_eq = [acidification_mol_h_eq]",
    "mol_N_eq = [eutrophication_mol_n_eq]",
    "kg_N_eq = [eutrophication_kg_n_eq]",
    "kg_P_eq = [eutrophication_kg_p_eq]",
]
for _d in _DEFINITIONS:
    ureg.define(_d)

GASES = ("CO2", "CH4", "CH4_nonfossil", "N2O", "CF4", "C2F6", "SF6")

# Spellings seen in plant spreadsheets → pint expressions.  Names only, no factors.
ALIASES: Mapping[str, str] = {
    "t": "tonne", "吨": "tonne", "kg": "kilogram", "千克": "kilogram", "公斤": "kilogram",
    "kwh": "kWh", "千瓦时": "kWh", "度": "kWh", "mwh": "MWh", "兆瓦时": "MWh", "gwh": "GWh",
    "万kwh": "10000 * kWh", "万千瓦时": "10000 * kWh",
    "gj": "GJ", "mj": "MJ", "tj": "TJ",
    "m3": "meter ** 3", "m³": "meter ** 3", "立方米": "meter ** 3",
    "nm3": "Nm3", "nm³": "Nm3", "标方": "Nm3", "万nm3": "wanNm3", "万立方米": "10000 * meter ** 3",
    "t·km": "tkm", "t*km": "tkm", "tkm": "tkm", "t km": "tkm", "吨公里": "tkm",
    "kgce": "kgce", "tce": "tce",
    # characterisation units as EN 15804+A2 writes them (matched without spaces, lower case)
    **{f"{eq}{dot}{per}": f"{unit}{' / ' + per_unit if per else ''}"
       for eq, unit in (("molh+eq", "mol_H_eq"), ("molneq", "mol_N_eq"), ("kgneq", "kg_N_eq"),
                        ("kgpeq", "kg_P_eq"))
       for dot in ("", ".") for per, per_unit in (("", ""), ("/kg", "kilogram"), ("/t", "tonne"))},
}


# A number raised to a power ("9**9**9 kWh") would keep pint computing for minutes: never a unit.
_POWER_OF_NUMBER = re.compile(r"[\d.)]\s*(\*\*|\^)")


def parse_unit(text: str) -> pint.Unit | pint.Quantity:
    """Parse a unit as written in a file; raise :class:`UnitError` with a fix if it is not a unit.

    The text comes from users' files, so every failure of pint's expression parser (tokenizer,
    arithmetic, unknown names) becomes a :class:`UnitError`, and units must scale positively.
    """
    raw = text.strip()
    key = raw.lower().replace(" ", "") if raw.lower().replace(" ", "") in ALIASES else raw.lower()
    expr = ALIASES.get(key, raw)
    bad = UnitError(f"unknown unit {text!r}", fix="write a unit such as kWh, MWh, GJ, t, kg, Nm3, m3 or t·km")
    if not expr or _POWER_OF_NUMBER.search(expr):
        raise bad
    try:
        parsed = ureg.parse_expression(expr)
    except Exception as exc:  # pint raises many kinds (TokenError, ZeroDivisionError, DefinitionSyntaxError …)
        raise bad from exc
    if isinstance(parsed, pint.Quantity) and not parsed.magnitude > 0:   # "-1 kWh", "0 kWh"
        raise bad
    if not isinstance(parsed, pint.Quantity | pint.Unit):                 # a bare number such as "5"
        raise bad
    return parsed


@lru_cache(maxsize=4096)
def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiplier that turns a magnitude in ``from_unit`` into ``to_unit``.

    Raises :class:`UnitError` when the dimensions differ.
    """
    src = parse_unit(from_unit)
    dst = parse_unit(to_unit)
    q = src if isinstance(src, pint.Quantity) else Q_(1, src)
    try:
        out = q.to(dst if not isinstance(dst, pint.Quantity) else dst.units)
    except pint.errors.DimensionalityError as exc:
        raise UnitError(f"{from_unit!r} is not convertible to {to_unit!r}",
                        fix=f"give the amount in a unit of the same kind as {to_unit}") from exc
    scale = dst.magnitude if isinstance(dst, pint.Quantity) else 1.0
    return float(out.magnitude) / float(scale)


def same_dimension(from_unit: str, to_unit: str) -> bool:
    try:
        conversion_factor(from_unit, to_unit)
        return True
    except UnitError:
        return False


def gwp_context(name: str, gwp_t_co2e_per_t: Mapping[str, float]) -> Context:
    """A pint context named ``name`` that turns a mass of each gas into t CO2e.

    ``gwp_t_co2e_per_t`` maps gas → GWP100 (from a reference factor set).
    """
    ctx = Context(name)
    for gas, gwp in gwp_t_co2e_per_t.items():
        src = f"[mass] * {ureg.get_dimensionality(gas)}"

        def _transform(reg: pint.UnitRegistry, x: pint.Quantity, g: float = gwp, gas_: str = gas) -> pint.Quantity:
            return (x / reg(gas_)) * g * reg("CO2e")

        ctx.add_transformation(src, "[mass] * [carbon_dioxide_equivalent]", _transform)  # type: ignore[arg-type]
    return ctx


def to_co2e_t(mass: pint.Quantity, ctx: Context) -> float:
    """Mass of a gas (e.g. ``Q_(2, 't CF4')``) as t CO2e under the GWP context ``ctx``."""
    with ureg.context(ctx):  # type: ignore[arg-type]  # pint accepts a Context object too
        return float(mass.to("t CO2e").magnitude)
