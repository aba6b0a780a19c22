"""Deterministic monthly activity data of the demo organisation (calendar years 2024 and 2025).

The demo organisation (``organisation.toml``) has two sites: a Bayan Obo-type separation plant at
Baotou (3,000 t/yr REO) and an NdFeB-scrap recycling plant at Ganzhou (2,000 t/yr REO).  This module
turns a small set of *invented* plant parameters (the ``PLANT`` table below) into the rows a plant's
ESG engineer would type into the import template: one row per site, month and activity, in the units
plants write (kWh, MWh, Nm3, 万Nm3, t, kg, t·km).

Everything here is pure and deterministic: the small month-to-month noise comes from
``numpy.random.default_rng`` seeded with :data:`SEED`, the year and the site, so a call returns the
same frame every time and a year does not depend on which other year was generated first.

``docs/demo.md`` says which figures are cited (REFERENCE.md), which are computed and which are invented.
"""

from __future__ import annotations

import calendar
import math
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEED = 20230530
"""Fixed seed of the month-to-month noise (never change it: the demo figures in the docs depend on it)."""

YEARS = (2024, 2025)
COLUMNS = ("site", "line", "product", "period_start", "period_end", "activity", "amount", "unit",
           "supplier", "evidence", "note")

# --- invented demo parameters (see docs/demo.md) ------------------------------------------------------

PRNDO_PR_SHARE = 0.25
"""Mass share of Pr6O11 in PrNd oxide (the rest is Nd2O3), both sites [-]."""

PRODUCT_SHARE: dict[str, dict[str, float]] = {
    # share of the line's REO output by product [-]; Bayan Obo-type distribution and NdFeB-magnet scrap
    "baotou": {"la2o3": 0.25, "ceo2": 0.50, "prnd-oxide": 0.22, "smeugd-concentrate": 0.023,
               "heavy-re-concentrate": 0.007},
    "ganzhou": {"prnd-oxide-recycled": 0.95, "dy2o3-recycled": 0.05},
}

OXIDE_LINES = {"baotou": "separation", "ganzhou": "recycling"}
"""The oxide-making line of each site (the sites' other lines are in :mod:`rareeco.demo.downstream`)."""

BASTNAESITE_REO_SHARE = 0.70
"""Share of the concentrate's REO held in bastnäsite (the rest is monazite, which carries no carbon) [-]."""

ROASTED_OXIDE_SHARE = {"La2O3": 0.25, "CeO2": 0.50, "Pr6O11": 0.055, "Nd2O3": 0.165}
"""Oxide distribution of the roasted REO; Sm, Eu, Gd and the heavies (3%) have no catalogue activity."""

HCL_MASS_FRACTION = 0.31
"""Purchased hydrochloric acid is 31% HCl (the catalogue's ``purchased.hcl``)."""

MGO_T_PER_T_NAOH_REPLACED = 0.56
"""MgO bought per t NaOH replaced: 2 NaOH (80.0) ≙ 1 MgO (40.3) gives 0.504, plus purity and losses [t/t]."""

SHUTDOWN_BASE_LOAD = 0.65
"""Share of the base electricity load still drawn in a maintenance-shutdown month [-]."""

SOLAR_SELF_USE = (0.93, 0.60)
"""Self-consumed share of the PV output in a normal month and in a shutdown month [-]."""

SOLAR_YIELD_KWH_PER_KWP = (92, 108, 142, 160, 172, 165, 158, 150, 135, 118, 95, 84)
"""Monthly specific yield of the Baotou PV plant [kWh/kWp] (about 1,580 kWh/kWp per year)."""

HEATING_PROFILE = {
    # share of the peak month's space-heating gas, January..December
    "baotou": (1.00, 0.85, 0.55, 0.20, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.70, 0.95),
    "ganzhou": (0.60, 0.50, 0.20, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.20, 0.50),
}
ELECTRICITY_SEASON = {
    # multiplier on the base electricity load (heat tracing in winter, cooling in summer), January..December
    "baotou": (1.04, 1.03, 1.01, 1.00, 1.00, 1.03, 1.05, 1.04, 1.00, 1.00, 1.02, 1.04),
    "ganzhou": (1.02, 1.02, 1.00, 1.00, 1.03, 1.06, 1.09, 1.09, 1.05, 1.01, 1.00, 1.01),
}


