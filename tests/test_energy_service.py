"""Energy baselines, flows and the monthly summary on the ledger, checked against an independent computation.

The oracle reads the demo's raw ledger rows (every demo record covers one calendar month), prices them with the
GB/T 2589-2020 coefficients written out here (grid and solar electricity 0.1229 kgce/kWh, natural gas
1.2143 kgce/Nm3, diesel 1.4571 kgce/kg), sums degree-days by hand from the demo's daily temperatures (the
generator's series, which the demo also stores), fits ordinary least squares on every combination with
``numpy.linalg.lstsq``, judges each by the EnPI/VERIFI rules with t and F tests from scipy, and applies the ASHRAE
Guideline 14 formula by hand — no statsmodels, no code of ``rareeco.energy``.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import Engine, select

from rareeco.demo.load import load_demo
from rareeco.energy.month import demo_quota_map, month_summary, parse_month
from rareeco.energy.service import baseline, degree_day_months, enpi, find_line, flows
from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.ingest.activity import import_activity
from rareeco.inventory.service import load_records
from rareeco.ledger import structure
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import Line, Site

KGCE_PER_UNIT = {"electricity.grid": 122.9, "electricity.onsite_solar": 122.9,   # per MWh (catalogue unit)
                 "fuel.natural_gas": 1.2143, "fuel.diesel_mobile": 1457.1, "fuel.diesel": 1457.1}   # Nm3, t


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('energy') / 'demo.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    return eng


def by_hand(engine: Engine, site: str, line: str, year: int) -> pd.DataFrame:
    """Monthly kgce and t made of one line, from the raw rows (the oracle)."""
    with session_scope(engine) as s:
        rows = load_records(s, "demo", date(year, 1, 1), date(year, 12, 31))
        site_id = s.execute(select(Site.id).where(Site.org_id == "demo", Site.code == site)).scalar_one()
        line_id = s.execute(select(Line.id).where(Line.site_id == site_id, Line.code == line)).scalar_one()
    rows = rows[(rows["line_id"] == line_id) & (rows["period_start"].dt.year == year)]
    assert (rows["period_start"].dt.month == rows["period_end"].dt.month).all()   # one month per row
    month = rows["period_start"].dt.month
    energy = rows["activity"].map(KGCE_PER_UNIT)
    return pd.DataFrame({
        "kgce": (rows["amount"] * energy).groupby(month).sum(),
        "t": rows["amount"].where(rows["activity"] == "production.output", 0.0).groupby(month).sum(),
    })


def ols(e: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    """OLS with an intercept by numpy: coefficients, R², adjusted R², residual std (n − p), CV(RMSE), the
    coefficients' two-sided t-test p-values and the F test's p-value."""
    a = np.column_stack([np.ones(len(e)), x])
    coef, *_ = np.linalg.lstsq(a, e, rcond=None)
    sse = float(((e - a @ coef) ** 2).sum())
    sst = float(((e - e.mean()) ** 2).sum())
    n, p = a.shape
    r2 = 1 - sse / sst
    s = math.sqrt(sse / (n - p))
    se = np.sqrt(np.diag(np.linalg.inv(a.T @ a)) * s**2)
    f = (sst - sse) / (p - 1) / (sse / (n - p))
    return {"coef": coef, "r2": r2, "adj_r2": 1 - (1 - r2) * (n - 1) / (n - p), "s": s, "cv": s / e.mean(),
            "n": n, "p": p, "p_values": 2 * stats.t.sf(np.abs(coef / se), n - p),
            "model_p": float(stats.f.sf(f, p - 1, n - p))}


def degree_days(site: str, year: int) -> pd.DataFrame:
    """Monthly HDD (base 18 °C) and CDD (base 26 °C) of the demo's daily temperatures [K·d], by hand."""
    from rareeco.demo.meters import temperatures

    t = temperatures(site)
    t = t[t.index.year == year]
    return pd.DataFrame({"hdd_k_d": (18.0 - t).clip(lower=0).groupby(t.index.month).sum(),
                         "cdd_k_d": (t - 26.0).clip(lower=0).groupby(t.index.month).sum()})


