"""CEMS data processing (HJ 75-2017): conversions, hourly and daily averages with validity, emission quantities,
and the optional 40 CFR 75.33 missing-data substitution.

Pure functions over numbers and frames.  The constants come from the reference set ``hj75-cems`` (standard state,
molar volume, O2 in air: HJ 75-2017 appendix as transcribed in public code, tag S; molar masses from IUPAC atomic
weights, tag V).  The validity minimums of HJ 75 §12 are not public here (REFERENCE.md §6 marks them U): they are
the named configuration :class:`Validity`, whose defaults the user confirms.

References
----------
.. [1] HJ 75-2017, *Specifications for continuous emissions monitoring of SO2, NOX, and particulate matter in the
   flue gas emitted from stationary sources*, appendix (conversions) and §12 (data validity).
.. [2] HJ 212-2017 Table 8 data flags: N normal, F stopped, M maintenance, S manual, D fault, C calibration,
   T over range, B communication fault.
.. [3] 40 CFR Part 75 §75.33, *Standard missing data procedures for SO2, NOx, Hg, and flow rate*.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from rareeco.errors import ValidationFailed
from rareeco.reference import FactorTable, parse_factor_set

SET_ID = "hj75-cems"
#: HJ 212-2017 data flags that make a value invalid for averaging ([2]); F (stopped) is not *missing*: the plant
#: did not emit, so a stopped hour is neither valid nor a data gap.
INVALID_FLAGS = frozenset("MDCTBS")
STOPPED_FLAG = "F"


@cache
def constants() -> FactorTable:
    text = resources.files("rareeco.reference").joinpath("data", f"{SET_ID}.csv").read_text("utf-8")
    return FactorTable([parse_factor_set(text, SET_ID, builtin=True)])


def _c(key: str) -> float:
    return constants().get("cems_constant", key).value


def molar_mass(species: str) -> float:
    """Molar mass [g/mol] of a flue-gas species of the reference set (SO2, NO, NO2, HF, HCl, CO)."""
    return constants().get("molar_mass", species).value


# ------------------------------------------------------------------------------------------ conversions

def to_standard_state(c_actual: np.ndarray | float, pressure_pa: np.ndarray | float,
                      temperature_c: np.ndarray | float) -> np.ndarray | float:
    """Concentration at flue conditions → at standard state [same unit, e.g. mg/m3].

    Notes
    -----
    HJ 75-2017 appendix: ``Csn = Cs × 101325 / (Ba + Ps) × (273 + ts) / 273``, with ``Ba + Ps`` the absolute
    flue-gas pressure [Pa] and ``ts`` its temperature [°C].
    """
    return c_actual * _c("standard_pressure") / pressure_pa * (_c("standard_temperature") + temperature_c) \
        / _c("standard_temperature")


def to_dry_basis(c_wet: np.ndarray | float, moisture_pct: np.ndarray | float) -> np.ndarray | float:
    """Wet-basis concentration → dry basis: ``C_dry = C_wet / (1 − Xsw/100)`` (HJ 75-2017 appendix)."""
    moisture = np.asarray(moisture_pct, dtype=float)
    if np.any((moisture < 0) | (moisture >= 100)):
        raise ValidationFailed("flue-gas moisture outside 0–100 %", fix="check the humidity channel (a01014)")
    return c_wet / (1.0 - moisture_pct / 100.0)


def ppm_to_mg_m3(ppm: np.ndarray | float, species: str) -> np.ndarray | float:
    """Volume fraction [µmol/mol] → mass concentration at standard state [mg/m3]: ``M / 22.4 × ppm``."""
    return molar_mass(species) / _c("molar_volume") * ppm


def nox_as_no2(no_mg_m3: np.ndarray | float, no2_mg_m3: np.ndarray | float) -> np.ndarray | float:
    """NOx expressed as NO2 [mg/m3]: ``C_NO × M(NO2)/M(NO) + C_NO2`` (HJ 75-2017 appendix)."""
    return no_mg_m3 * molar_mass("NO2") / molar_mass("NO") + no2_mg_m3


def to_reference_o2(c_dry: np.ndarray | float, o2_measured_pct: np.ndarray | float,
                    o2_reference_pct: float) -> np.ndarray | float:
    """Dry concentration → at the outlet's reference oxygen: ``C × (21 − O2_ref) / (21 − O2_meas)``.

    A measured O2 at or above the air's 21 % has no converted value (division by ≤ 0): refused."""
    air = _c("air_o2")
    o2 = np.asarray(o2_measured_pct, dtype=float)
    if np.any(o2 >= air):
        raise ValidationFailed(f"measured O2 ≥ {air:g} %: no reference-oxygen value",
                               fix="the stack is drawing air (plant stopped?) — flag those minutes F or check a19001")
    return c_dry * (air - o2_reference_pct) / (air - o2_measured_pct)


def emission_rate_kg_h(c_mg_m3: np.ndarray | float, flow_m3_h: np.ndarray | float) -> np.ndarray | float:
    """Emission rate [kg/h] = concentration [mg/m3] × standard dry flow [m3/h] × 1e-6 (mg → kg)."""
    return np.asarray(c_mg_m3) * np.asarray(flow_m3_h) * 1e-6


# ------------------------------------------------------------------------------------------ averaging

@dataclass(frozen=True)
class Validity:
    """When an average counts (HJ 75-2017 §12; its minimums are U here, so these are the user's to confirm).

    Attributes
    ----------
    hour_min_valid_fraction : float
        Share of the hour's expected values that must be valid for a valid hourly average [-].
    day_min_valid_hours : int
        Valid hourly averages a day needs for a valid daily average [h].
    """

    hour_min_valid_fraction: float = 0.75
    day_min_valid_hours: int = 20