@dataclass(frozen=True)
class _LineYear:
    """Invented operating parameters of one line in one year.

    Rates are per t REO produced unless named otherwise; ``feed`` is concentrate (Baotou) or magnet
    scrap (Ganzhou).
    """

    t_reo_per_month: float          # nominal output at load 1.0 [t REO]
    load: tuple[float, ...]         # monthly load factor, January..December [-]
    shutdown_month: int             # planned maintenance shutdown (1..12)
    shutdown_note: str
    feed_reo_grade: float           # REO mass fraction of the feed [-]
    recovery: float                 # REO in products / REO in feed [-]
    elec_base_kwh: float            # base load of a full month [kWh]
    elec_kwh_per_t: float           # [kWh/t REO]
    gas_feed_nm3_per_t_feed: float  # roasting kiln (Baotou) or scrap drying and de-oiling (Ganzhou) [Nm3/t]
    gas_calc_nm3_per_t_oxide: float  # oxalate calcination [Nm3/t oxide]
    gas_steam_nm3_per_t: float      # steam boilers: leaching, evaporation, solution heating [Nm3/t REO]
    gas_heating_nm3_peak: float     # space heating in the coldest month [Nm3]
    oxalic_t_per_t_oxide: float     # H2C2O4·2H2O consumed per t oxide precipitated [t/t]
    hcl100_t_per_t_feed: float      # leaching HCl as 100% HCl [t/t feed]
    hcl100_t_per_t: float           # SX, stripping and conversion HCl as 100% HCl [t/t REO]
    h2so4_t_per_t_feed: float       # 98% acid for roasting [t/t concentrate]
    naoh_t_per_t: float             # saponification, 100% NaOH basis, before any switch to MgO [t/t REO]
    mgo_switch: tuple[float, ...]   # share of saponification done with Mg(HCO3)2, January..December [-]
    p507_t_per_t: float             # extractant losses [t/t REO]
    kerosene_t_per_t: float         # diluent losses [t/t REO]
    haul_km: float                  # mean road haul of the feed [km]
    hazwaste_t_per_t: float         # hazardous waste sent off site [t/t REO]
    diesel_base_t: float            # site vehicles, fixed part [t/month]
    diesel_t_per_t_feed: float      # loaders handling feed [t/t feed]
    solar_kwp: float = 0.0          # on-site PV, self-consumed [kWp]
    gec_share: float = 0.0          # certificates retired per quarter / grid electricity of the quarter [-]


_NO_MGO = (0.0,) * 12

