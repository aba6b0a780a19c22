"""Motor efficiency classes of IEC 60034-30-1 (IE2–IE4, 50 Hz) as cited reference data.

The values ship as the factor set ``data/iec60034-30-1-efficiency.csv``: the interpolation coefficients of the
minimum efficiency at rated power, ``η_N = A·x³ + B·x² + C·x + D`` with ``x = log10(P_N / 1 kW)``, per class,
pole count and power range, as Regulation (EU) 2019/1781 Annex I gives them (read from its retained UK text,
SI 2021/745 Schedule 16 Tables 27–28, tag V), and the rated-power range they cover.  The set is loaded on its own
(like the GB 29435 quota template), not into the emission-factor table: it describes equipment, not emissions.
:func:`rareeco.energy.measures.ie_efficiency_pct` applies it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from rareeco.reference import FactorSet, FactorTable, parse_factor_set

SET_ID = "iec60034-30-1-efficiency"


@cache
def efficiency_set() -> FactorSet:
    """The shipped IEC 60034-30-1 factor set (parsed and checked once)."""
    text = resources.files("rareeco.reference").joinpath("data", f"{SET_ID}.csv").read_text("utf-8")
    return parse_factor_set(text, SET_ID, builtin=True)


def efficiency_table() -> FactorTable:
    """A look-up table over :func:`efficiency_set` (kinds ``motor_efficiency_coefficient``,
    ``motor_efficiency_range`` and ``motor_efficiency_flat``)."""
    return FactorTable([efficiency_set()])
