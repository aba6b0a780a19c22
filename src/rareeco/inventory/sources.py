"""Emission coefficients per unit of activity: one pure function per source and method.

Each function takes the factor table (and the site/year where it matters) and returns a
:class:`Coefficient` per gas in t of gas per canonical unit of the activity, with the
factor rows it used and any note a reader must see (a fallback, an omission).

Methods
-------
``ghg-protocol``
    GHG Protocol Corporate Standard (2004) and Scope 2 Guidance (2015) / ISO 14064-1:2018:
    fuels by IPCC 2006 (NCV × emission factor), oxalate carbon at calcination by full-carbon
    stoichiometry (CO counted as oxidised), scope 2 both location- and market-based.
``cn-2015``
    China GHG accounting guideline for other non-ferrous metal smelting and rolling
    enterprises (trial, 2015): fuels by AD × NCV × carbon content × oxidation × 44/12,
    process CO2 from oxalic acid consumed × 0.349 × purity (calcination not counted again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rareeco.reference import Factor, FactorTable
from rareeco.reference.catalogue import Activity
from rareeco.units import conversion_factor

METHODS = ("ghg-protocol", "cn-2015")


@dataclass
class Coefficient:
    """t of ``gas`` per canonical unit of the activity, under ``basis``."""

    gas: str
    t_per_unit: float
    basis: str = ""                 # "" for scope 1/3; "location" or "market" for scope 2
    factors: list[Factor] = field(default_factory=list)
    note: str = ""


@dataclass
class Coefficients:
    items: list[Coefficient] = field(default_factory=list)
    unquantified: str = ""          # reason when a needed factor is missing
    notes: list[str] = field(default_factory=list)


def _per(f: Factor, unit: str) -> float:
    """Value of factor ``f`` expressed in ``unit``."""
    return f.value * conversion_factor(f.unit, unit)


def fuel_ipcc(fuel: str, canon_unit: str, table: FactorTable) -> Coefficients:
    """IPCC 2006 Vol. 2 Eq. 2.1: E = fuel × NCV × EF, for every gas with an ``fuel_ef`` row.

    Natural gas is metered by volume; the only volumetric NCV available is the 2015 guideline's
    (389.31 GJ per 10⁴ Nm³), so it is used here too.
    """
    out = Coefficients()
    if canon_unit == "Nm3":
        ncv = table.find("fuel_ncv_volume", fuel)
        ncv_tj = _per(ncv, "TJ/Nm3") if ncv else None
    else:
        ncv = table.find("fuel_ncv_mass", fuel)
        ncv_tj = _per(ncv, "TJ/t") if ncv else None
    if ncv is None or ncv_tj is None:
        out.unquantified = f"no net calorific value for {fuel}; add a factor of kind fuel_ncv_mass/fuel_ncv_volume"
        return out
    for ef in table.all("fuel_ef", fuel):
        if ef.gas and not any(c.gas == ef.gas for c in out.items):
            out.items.append(Coefficient(ef.gas, ncv_tj * _per(ef, f"t {ef.gas}/TJ"), factors=[ncv, ef]))
    if not out.items:
        out.unquantified = f"no emission factor (kind fuel_ef) for {fuel}"
    return out


def fuel_cn2015(fuel: str, canon_unit: str, table: FactorTable) -> Coefficients:
    """2015 guideline Eq. (2)–(4): E = AD × NCV × CC × OF × 44/12 (CO2 only).

    Where the guideline gives no NCV (diesel: sources disagree) the IPCC default is used and
    the result says so; where it gives no carbon content, the IPCC route is used instead.
    """
    cc = table.find("fuel_carbon_content", fuel)
    of = table.find("fuel_oxidation", fuel)
    if cc is None or of is None:
        out = fuel_ipcc(fuel, canon_unit, table)
        out.notes.append(f"cn-2015: the guideline's carbon content/oxidation for {fuel} is not in the factor "
                         "sets; IPCC 2006 factors used instead")
        return out
    notes = []
    if canon_unit == "Nm3":
        ncv = table.find("fuel_ncv_volume", fuel)
        ncv_tj = _per(ncv, "TJ/Nm3") if ncv else None
    else:
        ncv = next((f for f in table.all("fuel_ncv_mass", fuel) if not f.set_id.startswith("ipcc")), None)
        if ncv is None:
            ncv = table.find("fuel_ncv_mass", fuel)
            if ncv is not None:
                notes.append(f"cn-2015: no guideline NCV for {fuel} (value unknown here); IPCC default "
                             f"{ncv.value:g} {ncv.unit} used — supply the plant's NCV as a factor set")
        ncv_tj = _per(ncv, "TJ/t") if ncv else None
    if ncv is None or ncv_tj is None:
        return Coefficients(unquantified=f"no net calorific value for {fuel}")
    c2co2 = table.get("carbon_to_co2", "C")
    coef = ncv_tj * _per(cc, "t C/TJ") * _per(of, "dimensionless") * _per(c2co2, "t CO2/t C")
    return Coefficients([Coefficient("CO2", coef, factors=[ncv, cc, of, c2co2])], notes=notes)


def oxalic_acid(method: str, table: FactorTable) -> Coefficients:
    """Guideline process CO2: acid consumed × 0.349 × purity.  Not a source in ``ghg-protocol``,
    which counts the same carbon at calcination (full-carbon stoichiometry)."""
    if method != "cn-2015":
        return Coefficients(notes=["ghg-protocol: oxalic acid carbon is counted at oxalate calcination"])
    ef = table.get("oxalic_acid_co2", "oxalic_acid")
    purity = table.get("oxalic_acid_purity", "oxalic_acid")
    return Coefficients([Coefficient("CO2", _per(ef, "t CO2/t") * _per(purity, "dimensionless"),
                                     factors=[ef, purity])])


def oxalate_calcination(key: str, method: str, table: FactorTable) -> Coefficients:
    """Full-carbon stoichiometry of RE2(C2O4)3 → RE2O3 + 3 CO + 3 CO2 (REFERENCE §3), per t oxide."""
    if method == "cn-2015":
        return Coefficients(notes=["cn-2015: oxalate carbon is counted as oxalic acid consumed"])
    return stoichiometric(key, table)


def stoichiometric(key: str, table: FactorTable) -> Coefficients:
    f = table.find("process_co2", key)
    if f is None:
        return Coefficients(unquantified=f"no process factor {key}")
    return Coefficients([Coefficient("CO2", _per(f, "t CO2/t"), factors=[f])])


def direct_gas(gas: str) -> Coefficients:
    """A measured mass of the gas itself (e.g. CF4 from electrolysis cells)."""
    return Coefficients([Coefficient(gas, 1.0)])


def by_factor(kind_key: str, canon_unit: str, table: FactorTable) -> Coefficients:
    """Activity × user-supplied factor(s): scope 3 (purchased goods, transport, waste) and PFC by factor."""
    kind, _, key = kind_key.partition(":")
    rows = table.all(kind, key)
    if not rows:
        return Coefficients(unquantified=f"no factor of kind {kind} for {key} (user-supplied data; "
                                         "add a factor set with rareeco factors add and choose it)")
    out = Coefficients()
    for f in rows:
        gas = f.gas or "CO2e"
        if not any(c.gas == gas for c in out.items):
            out.items.append(Coefficient(gas, _per(f, f"t {gas}/{canon_unit}"), factors=[f]))
    return out


def grid_location(factor: Factor) -> Coefficients:
    return Coefficients([Coefficient("CO2", _per(factor, "t CO2/MWh"), "location", [factor])])


def grid_market(factor: Factor, sign: float = 1.0) -> Coefficients:
    return Coefficients([Coefficient("CO2", sign * _per(factor, "t CO2/MWh"), "market", [factor])])


def coefficients(activity: Activity, method: str, table: FactorTable) -> Coefficients:
    """Coefficients of a scope 1 or scope 3 activity (scope 2 needs the site: see :mod:`.grid`)."""
    calc = activity.calc
    if calc == "fuel_combustion":
        fn = fuel_cn2015 if method == "cn-2015" else fuel_ipcc
        return fn(activity.key, activity.unit, table)
    if calc == "oxalic_acid":
        return oxalic_acid(method, table)
    if calc == "oxalate_calcination":
        return oxalate_calcination(activity.key, method, table)
    if calc == "stoichiometric":
        return stoichiometric(activity.key, table)
    if calc == "direct_gas":
        return direct_gas(activity.gas)
    if calc == "pfc_by_factor":
        return by_factor(f"pfc_ef:{activity.key}", activity.unit, table)
    if calc == "factor_co2e":
        return by_factor(activity.key, activity.unit, table)
    return Coefficients()   # zero, production: no emissions
