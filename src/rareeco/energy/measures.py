"""Energy-saving measures: estimated savings, their coal equivalent, CO2, cost and payback, and verified savings.

Pure functions over numbers and frames (no ledger, no files); :mod:`rareeco.energy.measures_service` reads the
ledger and calls them.  Amounts of energy carriers are kept per carrier — an activity id of the catalogue
(``electricity.grid``, ``fuel.natural_gas`` …) — in that carrier's canonical unit (MWh, Nm3, t), the unit the
ledger stores, so the coal-equivalent and emission coefficients of the ledger apply unchanged.

Estimated savings (ISO 50001:2018 §6.2 action plans; ISO 50047 / IPMVP "estimated savings"):

* **Motors** — a group of ``n`` motors of rated power ``P_N`` [kW] running ``h`` hours a year at load factor
  ``LF`` (shaft load / rated power) with efficiency ``η_old`` replaced by motors of efficiency ``η_new``:
  ``E_saved = n · P_N · LF · h · (1/η_old − 1/η_new)`` [kWh].  Efficiencies are given, or looked up by IE class
  (IEC 60034-30-1, minimum efficiency at rated power, :func:`ie_efficiency_pct`).
* **On-site solar** — generation ``E_gen = kWp · specific yield`` splits into the self-consumed part, which
  displaces purchased grid electricity (a scope 2 saving: location-based factor × kWh), and the exported part,
  which is not a saving of the site's energy (it may earn a feed-in price).
* **Process upgrades** — a saving per tonne of the line's production (``Nm3/t``, ``kWh/t`` …) or per year.

Verified savings (EVO IPMVP Core Concepts 2022):

* **Option B** (retrofit isolation, all parameters measured): the measure's own meter; the baseline period's
  monthly energy, adjusted to the reporting period's conditions, minus the reporting period's metered energy
  (:func:`option_b`).
* **Option C** (whole facility): the line's (or site's) monthly energy regressed on production in the baseline
  year under the US DOE EnPI / ORNL VERIFI rules and predicted for the reporting months
  (:mod:`rareeco.energy.baseline`, :func:`option_c`).

References
----------
.. [1] EVO, *International Performance Measurement and Verification Protocol (IPMVP) Core Concepts*, 2022,
   §4.3 (Options B and C), §8 (adjustments).
.. [2] IEC 60034-30-1:2014, *Efficiency classes of line operated AC motors (IE code)*; Regulation (EU) 2019/1781
   Annex I (minimum efficiencies and their interpolation formula).
.. [3] GB/T 2589-2020, *General principles for calculation of the comprehensive energy consumption*.
.. [4] GHG Protocol, *Scope 2 Guidance*, 2015, §6 (location-based method).
.. [5] ASHRAE Guideline 14-2014, Annex B (savings uncertainty).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from rareeco.energy import baseline as bl
from rareeco.errors import ValidationFailed
from rareeco.reference import Factor, FactorTable
from rareeco.reference.motors import efficiency_table
from rareeco.units import conversion_factor, same_dimension

IE_CLASSES = ("IE2", "IE3", "IE4")
"""The efficiency classes whose minimum efficiencies the reference data carries (Regulation (EU) 2019/1781)."""
POLES = (2, 4, 6, 8)
CONFIDENCES = (0.68, 0.90)
"""Confidence levels of the savings uncertainty (ASHRAE Guideline 14: 68 %; programmes quote 90 %)."""


# ---------------------------------------------------------------------------------------------- motors

def ie_efficiency(ie_class: str, poles: int, rated_kw: float,
                  table: FactorTable | None = None) -> tuple[float, list[Factor]]:
    """Minimum efficiency at rated power of an IE class (IEC 60034-30-1; Regulation (EU) 2019/1781 Annex I).

    .. math::

        \\eta_N = A x^3 + B x^2 + C x + D, \\qquad x = \\log_{10}(P_N / 1\\,\\mathrm{kW})

    with the coefficients of the class, pole count and power range (0.12–0.55 kW, used below 0.75 kW, and
    0.75–200 kW); above 200 kW the value at 200 kW holds up to 1000 kW, as in the standard's tables.  The result is
    rounded to 0.1 %, the resolution of the tables, which the formula then reproduces at the tabulated powers.

    Parameters
    ----------
    ie_class : {"IE2", "IE3", "IE4"}
    poles : {2, 4, 6, 8}
    rated_kw : float
        Rated output power P_N [kW], 0.12 … 1000.
    table : FactorTable, optional
        The efficiency data (default: the shipped ``iec60034-30-1-efficiency`` set).

    Returns
    -------
    (eta_pct, factors) : tuple
        η_N [%] and the reference rows used.

    References
    ----------
    .. [1] Regulation (EU) 2019/1781 Annex I, interpolation of the minimum efficiency of 50 Hz motors (retained UK
       text: SI 2021/745 Schedule 16 Tables 27–28).
    """
    table = table or efficiency_table()
    cls = ie_class.upper()
    if cls not in IE_CLASSES:
        raise ValidationFailed(f"efficiency class {ie_class!r} has no minimum efficiency in the reference data",
                               fix=f"use one of {', '.join(IE_CLASSES)}, or give the nameplate efficiency "
                                   "(old_efficiency_pct / new_efficiency_pct) — IE1 and IE5 are not in Regulation "
                                   "(EU) 2019/1781")
    if poles not in POLES:
        raise ValidationFailed(f"{poles} poles: the IE classes cover 2, 4, 6 and 8 poles",
                               fix="give the pole count (2, 4, 6 or 8) or the nameplate efficiency "
                                   "(old_efficiency_pct / new_efficiency_pct)")
    flat_from, flat_to = table.get("motor_efficiency_flat", "from"), table.get("motor_efficiency_flat", "to")
    ranges = sorted(((f.value * conversion_factor(f.unit, "kW"), f) for s in table.sets for f in s.factors
                     if f.kind == "motor_efficiency_range"), key=lambda r: r[0])
    if not ranges:
        raise ValidationFailed("the efficiency data has no rated-power ranges (kind motor_efficiency_range)",
                               fix="use the shipped iec60034-30-1-efficiency set")
    lowest = ranges[0][0]
    highest = flat_to.value * conversion_factor(flat_to.unit, "kW")
    if not lowest <= rated_kw <= highest:
        raise ValidationFailed(f"rated power {rated_kw:g} kW is outside the IE classes' {lowest:g}–{highest:g} kW",
                               fix="give the nameplate efficiency (old_efficiency_pct / new_efficiency_pct) "
                                   "instead of the class")
    p = min(rated_kw, flat_from.value * conversion_factor(flat_from.unit, "kW"))
    _, rng = max((r for r in ranges if r[0] <= p), key=lambda r: r[0])
    span = rng.key
    coef = {c: table.get("motor_efficiency_coefficient", f"{cls}:{poles}:{span}:{c}") for c in "ABCD"}
    x = math.log10(p)   # Regulation (EU) 2019/1781 Annex I: x = log10(P_N / 1 kW)
    eta = sum(coef[c].value * x ** k for c, k in zip("ABCD", (3, 2, 1, 0), strict=True))
    eta_pct = round(eta * conversion_factor(coef["D"].unit, "percent"), 1)
    return eta_pct, [*coef.values(), rng, flat_from, flat_to]


def ie_efficiency_pct(ie_class: str, poles: int, rated_kw: float, table: FactorTable | None = None) -> float:
    """η_N [%] of :func:`ie_efficiency` without the reference rows."""
    return ie_efficiency(ie_class, poles, rated_kw, table)[0]


def motor_kwh_saved(rated_kw: Any, load_factor: Any, hours: Any, eta_old: Any, eta_new: Any,
                    count: Any = 1) -> Any:
    """Annual electricity saved by replacing motors with more efficient ones [kWh].

    .. math::

        E_{saved} = n \\, P_N \\, LF \\, h \\left(\\frac{1}{\\eta_{old}} - \\frac{1}{\\eta_{new}}\\right)

    The shaft power ``P_N · LF`` is the same before and after (same driven load); the input power is shaft power
    over efficiency.  Efficiency at rated power stands for the efficiency at the operating load — a common
    simplification (US DOE MotorMaster+ practice); part-load curves would refine it.  Works on numbers or arrays.

    Parameters
    ----------
    rated_kw : float or array
        Rated output power P_N [kW].
    load_factor : float or array
        Shaft load / rated power, LF [-].
    hours : float or array
        Operating hours per year, h [h].
    eta_old, eta_new : float or array
        Efficiency of the motor replaced and of its replacement [-] (fractions, not %).
    count : int or array, default 1
        Number of identical motors, n.
    """
    return (np.asarray(count) * np.asarray(rated_kw) * np.asarray(load_factor) * np.asarray(hours)
            * (1.0 / np.asarray(eta_old) - 1.0 / np.asarray(eta_new)))


@dataclass(frozen=True)
class MotorGroup:
    """Identical motors replaced together: either an IE class (with ``poles``) or a nameplate efficiency on each side.

    Attributes
    ----------
    count : int
    rated_kw : float  [kW]
    poles : int or None
    load_factor : float  [-]
    hours_per_yr : float  [h]
    old_class, new_class : str or None
    old_efficiency_pct, new_efficiency_pct : float or None  [%]
    label : str
    """

    count: int
    rated_kw: float
    poles: int | None
    load_factor: float
    hours_per_yr: float
    old_class: str | None = None
    old_efficiency_pct: float | None = None
    new_class: str | None = None
    new_efficiency_pct: float | None = None
    label: str = ""

    def efficiencies(self, table: FactorTable | None = None) -> tuple[float, float, list[Factor]]:
        """(η_old [%], η_new [%], reference rows used)."""
        used: list[Factor] = []

        def side(cls: str | None, pct: float | None) -> float:
            if pct is not None:
                return float(pct)
            if cls is None or self.poles is None:
                raise ValidationFailed("a motor group needs an IE class with poles, or an efficiency_pct",
                                       fix="give old_class/new_class and poles, or old/new_efficiency_pct")
            eta, rows = ie_efficiency(cls, self.poles, self.rated_kw, table)
            used.extend(rows)
            return eta

        return side(self.old_class, self.old_efficiency_pct), side(self.new_class, self.new_efficiency_pct), used


def motors_estimate(groups: Sequence[MotorGroup], table: FactorTable | None = None) -> tuple[list[dict[str, Any]],
                                                                                           list[Factor]]:
    """Annual electricity of each motor group before and after, and saved [kWh] (:func:`motor_kwh_saved`).

    Returns
    -------
    (rows, factors)
        One dict per group: ``label``, ``count``, ``rated_kw``, ``poles``, ``load_factor``, ``hours_per_yr``,
        ``old``/``new`` (class or "nameplate"), ``eta_old_pct``, ``eta_new_pct``, ``kwh_before``, ``kwh_after``,
        ``kwh_saved``; and the reference rows used.
    """
    rows, used = [], []
    for g in groups:
        eta_old, eta_new, f = g.efficiencies(table)
        used += f
        shaft_kwh = g.count * g.rated_kw * g.load_factor * g.hours_per_yr
        rows.append({"label": g.label, "count": g.count, "rated_kw": g.rated_kw, "poles": g.poles,
                     "load_factor": g.load_factor, "hours_per_yr": g.hours_per_yr,
                     "old": g.old_class or "nameplate", "new": g.new_class or "nameplate",
                     "eta_old_pct": eta_old, "eta_new_pct": eta_new,
                     "kwh_before": shaft_kwh / (eta_old / 100.0), "kwh_after": shaft_kwh / (eta_new / 100.0),
                     "kwh_saved": float(motor_kwh_saved(g.rated_kw, g.load_factor, g.hours_per_yr, eta_old / 100.0,
                                                        eta_new / 100.0, g.count))})
    return rows, list({f.factor_id: f for f in used}.values())


# ----------------------------------------------------------------------------------------------- solar

def solar_generation_kwh(kwp: float, specific_yield_kwh_per_kwp: float) -> float:
    """Annual PV generation estimate ``E_gen = kWp × specific yield`` [kWh] (yield in kWh/kWp per year)."""
    return kwp * specific_yield_kwh_per_kwp


def solar_split(generation_kwh: float, self_consumed_share: float | None = None,
                self_consumed_kwh: float | None = None) -> dict[str, float]:
    """Split PV generation into the self-consumed and the exported part [kWh].

    ``E_self = s · E_gen`` (or measured), ``E_export = E_gen − E_self``.  Only ``E_self`` is a saving of the site:
    it displaces purchased grid electricity; ``E_export`` leaves the site (GHG Protocol Scope 2 Guidance §6: exported
    generation is not deducted from the site's scope 2).

    Parameters
    ----------
    generation_kwh : float
        E_gen [kWh].
    self_consumed_share : float, optional
        s [-], 0 … 1.
    self_consumed_kwh : float, optional
        E_self measured [kWh] (takes precedence over the share).
    """
    if self_consumed_kwh is None:
        if self_consumed_share is None or not 0.0 <= self_consumed_share <= 1.0:
            raise ValidationFailed(f"self-consumed share {self_consumed_share!r} is not between 0 and 1",
                                   fix="give self_consumed_share as a fraction, e.g. 0.93")
        self_consumed_kwh = self_consumed_share * generation_kwh
    if self_consumed_kwh > generation_kwh * (1 + 1e-9):
        raise ValidationFailed(f"self-consumed {self_consumed_kwh:,.0f} kWh exceeds the generation "
                               f"{generation_kwh:,.0f} kWh", fix="check the generation meter and the self-consumption "
                                                                "record")
    return {"generation_kwh": generation_kwh, "self_consumed_kwh": self_consumed_kwh,
            "exported_kwh": max(generation_kwh - self_consumed_kwh, 0.0)}


# --------------------------------------------------------------------------------------------- process

@dataclass(frozen=True)
class CarrierSaving:
    """A saving of one carrier: ``amount`` in ``unit`` — per tonne of production (``Nm3/t``, ``kWh/t``) or per
    year (``Nm3``, ``kWh``)."""

    carrier: str
    amount: float
    unit: str

    def per_tonne(self, canonical_unit: str) -> bool:
        """True when ``unit`` is an amount of the carrier per tonne of product."""
        return same_dimension(self.unit, f"{canonical_unit}/t")


def process_amounts(items: Iterable[CarrierSaving], canonical_units: Mapping[str, str],
                    production_t: float | None) -> dict[str, float]:
    """Carrier amounts saved [canonical unit of each carrier] by a process upgrade.

    ``E_c = s_c × P`` for a saving per tonne (P: production [t]) and ``E_c = s_c`` for a saving per year, each
    converted to the carrier's canonical unit.

    Raises
    ------
    ValidationFailed
        A per-tonne saving without a production, or a unit that is neither the carrier's nor the carrier's per t.
    """
    out: dict[str, float] = {}
    for it in items:
        canon = canonical_units[it.carrier]
        if it.per_tonne(canon):
            if production_t is None:
                raise ValidationFailed(f"{it.carrier}: a saving per tonne needs the production",
                                       fix="give the measure a line (its production is read from the ledger) or "
                                           "production_t in its spec")
            value = it.amount * conversion_factor(it.unit, f"{canon}/t") * production_t
        elif same_dimension(it.unit, canon):
            value = it.amount * conversion_factor(it.unit, canon)
        else:
            raise ValidationFailed(f"{it.carrier}: unit {it.unit!r} is neither {canon} nor {canon}/t",
                                   fix=f"write the saving per year (e.g. {canon}) or per tonne (e.g. {canon}/t)")
        out[it.carrier] = out.get(it.carrier, 0.0) + value
    return out


# ------------------------------------------------------------------------------ conversions and payback

def weighted(amounts: Mapping[str, float], per_unit: Mapping[str, float]) -> float:
    """``Σ_c amount_c × coefficient_c`` — kgce (GB/T 2589 coefficients), t CO2 (emission factors) or CNY (prices).

    Raises ``KeyError`` naming a carrier without a coefficient (the caller turns it into a finding).
    """
    return float(sum(a * per_unit[c] for c, a in amounts.items()))


def simple_payback_years(cost_cny: float, annual_cost_saved_cny: float | None) -> float | None:
    """Simple payback [a] = investment [CNY] / annual cost saved [CNY/a]; None when nothing is saved."""
    if annual_cost_saved_cny is None or annual_cost_saved_cny <= 0:
        return None
    return cost_cny / annual_cost_saved_cny


def in_service_share(in_service: date, year: int) -> float:
    """Share of ``year`` from the in-service date on [-]: 0 before, 1 for a year after, days/days in between."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    if in_service > end:
        return 0.0
    if in_service <= start:
        return 1.0
    return ((end - in_service).days + 1) / ((end - start).days + 1)


def months_in_service(in_service: date, year: int) -> list[int]:
    """Months of ``year`` (1–12) whose first day is on or after the in-service date: the reporting months of a
    verification (the month a measure enters service in is left out unless that is its 1st)."""
    return [m for m in range(1, 13) if date(year, m, 1) >= in_service]


# ----------------------------------------------------------------------------------- verified savings

@dataclass(frozen=True)
class Verified:
    """Verified savings of a reporting period (IPMVP).

    Attributes
    ----------
    option : {"B", "C"}
    method : str
        ``regression`` (baseline model, Guideline 14 uncertainty), ``ratio`` (energy per unit of the driver) or
        ``mean`` (constant load: the baseline months' mean).
    total : float
        Σ (adjusted baseline − actual) [energy unit].
    adjusted_baseline, actual : float
        Σ over the reporting months [energy unit].
    months : int
        Reporting months.
    fraction : float
        total / adjusted_baseline [-].
    uncertainty : dict[float, float]
        ΔE_save per confidence level [energy unit] (empty without a regression).
    model : baseline.Model or None
    table : pandas.DataFrame
        Per reporting month: ``baseline`` (adjusted), ``actual``, ``savings``, ``cusum``.
    notes : list of str
    """

    option: str
    method: str
    total: float
    adjusted_baseline: float
    actual: float
    months: int
    fraction: float
    uncertainty: dict[float, float]
    model: bl.Model | None
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _from_savings(option: str, model: bl.Model, sv: bl.Savings, notes: list[str]) -> Verified:
    unc = {}
    for conf in CONFIDENCES:
        _, fsu = bl.fractional_savings_uncertainty(model.cv, model.n, model.n_params, len(sv.table), sv.fraction, conf)
        unc[conf] = fsu * abs(sv.total)
    return Verified(option, "regression", sv.total, sv.baseline_total, float(sv.table["actual"].sum()),
                    len(sv.table), sv.fraction, unc, model, sv.table, notes)


def _table(adjusted: pd.Series, actual: pd.Series) -> pd.DataFrame:
    t = pd.DataFrame({"baseline": adjusted.astype(float), "actual": actual.astype(float)})
    t["savings"] = t["baseline"] - t["actual"]
    t["cusum"] = t["savings"].cumsum()
    return t


def option_b(baseline: pd.DataFrame, reporting: pd.DataFrame, energy: str = "kwh",
             driver: str | None = None) -> Verified:
    """IPMVP Option B: savings measured on the measure's own meter.

    The baseline-period energy of the meter is adjusted to the reporting period's conditions (IPMVP Core Concepts
    2022 §8.1 routine adjustments), then ``savings = adjusted baseline − reporting energy`` per month:

    * with a ``driver`` (e.g. the line's production [t]) and a regression ``E = a + b·driver`` valid under the
      VERIFI rules (at least 10 baseline months …): the model's prediction, with the ASHRAE Guideline 14 uncertainty;
    * with a driver but no valid regression: the ratio ``E_adj = d_rep × Σ E_base / Σ d_base``;
    * without a driver: the baseline months' mean per reporting month (a constant load, e.g. agitators that run
      around the clock).

    Parameters
    ----------
    baseline, reporting : pandas.DataFrame
        One row per month with the metered ``energy`` [e.g. kWh] (and the ``driver`` when given).
    energy : str
        The energy column.
    driver : str, optional
        The relevant-variable column.

    Returns
    -------
    Verified
    """
    notes: list[str] = []
    base = baseline.dropna(subset=[energy] + ([driver] if driver else []))
    rep = reporting.dropna(subset=[energy] + ([driver] if driver else []))
    if base.empty:
        raise ValidationFailed("the meter has no readings in the baseline period",
                               fix="import the meter's interval data of the baseline year")
    if rep.empty:
        raise ValidationFailed("the meter has no readings in the reporting period",
                               fix="import the meter's interval data of the reporting year")
    if driver:
        if len(base) >= bl.MIN_POINTS and float(base[driver].std(ddof=1)) > 0:
            model = bl.fit_model(base, energy, [driver])
            if model.valid:
                return _from_savings("B", model, bl.savings(model, rep, energy), notes)
            notes.append("the regression on " + driver + " is not valid (" + "; ".join(model.reasons)
                         + "): the baseline is adjusted by the ratio of energy to " + driver)
        else:
            notes.append(f"{len(base)} baseline months: too few for a regression; adjusted by the ratio of energy "
                         f"to {driver}")
        d_base = float(base[driver].sum())
        if d_base <= 0:
            raise ValidationFailed(f"{driver} is zero over the baseline period", fix="choose another relevant variable")
        adjusted = rep[driver].astype(float) * float(base[energy].sum()) / d_base
        method = "ratio"
    else:
        adjusted = pd.Series(float(base[energy].mean()), index=rep.index)
        notes.append("no relevant variable: each reporting month's baseline is the baseline months' mean "
                     "(constant load)")
        method = "mean"
    t = _table(adjusted, rep[energy])
    total, adj = float(t["savings"].sum()), float(t["baseline"].sum())
    return Verified("B", method, total, adj, float(t["actual"].sum()), len(t), total / adj if adj else math.nan,
                    {}, None, t, notes)


def option_c(baseline: pd.DataFrame, reporting: pd.DataFrame, energy: str = "kgce",
             candidates: Sequence[str] = ("production_t",)) -> Verified:
    """IPMVP Option C: savings of the whole facility (a line or a site) from its regression baseline.

    Every combination of the ``candidates`` is fitted by OLS on the baseline months; the valid model (US DOE EnPI /
    ORNL VERIFI rules) with the highest adjusted R² predicts the reporting months; ``savings = prediction − actual``
    with the ASHRAE Guideline 14 uncertainty (:func:`rareeco.energy.baseline.savings`).  The savings cover
    everything that changed at the facility — every measure there together, and anything else.

    Parameters
    ----------
    baseline, reporting : pandas.DataFrame
        One row per month with ``energy`` [kgce] and the candidate columns (e.g. ``production_t`` [t]).
    energy : str
    candidates : sequence of str

    Raises
    ------
    ValidationFailed
        When no model meets the rules (the message lists each model's reasons).
    """
    usable = [c for c in candidates if c in baseline and baseline[c].dropna().std(ddof=1) > 0]
    if not usable:
        raise ValidationFailed("no relevant variable varies over the baseline months",
                               fix="Option C needs production (or another driver) that changes month to month")
    models = bl.fit_models(baseline, energy, usable)
    best = bl.best_model(models)
    if best is None:
        why = "; ".join(f"{'+'.join(m.variables)}: {', '.join(m.reasons)}" for m in models)
        raise ValidationFailed(f"no baseline model meets the EnPI / VERIFI rules ({why})",
                               fix="add a relevant variable (degree-days, ore grade) or verify with Option B")
    notes = list(bl.range_warnings(best, reporting))
    note = bl.production_note(best, ["production_t"])
    if note:
        notes.append(note)
    return _from_savings("C", best, bl.savings(best, reporting.dropna(subset=list(best.variables)), energy), notes)


# ------------------------------------------------------------------------------------------ reconciliation

def reconcile(enpi_before: float, enpi_now: float, production_now_t: float,
              savings_kgce: Mapping[str, float]) -> dict[str, Any]:
    """How much of an EnPI improvement the measures explain.

    .. math::

        E_{EnPI} = (EnPI_{before} - EnPI_{now}) \\times P_{now}, \\qquad
        \\text{share} = 100 \\, \\frac{\\sum_m S_m}{E_{EnPI}}

    ``E_EnPI`` is the energy the organisation would have used this year at last year's energy per tonne, minus what
    it used [kgce]; ``S_m`` the measures' savings in the year [kgce].  The rest is what no registered measure
    explains: product mix, the base load spread over more tonnes, weather, unregistered changes.

    Parameters
    ----------
    enpi_before, enpi_now : float
        Energy per unit of product of the previous and the current year [kgce/t].
    production_now_t : float
        Production of the current year [t].
    savings_kgce : mapping
        Measure (or group) → savings in the current year [kgce].

    Returns
    -------
    dict
        ``enpi_before_kgce_per_t``, ``enpi_now_kgce_per_t``, ``enpi_change_pct``, ``production_t``,
        ``enpi_change_kgce`` (E_EnPI), ``measures_kgce`` (Σ S_m), ``by_measure_kgce``, ``explained_pct`` (None when
        the EnPI did not improve), ``unexplained_kgce``.
    """
    represented = (enpi_before - enpi_now) * production_now_t
    total = float(sum(savings_kgce.values()))
    return {
        "enpi_before_kgce_per_t": enpi_before, "enpi_now_kgce_per_t": enpi_now,
        "enpi_change_pct": 100.0 * (enpi_now / enpi_before - 1.0) if enpi_before else None,
        "production_t": production_now_t, "enpi_change_kgce": represented, "measures_kgce": total,
        "by_measure_kgce": dict(savings_kgce),
        "explained_pct": 100.0 * total / represented if represented > 0 else None,
        "unexplained_kgce": represented - total,
    }