def choose(frame: pd.DataFrame) -> tuple[dict[tuple[str, ...], dict[str, Any]], tuple[str, ...]]:
    """Every combination of the varying candidates fitted and judged (VERIFI: model p < 0.1, every variable
    p ≤ 0.2, one p ≤ 0.1, R² ≥ 0.5, n ≥ 10); the valid one with the highest adjusted R²."""
    from itertools import combinations

    cands = [c for c in ("t", "hdd_k_d", "cdd_k_d") if c in frame and frame[c].std() > 0]
    fits = {}
    for k in range(1, len(cands) + 1):
        for combo in combinations(cands, k):
            f = ols(frame["kgce"].to_numpy(), frame[list(combo)].to_numpy())
            pv = f["p_values"][1:]
            f["valid"] = (f["model_p"] < 0.1 and all(pv <= 0.2) and any(pv <= 0.1) and f["r2"] >= 0.5
                          and f["n"] >= 10)
            fits[combo] = f
    best = max((c for c, f in fits.items() if f["valid"]), key=lambda c: fits[c]["adj_r2"])
    return fits, best


def fsu(fit: dict[str, Any], m: int, fraction: float, confidence: float) -> float:
    """ASHRAE Guideline 14-2014 Annex B: 1.26 t CV sqrt((n/n')(1 + 2/n')(1/m)) / F, n' = n."""
    t = stats.t.ppf(0.5 + confidence / 2, fit["n"] - fit["p"])
    return 1.26 * t * fit["cv"] * math.sqrt((1 + 2 / fit["n"]) / m) / abs(fraction)


NAMES = {"t": "production_t", "hdd_k_d": "hdd_k_d", "cdd_k_d": "cdd_k_d"}


@pytest.mark.parametrize("site,line", [("baotou", "separation"), ("ganzhou", "recycling"), ("baotou", "metal"),
                                       ("ganzhou", "magnet")])
def test_the_demo_baseline_matches_the_oracle(demo: Engine, site: str, line: str) -> None:
    """Production and the stored temperatures' degree-days: the same models, validity, choice and savings."""
    base = by_hand(demo, site, line, 2024).join(degree_days(site, 2024))
    rep = by_hand(demo, site, line, 2025).join(degree_days(site, 2025))
    fits, best = choose(base)
    with session_scope(demo) as s:
        b = baseline(s, "demo", f"{site}/{line}", 2024, 2025)
    json.dumps(b, allow_nan=False)                                  # JSON as it is, no NaN
    assert b["line"] == f"{site} / {line}"
    assert b["temperature_source"] == f"stored series weather:{site}:temperature_c"
    assert {tuple(m["variables"]): m["valid"] for m in b["models"]} == \
        {tuple(NAMES[c] for c in combo): f["valid"] for combo, f in fits.items()}
    fit = fits[best]
    m = b["model"]
    assert m is not None and m["variables"] == [NAMES[c] for c in best] and m["chosen"] and m["valid"]
    assert m["coefficients"]["const"] == pytest.approx(fit["coef"][0], rel=1e-8)
    for c, value in zip(best, fit["coef"][1:], strict=True):
        assert m["coefficients"][NAMES[c]] == pytest.approx(value, rel=1e-8)
    assert m["r2"] == pytest.approx(fit["r2"], rel=1e-12) and m["adj_r2"] == pytest.approx(fit["adj_r2"], rel=1e-12)
    assert m["model_p"] == pytest.approx(fit["model_p"], rel=1e-6)
    assert m["cv_rmse"] == pytest.approx(fit["cv"], rel=1e-9) and m["n"] == 12
    assert [x["month"] for x in b["baseline_period"]] == [f"2024-{i:02d}" for i in range(1, 13)]

    predicted = fit["coef"][0] + rep[list(best)].to_numpy() @ fit["coef"][1:]
    savings = predicted - rep["kgce"].to_numpy()
    sv = b["savings"]
    assert sv["total_kgce"] == pytest.approx(float(savings.sum()), rel=1e-8)
    assert sv["baseline_total_kgce"] == pytest.approx(float(predicted.sum()), rel=1e-9)
    assert [x["cusum_kgce"] for x in b["reporting"]] == pytest.approx(list(np.cumsum(savings)), rel=1e-8)
    fraction = float(savings.sum() / predicted.sum())
    for u in sv["uncertainty"]:
        assert u["fractional"] == pytest.approx(fsu(fit, 12, fraction, u["confidence"]), rel=1e-8)
        assert u["kgce"] == pytest.approx(u["fractional"] * abs(float(savings.sum())), rel=1e-8)
    assert sv["guideline14_ok"] == (sv["uncertainty"][0]["fractional"] < 0.5)


