"""Energy indicators and baselines on the ledger: read the years asked for, report (see
:mod:`rareeco.energy.enpi`, :mod:`rareeco.energy.baseline` and :mod:`rareeco.energy.flows`).

Every function returns plain JSON-serialisable data (no NaN: a missing number is ``None``).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.energy import baseline as bl
from rareeco.energy.enpi import monthly, report
from rareeco.energy.flows import carrier_monthly, production_by_line, sankey
from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.inventory.service import factor_table, load_records
from rareeco.ledger.models import Line, Product, Site
from rareeco.ledger.structure import get_org
from rareeco.reference.usersets import chosen_sets

#: Names of the candidate variables the baseline builds itself (stored-column style: unit suffix).
PRODUCTION = "production_t"
HDD = "hdd_k_d"
CDD = "cdd_k_d"
#: Degree-day base temperatures [°C]: heating 18 °C and cooling 26 °C, the bases of China's building-climate
#: statistics (GB 50176-2016 §2.1 HDD18 / CDD26; JGJ 26).  Parameters of :func:`baseline`, not factors.
HDD_BASE_C = 18.0
CDD_BASE_C = 26.0
#: Confidence levels at which savings uncertainty is reported: 68 % (ASHRAE Guideline 14's < 50 % criterion)
#: and 90 % (the level programmes usually quote).
CONFIDENCES = (0.68, 0.90)
#: Guideline 14: savings are "statistically significant" when the 68 % fractional uncertainty is below 50 %.
GUIDELINE14_MAX_FSU = 0.5
#: Savings below this fraction of the baseline are nil: no fractional uncertainty (it would be ±∞) [-].
NIL_FRACTION = 1e-9


def finite(v: Any) -> float | None:
    """A float for JSON: NaN and ±inf become None."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def structure_keys(session: Session, org_id: str) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """Site id → code, line id → "site / line", product id → code of the organisation."""
    get_org(session, org_id)
    sites = {s.id: s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    line_keys = {ln.id: f"{sites[ln.site_id]} / {ln.code}"
                 for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    codes = {p.id: p.code for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
    return sites, line_keys, codes


def _records(session: Session, org_id: str, year: int) -> tuple[pd.DataFrame, Any]:
    records = load_records(session, org_id, date(year, 1, 1), date(year, 12, 31))
    return records, factor_table(session, org_id, chosen_sets(session, org_id, year))


def monthly_energy(session: Session, org_id: str, year: int, convention: str = "equivalent") -> pd.DataFrame:
    """The EnPI's monthly frame of ``year``: per line and month ``kgce``, ``gj``, ``production_t``, ``kgce_per_t``
    (:func:`rareeco.energy.enpi.monthly`)."""
    _, line_keys, _ = structure_keys(session, org_id)
    records, table = _records(session, org_id, year)
    return monthly(records, year, table, line_keys, convention)


SOURCES = ("ledger", "meters")


def enpi(session: Session, org_id: str, year: int, convention: str = "equivalent",
         source: str = "ledger") -> dict[str, Any]:
    """Energy per unit of product of ``year`` per line and product, with the change from the year before and the
    organisation's targets (:mod:`rareeco.energy.targets`).

    ``source="meters"`` takes each line's metered carriers from its meters' monthly roll-ups instead of the
    invoices (:func:`rareeco.energy.meters.metered_records`); production and unmetered carriers stay as recorded.
    """
    from rareeco.energy.meters import metered_records
    from rareeco.energy.targets import compare, targets

    if source not in SOURCES:
        raise ValidationFailed(f"unknown energy source {source!r}", fix=f"use {' or '.join(SOURCES)}")
    _, line_keys, codes = structure_keys(session, org_id)

    def year_frame(y: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        records, table = _records(session, org_id, y)
        if source == "meters":
            records = metered_records(session, org_id, y, records)
        return monthly(records, y, table, line_keys, convention), records

    this, records = year_frame(year)
    before, _ = year_frame(year - 1)
    made = records[(records["activity"] == "production.output") & records["line_id"].notna()]
    products = {codes[int(p)]: line_keys[int(ln)] for p, ln in zip(made["product_id"], made["line_id"], strict=True)}
    r = report(this, before if len(before) else None, products, convention, year)
    return {"organisation": org_id, "source": source, **r,
            "targets": compare(r["lines"], targets(session, org_id, year), convention)}


# ---------------------------------------------------------------- baselines (ISO 50006, REFERENCE.md §7)

def find_line(line: str, line_keys: dict[int, str] | list[str]) -> str:
    """The "site / line" key of ``line`` given as ``SITE/LINE`` or ``SITE / LINE``."""
    known = list(line_keys.values()) if isinstance(line_keys, dict) else list(line_keys)
    key = " / ".join(part.strip() for part in line.split("/"))
    if key not in known:
        raise NotFoundError(f"no line {line!r}", fix=f"name a line as SITE/LINE, one of: {', '.join(sorted(known))}")
    return key


def _months(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` re-indexed by monthly periods (from strings ``YYYY-MM``, timestamps or periods)."""
    out = frame.copy()
    out.index = pd.PeriodIndex([pd.Period(v, freq="M") for v in frame.index], freq="M")
    if out.index.has_duplicates:
        raise ValidationFailed("the relevant variables name a month twice", fix="give one row per month")
    return out