def hourly(values: pd.Series, flags: pd.Series, interval_s: int, validity: Validity = Validity()) -> pd.DataFrame:
    """Hourly averages of sub-hourly values (index: timestamps) with their validity.

    Values flagged M, D, C, T, B or S are left out of the average; an hour whose valid values fall short of
    ``validity.hour_min_valid_fraction`` of the expected ``3600 / interval_s`` is *invalid* (no average); an hour
    in which the plant stopped (every value flagged F) is *stopped*.

    Returns
    -------
    DataFrame indexed by hour: ``mean`` (None unless valid), ``n_valid``, ``n_expected``, ``status``
    (valid | invalid | stopped), ``flags`` (counts of non-N flags, e.g. "M:12").
    """
    expected = 3600 // interval_s
    f = flags.fillna("N").astype(str).to_numpy()
    v = values.astype(float).to_numpy()
    hour = pd.DatetimeIndex(values.index).floor("h")
    ok = ~np.isin(f, list(INVALID_FLAGS | {STOPPED_FLAG})) & ~np.isnan(v)
    frame = pd.DataFrame({"hour": hour, "v": np.where(ok, v, np.nan), "ok": ok, "stop": f == STOPPED_FLAG,
                          "n": 1, "f": f})
    g = frame.groupby("hour").agg(mean=("v", "mean"), n_valid=("ok", "sum"), stops=("stop", "sum"), n=("n", "sum"))
    valid = g["n_valid"] >= validity.hour_min_valid_fraction * expected
    status = np.where(g["stops"] == g["n"], "stopped", np.where(valid, "valid", "invalid"))
    odd = frame[frame["f"] != "N"].groupby(["hour", "f"]).size()
    text = {h: " ".join(f"{k}:{int(n)}" for k, n in sorted(grp.droplevel(0).items()))
            for h, grp in odd.groupby(level=0)} if len(odd) else {}
    out = pd.DataFrame({"mean": g["mean"].where(status == "valid").astype(object), "n_valid": g["n_valid"].astype(int),
                        "n_expected": expected, "status": status,
                        "flags": [text.get(h, "") for h in g.index]}, index=g.index)
    out["mean"] = [None if pd.isna(m) else float(m) for m in out["mean"]]
    out.index.name = "hour"
    return out


def daily(hours: pd.DataFrame, validity: Validity = Validity()) -> pd.DataFrame:
    """Daily averages of valid hourly averages (a frame of :func:`hourly`), valid with at least
    ``validity.day_min_valid_hours`` valid hours; a day with only stopped hours is *stopped*."""
    rows = []
    for day, g in hours.groupby(pd.DatetimeIndex(hours.index).floor("D")):
        ok = g[g["status"] == "valid"]
        status = ("stopped" if (g["status"] == "stopped").all() else
                  "valid" if len(ok) >= validity.day_min_valid_hours else "invalid")
        rows.append({"day": day, "mean": float(ok["mean"].mean()) if status == "valid" else None,
                     "valid_hours": len(ok), "status": status})
    return pd.DataFrame(rows).set_index("day")


# ------------------------------------------------------------------------------------------ 40 CFR 75.33

def substitute_missing(hourly_values: pd.Series, availability_pct: float, max_potential: float) -> pd.DataFrame:
    """Fill missing hours (NaN) by the standard missing-data procedure of 40 CFR 75.33 [3].

    ``availability_pct`` is the monitor's data availability before the gap [%]; ``max_potential`` the maximum
    potential value of the parameter (the tier below 80 %).  Tiers (REFERENCE.md §6, V):

    - ≥ 95 %: a gap ≤ 24 h takes the average of the hours before and after it; a longer gap the greater of that
      average and the 90th percentile of the valid hours;
    - 90–95 %: ≤ 8 h the average before/after, longer the 95th percentile;
    - 80–90 %: the maximum valid hourly value;
    - < 80 %: ``max_potential``.

    Returns the frame ``value``, ``substituted`` (bool) and ``method``; a gap at either end of the series takes
    the one neighbour it has.
    """
    v = hourly_values.astype(float)
    valid = v.dropna()
    if valid.empty:
        raise ValidationFailed("no valid hour to base a substitution on", fix="substitute by the maximum potential")
    out = pd.DataFrame({"value": v, "substituted": v.isna(), "method": np.where(v.isna(), "", "measured")})
    missing = v.isna().to_numpy()
    i = 0
    while i < len(v):
        if not missing[i]:
            i += 1
            continue
        j = i
        while j < len(v) and missing[j]:
            j += 1
        length = j - i
        around = [x for x in (v.iloc[i - 1] if i > 0 else None, v.iloc[j] if j < len(v) else None) if x is not None]
        avg = float(np.mean(around))
        if availability_pct >= 95:
            value, method = ((avg, "average before/after") if length <= 24 else
                             (max(avg, float(valid.quantile(0.90))), "max(average, 90th percentile)"))
        elif availability_pct >= 90:
            value, method = ((avg, "average before/after") if length <= 8 else
                             (float(valid.quantile(0.95)), "95th percentile"))
        elif availability_pct >= 80:
            value, method = float(valid.max()), "maximum hourly value"
        else:
            value, method = float(max_potential), "maximum potential value"
        out.loc[out.index[i:j], "value"] = value
        out.loc[out.index[i:j], "method"] = method
        i = j
    return out


def quantity_t(rates_kg_h: pd.Series) -> float:
    """Emitted quantity [t] of a series of hourly emission rates [kg/h] (one hour each)."""
    return float(rates_kg_h.dropna().sum()) / 1000.0