def test_without_temperatures_production_alone(demo: Engine) -> None:
    base, rep = by_hand(demo, "baotou", "separation", 2024), by_hand(demo, "baotou", "separation", 2025)
    fit = ols(base["kgce"].to_numpy(), base["t"].to_numpy())
    with session_scope(demo) as s:
        b = baseline(s, "demo", "baotou/separation", 2024, 2025, stored_temperatures=False)
    assert b["candidates"] == ["production_t"] and b["temperature_source"] is None
    assert b["model"]["r2"] == pytest.approx(fit["r2"], rel=1e-12)
    predicted = fit["coef"][0] + fit["coef"][1] * rep["t"]
    assert b["savings"]["total_kgce"] == pytest.approx(float((predicted - rep["kgce"]).sum()), rel=1e-8)


def test_the_demo_separation_line_figures(demo: Engine) -> None:
    """The baseline year is fixed demo data (the reporting year's savings are checked against the oracle above):
    2024 energy of baotou / separation = 12,171.6 kgce + 1,320.16 kgce/t × t made + 113.44 kgce/(K·d) × HDD,
    R² 0.9972; on production alone 26,836.0 + 1,426.38 kgce/t × t, R² 0.8365 (docs/energy-web.md)."""
    with session_scope(demo) as s:
        m = baseline(s, "demo", "baotou/separation", 2024, 2025)["model"]
        alone = baseline(s, "demo", "baotou/separation", 2024, 2025, stored_temperatures=False)["model"]
    assert m["formula"] == "kgce = 12,171.6 + 1,320.16 × production_t + 113.44 × hdd_k_d"
    assert round(m["r2"], 4) == 0.9972
    assert alone["formula"] == "kgce = 26,836.0 + 1,426.38 × production_t"
    assert round(alone["r2"], 4) == 0.8365


def test_to_date_savings_use_the_months_up_to_the_month(demo: Engine) -> None:
    with session_scope(demo) as s:
        full = baseline(s, "demo", "baotou / separation", 2024, 2025)
        half = baseline(s, "demo", "baotou / separation", 2024, 2025, through_month=6)
    assert [x["month"] for x in half["reporting"]] == [f"2025-{i:02d}" for i in range(1, 7)]
    assert half["savings"]["months"] == 6
    assert half["savings"]["total_kgce"] == pytest.approx(full["reporting"][5]["cusum_kgce"])


