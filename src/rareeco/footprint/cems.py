"""Measured air emissions (CEMS) as the direct, non-greenhouse-gas emissions of the lines (docs/footprints.md).

The yearly quantities of :func:`rareeco.monitoring.compliance.yearly_quantities` — SO2, NOx, fluoride and
particulate matter per outlet, each outlet belonging to a line by its settings — are the measured direct
emissions of that line.  They are allocated to the line's products like the line's other direct emissions
(:func:`rareeco.footprint.system.build`):

    e_p [kg per declared unit] = Σ_outlets t × 1000 × a_p / m_p × u

with ``a_p`` the product's allocation factor on the line, ``m_p`` [t] the product made in the year and ``u`` [t]
the mass of one declared unit.  Missing hours are not extrapolated: the quantity is the sum of the hours the CEMS
measured (and, when the outlet asks for it, the hours 40 CFR 75.33 substituted); a year the CEMS did not cover
completely is said so in the notes.

These are pure functions over the rows of ``yearly_quantities``; they never read the ledger.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: HJ 212-2017 pollutant codes → the substance a footprint carries (REFERENCE.md §6), as the CEMS measures it.
SUBSTANCES: dict[str, str] = {"a21026": "SO2", "a21002": "NOx", "a21018": "fluoride", "a34013": "particulate"}
#: How each substance is expressed: NOx as NO2 (HJ 693), fluoride as F (HJ 67), total particulate matter.
LABELS: dict[str, dict[str, str]] = {
    "SO2": {"en": "SO2", "zh": "二氧化硫"},
    "NOx": {"en": "NOx (as NO2)", "zh": "氮氧化物（以 NO2 计）"},
    "fluoride": {"en": "fluoride (as F)", "zh": "氟化物（以 F 计）"},
    "particulate": {"en": "particulate matter", "zh": "颗粒物"},
}


def year_hours(year: int) -> int:
    """Hours of a calendar year [h] (8,784 in a leap year)."""
    return 8784 if calendar.isleap(year) else 8760


@dataclass(frozen=True)
class LineEmissions:
    """One line's measured direct emissions in a year."""

    line: str                                  # "site / line"
    t: dict[str, float]                        # substance → t in the year (sum over the line's outlets)
    outlets: list[dict[str, Any]]              # the rows behind it, with their hours and substance


def digest(rows: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the yearly quantities (a stored footprint is found by it: changed CEMS data, new footprint)."""
    text = json.dumps(sorted((dict(r) for r in rows), key=lambda r: (str(r["outlet"]), str(r["pollutant"]))),
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def by_line(rows: Sequence[Mapping[str, Any]], year: int) -> tuple[dict[str, LineEmissions], list[str]]:
    """Group the yearly quantities by line; returns (line key → emissions, notes).

    Notes: an outlet without a line (its quantities are in no product footprint), a pollutant a footprint does
    not carry (only SO2, NOx, fluoride and particulate), and an outlet whose valid + substituted hours fall short
    of the year's hours (the missing hours are not extrapolated).
    """
    hours = year_hours(year)
    notes: list[str] = []
    t: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    outlets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cover: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        substance = SUBSTANCES.get(str(r["pollutant"]))
        if substance is None:
            notes.append(f"CEMS outlet {r['outlet']}: pollutant {r['pollutant']} is not carried into the "
                         "footprints (SO2, NOx, fluoride and particulate are)")
            continue
        if not r.get("line"):
            notes.append(f"CEMS outlet {r['outlet']} ({r['site']}) has no line in the compliance settings: its "
                         f"{year} {substance} ({float(r['t']):.4g} t) is in no product footprint")
            continue
        key = f"{r['site']} / {r['line']}"
        row = {"outlet": r["outlet"], "pollutant": r["pollutant"], "substance": substance, "t": float(r["t"]),
               "valid_h": int(r["valid_h"]), "substituted_h": int(r["substituted_h"]),
               "missing_h": int(r["missing_h"]), "year_h": hours}
        t[key][substance] += row["t"]
        outlets[key].append(row)
        cover[str(r["outlet"])].append(row)
    for outlet, rs in sorted(cover.items()):
        short = [r for r in rs if r["valid_h"] + r["substituted_h"] < hours]
        if not short:
            continue
        spans = {(r["valid_h"], r["substituted_h"], r["missing_h"]) for r in short}
        what = ("" if len(spans) == 1 and len(short) == len(rs)
                else " " + ", ".join(r["substance"] for r in short))
        for valid, sub, missing in sorted(spans):
            notes.append(f"CEMS outlet {outlet}{what}: {valid} valid + {sub} substituted of {hours} h in {year} "
                         f"({missing} h missing); the {year} quantities are the sum of these hours — missing hours "
                         "are not extrapolated, stopped hours count as no emission")
    return ({k: LineEmissions(k, dict(v), outlets[k]) for k, v in sorted(t.items())}, notes)


def product_emissions(line: LineEmissions | None, share: float, made_t: float, declared_t: float
                      ) -> dict[str, float]:
    """A product's measured direct emissions [kg per declared unit] by substance.

    ``share`` is its allocation factor on the line [-], ``made_t`` [t] what it made in the year, ``declared_t``
    [t] one declared unit (1 kg → 0.001).  ``e = t × 1000 × share / made_t × declared_t`` — the rule
    :func:`rareeco.footprint.system.build` applies to every direct emission of a line.
    """
    if line is None or made_t <= 0:
        return {}
    return {s: t * 1000.0 * share / made_t * declared_t for s, t in sorted(line.t.items())}
