"""Deterministic monthly data of the demo producer's product chain: feeds bought, metal and magnets.

The separation and recycling plants (:mod:`rareeco.demo.generate`) make oxides.  This module adds what a
product footprint needs beyond them, as a second file per year (so the first files, and ledgers that
already hold them, stay as they were):

* the feed bought by the separation line (Bayan Obo-type concentrate) and by the recycling line (NdFeB
  magnet scrap, pre-consumer and post-consumer kept apart, both burden-free under the cut-off rule);
* the **metal line** at Baotou — fluoride molten-salt electrolysis of PrNd oxide into ``prnd-metal``
  (from the separation line's oxide) and ``prnd-metal-recycled`` (from the recycling line's oxide);
* the **magnet line** at Ganzhou — sintered NdFeB into ``ndfeb-magnet`` (primary PrNd metal) and
  ``ndfeb-magnet-recycled`` (recycled PrNd metal).

Every parameter below is *invented* for the demo (docs/demo.md); the stoichiometric ratio of metal in
PrNd oxide is computed from IUPAC atomic weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rareeco.demo import generate as g

METAL_IN_OXIDE = 0.25 * (6 * 140.908) / (6 * 140.908 + 11 * 15.999) + 0.75 * (2 * 144.242) / (2 * 144.242 + 3 * 15.999)
"""Mass fraction of metal in PrNd oxide of 25% Pr6O11 and 75% Nd2O3 [-] (C: IUPAC atomic weights)."""


@dataclass(frozen=True)
class _MetalYear:
    metal_t: float                  # prnd-metal per month at load 1.0 [t]
    metal_recycled_t: float         # prnd-metal-recycled per month at load 1.0 [t]
    cell_yield: float               # metal made / metal fed as oxide [-]
    kwh_per_t: float                # electrolysis, rectifier losses included [kWh/t metal]
    base_kwh: float                 # off-gas treatment, cranes, lighting [kWh/month]
    cf4_kg_per_t: float             # measured CF4 [kg/t metal]
    c2f6_share: float               # C2F6 / CF4 by mass [-]
    anode_t_per_t: float            # graphite anode consumed [t/t metal]
    salts_t_per_t: float            # REF3 + LiF make-up [t/t metal]


@dataclass(frozen=True)
class _MagnetYear:
    magnet_t: float                 # ndfeb-magnet per month at load 1.0 [t]
    magnet_recycled_t: float        # ndfeb-magnet-recycled per month at load 1.0 [t]
    prnd_in_alloy: float            # PrNd mass fraction of the alloy [-]
    b_in_alloy: float               # boron mass fraction of the alloy [-]
    b_in_ferroboron: float          # boron mass fraction of ferroboron [-]
    magnet_yield: float             # finished magnet / alloy cast (the rest is swarf and rejects) [-]
    kwh_per_t: float                # [kWh/t magnet]
    base_kwh: float                 # [kWh/month]


_METAL = {
    2024: _MetalYear(38.0, 22.0, 0.985, 9_800, 40_000, 0.12, 0.10, 0.12, 0.025),
    2025: _MetalYear(40.0, 28.0, 0.986, 9_300, 40_000, 0.09, 0.10, 0.115, 0.024),
}
_MAGNET = {
    2024: _MagnetYear(95.0, 25.0, 0.31, 0.0100, 0.19, 0.80, 8_500, 150_000),
    2025: _MagnetYear(100.0, 40.0, 0.31, 0.0100, 0.19, 0.81, 8_200, 150_000),
}
_LOAD = (0.95, 0.85, 1.00, 1.02, 1.02, 1.00, 0.98, 1.00, 1.02, 1.03, 1.03, 1.00)
"""Monthly load of the metal and magnet lines, January..December [-] (no planned shutdown in these years)."""

POSTCONSUMER_SHARE = {2024: (0.05, 0.16), 2025: (0.18, 0.34)}
"""Post-consumer share of the scrap the recycling line buys, January → December, rising linearly [-] (invented:
end-of-life magnets from motors and drives; the rest is pre-consumer swarf and rejects; docs/demo.md)."""

_PAPERWORK = {
    "purchased.re_concentrate": ("t", "Bayan Obo concentrate supplier", "weighbridge tickets and assay {ym}"),
    "purchased.ndfeb_scrap": ("t", "magnet-scrap dealers (several)", "scrap purchase receipts {ym}"),
    "purchased.ndfeb_scrap_postconsumer": ("t", "end-of-life magnet collectors (several)",
                                           "scrap purchase receipts {ym}, end-of-life declarations"),
    "production.output": ("t", "", "monthly production report {ym}, finished-goods receipts"),
    "consumption.product": ("t", "", "internal transfer notes {ym}"),
    "electricity.grid": ("MWh", "", "sub-meter {line} {ym}"),
    "process.pfc_cf4": ("kg", "", "off-gas PFC monitoring report {ym}"),
    "process.pfc_c2f6": ("kg", "", "off-gas PFC monitoring report {ym}"),
    "purchased.graphite_anode": ("t", "graphite electrode supplier", "invoice {ym} graphite anodes"),
    "process.anode_carbon": ("t", "", "anode change log {ym}"),
    "purchased.fluoride_salts": ("t", "fluoride-salt supplier", "invoice {ym} REF3 and LiF"),
    "purchased.iron": ("t", "pure-iron supplier", "invoice {ym} pure iron"),
    "purchased.ferroboron": ("t", "ferroboron supplier", "invoice {ym} ferroboron"),
}
_SUPPLIER = {"electricity.grid": {"baotou": "Inner Mongolia Power (Group) Co., Baotou Power Supply Bureau",
                                  "ganzhou": "State Grid Jiangxi Electric Power, Ganzhou Power Supply Company"}}


class _LineRows:
    def __init__(self, site: str, line: str, year: int) -> None:
        self.site, self.line, self.year = site, line, year
        self.rows: list[dict[str, Any]] = []

    def add(self, month: int, activity: str, amount_t_or_kwh: float, *, product: str = "", note: str = "",
            decimals: int | None = None) -> None:
        unit, supplier, evidence = _PAPERWORK[activity]
        supplier = _SUPPLIER.get(activity, {}).get(self.site, supplier)
        start, end = g.month_bounds(self.year, month)
        self.rows.append({
            "site": self.site, "line": self.line, "product": product, "period_start": start, "period_end": end,
            "activity": activity, "amount": g.written(amount_t_or_kwh, unit, decimals), "unit": unit,
            "supplier": supplier, "evidence": evidence.format(ym=f"{self.year}-{month:02d}", line=self.line),
            "note": note,
        })


def _feed_rows(year: int) -> list[dict[str, Any]]:
    """Concentrate and scrap bought by the oxide lines: their REO output ÷ (feed grade × recovery)."""
    made = g.activity_rows(year)
    made = made[made["activity"] == "production.output"]
    rows: list[dict[str, Any]] = []
    for site, line, activity, what in (("baotou", "separation", "purchased.re_concentrate", "concentrate"),
                                       ("ganzhou", "recycling", "purchased.ndfeb_scrap", "magnet scrap")):
        p = g.PLANT[(site, year)]
        out = _LineRows(site, line, year)
        at_site = made[made["site"] == site]
        reo = pd.to_numeric(at_site["amount"]).groupby(at_site["period_start"]).sum()
        for m, t_reo in enumerate(reo.to_numpy(), start=1):
            feed = t_reo / (p.feed_reo_grade * p.recovery)
            if activity != "purchased.ndfeb_scrap":
                out.add(m, activity, feed, note=f"{what}, about {100 * p.feed_reo_grade:.0f}% REO")
                continue
            post = postconsumer_share(year, m)
            pre_t = g.written(feed * (1 - post), "t")
            out.add(m, activity, pre_t, note=f"pre-consumer {what} (swarf and rejects), about "
                    f"{100 * p.feed_reo_grade:.0f}% REO")
            out.add(m, "purchased.ndfeb_scrap_postconsumer", feed - float(pre_t),
                    note=f"post-consumer {what} (end-of-life magnets), {100 * post:.1f}% of the month's scrap")
        rows += out.rows
    return rows


def postconsumer_share(year: int, month: int) -> float:
    """The post-consumer share of the month's scrap (:data:`POSTCONSUMER_SHARE`, linear over the year) [-]."""
    first, last = POSTCONSUMER_SHARE[year]
    return first + (last - first) * (month - 1) / 11