PLANT: dict[tuple[str, int], _LineYear] = {
    ("baotou", 2024): _LineYear(
        t_reo_per_month=245.0,
        load=(0.93, 0.80, 0.98, 1.00, 1.02, 1.00, 0.97, 0.22, 1.00, 1.03, 1.02, 0.98),
        shutdown_month=8, shutdown_note="planned maintenance shutdown 2024-08-03 to 2024-08-26",
        feed_reo_grade=0.50, recovery=0.915,
        elec_base_kwh=170_000, elec_kwh_per_t=1_750,
        gas_feed_nm3_per_t_feed=68, gas_calc_nm3_per_t_oxide=230, gas_steam_nm3_per_t=520,
        gas_heating_nm3_peak=70_000,
        oxalic_t_per_t_oxide=1.38, hcl100_t_per_t_feed=0.0, hcl100_t_per_t=1.60, h2so4_t_per_t_feed=1.30,
        naoh_t_per_t=1.55, mgo_switch=_NO_MGO, p507_t_per_t=0.0045, kerosene_t_per_t=0.014,
        haul_km=155, hazwaste_t_per_t=0.12, diesel_base_t=1.5, diesel_t_per_t_feed=0.0018,
    ),
    ("baotou", 2025): _LineYear(
        t_reo_per_month=252.0,
        load=(0.96, 0.84, 1.00, 1.02, 1.03, 1.01, 0.42, 1.00, 1.03, 1.04, 1.03, 1.00),
        shutdown_month=7, shutdown_note="planned maintenance shutdown 2025-07-07 to 2025-07-21",
        feed_reo_grade=0.50, recovery=0.925,
        # 2025: hundreds of permanent-magnet motors replace induction motors on the mixer-settler agitators
        # and pumps, and the separation line is automated: less electricity per tonne and a lower base load
        elec_base_kwh=160_000, elec_kwh_per_t=1_575,
        # automated solution-temperature control: slightly less boiler steam per tonne
        gas_feed_nm3_per_t_feed=63, gas_calc_nm3_per_t_oxide=215, gas_steam_nm3_per_t=467,
        gas_heating_nm3_peak=70_000,
        oxalic_t_per_t_oxide=1.33, hcl100_t_per_t_feed=0.0, hcl100_t_per_t=1.55, h2so4_t_per_t_feed=1.27,
        naoh_t_per_t=1.55, mgo_switch=(0.0, 0.0, 0.0, 0.15, 0.35, 0.55, 0.70, 0.85, 0.85, 0.85, 0.85, 0.85),
        p507_t_per_t=0.0042, kerosene_t_per_t=0.013,
        haul_km=155, hazwaste_t_per_t=0.11, diesel_base_t=1.5, diesel_t_per_t_feed=0.0017,
        solar_kwp=1_200,
    ),
    ("ganzhou", 2024): _LineYear(
        t_reo_per_month=150.0,
        load=(0.95, 0.75, 0.95, 1.00, 1.02, 1.00, 0.98, 1.00, 1.02, 0.35, 1.03, 1.02),
        shutdown_month=10, shutdown_note="planned maintenance shutdown 2024-10-01 to 2024-10-20",
        feed_reo_grade=0.30, recovery=0.95,
        elec_base_kwh=95_000, elec_kwh_per_t=1_650,
        gas_feed_nm3_per_t_feed=45, gas_calc_nm3_per_t_oxide=240, gas_steam_nm3_per_t=420,
        gas_heating_nm3_peak=15_000,
        oxalic_t_per_t_oxide=1.45, hcl100_t_per_t_feed=1.28, hcl100_t_per_t=0.90, h2so4_t_per_t_feed=0.0,
        naoh_t_per_t=1.10, mgo_switch=_NO_MGO, p507_t_per_t=0.0035, kerosene_t_per_t=0.011,
        haul_km=540, hazwaste_t_per_t=0.35, diesel_base_t=0.40, diesel_t_per_t_feed=0.0009,
    ),
    ("ganzhou", 2025): _LineYear(
        t_reo_per_month=158.0,
        load=(0.78, 0.88, 1.00, 1.02, 1.00, 1.00, 0.98, 1.00, 1.02, 0.40, 1.03, 1.02),
        shutdown_month=10, shutdown_note="planned maintenance shutdown 2025-10-01 to 2025-10-18",
        feed_reo_grade=0.30, recovery=0.96,
        elec_base_kwh=92_000, elec_kwh_per_t=1_540,
        gas_feed_nm3_per_t_feed=42, gas_calc_nm3_per_t_oxide=225, gas_steam_nm3_per_t=385,
        gas_heating_nm3_peak=15_000,
        oxalic_t_per_t_oxide=1.40, hcl100_t_per_t_feed=1.25, hcl100_t_per_t=0.85, h2so4_t_per_t_feed=0.0,
        naoh_t_per_t=1.08, mgo_switch=_NO_MGO, p507_t_per_t=0.0033, kerosene_t_per_t=0.010,
        haul_km=540, hazwaste_t_per_t=0.33, diesel_base_t=0.40, diesel_t_per_t_feed=0.0009,
        gec_share=0.45,
    ),
}

_OXALIC_LOT_T = {"baotou": 32.0, "ganzhou": 30.0}
"""Oxalic acid arrives in truckloads [t]; the store is refilled to keep a safety stock of two lots."""

