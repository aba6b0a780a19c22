"""Choosing the grid factor for a site and reporting year.

Rule (REFERENCE.md §1): for the reporting year take the most specific geography that has a
factor — province, then regional grid, then national.  When no geography has a factor for
that year, use the latest earlier year that has one, and say so in the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from rareeco.errors import FactorNotFoundError
from rareeco.reference import Factor, FactorTable


@dataclass(frozen=True)
class GridChoice:
    factor: Factor
    note: str = ""        # empty when the factor is for the site's province and the reporting year


def choose(table: FactorTable, kind: str, geographies: list[str], year: int) -> GridChoice:
    """Factor of ``kind`` for the first of ``geographies`` that has ``year``, falling back in years.

    Raises :class:`FactorNotFoundError` if no earlier year exists for any geography.
    """
    years = sorted({y for g in geographies for y in table.years(kind, g) if y <= year}, reverse=True)
    for y in years:
        for g in geographies:
            f = table.find(kind, g, year=y)
            if f is None:
                continue
            notes = []
            if y != year:
                notes.append(f"no {kind} factor for {year}; latest earlier year {y} used")
            # name only the more specific geographies that do publish this kind of factor
            skipped = [s for s in geographies[: geographies.index(g)] if table.years(kind, s)]
            if skipped:
                notes.append(f"no {y} factor for {', '.join(skipped)}; {g} used")
            return GridChoice(f, "; ".join(notes))
    raise FactorNotFoundError(f"no {kind} factor for {', '.join(geographies)} in {year} or earlier",
                              fix="add a factor set with the grid factor (rareeco factors add FILE) and choose it")


def site_geographies(province: str, grid_region: str) -> list[str]:
    return [province, grid_region, "CN"]


def location_factor(table: FactorTable, province: str, grid_region: str, year: int) -> GridChoice:
    return choose(table, "grid_co2", site_geographies(province, grid_region), year)


def market_residual_factor(table: FactorTable, province: str, grid_region: str, year: int) -> GridChoice:
    """Residual factor for electricity not covered by certificates (national, excl. market-traded
    non-fossil power).  Without one for the year or earlier, the GHG Protocol Scope 2 Guidance
    (§6.11) says use the grid average: the location factor is used and the note says so."""
    try:
        return choose(table, "grid_residual_co2", site_geographies(province, grid_region), year)
    except FactorNotFoundError:
        loc = location_factor(table, province, grid_region, year)
        note = "no residual-mix factor for this year or earlier; grid-average (location) factor used"
        return GridChoice(loc.factor, "; ".join(n for n in (note, loc.note) if n))