def _metal_rows(year: int) -> list[dict[str, Any]]:
    p = _METAL[year]
    eps = np.clip(np.random.default_rng([g.SEED, year, 2]).standard_normal((12, 8)), -2.5, 2.5)
    out = _LineRows("baotou", "metal", year)
    for m in range(1, 13):
        e = eps[m - 1]
        made = {"prnd-metal": round(p.metal_t * _LOAD[m - 1] * (1 + 0.02 * e[0]), 1),
                "prnd-metal-recycled": round(p.metal_recycled_t * _LOAD[m - 1] * (1 + 0.02 * e[1]), 1)}
        feed = {"prnd-metal": "prnd-oxide", "prnd-metal-recycled": "prnd-oxide-recycled"}
        for code, t in made.items():
            out.add(m, "production.output", t, product=code)
            oxide = t / (METAL_IN_OXIDE * p.cell_yield)
            out.add(m, "consumption.product", oxide, product=feed[code],
                    note=f"into {code}; {oxide / t:.3f} t oxide per t metal")
        metal = sum(made.values())
        out.add(m, "electricity.grid", (p.base_kwh + p.kwh_per_t * metal) * (1 + 0.01 * e[2]),
                note="electrolysis cells, rectifiers and off-gas treatment")
        cf4 = p.cf4_kg_per_t * metal * (1 + 0.05 * e[3]) / 1000
        out.add(m, "process.pfc_cf4", cf4, decimals=1, note="measured in the cell off-gas")
        out.add(m, "process.pfc_c2f6", cf4 * p.c2f6_share * (1 + 0.05 * e[4]), decimals=2,
                note="measured in the cell off-gas")
        anode = p.anode_t_per_t * metal * (1 + 0.02 * e[5])
        out.add(m, "purchased.graphite_anode", anode)
        out.add(m, "process.anode_carbon", anode, note="anodes consumed in the cells (as bought this month)")
        out.add(m, "purchased.fluoride_salts", p.salts_t_per_t * metal * (1 + 0.03 * e[6]), decimals=2)
    return out.rows