# Who issues the document behind each activity, in which unit the plant writes it, and the document.
# The grid companies are the real ones for these places; every other supplier is a generic description.
_PAPERWORK: dict[str, dict[str, tuple[str, str, str]]] = {
    "baotou": {
        "electricity.grid": ("kWh", "Inner Mongolia Power (Group) Co., Baotou Power Supply Bureau",
                             "invoice {ym} Inner Mongolia Power Baotou"),
        "electricity.onsite_solar": ("MWh", "", "PV inverter monitoring report {ym}, meter PV-01"),
        "fuel.natural_gas": ("Nm3", "Baotou city-gas utility", "gas invoice {ym} Baotou city gas"),
        "fuel.diesel_mobile": ("t", "fuel-card supplier", "fuel-card statement {ym} site vehicles"),
        "process.oxalic_acid": ("t", "", "precipitation workshop consumption log {ym}"),
        "process.oxalate_calcination": ("t", "", "calcination kiln log {ym}"),
        "process.bastnaesite_roasting": ("t", "", "roasting kiln feed weighbridge and assay report {ym}"),
        "purchased.hcl": ("t", "chlor-alkali plant, Baotou", "invoice {ym} hydrochloric acid 31%"),
        "purchased.h2so4": ("t", "smelter acid plant, Baotou", "invoice {ym} sulfuric acid 98%"),
        "purchased.naoh": ("t", "chlor-alkali plant, Baotou", "invoice {ym} liquid caustic soda"),
        "purchased.mgo": ("t", "light-burnt MgO supplier, Liaoning", "invoice {ym} magnesium oxide"),
        "purchased.oxalic_acid": ("t", "oxalic-acid supplier, Inner Mongolia", "invoice {ym} oxalic acid"),
        "purchased.extractant_p507": ("t", "extractant supplier", "invoice {ym} P507"),
        "purchased.diluent_kerosene": ("t", "solvent supplier", "invoice {ym} sulfonated kerosene"),
        "transport.road": ("t·km", "concentrate haulier", "weighbridge tickets and waybills {ym}"),
        "waste.hazardous": ("t", "licensed hazardous-waste contractor, Baotou",
                            "hazardous-waste transfer manifests {ym}"),
        "production.output": ("t", "", "monthly production report {ym}, finished-goods receipts"),
    },
    "ganzhou": {
        "electricity.grid": ("MWh", "State Grid Jiangxi Electric Power, Ganzhou Power Supply Company",
                             "invoice {ym} State Grid Ganzhou"),
        "electricity.green_certificate": ("MWh", "China Green Certificate Trading Platform",
                                          "GEC retirement confirmation {ym}"),
        "fuel.natural_gas": ("万Nm3", "Ganzhou city-gas utility", "gas invoice {ym} Ganzhou city gas"),
        "fuel.diesel_mobile": ("kg", "fuel-card supplier", "fuel-card statement {ym} forklifts"),
        "process.oxalic_acid": ("t", "", "precipitation workshop consumption log {ym}"),
        "process.oxalate_calcination": ("t", "", "calcination kiln log {ym}"),
        "purchased.hcl": ("t", "chlor-alkali plant, Jiangxi", "invoice {ym} hydrochloric acid 31%"),
        "purchased.naoh": ("t", "chlor-alkali plant, Jiangxi", "invoice {ym} liquid caustic soda"),
        "purchased.oxalic_acid": ("t", "oxalic-acid supplier, Jiangxi", "invoice {ym} oxalic acid"),
        "purchased.extractant_p507": ("kg", "extractant supplier", "invoice {ym} P507"),
        "purchased.diluent_kerosene": ("kg", "solvent supplier", "invoice {ym} sulfonated kerosene"),
        "transport.road": ("t·km", "scrap hauliers (several)", "waybills {ym} magnet scrap"),
        "waste.hazardous": ("t", "licensed hazardous-waste contractor, Ganzhou",
                            "hazardous-waste transfer manifests {ym}"),
        "production.output": ("t", "", "monthly production report {ym}, finished-goods receipts"),
    },
}

# How a plant writes an amount: unit → (factor from the base unit, decimals).
# Base units: kWh for electricity, Nm3 for gas, t for masses, t·km for freight.
_WRITE: dict[str, tuple[float, int]] = {
    "kWh": (1.0, 0), "MWh": (1e-3, 3), "Nm3": (1.0, 0), "万Nm3": (1e-4, 2),
    "t": (1.0, 1), "kg": (1e3, 0), "t·km": (1.0, 0),
}


