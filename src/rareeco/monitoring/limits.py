"""Permit limits and exceedance events (the outlet's pollutant-discharge permit; GB 26451 tables are templates).

Pure functions: a limit is configuration (REFERENCE.md §5 marks the air limits of GB 26451-2011 U), an
exceedance *event* is a run of consecutive averaging periods above it, with its start, end, peak and duration.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rareeco.errors import ValidationFailed


@dataclass(frozen=True)
class Limit:
    """One permit limit of an outlet: ``value`` in ``unit`` for averages over ``period`` (h: hourly, d: daily),
    or a total quantity (``period`` y with a unit of mass, e.g. t)."""

    pollutant: str          # HJ 212 code, e.g. a21026 (SO2)
    value: float
    unit: str               # mg/m3 for concentrations, t for a yearly quantity
    period: str = "h"       # h | d | y
    source: str = ""        # the permit clause or standard table it comes from

    def __post_init__(self) -> None:
        if self.period not in ("h", "d", "y"):
            raise ValidationFailed(f"unknown limit period {self.period!r}",
                                   fix="use h (hourly), d (daily) or y (yearly)")
        if not self.value > 0:
            raise ValidationFailed(f"limit of {self.pollutant} is {self.value}, not a positive number",
                                   fix="give the permit's limit value")


def exceedances(averages: pd.Series, limit: Limit) -> list[dict[str, object]]:
    """Exceedance events of a series of averages (index: period starts, one per hour or day; None/NaN = no valid
    average, which ends an event).

    An event is a maximal run of consecutive periods whose average is above the limit: ``start`` (first period's
    start), ``end`` (end of the last period), ``periods``, ``duration_h``, ``peak`` and ``peak_at``, and
    ``exceedance_pct`` of the peak over the limit.
    """
    step = pd.Timedelta(hours=1) if limit.period == "h" else pd.Timedelta(days=1)
    v = averages.astype(float).sort_index()
    over = v > limit.value
    events: list[dict[str, object]] = []
    run: list[pd.Timestamp] = []

    def close() -> None:
        if run:
            seg = v.loc[run]
            peak_at = seg.idxmax()
            events.append({"pollutant": limit.pollutant, "limit": limit.value, "unit": limit.unit,
                           "start": run[0], "end": run[-1] + step, "periods": len(run),
                           "duration_h": len(run) * step / pd.Timedelta(hours=1), "peak": float(seg.max()),
                           "peak_at": peak_at, "exceedance_pct": 100.0 * (float(seg.max()) / limit.value - 1.0)})
            run.clear()

    previous: pd.Timestamp | None = None
    for when, is_over in over.items():
        ts = pd.Timestamp(str(when))
        if is_over and run and previous is not None and ts - previous == step:
            run.append(ts)
        elif is_over:
            close()
            run.append(ts)
        else:
            close()
        previous = ts
    close()
    return events