def _magnet_rows(year: int) -> list[dict[str, Any]]:
    p = _MAGNET[year]
    eps = np.clip(np.random.default_rng([g.SEED, year, 3]).standard_normal((12, 8)), -2.5, 2.5)
    out = _LineRows("ganzhou", "magnet", year)
    for m in range(1, 13):
        e = eps[m - 1]
        made = {"ndfeb-magnet": round(p.magnet_t * _LOAD[m - 1] * (1 + 0.02 * e[0]), 1),
                "ndfeb-magnet-recycled": round(p.magnet_recycled_t * _LOAD[m - 1] * (1 + 0.02 * e[1]), 1)}
        feed = {"ndfeb-magnet": "prnd-metal", "ndfeb-magnet-recycled": "prnd-metal-recycled"}
        for code, t in made.items():
            out.add(m, "production.output", t, product=code)
            alloy = t / p.magnet_yield
            out.add(m, "consumption.product", alloy * p.prnd_in_alloy, product=feed[code],
                    note=f"into {code}; alloy {100 * p.prnd_in_alloy:.0f}% PrNd, {100 * p.magnet_yield:.0f}% of "
                         "the alloy ends in finished magnets")
        alloy = sum(made.values()) / p.magnet_yield
        out.add(m, "purchased.iron", alloy * (1 - p.prnd_in_alloy - p.b_in_alloy / p.b_in_ferroboron)
                * (1 + 0.01 * e[2]))
        out.add(m, "purchased.ferroboron", alloy * p.b_in_alloy / p.b_in_ferroboron * (1 + 0.01 * e[3]), decimals=2)
        out.add(m, "electricity.grid", (p.base_kwh + p.kwh_per_t * sum(made.values())) * (1 + 0.01 * e[4]),
                note="strip casting, hydrogen decrepitation, jet milling, pressing, sintering, machining, coating")
    return out.rows


def downstream_rows(year: int) -> pd.DataFrame:
    """The second demo file of ``year``: feeds bought, metal line and magnet line (columns :data:`COLUMNS`)."""
    if year not in g.YEARS:
        raise ValueError(f"the demo covers the years {g.YEARS}, not {year!r}")
    rows = _feed_rows(year) + _metal_rows(year) + _magnet_rows(year)
    frame = pd.DataFrame(rows, columns=list(g.COLUMNS))
    frame["amount"] = pd.Series([r["amount"] for r in rows], dtype=object)
    frame = frame.sort_values(["site", "line", "period_start", "activity", "product"], kind="stable")
    return frame.reset_index(drop=True)
