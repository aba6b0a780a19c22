"""Energy-saving measures: motor efficiency classes, estimated and verified savings, the register, the demo.

Hand-checked figures (Regulation (EU) 2019/1781 Annex I coefficients of the reference data, 4 poles, 0.75–200 kW):

x = log10(55) = 1.740363, x² = 3.028862, x³ = 5.271319
IE2: 0.0278·x³ − 1.9247·x² + 10.4395·x + 80.9761 = 0.14654 − 5.82966 + 18.16851 + 80.9761 = 93.4615 → 93.5 %
IE4: 0.2412·x³ − 2.3608·x² + 8.4460·x + 86.8321 = 1.27144 − 7.15054 + 14.69911 + 86.8321 = 95.6521 → 95.7 %
One 55 kW motor at 75 % load for 8,000 h: shaft 55 × 0.75 × 8,000 = 330,000 kWh;
input 330,000 / 0.935 = 352,941.2 kWh before, 330,000 / 0.957 = 344,827.6 kWh after: 8,113.6 kWh saved a year.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from rareeco.demo.load import load_demo
from rareeco.energy import measures as mm
from rareeco.energy import measures_service as svc
from rareeco.errors import ConflictError, ValidationFailed
from rareeco.ledger import structure
from rareeco.ledger.db import make_engine, session_scope
from rareeco.reference import TAGS
from rareeco.reference.motors import efficiency_set
from rareeco.units import parse_unit

# ------------------------------------------------------------------------------------------ reference data


def test_efficiency_classes_are_cited_tagged_and_complete() -> None:
    s = efficiency_set()
    assert s.meta["title"].startswith("IEC 60034-30-1")
    coef = [f for f in s.factors if f.kind == "motor_efficiency_coefficient"]
    assert len(coef) == 3 * 4 * 2 * 4            # IE2–IE4 × 2/4/6/8 poles × two power ranges × A–D
    for f in s.factors:
        assert f.source and f.version and f.tag in TAGS, f.factor_id
        parse_unit(f.unit)
        if f.tag == "S":
            assert "unverified" in f.note, f.factor_id
    assert {f.tag for f in coef} == {"V"} and all("2019/1781" in f.source for f in coef)


def test_55_kw_motor_ie2_to_ie4_by_hand() -> None:
    assert mm.ie_efficiency_pct("IE2", 4, 55) == 93.5
    assert mm.ie_efficiency_pct("IE4", 4, 55) == 95.7
    assert float(mm.motor_kwh_saved(55, 0.75, 8000, 0.935, 0.957)) == pytest.approx(8113.59, abs=0.01)
    rows, used = mm.motors_estimate([mm.MotorGroup(1, 55, 4, 0.75, 8000, old_class="IE2", new_class="IE4")])
    assert rows[0]["kwh_saved"] == pytest.approx(8113.59, abs=0.01)
    assert rows[0]["kwh_before"] == pytest.approx(352_941.2, abs=0.1)
    assert {f.key for f in used} >= {"IE2:4:0.75-200:A", "IE4:4:0.75-200:D"}


def test_interpolation_between_and_beyond_the_tabulated_powers() -> None:
    # 12 kW is not a tabulated power: the formula gives 91.627 → 91.6, between 11 kW (91.4) and 15 kW (92.1)
    assert mm.ie_efficiency_pct("IE3", 4, 12) == 91.6
    assert mm.ie_efficiency_pct("IE3", 4, 11) < 91.6 < mm.ie_efficiency_pct("IE3", 4, 15)
    # below 0.75 kW the 0.12–0.55 kW coefficients apply: 0.6 kW IE3 4-pole → 81.575 → 81.6
    assert mm.ie_efficiency_pct("IE3", 4, 0.6) == 81.6
    # above 200 kW the 200 kW value holds up to 1000 kW
    assert mm.ie_efficiency_pct("IE3", 4, 315) == mm.ie_efficiency_pct("IE3", 4, 200) == 96.0
    with pytest.raises(ValidationFailed, match="outside"):
        mm.ie_efficiency_pct("IE3", 4, 1200)
    with pytest.raises(ValidationFailed, match="IE1") as e:
        mm.ie_efficiency_pct("IE1", 4, 11)
    assert "nameplate" in (e.value.fix or "")
    with pytest.raises(ValidationFailed, match="poles"):
        mm.ie_efficiency_pct("IE3", 3, 11)
    # a nameplate efficiency needs no class
    eta_old, eta_new, _ = mm.MotorGroup(2, 11, None, 0.5, 4000, old_efficiency_pct=88.0,
                                        new_efficiency_pct=94.0).efficiencies()
    assert (eta_old, eta_new) == (88.0, 94.0)


# ------------------------------------------------------------------------------------- estimates by hand

def test_solar_split_self_consumed_and_exported() -> None:
    gen = mm.solar_generation_kwh(1200, 1580)                      # 1,896,000 kWh
    s = mm.solar_split(gen, self_consumed_share=0.92)
    assert (s["self_consumed_kwh"], s["exported_kwh"]) == pytest.approx((1_744_320, 151_680))
    assert mm.solar_split(1000, self_consumed_kwh=1000)["exported_kwh"] == 0
    with pytest.raises(ValidationFailed, match="exceeds"):
        mm.solar_split(1000, self_consumed_kwh=1200)
    with pytest.raises(ValidationFailed, match="between 0 and 1"):
        mm.solar_split(1000, self_consumed_share=1.2)


def test_process_amounts_payback_and_share_of_year() -> None:
    units = {"fuel.natural_gas": "Nm3", "electricity.grid": "MWh"}
    items = [mm.CarrierSaving("fuel.natural_gas", 30, "Nm3/t"), mm.CarrierSaving("electricity.grid", 50_000, "kWh")]
    assert mm.process_amounts(items, units, 100) == pytest.approx({"fuel.natural_gas": 3000, "electricity.grid": 50})
    with pytest.raises(ValidationFailed, match="production"):
        mm.process_amounts(items, units, None)
    with pytest.raises(ValidationFailed, match="neither"):
        mm.process_amounts([mm.CarrierSaving("fuel.natural_gas", 1, "kWh")], units, 1)
    assert mm.weighted({"electricity.grid": 50, "fuel.natural_gas": 3000},
                       {"electricity.grid": 122.9, "fuel.natural_gas": 1.2143}) == pytest.approx(6145 + 3642.9)
    assert mm.simple_payback_years(100_000, 25_000) == 4.0
    assert mm.simple_payback_years(100_000, 0) is None and mm.simple_payback_years(1, None) is None
    assert mm.in_service_share(date(2025, 7, 1), 2025) == pytest.approx(184 / 365)
    assert (mm.in_service_share(date(2026, 1, 1), 2025), mm.in_service_share(date(2024, 5, 1), 2025)) == (0, 1)
    assert mm.months_in_service(date(2025, 3, 15), 2025) == list(range(4, 13))


def test_reconciliation_by_hand() -> None:
    # EnPI 1,000 → 900 kgce/t with 100 t made: 10,000 kgce; measures 6,000 kgce explain 60 %
    r = mm.reconcile(1000, 900, 100, {"a": 4000, "b": 2000})
    assert r["enpi_change_kgce"] == 10_000 and r["explained_pct"] == pytest.approx(60.0)
    assert r["unexplained_kgce"] == 4000 and r["enpi_change_pct"] == pytest.approx(-10.0)
    assert mm.reconcile(900, 1000, 100, {"a": 1})["explained_pct"] is None


# ---------------------------------------------------------------------------------------- options B and C

def _months(n: int) -> pd.Index:
    return pd.Index(range(1, n + 1), name="month")


def test_option_b_ratio_and_mean_by_hand() -> None:
    base = pd.DataFrame({"kwh": [100.0, 120, 80], "t": [10.0, 12, 8]}, index=_months(3))
    rep = pd.DataFrame({"kwh": [99.0, 81], "t": [11.0, 9]}, index=_months(2))
    v = mm.option_b(base, rep, "kwh", "t")             # 3 months: too few for a regression → 10 kWh/t
    assert v.method == "ratio" and v.total == pytest.approx(20.0) and v.adjusted_baseline == pytest.approx(200.0)
    v = mm.option_b(base, pd.DataFrame({"kwh": [90.0, 95]}, index=_months(2)), "kwh")
    assert v.method == "mean" and v.total == pytest.approx(15.0)   # (100 − 90) + (100 − 95)
    with pytest.raises(ValidationFailed, match="baseline"):
        mm.option_b(base.iloc[0:0], rep, "kwh", "t")


def test_option_b_regression_and_option_c() -> None:
    d = np.array([100, 120, 90, 140, 160, 110, 130, 150, 95, 105, 170, 125.0])
    base = pd.DataFrame({"kwh": 500 + 3 * d + np.array([1, -1] * 6), "t": d}, index=_months(12))
    dr = np.array([115, 135, 145.0])
    rep = pd.DataFrame({"kwh": 0.9 * (500 + 3 * dr), "t": dr}, index=_months(3))
    v = mm.option_b(base, rep, "kwh", "t")
    # 10 % of the baseline 500 + 3 t over the three months: 0.1 × (1,500 + 3 × 395) = 268.5
    assert v.method == "regression" and v.total == pytest.approx(268.5, abs=0.1)
    assert 0 < v.uncertainty[0.68] < v.uncertainty[0.90] < 10
    c = mm.option_c(base.rename(columns={"kwh": "kgce", "t": "production_t"}),
                    rep.rename(columns={"kwh": "kgce", "t": "production_t"}))
    assert c.option == "C" and c.total == pytest.approx(268.5, abs=0.1) and c.model is not None
    noise = base.assign(kwh=np.array([5, 1, 4, 2, 6, 3, 5, 1, 4, 2, 6, 3.0]))
    with pytest.raises(ValidationFailed, match="VERIFI"):
        mm.option_c(noise.rename(columns={"kwh": "kgce", "t": "production_t"}),
                    rep.rename(columns={"kwh": "kgce", "t": "production_t"}))


# ------------------------------------------------------------------------------------------------ register

@pytest.fixture
def acme(sqlite_engine: Engine) -> Engine:
    with session_scope(sqlite_engine) as s:
        structure.create_org(s, "acme")
        structure.add_site(s, "acme", "baotou", "CN-NM")
        structure.add_line(s, "acme", "baotou", "sep")
    return sqlite_engine


MOTORS = {"code": "pm", "name": "PM motors", "kind": "motors", "site": "baotou", "line": "sep",
          "in_service": "2025-01-01", "ipmvp_option": "B", "cost_cny": 10_000,
          "spec": {"motors": [{"count": 1, "rated_kw": 55, "poles": 4, "load_factor": 0.75, "hours_per_yr": 8000,
                               "old_class": "IE2", "new_class": "IE4"}]}}


def test_register_add_list_get_and_replace(acme: Engine) -> None:
    with session_scope(acme) as s:
        assert svc.add(s, "acme", MOTORS)[0] == "added"
        assert svc.add(s, "acme", MOTORS, replace=True)[0] == "unchanged"
        with pytest.raises(ConflictError, match="already exists"):
            svc.add(s, "acme", MOTORS)
        status, m = svc.add(s, "acme", {**MOTORS, "cost_cny": 12_000}, replace=True)
        assert status == "updated" and m["cost_cny"] == 12_000
        [row] = svc.measures(s, "acme")
        assert row["code"] == "pm" and row["line"] == "sep" and row["in_service"] == "2025-01-01"
        assert svc.get(s, "acme", "pm")["spec"]["motors"][0]["rated_kw"] == 55
        json.dumps(svc.measures(s, "acme"))


def test_validation_names_every_field_and_the_fix(acme: Engine) -> None:
    bad = {**MOTORS, "kind": "motors", "in_service": "soon", "site": "baotou", "line": "nowhere",
           "spec": {"motors": [{"count": 0, "rated_kw": 55, "poles": 4, "load_factor": 1.4, "hours_per_yr": 8000,
                                "old_class": "IE4", "new_class": "IE1"}]}}
    with pytest.raises(ValidationFailed) as e, session_scope(acme) as s:
        svc.add(s, "acme", bad)
    fields = {f.column for f in e.value.findings}
    assert {"line", "in_service", "spec.motors[0].count", "spec.motors[0].load_factor",
            "spec.motors[0].new_class"} <= fields
    assert all(f.fix for f in e.value.findings)
    with pytest.raises(ValidationFailed) as e, session_scope(acme) as s:
        svc.add(s, "acme", {"code": "pv", "name": "PV", "kind": "solar", "site": "baotou", "in_service": "2025-01-01",
                            "ipmvp_option": "C", "cost_cny": 1, "spec": {"kwp": 100, "self_consumed_share": 0.9}})
    by_field = {f.column: f for f in e.value.findings}
    assert "own meter" in by_field["ipmvp_option"].message and "EnPI" in (by_field["ipmvp_option"].fix or "")
    assert "spec.specific_yield_kwh_per_kwp" in by_field


def test_prices_are_configuration_without_defaults(acme: Engine) -> None:
    with session_scope(acme) as s:
        assert svc.prices(s, "acme") == []
        with pytest.raises(ValidationFailed) as e:
            svc.set_prices(s, "acme", [{"carrier": "electricity.grid", "value": 0.5, "unit": "CNY/Nm3"}])
        assert e.value.findings[0].column == "prices[0].unit"
        svc.set_prices(s, "acme", [{"carrier": "electricity.grid", "value": 0.5, "unit": "CNY/kWh"},
                                   {"carrier": "electricity.grid", "site": "baotou", "value": 0.6, "unit": "CNY/kWh"}])
        assert svc._price_map(svc.prices(s, "acme"), "baotou")["electricity.grid"] == pytest.approx(600.0)  # CNY/MWh
        assert svc._price_map(svc.prices(s, "acme"), "elsewhere")["electricity.grid"] == pytest.approx(500.0)


def test_option_b_without_a_meter_degrades_with_the_fix(acme: Engine) -> None:
    with session_scope(acme) as s:
        svc.add(s, "acme", MOTORS)
        r = svc.savings(s, "acme", 2025)
    [m] = r["measures"]
    assert m["verified"]["status"] == "unavailable" and "meter" in m["verified"]["reason"]
    assert "meter add" in m["verified"]["fix"]
    # the estimate needs no ledger data: 8,113.6 kWh × 0.1229 kgce/kWh, no price → no cost, no payback
    assert m["estimated"]["year"]["electricity_kwh"] == pytest.approx(8113.59, abs=0.01)
    assert m["estimated"]["year"]["kgce"] == pytest.approx(8113.59 * 0.1229, abs=0.01)
    assert m["estimated"]["annual"]["cost_saved_cny"] is None and m["estimated"]["annual"]["payback_years"] is None
    assert "no EnPI" in r["reconciliation"]["reason"]
    json.dumps(r, allow_nan=False)


# ----------------------------------------------------------------------------------------------------- demo

@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('measures') / 'demo.db'}"
    eng = make_engine(url)
    with session_scope(eng) as s:
        load_demo(s)
    eng.dispose()
    return url


def test_demo_measures_explain_most_of_the_enpi_drop(demo_db: str) -> None:
    eng = make_engine(demo_db)
    with session_scope(eng) as s:
        r = svc.savings(s, "demo", 2025)
        listed = svc.measures(s, "demo")
    eng.dispose()
    assert len(listed) == 7
    assert sum(m["estimated"]["motor_count"] for m in r["measures"] if m["kind"] == "motors") == 420
    est, ver = r["reconciliation"]["estimated"], r["reconciliation"]["verified"]
    assert est["enpi_change_pct"] == pytest.approx(-7.82, abs=0.005)          # the article's figure (REFERENCE §10)
    assert est["explained_pct"] == pytest.approx(72.5, abs=0.1)
    assert ver["explained_pct"] == pytest.approx(84.7, abs=0.1)
    # the PV plant is not in the EnPI: self-consumed PV counts as consumed energy
    assert [x["code"] for x in est["excluded"]] == ["bt-pv"]
    pv = next(m for m in r["measures"] if m["code"] == "bt-pv")
    assert pv["estimated"]["year"]["kgce_enpi"] == 0 and pv["estimated"]["year"]["t_co2"] > 1000
    assert pv["verified"]["electricity_kwh"] == pytest.approx(1_686_033, abs=1)   # the ledger's PV records
    # the motors are verified on their sub-meters (option B) but counted inside the separation line's option C
    agit = next(m for m in r["measures"] if m["code"] == "bt-pm-agitators")
    assert agit["verified"]["status"] == "verified" and agit["verified"]["option"] == "B"
    # the demo sub-meter reads a fixed share of the line incomer, so it also carries the automation's savings
    assert agit["verified"]["electricity_kwh"] > agit["estimated"]["year"]["electricity_kwh"]
    assert any(x["code"] == "bt-pm-agitators" and "option C" in x["reason"] for x in ver["excluded"])
    assert {g["scope"] for g in r["verified_scopes"]} == {"baotou / separation", "baotou / metal",
                                                          "ganzhou / recycling", "ganzhou / magnet"}
    json.dumps(r, allow_nan=False)


def test_cli_savings_json(demo_db: str, tmp_path: Path) -> None:
    from rareeco.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["--db", demo_db, "energy", "measure", "savings", "--org", "demo", "--year", "2025",
                              "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["year"] == 2025 and r["convention"] == "equivalent"
    assert r["reconciliation"]["estimated"]["explained_pct"] == pytest.approx(72.5, abs=0.1)
    auto = next(m for m in r["measures"] if m["code"] == "bt-sep-automation")
    assert auto["estimated"]["annual"]["payback_years"] == pytest.approx(
        auto["cost_cny"] / auto["estimated"]["annual"]["cost_saved_cny"])
    listed = runner.invoke(app, ["--db", demo_db, "energy", "measure", "list", "--org", "demo", "--json"])
    assert listed.exit_code == 0 and len(json.loads(listed.output)["measures"]) == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("code: x\nname: x\nkind: wind\nsite: baotou\nin_service: 2025-01-01\nipmvp_option: C\n"
                   "cost_cny: 1\nspec: {}\n", "utf-8")
    res = runner.invoke(app, ["--db", demo_db, "energy", "measure", "add", "--org", "demo", str(bad)])
    assert res.exit_code != 0 and isinstance(res.exception, ValidationFailed)
    assert any(f.column == "kind" for f in res.exception.findings)