# --- structure --------------------------------------------------------------------------------------------


def load_structure() -> dict[str, Any]:
    """Read the demo organisation from the package data file ``organisation.toml``.

    Returns
    -------
    dict
        ``{"organisation": {...}, "sites": {code: {..., "lines": {code: {...}}}},``
        ``"products": {code: {...}}}``; each product names its ``site`` and ``line``.
    """
    text = resources.files("rareeco.demo").joinpath("organisation.toml").read_text("utf-8")
    return tomllib.loads(text)


# --- generation -------------------------------------------------------------------------------------------


def month_bounds(year: int, month: int) -> tuple[str, str]:
    last = calendar.monthrange(year, month)[1]
    return date(year, month, 1).isoformat(), date(year, month, last).isoformat()


def written(amount_base: float, unit: str, decimals: int | None = None) -> int | float:
    """An amount in its base unit as a plant writes it in ``unit`` (rounded; whole numbers as int)."""
    factor, places = _WRITE[unit]
    places = places if decimals is None else decimals
    value = round(amount_base * factor, places)
    return int(value) if places == 0 else float(value)


class _Rows:
    """Collects the rows of one site and year."""

    def __init__(self, site: str, line: str, year: int) -> None:
        self.site, self.line, self.year = site, line, year
        self.rows: list[dict[str, Any]] = []

    def add(self, month: int, activity: str, amount_base: float, *, product: str = "", note: str = "",
            decimals: int | None = None) -> None:
        kind = activity.rsplit(".", 1)[0] if activity.startswith("process.") and activity.count(".") == 2 \
            else activity
        unit, supplier, evidence = _PAPERWORK[self.site][kind]
        start, end = month_bounds(self.year, month)
        self.rows.append({
            "site": self.site, "line": self.line, "product": product, "period_start": start,
            "period_end": end, "activity": activity, "amount": written(amount_base, unit, decimals),
            "unit": unit, "supplier": supplier, "evidence": evidence.format(ym=f"{self.year}-{month:02d}"),
            "note": note,
        })


def _lot_purchases(consumption_t: list[float], lot_t: float) -> list[float]:
    """Truckload deliveries that keep the store above a safety stock of two lots [t per month]."""
    safety = 2.0 * lot_t
    stock = safety + 0.5 * lot_t
    bought: list[float] = []
    for used in consumption_t:
        lots = max(0, math.ceil((safety + used - stock) / lot_t))
        bought.append(lots * lot_t)
        stock += lots * lot_t - used
    return bought


