"""Quota check: which GB 29435 level each product's energy per tonne reached (REFERENCE.md §4).

The quota values ship as a *template* (``reference/data/gb29435-quota.csv``, tag S: a third-party
transcription) — the result says they are unverified until the user confirms them.  Level 1 is the best;
existing plants must meet level 3 and new plants level 2 (GB 29435-2025, in force 2027-01-01).  A product is
compared with the quota of its route and product, named in a mapping (product id → ``route:product``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from rareeco.errors import FactorNotFoundError
from rareeco.reference import FactorSet, FactorTable, parse_factor_set
from rareeco.units import conversion_factor

LEVELS = (1, 2, 3)


@cache
def template() -> FactorSet:
    text = resources.files("rareeco.reference").joinpath("data", "gb29435-quota.csv").read_text("utf-8")
    return parse_factor_set(text, "gb29435-quota")


def level_reached(value: float, limits: dict[int, float]) -> int | None:
    """The best level whose limit ``value`` does not exceed (None: above level 3)."""
    return next((lv for lv in LEVELS if value <= limits[lv]), None)


def check(products: dict[str, dict[str, Any]], mapping: dict[str, str],
          table: FactorTable | None = None) -> list[dict[str, Any]]:
    """Rows of the quota check for the mapped products of an EnPI report (``products``: id → ``kgce_per_t``)."""
    table = table or FactorTable([template()])
    rows = []
    for product, quota in sorted(mapping.items()):
        if product not in products:
            continue
        factors = {lv: table.find("energy_quota", f"{quota}:{lv}") for lv in LEVELS}
        missing = [lv for lv, f in factors.items() if f is None]
        if missing:
            raise FactorNotFoundError(f"no quota {quota!r} level {missing[0]}",
                                      fix="map the product to a route:product of gb29435-quota.csv")
        limits = {lv: f.value * conversion_factor(f.unit, "kgce/t") for lv, f in factors.items() if f}
        value = products[product]["kgce_per_t"]
        rows.append({"product": product, "quota": quota, "kgce_per_t": value, "limits_kgce_per_t": limits,
                     "level": level_reached(value, limits),
                     "tags": sorted({f.tag for f in factors.values() if f}),
                     "note": "template values from a third-party transcription of GB 29435-2025 — confirm them "
                             "against the standard; the product carries its line's energy per tonne made"})
    return rows