def degree_day_months(temperatures: pd.Series, hdd_base_c: float = HDD_BASE_C,
                      cdd_base_c: float = CDD_BASE_C) -> pd.DataFrame:
    """Heating and cooling degree-days per month [K·d] from daily mean temperatures [°C].

    A month without a temperature for every one of its days gets no value (NaN): a degree-day sum over part of
    a month would understate it.
    """
    t = temperatures.astype(float).dropna()
    t.index = pd.DatetimeIndex(t.index).normalize()
    t = t.groupby(level=0).mean()
    months = pd.DatetimeIndex(t.index).to_period("M")
    hdd = bl.monthly_degree_days(bl.degree_days(t, hdd_base_c, "heating"))
    cdd = bl.monthly_degree_days(bl.degree_days(t, cdd_base_c, "cooling"))
    days = t.groupby(months).size()
    complete = pd.Series({p: days[p] == p.days_in_month for p in days.index}, dtype=bool)
    out = pd.DataFrame({HDD: hdd, CDD: cdd})
    out.index = pd.PeriodIndex(out.index, freq="M")
    return out.where(complete.reindex(out.index, fill_value=False), axis=0)


def _model_dict(m: bl.Model, chosen: bool) -> dict[str, Any]:
    return {
        "variables": list(m.variables), "chosen": chosen, "valid": m.valid, "reasons": list(m.reasons),
        "coefficients": {k: finite(v) for k, v in m.coefficients.items()},
        "p_values": {k: finite(v) for k, v in m.p_values.items()},
        "model_p": finite(m.model_p), "r2": finite(m.r2), "adj_r2": finite(m.adj_r2), "n": m.n,
        "residual_std_kgce": finite(m.residual_std), "cv_rmse": finite(m.cv),
        "means": {k: finite(v) for k, v in m.means.items()}, "stds": {k: finite(v) for k, v in m.stds.items()},
    }


def formula(m: bl.Model, energy: str = "kgce") -> str:
    """The model as text, e.g. ``kgce = 26,836.0 + 1,426.38 × production_t``."""
    terms = [f"{m.coefficients['const']:,.1f}"]
    for v in m.variables:
        c = m.coefficients[v]
        terms.append(f"{'−' if c < 0 else '+'} {abs(c):,.2f} × {v}")
    return f"{energy} = {' '.join(terms)}"


