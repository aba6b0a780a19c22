"""Regression energy baselines, savings and degree-days (ISO 50006 practice; REFERENCE.md §7).

Pure functions: no ledger, no files.  The baseline is an ordinary least-squares model of energy on every non-empty
combination of candidate relevant variables (production, heating/cooling degree-days, any user column), each with
an intercept.  A model is *valid* only under the US DOE EnPI / ORNL VERIFI rules (REFERENCE.md §7):

- model p-value (F test) < 0.1;
- every variable p-value ≤ 0.2;
- at least one variable p-value ≤ 0.1;
- R² ≥ 0.5;
- at least 10 data points.

The best model is the valid one with the highest adjusted R².  Savings are baseline prediction − actual, with the
ASHRAE Guideline 14-2014 fractional savings uncertainty and the cumulative sum (CUSUM).

References
----------
.. [1] US DOE, *Energy Performance Indicator (EnPI) tool* and ORNL *VERIFI* — regression validity rules.
.. [2] ISO 50006:2023, *Energy management systems — Evaluating energy performance using energy performance
   indicators and energy baselines*.
.. [3] ASHRAE Guideline 14-2014, *Measurement of Energy, Demand, and Water Savings*, Annex B (savings uncertainty).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm  # type: ignore[import-untyped]
from scipy import stats

#: VERIFI / EnPI thresholds (REFERENCE.md §7).
MODEL_P_MAX = 0.1  # model p must be strictly below
VARIABLE_P_MAX = 0.2  # every variable p ≤
ONE_VARIABLE_P_MAX = 0.1  # at least one variable p ≤
R2_MIN = 0.5
MIN_POINTS = 10
#: ASHRAE Guideline 14-2014 Annex B empirical factor in the fractional savings uncertainty.
GUIDELINE14_FACTOR = 1.26
#: Width of the range check: a reporting period's variable outside baseline mean ± RANGE_SIGMAS · σ is warned.
RANGE_SIGMAS = 3.0


@dataclass(frozen=True)
class Model:
    """One fitted OLS baseline ``energy = intercept + Σ coefficient_v · v``.

    Attributes
    ----------
    energy : str
        Name of the dependent column [energy unit of the data, e.g. kWh or kgce per period].
    variables : tuple[str, ...]
        The relevant variables in the model, in candidate order.
    coefficients : dict[str, float]
        ``"const"`` (the intercept) [energy unit] and one slope per variable [energy unit per variable unit].
    p_values : dict[str, float]
        Two-sided t-test p-value of each coefficient (``"const"`` included) [-].
    model_p : float
        p-value of the F test of the whole regression [-].
    r2, adj_r2 : float
        Coefficient of determination and its adjusted value [-].
    n : int
        Number of baseline data points (periods).
    residual_std : float
        Standard error of the regression ``sqrt(SSE / (n − p))``, p = parameters incl. intercept [energy unit].
    energy_mean : float
        Mean baseline energy [energy unit].
    means, stds : dict[str, float]
        Baseline mean and sample standard deviation (ddof = 1) of each variable [variable unit].
    valid : bool
        True when every VERIFI / EnPI rule holds.
    reasons : list[str]
        One sentence per failed rule (empty when valid).
    """

    energy: str
    variables: tuple[str, ...]
    coefficients: dict[str, float]
    p_values: dict[str, float]
    model_p: float
    r2: float
    adj_r2: float
    n: int
    residual_std: float
    energy_mean: float
    means: dict[str, float]
    stds: dict[str, float]
    valid: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def n_params(self) -> int:
        """Number of fitted parameters p, intercept included."""
        return len(self.variables) + 1

    @property
    def cv(self) -> float:
        """Coefficient of variation of the root-mean-square error, CV(RMSE) = residual_std / energy_mean [-]."""
        return self.residual_std / self.energy_mean


def _validity(p_values: dict[str, float], variables: tuple[str, ...], model_p: float, r2: float, n: int) -> list[str]:
    reasons: list[str] = []
    if n < MIN_POINTS:
        reasons.append(f"only {n} data points; at least {MIN_POINTS} are required")
    if not model_p < MODEL_P_MAX:  # also catches NaN
        reasons.append(f"model p-value {model_p:.3g} is not below {MODEL_P_MAX}")
    for v in variables:
        if not p_values[v] <= VARIABLE_P_MAX:
            reasons.append(f"variable {v!r} p-value {p_values[v]:.3g} exceeds {VARIABLE_P_MAX}")
    if not any(p_values[v] <= ONE_VARIABLE_P_MAX for v in variables):
        reasons.append(f"no variable has a p-value ≤ {ONE_VARIABLE_P_MAX}")
    if not r2 >= R2_MIN:
        reasons.append(f"R² {r2:.3g} is below {R2_MIN}")
    return reasons


def fit_model(data: pd.DataFrame, energy: str, variables: list[str] | tuple[str, ...]) -> Model:
    """Fit one OLS baseline of ``energy`` on ``variables`` with an intercept and judge it by the VERIFI rules.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per baseline period; rows with a missing value in the used columns are dropped.
    energy : str
        Column of energy use per period [any energy unit, e.g. kWh].
    variables : list of str
        Columns of relevant variables [their own units, e.g. t product, K·d].

    Returns
    -------
    Model
        The fitted model with its statistics, validity and reasons.
    """
    variables = tuple(variables)
    if not variables:
        raise ValueError("a baseline needs at least one variable")
    d = data[[energy, *variables]].dropna().astype(float)
    n = len(d)
    x = sm.add_constant(d[list(variables)], has_constant="add")
    with np.errstate(divide="ignore", invalid="ignore"):
        res = sm.OLS(d[energy], x).fit()
        coefficients = {str(k): float(v) for k, v in res.params.items()}
        p_values = {str(k): float(v) for k, v in res.pvalues.items()}
        model_p = float(res.f_pvalue)
        r2 = float(res.rsquared)
        adj_r2 = float(res.rsquared_adj)
    dof = n - len(variables) - 1
    residual_std = math.sqrt(float(res.ssr) / dof) if dof > 0 else math.nan
    reasons = _validity(p_values, variables, model_p, r2, n)
    return Model(energy=energy, variables=variables, coefficients=coefficients, p_values=p_values, model_p=model_p,
                 r2=r2, adj_r2=adj_r2, n=n, residual_std=residual_std, energy_mean=float(d[energy].mean()),
                 means={v: float(d[v].mean()) for v in variables},
                 stds={v: float(d[v].std(ddof=1)) for v in variables}, valid=not reasons, reasons=reasons)


def fit_models(data: pd.DataFrame, energy: str, candidates: list[str]) -> list[Model]:
    """Fit OLS baselines on every non-empty combination of the candidate variables (ISO 50006; REFERENCE.md §7).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per baseline period (e.g. month).
    energy : str
        Column of energy use per period [energy unit].
    candidates : list of str
        Relevant-variable columns to combine (production, HDD, CDD, any user column).

    Returns
    -------
    list of Model
        ``2**k − 1`` models, by number of variables then candidate order; invalid ones keep their reasons.
    """
    if not candidates:
        raise ValueError("no candidate variables")
    return [fit_model(data, energy, combo) for k in range(1, len(candidates) + 1)
            for combo in combinations(candidates, k)]


def best_model(models: list[Model]) -> Model | None:
    """The valid model with the highest adjusted R² (VERIFI / EnPI selection), or None if none is valid.

    When None, each model's ``reasons`` says which rule it failed.
    """
    valid = [m for m in models if m.valid]
    return max(valid, key=lambda m: m.adj_r2) if valid else None


def production_note(model: Model, production: list[str] | tuple[str, ...]) -> str | None:
    """The note REFERENCE.md §7 asks for when no production variable is in the chosen model (None otherwise).

    Parameters
    ----------
    model : Model
        The chosen baseline.
    production : list of str
        The candidate columns that measure production [t product].
    """
    if any(v in model.variables for v in production):
        return None
    return ("no production variable is in the chosen model: energy is explained by "
            f"{', '.join(model.variables)} only, so the baseline does not scale with output")


def predict(model: Model, data: pd.DataFrame) -> pd.Series:
    """Baseline energy predicted for each row of ``data`` [energy unit of the model].

    ``Ê = const + Σ coefficient_v · data[v]``, indexed like ``data``.
    """
    out = pd.Series(model.coefficients["const"], index=data.index, dtype=float)
    for v in model.variables:
        out = out + model.coefficients[v] * data[v].astype(float)
    return out.rename("baseline")


@dataclass(frozen=True)
class Savings:
    """Avoided energy over a reporting period (ASHRAE Guideline 14-2014; IPMVP option C).

    Attributes
    ----------
    table : pandas.DataFrame
        Per period: ``baseline`` (prediction), ``actual``, ``savings`` = baseline − actual and ``cusum``, the
        cumulative sum of savings [energy unit].
    total : float
        Σ savings, E_save [energy unit].
    baseline_total : float
        Σ baseline prediction over the reporting period [energy unit].
    fraction : float
        F = E_save / baseline_total [-].
    confidence : float
        Two-sided confidence level of the uncertainty [-].
    t : float
        Student t at ``confidence`` with n − p degrees of freedom [-].
    fractional_uncertainty : float
        ΔE_save / E_save [-] (inf when F = 0).
    uncertainty : float
        ΔE_save = fractional_uncertainty · |E_save| [energy unit]; savings lie in total ± uncertainty.
    """

    table: pd.DataFrame
    total: float
    baseline_total: float
    fraction: float
    confidence: float
    t: float
    fractional_uncertainty: float
    uncertainty: float


def fractional_savings_uncertainty(cv: float, n: int, n_params: int, m: int, fraction: float,
                                   confidence: float = 0.68) -> tuple[float, float]:
    """ASHRAE Guideline 14-2014 fractional savings uncertainty for uncorrelated residuals.

    .. math::

        \\frac{\\Delta E_{save}}{E_{save}} = \\frac{1.26 \\; t \\; CV}{F}
            \\sqrt{\\frac{n}{n'} \\left(1 + \\frac{2}{n'}\\right) \\frac{1}{m}}, \\qquad n' = n

    Parameters
    ----------
    cv : float
        CV(RMSE) of the baseline, residual std (n − p dof) / mean baseline energy [-].
    n : int
        Baseline data points; n' = n because residuals are taken as uncorrelated (no autocorrelation correction).
    n_params : int
        p, the model's parameters incl. intercept; t has n − p degrees of freedom.
    m : int
        Reporting-period data points.
    fraction : float
        F, savings as a fraction of the baseline prediction over the reporting period [-].
    confidence : float, default 0.68
        Two-sided confidence level.  0.68 is the level at which Guideline 14 asks the savings uncertainty to be
        below 50 %; pass 0.90 for the 90 % figure often quoted by programmes.

    Returns
    -------
    (t, fsu) : tuple of float
        The Student t value [-] and ΔE_save / E_save [-] (inf when F = 0).

    References
    ----------
    .. [1] ASHRAE Guideline 14-2014, Annex B, fractional savings uncertainty (after Reddy & Claridge 2000).
    """
    t = float(stats.t.ppf(0.5 + confidence / 2.0, n - n_params))
    if fraction == 0:
        return t, math.inf
    n_eff = n
    fsu = GUIDELINE14_FACTOR * t * cv * math.sqrt((n / n_eff) * (1 + 2 / n_eff) / m) / abs(fraction)
    return t, fsu


def savings(model: Model, reporting: pd.DataFrame, energy: str, confidence: float = 0.68) -> Savings:
    """Savings = baseline prediction − actual per reporting period, with CUSUM and Guideline 14 uncertainty.

    Parameters
    ----------
    model : Model
        A (valid) baseline.
    reporting : pandas.DataFrame
        One row per reporting period with ``energy`` and the model's variables.
    energy : str
        Column of actual energy use [energy unit of the model].
    confidence : float, default 0.68
        Two-sided confidence level of the uncertainty (see :func:`fractional_savings_uncertainty`).

    Returns
    -------
    Savings
    """
    baseline = predict(model, reporting)
    actual = reporting[energy].astype(float)
    table = pd.DataFrame({"baseline": baseline, "actual": actual, "savings": baseline - actual})
    table["cusum"] = table["savings"].cumsum()
    total = float(table["savings"].sum())
    baseline_total = float(baseline.sum())
    fraction = total / baseline_total
    t, fsu = fractional_savings_uncertainty(model.cv, model.n, model.n_params, len(table), fraction, confidence)
    return Savings(table=table, total=total, baseline_total=baseline_total, fraction=fraction,
                   confidence=confidence, t=t, fractional_uncertainty=fsu, uncertainty=fsu * abs(total))


def range_warnings(model: Model, reporting: pd.DataFrame) -> list[str]:
    """Reporting periods whose variable lies outside the baseline mean ± 3σ (REFERENCE.md §7).

    Returns
    -------
    list of str
        One sentence per (period, variable) out of range; empty when the model is used within its range.
    """
    out: list[str] = []
    for v in model.variables:
        lo = model.means[v] - RANGE_SIGMAS * model.stds[v]
        hi = model.means[v] + RANGE_SIGMAS * model.stds[v]
        for period, value in reporting[v].items():
            if not lo <= float(value) <= hi:
                out.append(f"period {period}: {v} = {float(value):.6g} is outside the baseline range "
                           f"{lo:.6g} … {hi:.6g} (mean ± {RANGE_SIGMAS:g}σ)")
    return out


def degree_days(daily_temperature_c: pd.Series, base_c: float = 18.0,
                kind: Literal["heating", "cooling"] = "heating") -> pd.Series:
    """Degree-days per day from daily mean temperatures (mean-temperature method).

    HDD = max(base − T, 0), CDD = max(T − base, 0) [K·d], one value per day.

    Parameters
    ----------
    daily_temperature_c : pandas.Series
        Daily mean outdoor temperature [°C], indexed by day.
    base_c : float, default 18.0
        Base (balance-point) temperature [°C].
    kind : {"heating", "cooling"}

    Returns
    -------
    pandas.Series
        Degree-days per day [K·d], same index; missing temperatures stay missing.
    """
    t = daily_temperature_c.astype(float)
    if kind == "heating":
        dd = (base_c - t).clip(lower=0.0)
    elif kind == "cooling":
        dd = (t - base_c).clip(lower=0.0)
    else:
        raise ValueError(f"kind must be 'heating' or 'cooling', not {kind!r}")
    return dd.rename("HDD" if kind == "heating" else "CDD")


def monthly_degree_days(daily_degree_days: pd.Series) -> pd.Series:
    """Sum daily degree-days by calendar month [K·d per month].

    Parameters
    ----------
    daily_degree_days : pandas.Series
        Output of :func:`degree_days`, indexed by a DatetimeIndex.

    Returns
    -------
    pandas.Series
        Indexed by monthly ``Period``; missing days count as zero.
    """
    idx = pd.DatetimeIndex(daily_degree_days.index)
    return daily_degree_days.groupby(idx.to_period("M")).sum()
