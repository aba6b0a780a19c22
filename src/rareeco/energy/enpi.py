"""Energy performance indicators: energy per unit of product per line and month (ISO 50001 / ISO 50006).

Energy is the sum of the carriers a line records (grid and on-site solar electricity, natural gas, diesel,
LPG), converted to coal equivalent with the GB/T 2589-2020 coefficients of the reference data, the electricity
convention named (``equivalent``: 0.1229 kgce/kWh, the calorific value; ``generation``: 0.404 kgce/kWh, the
generation-equivalent value), and to GJ through the definition of the coal equivalent (1 kgce = 29.3076 MJ).
The indicator of a line is its energy per tonne of everything it made (mass basis), so each product of a
multi-output line carries the line's figure.  Carriers without a coefficient (e.g. coal, not mapped here) are
listed, never counted as zero.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rareeco.errors import ValidationFailed
from rareeco.inventory.calculate import split_by_month
from rareeco.reference import Factor, FactorTable
from rareeco.units import conversion_factor

CONVENTIONS = ("equivalent", "generation")
CARRIERS: dict[str, str] = {
    # activity → GB/T 2589 coefficient key (its unit says per what)
    "electricity.grid": "electricity_{convention}",
    "electricity.onsite_solar": "electricity_{convention}",
    "fuel.natural_gas": "natural_gas",
    "fuel.diesel": "diesel",
    "fuel.diesel_mobile": "diesel",
    "fuel.lpg": "lpg",
}


def coefficients(table: FactorTable, convention: str) -> dict[str, tuple[float, Factor]]:
    """kgce per catalogue unit of each carrier activity [kgce/unit], with the factor behind it."""
    from rareeco.reference.catalogue import activities

    if convention not in CONVENTIONS:
        raise ValidationFailed(f"unknown coal-equivalent convention {convention!r}",
                               fix=f"use {' or '.join(CONVENTIONS)} (GB/T 2589-2020 electricity conventions)")
    cat = activities()
    out = {}
    for act, key in CARRIERS.items():
        f = table.get("coal_equivalent", key.format(convention=convention))
        per = f.unit.split("/", 1)[1]
        out[act] = (f.value * conversion_factor(cat[act].unit, per), f)
    return out


def monthly(records: pd.DataFrame, year: int, table: FactorTable, line_keys: dict[int, str],
            convention: str = "equivalent") -> pd.DataFrame:
    """One row per line and month: ``kgce``, ``gj``, ``production_t`` and ``kgce_per_t`` [kgce/t].

    ``records``: the ledger frame of :func:`rareeco.inventory.service.load_records`; ``line_keys``: line id →
    "site / line".  Records without a line are left out (an indicator is per line).
    """
    coef = coefficients(table, convention)
    mj_per_kgce = table.get("coal_equivalent_energy", "kgce").value
    pieces = split_by_month(records, year)
    pieces = pieces[pieces["line_id"].notna()].astype({"line_id": "int64"})
    energy = pieces[pieces["activity"].isin(list(coef))]
    kgce = energy["amount"] * energy["activity"].map({a: c[0] for a, c in coef.items()})
    made = pieces[pieces["activity"] == "production.output"]
    frame = pd.DataFrame({
        "kgce": kgce.groupby([energy["line_id"], energy["month"]]).sum(),
        "production_t": made.groupby(["line_id", "month"])["amount"].sum(),
    }).fillna(0.0).reset_index()
    frame["line"] = frame["line_id"].map(line_keys)
    frame["gj"] = frame["kgce"] * mj_per_kgce / 1000.0
    frame["kgce_per_t"] = frame["kgce"] / frame["production_t"].where(frame["production_t"] > 0)
    return frame[["line", "month", "kgce", "gj", "production_t", "kgce_per_t"]]


def yearly(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per line over the year: kgce, GJ, t made, kgce/t and GJ/t."""
    out: dict[str, dict[str, float]] = {}
    for line, g in frame.groupby("line"):
        kgce, gj, t = float(g["kgce"].sum()), float(g["gj"].sum()), float(g["production_t"].sum())
        out[str(line)] = {"kgce": kgce, "gj": gj, "production_t": t, "kgce_per_t": kgce / t if t else float("nan"),
                          "gj_per_t": gj / t if t else float("nan")}
    return out


def change_pct(now: float, before: float) -> float | None:
    """Year-on-year change [%] (None without a previous value)."""
    return 100.0 * (now / before - 1.0) if before else None


def report(this: pd.DataFrame, previous: pd.DataFrame | None, products: dict[str, str],
           convention: str, year: int) -> dict[str, Any]:
    """The EnPI report: per line and per product (the line's figure), year on year, and the organisation's
    energy per tonne of everything made."""
    now, before = yearly(this), yearly(previous) if previous is not None else {}
    lines = {k: {**v, "yoy_change_pct": change_pct(v["kgce_per_t"], before.get(k, {}).get("kgce_per_t", 0.0))}
             for k, v in now.items()}

    def org(y: dict[str, dict[str, float]]) -> float:
        t = sum(v["production_t"] for v in y.values())
        return sum(v["kgce"] for v in y.values()) / t if t else 0.0

    return {
        "year": year, "convention": convention, "unit": "kgce/t",
        "lines": lines,
        "products": {p: {"line": line, "kgce_per_t": lines[line]["kgce_per_t"], "gj_per_t": lines[line]["gj_per_t"],
                         "yoy_change_pct": lines[line]["yoy_change_pct"]}
                     for p, line in sorted(products.items()) if line in lines},
        "kgce_per_t": org(now), "yoy_change_pct": change_pct(org(now), org(before)) if before else None,
        "monthly": [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                    for r in this.to_dict("records")],
        "note": "energy per tonne of everything a line made (mass basis); electricity in the "
                f"{convention} convention of GB/T 2589-2020",
    }