def test_degree_days_and_a_user_variable_join_the_candidates(demo: Engine) -> None:
    """Synthetic Baotou temperatures (cold winters): heating degree-days explain the winter gas, so the model of
    production + HDD is valid and beats production alone; cooling degree-days (26 °C base) never vary and are
    left out; a variable of pure noise makes every model with it invalid."""
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    temps = pd.Series(7 - 17 * np.cos(2 * np.pi * (days.day_of_year - 15) / 365.25), index=days)
    noise = pd.DataFrame({"noise_pct": np.random.default_rng(1).normal(size=24)},
                         index=[f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)])
    with session_scope(demo) as s:
        b = baseline(s, "demo", "baotou/separation", 2024, 2025, temperatures=temps, variables=noise)
    assert b["candidates"] == ["production_t", "hdd_k_d", "noise_pct"]
    assert any("cdd_k_d is left out" in n for n in b["notes"])
    assert len(b["models"]) == 7
    assert b["model"]["variables"] == ["production_t", "hdd_k_d"]
    assert all(not m["valid"] for m in b["models"] if "noise_pct" in m["variables"] and len(m["variables"]) > 1)
    # the same fit by numpy, the degree-days summed by hand
    base = by_hand(demo, "baotou", "separation", 2024)
    hdd = (18.0 - temps[temps.index.year == 2024]).clip(lower=0).groupby(temps.index[temps.index.year == 2024]
                                                                          .month).sum()
    fit = ols(base["kgce"].to_numpy(), np.column_stack([base["t"].to_numpy(), hdd.to_numpy()]))
    assert b["model"]["coefficients"]["hdd_k_d"] == pytest.approx(fit["coef"][2], rel=1e-9)
    assert b["model"]["adj_r2"] == pytest.approx(fit["adj_r2"], rel=1e-12)
    assert b["model"]["adj_r2"] > next(m for m in b["models"] if m["variables"] == ["production_t"])["adj_r2"]


def test_a_month_without_every_day_has_no_degree_days() -> None:
    days = pd.date_range("2024-01-01", "2024-02-28", freq="D")        # February lacks the 29th
    dd = degree_day_months(pd.Series(10.0, index=days))
    assert dd.loc[pd.Period("2024-01", "M"), "hdd_k_d"] == pytest.approx(31 * 8.0)
    assert dd.loc[pd.Period("2024-01", "M"), "cdd_k_d"] == 0.0
    assert math.isnan(dd.loc[pd.Period("2024-02", "M"), "hdd_k_d"])


def test_no_valid_model_says_why(sqlite_engine: Engine) -> None:
    """Energy unrelated to production: the one model fails the rules, there are no savings, and the reasons
    name the rules."""
    rows = ["site,line,product,period_start,period_end,activity,amount,unit"]
    made = [10, 12, 9, 11, 10, 13, 8, 12, 10, 11, 9, 12]
    power = [100, 90, 110, 95, 105, 100, 98, 102, 97, 103, 99, 101]
    for year in (2023, 2024):
        for m in range(1, 13):
            end = pd.Period(f"{year}-{m:02d}", "M").end_time.date()
            rows.append(f"baotou,sep,a,{year}-{m:02d}-01,{end},production.output,{made[m - 1]},t")
            rows.append(f"baotou,sep,,{year}-{m:02d}-01,{end},electricity.grid,{power[m - 1]},MWh")
    with session_scope(sqlite_engine) as s:
        structure.create_org(s, "acme")
        structure.add_site(s, "acme", "baotou", "CN-NM")
        structure.add_line(s, "acme", "baotou", "sep")
        structure.add_product(s, "acme", "a")
        import_activity(s, "acme", "\n".join(rows).encode(), "e.csv", "test")
    with session_scope(sqlite_engine) as s:
        b = baseline(s, "acme", "baotou/sep", 2023, 2024)
        with pytest.raises(NotFoundError, match="no line"):
            baseline(s, "acme", "baotou/nope", 2023, 2024)
        with pytest.raises(NotFoundError, match="2021"):
            baseline(s, "acme", "baotou/sep", 2021, 2024)
        with pytest.raises(ValidationFailed):
            baseline(s, "acme", "baotou/sep", 2023, 2024, through_month=13)
    [m] = b["models"]
    assert b["model"] is None and b["savings"] is None and b["reporting"] == []
    assert not m["valid"] and any("R²" in r for r in m["reasons"]) and any("p-value" in r for r in m["reasons"])
    assert any("no model meets" in n for n in b["notes"])
    json.dumps(b, allow_nan=False)