def _savings(best: bl.Model, used: pd.DataFrame, usable: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Reporting rows and the savings summary (Guideline 14 uncertainty at each of :data:`CONFIDENCES`)."""
    sv = bl.savings(best, used, "kgce", confidence=CONFIDENCES[0])
    rows = [{"month": str(p), "actual_kgce": finite(r["actual"]), "baseline_kgce": finite(r["baseline"]),
             "savings_kgce": finite(r["savings"]), "cusum_kgce": finite(r["cusum"]),
             **{c: finite(used.at[p, c]) for c in usable}} for p, r in sv.table.iterrows()]
    unc = []
    for conf in CONFIDENCES:
        # ΔE_save = (ΔE_save / E_save) · |E_save| = FSU(F = 1) · |baseline total|: finite also when the savings are
        # nil (reporting on the baseline year itself), where the fraction is not
        t, fsu_one = bl.fractional_savings_uncertainty(best.cv, best.n, best.n_params, len(sv.table), 1.0, conf)
        fractional = None if abs(sv.fraction) < NIL_FRACTION else finite(fsu_one / abs(sv.fraction))
        unc.append({"confidence": conf, "t": finite(t), "fractional": fractional,
                    "kgce": finite(fsu_one * abs(sv.baseline_total))})
    fsu68 = unc[0]["fractional"]
    return rows, {
        "total_kgce": sv.total, "baseline_total_kgce": sv.baseline_total,
        "actual_total_kgce": float(sv.table["actual"].sum()), "fraction": finite(sv.fraction),
        "months": len(sv.table), "uncertainty": unc,
        "guideline14_ok": fsu68 is not None and fsu68 < GUIDELINE14_MAX_FSU,
    }


def baseline(session: Session, org_id: str, line: str, baseline_year: int, year: int,
             convention: str = "equivalent", variables: pd.DataFrame | None = None,
             temperatures: pd.Series | None = None, hdd_base_c: float = HDD_BASE_C, cdd_base_c: float = CDD_BASE_C,
             through_month: int | None = None, stored_temperatures: bool = True) -> dict[str, Any]:
    """The regression energy baseline of a line and its savings in a reporting year (ISO 50006; IPMVP option C).

    Monthly energy [kgce] of the line (the EnPI's frame: GB/T 2589-2020, electricity in ``convention``) is
    regressed by ordinary least squares on every non-empty combination of the candidate relevant variables —
    production [t], heating and cooling degree-days [K·d] when ``temperatures`` are given, and every column of
    ``variables`` — each with an intercept (:func:`rareeco.energy.baseline.fit_models`).  A model is valid only
    under the US DOE EnPI / ORNL VERIFI rules; the chosen model is the valid one with the highest adjusted R².
    Savings per reporting month are baseline prediction − actual, with their cumulative sum (CUSUM) and the
    ASHRAE Guideline 14-2014 fractional savings uncertainty at 68 % and 90 % confidence.

    Parameters
    ----------
    session : Session
    org_id : str
    line : str
        ``SITE/LINE`` (or the EnPI's ``"site / line"``).
    baseline_year, year : int
        The baseline year and the reporting year.
    convention : {"equivalent", "generation"}
        Electricity to coal equivalent (GB/T 2589-2020).
    variables : pandas.DataFrame, optional
        Relevant variables the user adds: one row per month (index ``YYYY-MM``, a timestamp or a monthly
        period) over both years, one numeric column per variable (name it with its unit, e.g. ``ore_grade_pct``).
    temperatures : pandas.Series, optional
        Daily mean outdoor temperature [°C] indexed by day; adds ``hdd_k_d`` and ``cdd_k_d``.  A month without a
        temperature for every day has no degree-days and is left out of the models that use them.  Without it,
        the site's temperatures stored in the time-series store (:mod:`rareeco.energy.climate`) are used, if any
        and unless ``stored_temperatures`` is False.
    hdd_base_c, cdd_base_c : float
        Degree-day base temperatures [°C] (default 18 and 26, GB 50176-2016).
    through_month : int, optional
        Last month (1–12) of the reporting period (default: every month of ``year`` with data) — "to date".
    stored_temperatures : bool, default True
        Read the site's stored daily temperatures when ``temperatures`` is not given.

    Returns
    -------
    dict
        ``organisation``, ``line``, ``baseline_year``, ``year``, ``convention``, ``energy_unit`` ("kgce"),
        ``candidates``, ``temperature_source`` (None, "argument" or the stored series), ``degree_day_bases_c``;
        ``models`` (every combination: ``variables``, ``coefficients``, ``p_values``, ``model_p``, ``r2``,
        ``adj_r2``, ``n``, ``residual_std_kgce``, ``cv_rmse``, ``valid``, ``reasons``,
        ``chosen``); ``model`` (the chosen one, with ``formula``, or None when none is valid); ``baseline_period``
        (per month: ``month`` "YYYY-MM", ``kgce``, the variables, ``fitted_kgce``); ``reporting`` (per month:
        ``actual_kgce``, ``baseline_kgce``, ``savings_kgce``, ``cusum_kgce`` and the variables); ``savings``
        (``total_kgce``, ``baseline_total_kgce``, ``actual_total_kgce``, ``fraction``, ``months``,
        ``uncertainty`` — one entry per confidence level: ``confidence``, ``t``, ``fractional``, ``kgce`` — and
        ``guideline14_ok``; None without a valid model or reporting data); ``range_warnings``; ``notes``.

    References
    ----------
    .. [1] ISO 50006:2023; US DOE EnPI tool / ORNL VERIFI validity rules; ASHRAE Guideline 14-2014 Annex B.
    """
    _, line_keys, _ = structure_keys(session, org_id)
    key = find_line(line, line_keys)
    if through_month is not None and not 1 <= through_month <= 12:
        raise ValidationFailed(f"month {through_month} is not a month", fix="give 1 … 12")
    notes: list[str] = []

    def frame(y: int) -> pd.DataFrame:
        records, table = _records(session, org_id, y)
        f = monthly(records, y, table, line_keys, convention)
        g = f[f["line"] == key]
        return pd.DataFrame({"kgce": g["kgce"].to_numpy(), PRODUCTION: g["production_t"].to_numpy()},
                            index=pd.PeriodIndex([pd.Period(year=y, month=int(m), freq="M") for m in g["month"]],
                                                 freq="M")).sort_index()

    base, rep = frame(baseline_year), frame(year)
    if base.empty:
        raise NotFoundError(f"no energy or production of {key} in {baseline_year}",
                            fix="import the baseline year's monthly energy and production of the line")
    if through_month is not None:
        rep = rep[[p.month <= through_month for p in rep.index]]
    candidates = [PRODUCTION]
    extra: list[pd.DataFrame] = []
    source = "argument" if temperatures is not None else None
    if temperatures is None and stored_temperatures:
        from rareeco.energy.climate import daily_temperatures, series_key

        site = key.split(" / ")[0]
        temperatures = daily_temperatures(session, org_id, site, date(min(baseline_year, year), 1, 1),
                                          date(max(baseline_year, year) + 1, 1, 1))
        source = f"stored series {series_key(site)}" if temperatures is not None and len(temperatures) else None
        temperatures = temperatures if source else None
    if temperatures is not None:
        extra.append(degree_day_months(temperatures, hdd_base_c, cdd_base_c))
        candidates += [HDD, CDD]
    if variables is not None:
        user = _months(variables).apply(pd.to_numeric, errors="coerce")
        clash = [str(c) for c in user.columns if str(c) in ("kgce", PRODUCTION, HDD, CDD)]
        if clash:
            raise ValidationFailed(f"variable name {clash[0]!r} is taken", fix="rename the column")
        extra.append(user.rename(columns=str))
        candidates += [str(c) for c in user.columns]
    for e in extra:
        base = base.join(e, how="left")
        rep = rep.join(e, how="left")
    usable = []
    for c in candidates:
        values = base[c].dropna()
        if len(values) < 3 or float(values.std(ddof=1)) == 0.0:
            notes.append(f"{c} is left out of the candidates: it does not vary over the baseline months "
                         f"({len(values)} values)")
        else:
            usable.append(c)
        if c != PRODUCTION and base[c].isna().any():
            notes.append(f"{c} is missing for {int(base[c].isna().sum())} baseline month(s); models with it use "
                         "the other months")
    if not usable:
        raise ValidationFailed(f"no relevant variable of {key} varies over {baseline_year}",
                               fix="add production or another variable that changes from month to month")
    models = bl.fit_models(base, "kgce", usable)
    best = bl.best_model(models)
    out: dict[str, Any] = {
        "organisation": org_id, "line": key, "baseline_year": baseline_year, "year": year, "convention": convention,
        "energy_unit": "kgce", "candidates": usable, "temperature_source": source,
        "degree_day_bases_c": {"heating": hdd_base_c, "cooling": cdd_base_c} if temperatures is not None else None,
        "models": [_model_dict(m, m is best) for m in models],
        "model": {**_model_dict(best, True), "formula": formula(best)} if best else None,
    }
    fitted = bl.predict(best, base) if best else pd.Series(index=base.index, dtype=float)
    out["baseline_period"] = [{"month": str(p), "kgce": finite(r["kgce"]), **{c: finite(r[c]) for c in usable},
                               "fitted_kgce": finite(fitted.get(p))} for p, r in base.iterrows()]
    out["reporting"], out["savings"], out["range_warnings"] = [], None, []
    if best is None:
        notes.append("no model meets the EnPI / VERIFI rules, so no savings are computed: each model's reasons say "
                     "which rule it failed")
    else:
        note = bl.production_note(best, [PRODUCTION])
        if note:
            notes.append(note)
        used = rep.dropna(subset=list(best.variables))
        if len(used) < len(rep):
            gone = sorted(str(p) for p in rep.index.difference(used.index))
            notes.append(f"reporting months without {', '.join(best.variables)} are left out: {', '.join(gone)}")
        if used.empty:
            notes.append(f"no reporting data of {key} in {year}")
        else:
            out["reporting"], out["savings"] = _savings(best, used, usable)
            out["range_warnings"] = bl.range_warnings(best, used)
    out["notes"] = notes
    return out


# ---------------------------------------------------------------- energy flows

def flows(session: Session, org_id: str, year: int, convention: str = "equivalent",
          months: tuple[int, int] = (1, 12), lang: str = "en") -> dict[str, Any]:
    """Energy of ``year`` (months ``months[0]`` … ``months[1]``) by carrier, site and line, and the Sankey graph
    carriers → sites → lines → products [kgce] (:mod:`rareeco.energy.flows`); carrier labels in ``lang``."""
    from rareeco.reference.catalogue import activities

    sites, line_keys, codes = structure_keys(session, org_id)
    records, table = _records(session, org_id, year)
    lo, hi = months
    c = carrier_monthly(records, year, table, line_keys, sites, convention)
    c = c[(c["month"] >= lo) & (c["month"] <= hi)]
    made = production_by_line(records, year, line_keys, codes)
    made = made[(made["month"] >= lo) & (made["month"] <= hi)]
    cat = activities()
    labels = {a: cat[a].label(lang) if a in cat else a for a in c["carrier"].unique()}
    rows = (c.groupby(["site", "line", "carrier", "unit"], as_index=False)[["amount", "kgce", "gj"]].sum()
            .to_dict("records"))
    return {
        "organisation": org_id, "year": year, "months": [lo, hi], "convention": convention, "unit": "kgce",
        "carriers": {str(a): {"label": labels[a], "kgce": float(v)}
                     for a, v in c.groupby("carrier")["kgce"].sum().items()},
        "by_line_carrier": [{k: (finite(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        "sankey": sankey(c, made, labels),
        "last_month": int(c["month"].max()) if len(c) else None,
    }