def _site_rows(site: str, line: str, year: int) -> list[dict[str, Any]]:
    p = PLANT[(site, year)]
    rng = np.random.default_rng([SEED, year, 0 if site == "baotou" else 1])
    # One fixed block of standard-normal draws per month (clipped at ±2.5), so adding an activity
    # never shifts the noise of the others.
    eps = np.clip(rng.standard_normal((12, 16)), -2.5, 2.5)
    out = _Rows(site, line, year)
    oxalic_used: list[float] = []
    quarter_grid_kwh = [0.0] * 4

    for m in range(1, 13):
        e = eps[m - 1]

        def jitter(k: int, sd: float, e: np.ndarray = e) -> float:
            return float(1.0 + sd * e[k])

        shutdown = m == p.shutdown_month
        base_note = p.shutdown_note if shutdown else ""

        # production by product [t REO]
        reo = p.t_reo_per_month * p.load[m - 1] * jitter(0, 0.015)
        out_t = {code: round(reo * share, 1) for code, share in PRODUCT_SHARE[site].items()}
        reo = sum(out_t.values())
        for code, t in out_t.items():
            out.add(m, "production.output", t, product=code, note=base_note)

        # oxalate precipitation and calcination [t oxide]
        calcined: list[tuple[str, str, float]] = []
        for code, t in out_t.items():
            if code in ("la2o3", "ceo2"):
                calcined.append((code, "La2O3" if code == "la2o3" else "CeO2", t))
            elif code.startswith("prnd-oxide"):
                pr = round(t * PRNDO_PR_SHARE, 1)
                calcined += [(code, "Pr6O11", pr), (code, "Nd2O3", round(t - pr, 1))]
            elif code == "dy2o3-recycled":
                calcined.append((code, "Dy2O3", t))
        for code, oxide, t in calcined:
            out.add(m, f"process.oxalate_calcination.{oxide}", t, product=code)
        oxide_t = sum(t for _, _, t in calcined)
        oxalic_t = round(oxide_t * p.oxalic_t_per_t_oxide * jitter(1, 0.01), 1)
        oxalic_used.append(oxalic_t)
        out.add(m, "process.oxalic_acid", oxalic_t,
                note=f"H2C2O4·2H2O, purity 99.6%; {oxalic_t / oxide_t:.2f} t per t oxide precipitated")

        # feed: concentrate (Baotou) or magnet scrap (Ganzhou) [t]
        grade = p.feed_reo_grade * jitter(2, 0.01)
        feed_reo = reo / p.recovery
        feed_t = feed_reo / grade
        if site == "baotou":
            for oxide, share in ROASTED_OXIDE_SHARE.items():
                out.add(m, f"process.bastnaesite_roasting.{oxide}", feed_reo * BASTNAESITE_REO_SHARE * share,
                        note=f"concentrate {feed_t:.1f} t at {100 * grade:.1f}% REO; "
                             f"bastnäsite share of REO {100 * BASTNAESITE_REO_SHARE:.0f}%")
            out.add(m, "purchased.h2so4", feed_t * p.h2so4_t_per_t_feed * jitter(3, 0.02),
                    note="98% acid for concentrated-acid roasting")

        # electricity [kWh]
        base_kwh = p.elec_base_kwh * ELECTRICITY_SEASON[site][m - 1]
        if shutdown:
            base_kwh *= SHUTDOWN_BASE_LOAD
        demand_kwh = (base_kwh + p.elec_kwh_per_t * reo) * jitter(4, 0.01)
        solar_kwh = 0.0
        if p.solar_kwp:
            self_use = SOLAR_SELF_USE[1] if shutdown else SOLAR_SELF_USE[0]
            solar_kwh = p.solar_kwp * SOLAR_YIELD_KWH_PER_KWP[m - 1] * self_use * jitter(5, 0.04)
            out.add(m, "electricity.onsite_solar", solar_kwh,
                    note=f"{p.solar_kwp / 1000:.1f} MWp rooftop and ground PV, self-consumed share only")
        grid_kwh = demand_kwh - solar_kwh
        quarter_grid_kwh[(m - 1) // 3] += round(grid_kwh)
        out.add(m, "electricity.grid", grid_kwh, note=base_note)
        if p.gec_share and m % 3 == 0:
            q = (m - 1) // 3
            certificates = math.ceil(p.gec_share * quarter_grid_kwh[q] / 1000)
            out.add(m, "electricity.green_certificate", certificates * 1000.0, decimals=0,
                    note=f"GEC retired for Q{q + 1} {year} consumption (1 certificate = 1 MWh)")

        # natural gas [Nm3]
        gas = (p.gas_feed_nm3_per_t_feed * feed_t + p.gas_calc_nm3_per_t_oxide * oxide_t
               + p.gas_steam_nm3_per_t * reo) * jitter(6, 0.015) \
            + p.gas_heating_nm3_peak * HEATING_PROFILE[site][m - 1] * jitter(7, 0.05)
        out.add(m, "fuel.natural_gas", gas,
                note="roasting kiln, calcination kiln, steam boilers and space heating" if site == "baotou"
                else "scrap drying, calcination kiln, steam boilers and space heating")

        # acids, alkalis and solvents [t]
        hcl100 = p.hcl100_t_per_t_feed * feed_t + p.hcl100_t_per_t * reo
        leach = (f"; leaching {p.hcl100_t_per_t_feed:.2f} t HCl (100%) per t scrap"
                 if p.hcl100_t_per_t_feed else "")
        out.add(m, "purchased.hcl", hcl100 / HCL_MASS_FRACTION * jitter(8, 0.02),
                note=f"31% acid; {hcl100:.1f} t as 100% HCl{leach}")
        mg_share = p.mgo_switch[m - 1]
        naoh = p.naoh_t_per_t * reo * (1.0 - mg_share) * jitter(9, 0.02)
        out.add(m, "purchased.naoh", naoh, note="saponification; 100% NaOH basis (delivered as 32% liquid)")
        if mg_share:
            mgo = p.naoh_t_per_t * reo * mg_share * MGO_T_PER_T_NAOH_REPLACED * jitter(10, 0.02)
            out.add(m, "purchased.mgo", mgo,
                    note=f"Mg(HCO3)2 saponification carries {100 * mg_share:.0f}% of the duty")
        out.add(m, "purchased.extractant_p507", p.p507_t_per_t * reo * jitter(11, 0.05),
                note="make-up for losses")
        out.add(m, "purchased.diluent_kerosene", p.kerosene_t_per_t * reo * jitter(12, 0.05),
                note="make-up for losses")

        # freight, waste, vehicles
        haul = (f"concentrate {feed_t:.1f} t × {p.haul_km:.0f} km, Bayan Obo → Baotou" if site == "baotou"
                else f"magnet scrap {feed_t:.1f} t × {p.haul_km:.0f} km (weighted mean haul)")
        out.add(m, "transport.road", feed_t * p.haul_km, note=haul)
        out.add(m, "waste.hazardous", p.hazwaste_t_per_t * reo * jitter(13, 0.08),
                note="HW08 spent organics and SX crud, HW49 sludge" if site == "baotou"
                else "HW49 leach residue and wastewater-treatment sludge, HW08 spent organics")
        diesel_t = (p.diesel_base_t + p.diesel_t_per_t_feed * feed_t) * jitter(14, 0.03)
        out.add(m, "fuel.diesel_mobile", diesel_t,
                note="loaders and trucks on site" if site == "baotou" else "forklifts")

    # oxalic acid is bought in truckloads
    for m, bought in enumerate(_lot_purchases(oxalic_used, _OXALIC_LOT_T[site]), start=1):
        if bought:
            out.add(m, "purchased.oxalic_acid", bought,
                    note=f"{bought / _OXALIC_LOT_T[site]:.0f} truckload(s) of {_OXALIC_LOT_T[site]:.0f} t")
    return out.rows


def activity_rows(year: int) -> pd.DataFrame:
    """Monthly activity data of the demo organisation for one calendar year.

    Parameters
    ----------
    year : int
        2024 or 2025.

    Returns
    -------
    pandas.DataFrame
        One row per site, month, activity (and product), with the columns :data:`COLUMNS`:
        ISO dates ``period_start``/``period_end`` (first and last day of the month, inclusive),
        ``amount`` as a rounded number in the ``unit`` a plant writes (kWh, MWh, Nm3, 万Nm3, t, kg, t·km),
        and empty strings where a text field does not apply.  The same year always gives the same frame.

    Raises
    ------
    ValueError
        For a year other than 2024 or 2025.
    """
    if year not in YEARS:
        raise ValueError(f"the demo covers the years {YEARS}, not {year!r}")
    structure = load_structure()
    rows: list[dict[str, Any]] = []
    for site, line in OXIDE_LINES.items():   # the metal and magnet lines are in rareeco.demo.downstream
        products = {c for c, pr in structure["products"].items() if pr["site"] == site and pr["line"] == line}
        if products != set(PRODUCT_SHARE[site]):
            raise ValueError(f"organisation.toml and PRODUCT_SHARE disagree on the products of {site}/{line}")
        rows += _site_rows(site, line, year)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["amount"] = pd.Series([r["amount"] for r in rows], dtype=object)
    frame = frame.sort_values(["site", "period_start", "activity", "product"], kind="stable")
    return frame.reset_index(drop=True)


def write_year_csv(year: int, path: str | Path) -> Path:
    """Write :func:`activity_rows` of ``year`` to a UTF-8 CSV file and return its path."""
    out = Path(path)
    activity_rows(year).to_csv(out, index=False, encoding="utf-8")
    return out


def write_year_xlsx(year: int, path: str | Path) -> Path:
    """Write :func:`activity_rows` of ``year`` to an Excel workbook (one sheet named after the year)."""
    out = Path(path)
    activity_rows(year).to_excel(out, index=False, sheet_name=str(year), engine="openpyxl")
    return out