def test_find_line() -> None:
    assert find_line("baotou/separation", ["baotou / separation"]) == "baotou / separation"
    assert find_line(" baotou / separation ", ["baotou / separation"]) == "baotou / separation"
    with pytest.raises(NotFoundError):
        find_line("baotou", ["baotou / separation"])


def test_the_flows_add_up_to_the_enpi_energy(demo: Engine) -> None:
    with session_scope(demo) as s:
        f = flows(s, "demo", 2025)
        r = enpi(s, "demo", 2025)
    total = sum(v["kgce"] for v in r["lines"].values())
    sk = f["sankey"]
    assert sk["total_kgce"] == pytest.approx(total)
    levels = {n["id"]: n["level"] for n in sk["nodes"]}

    def flow(a: str, b: str) -> float:
        return sum(x["kgce"] for x in sk["links"] if levels[x["source"]] == a and levels[x["target"]] == b)

    assert flow("carrier", "site") == pytest.approx(total)
    assert flow("site", "line") == pytest.approx(total)
    assert flow("line", "product") + sk["unassigned_kgce"] == pytest.approx(total)
    for line, v in r["lines"].items():                              # each line passes on what it used
        out = sum(x["kgce"] for x in sk["links"] if x["source"] == f"l:{line}")
        assert out == pytest.approx(v["kgce"])
    by_hand_sep = by_hand(demo, "baotou", "separation", 2025)["kgce"].sum()
    assert r["lines"]["baotou / separation"]["kgce"] == pytest.approx(by_hand_sep)
    assert sum(c["kgce"] for c in f["carriers"].values()) == pytest.approx(total)
    json.dumps(f, allow_nan=False)


def test_the_month_summary(demo: Engine) -> None:
    with session_scope(demo) as s:
        summary = month_summary(s, "demo", "2025-06", quota_map=demo_quota_map())
        halves = {ln: baseline(s, "demo", ln, 2024, 2025, through_month=6) for ln in summary["lines"]}
    json.dumps(summary, allow_nan=False)
    sep = summary["lines"]["baotou / separation"]
    hand25, hand24 = by_hand(demo, "baotou", "separation", 2025), by_hand(demo, "baotou", "separation", 2024)
    assert sep["kgce"] == pytest.approx(hand25.at[6, "kgce"])
    assert sep["kgce_per_t"] == pytest.approx(hand25.at[6, "kgce"] / hand25.at[6, "t"])
    per_t = hand25["kgce"] / hand25["t"]
    assert sep["mom_change_pct"] == pytest.approx(100 * (per_t[6] / per_t[5] - 1))
    assert sep["yoy_change_pct"] == pytest.approx(100 * (per_t[6] / (hand24.at[6, "kgce"] / hand24.at[6, "t"]) - 1))
    ytd, ytd24 = hand25.loc[1:6].sum(), hand24.loc[1:6].sum()
    assert sep["ytd"]["kgce_per_t"] == pytest.approx(ytd["kgce"] / ytd["t"])
    ytd_per_t, ytd24_per_t = ytd["kgce"] / ytd["t"], ytd24["kgce"] / ytd24["t"]
    assert sep["ytd"]["yoy_change_pct"] == pytest.approx(100 * (ytd_per_t / ytd24_per_t - 1))
    org = summary["organisation_total"]
    assert org["kgce"] == pytest.approx(sum(v["kgce"] for v in summary["lines"].values()))
    assert sum(c["kgce"] for c in summary["carriers"]) == pytest.approx(org["kgce"])
    # quota on the year to date: PrNd oxide carries the separation line's figure
    prnd = next(q for q in summary["quota"] if q["product"] == "prnd-oxide")
    assert prnd["kgce_per_t"] == pytest.approx(sep["ytd"]["kgce_per_t"])
    # savings to date: the lines' own to-date savings, summed; uncertainties in quadrature
    with_savings = [b for b in halves.values() if b["savings"]]
    assert summary["savings_to_date"]["total_kgce"] == pytest.approx(sum(b["savings"]["total_kgce"]
                                                                         for b in with_savings))
    assert summary["savings_to_date"]["uncertainty_68_kgce"] == pytest.approx(
        math.sqrt(sum(b["savings"]["uncertainty"][0]["kgce"] ** 2 for b in with_savings)))
    assert summary["organisation_cusum"][-1]["cusum_kgce"] == pytest.approx(summary["savings_to_date"]["total_kgce"])
    assert summary["baselines"]["baotou / separation"]["month_savings_kgce"] == pytest.approx(
        halves["baotou / separation"]["reporting"][5]["savings_kgce"])


def test_a_month_is_checked(demo: Engine) -> None:
    assert parse_month("2025-06") == (2025, 6)
    for bad in ("2025-13", "2025-6", "June", ""):
        with pytest.raises(ValidationFailed):
            parse_month(bad)
    with session_scope(demo) as s:
        empty = month_summary(s, "demo", "2023-06")              # a month without data: an empty report that says so
    assert empty["lines"] == {} and empty["organisation_total"]["kgce"] == 0.0 and empty["carriers"] == []
    assert "no line of demo recorded energy or production in 2023-06" in empty["notes"]
    json.dumps(empty, allow_nan=False)


def test_the_baseline_command(demo: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rareeco.cli import app

    db = str(demo.url)
    args = ["--db", db, "energy", "baseline", "--org", "demo", "--line", "baotou/separation", "--baseline-year",
            "2024", "--year", "2025"]
    r = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    with session_scope(demo) as s:
        assert d == json.loads(json.dumps(baseline(s, "demo", "baotou/separation", 2024, 2025)))
    text = CliRunner().invoke(app, args, catch_exceptions=False).output
    assert "kgce = 12,171.6 + 1,320.16 × production_t + 113.44 × hdd_k_d" in " ".join(text.split())
    assert "weather:baotou:temperature_c" in text
    assert f"{d['savings']['total_kgce']:,.0f} kgce" in text
    text = CliRunner().invoke(app, [*args, "--no-stored-temperatures"], catch_exceptions=False).output
    assert "kgce = 26,836.0 + 1,426.38 × production_t" in " ".join(text.split())
    temps = tmp_path / "t.csv"
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"),
                  "temperature_c": 7 - 17 * np.cos(2 * np.pi * (days.day_of_year - 15) / 365.25)}).to_csv(temps,
                                                                                                         index=False)
    r = CliRunner().invoke(app, [*args, "--temperatures", str(temps), "--json"], catch_exceptions=False)
    assert json.loads(r.output)["model"]["variables"] == ["production_t", "hdd_k_d"]
    bad = CliRunner().invoke(app, ["--db", db, "energy", "baseline", "--org", "demo", "--line", "x/y",
                                   "--baseline-year", "2024", "--year", "2025"])
    assert bad.exit_code != 0 and isinstance(bad.exception, NotFoundError)     # main() prints it as one line


def test_reporting_on_the_baseline_year_itself_saves_nothing(demo: Engine) -> None:
    """Savings of the baseline year against its own model are nil (OLS residuals sum to zero): no fractional
    uncertainty (it would be infinite), but the uncertainty in kgce is the usual one."""
    with session_scope(demo) as s:
        b = baseline(s, "demo", "ganzhou/recycling", 2024, 2024, stored_temperatures=False)
    sv = b["savings"]
    assert abs(sv["total_kgce"]) < 1e-6 * sv["baseline_total_kgce"]
    base = by_hand(demo, "ganzhou", "recycling", 2024)
    fit = ols(base["kgce"].to_numpy(), base["t"].to_numpy())
    for u in sv["uncertainty"]:
        assert u["fractional"] is None
        assert u["kgce"] == pytest.approx(fsu(fit, 12, 1.0, u["confidence"]) * float(base["kgce"].sum()), rel=1e-9)
    assert sv["guideline14_ok"] is False
    json.dumps(b, allow_nan=False)
