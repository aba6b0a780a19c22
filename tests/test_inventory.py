"""Inventory values checked by hand (each expected number is worked out in the comment beside it)."""

import pytest
from sqlalchemy import Engine

from conftest import make_org
from rareeco.errors import PeriodLockedError, ValidationFailed
from rareeco.ingest.activity import import_activity
from rareeco.inventory.explain import explain
from rareeco.inventory.service import compute, inventory, lock_year
from rareeco.ledger import audit, periods
from rareeco.ledger.db import session_scope
from rareeco.reference.usersets import add_factor_set, choose_sets

H = "site,period_start,period_end,activity,amount,unit,line,product\n"
ROWS = (
    "baotou,2024-03-01,2024-03-31,electricity.grid,100,MWh,sep,\n"
    "baotou,2024-03-01,2024-03-31,fuel.natural_gas,1,万Nm3,,\n"
    "baotou,2024-03-01,2024-03-31,fuel.diesel,1,t,,\n"
    "baotou,2024-03-01,2024-03-31,process.oxalate_calcination.Nd2O3,10,t,sep,\n"
    "baotou,2024-03-01,2024-03-31,process.oxalic_acid,14,t,sep,\n"
    "baotou,2024-03-01,2024-03-31,process.pfc_cf4,10,kg,,\n"
    "baotou,2024-03-01,2024-03-31,process.pfc_c2f6,1,kg,,\n"
    "ganzhou,2024-03-01,2024-03-31,electricity.grid,50,MWh,,\n"
    "ganzhou,2024-01-01,2024-12-31,electricity.green_certificate,80,MWh,,\n"
    "baotou,2024-12-17,2025-01-15,electricity.grid,30,MWh,sep,\n"
    "baotou,2024-03-01,2024-03-31,purchased.hcl,5,t,,\n"
    "baotou,2024-03-01,2024-03-31,production.output,20,t,sep,la2o3\n"
)
NG_TJ = 389.31e-3                     # 1 万Nm3 × 389.31 GJ/万Nm3
GAS_GHGP = NG_TJ * 56.1               # × 56,100 kg CO2/TJ                      = 21.840291
GAS_CN = NG_TJ * 15.3 * 0.99 * 3.664  # × 15.3 tC/TJ × 99 % × 44/12           = 21.606163
DIESEL_GHGP = 0.043 * 74.1            # 43.0 TJ/Gg × 74,100 kg/TJ               = 3.1863
DIESEL_CN = 0.043 * 20.2 * 0.98 * 3.664
PFC_AR6 = 0.010 * 7380 + 0.001 * 12400   # 73.8 + 12.4                          = 86.2
PFC_AR5 = 0.010 * 6630 + 0.001 * 11100   # 66.3 + 11.1                          = 77.4
BAOTOU_LOC = 0.6361                   # 2024 → 2023 (latest), CN-NM has no 2023 → North China grid
GANZHOU_LOC = 0.5271                  # 2023 Central China grid
RESIDUAL = 0.6096                     # national excl. market-traded non-fossil, 2023
DEC_MWH = 30 * 15 / 30                # 2024-12-17…2025-01-15 is 30 days, 15 of them in 2024


def load(engine: Engine, rows: str = ROWS) -> None:
    make_org(engine)
    with session_scope(engine) as s:
        import_activity(s, "acme", (H + rows).encode(), "inv.csv")


def test_ghg_protocol_values(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        p = inventory(s, "acme", 2024)
    s1 = GAS_GHGP + DIESEL_GHGP + 10 * 0.785 + PFC_AR6
    assert p["scope1_t_co2e"] == pytest.approx(s1, abs=2e-6)
    assert p["scope2_location_t_co2e"] == pytest.approx((100 + DEC_MWH) * BAOTOU_LOC + 50 * GANZHOU_LOC, abs=2e-6)
    # certificates (80 MWh) exceed Ganzhou's 50 MWh: capped, Ganzhou market-based = 0
    assert p["scope2_market_t_co2e"] == pytest.approx((100 + DEC_MWH) * RESIDUAL, abs=2e-6)
    assert p["by_site"]["ganzhou"]["scope2_market_t_co2e"] == pytest.approx(0.0, abs=1e-9)
    assert any("exceed" in n for n in p["notes"])
    assert p["scope3_t_co2e"] == 0.0
    assert p["unquantified"] == [{"activity": "purchased.hcl", "amount": 5.0, "unit": "t", "records": 1,
                                  "reason": p["unquantified"][0]["reason"]}]
    assert p["total_t_co2e"] == pytest.approx(s1 + p["scope2_location_t_co2e"], abs=2e-6)
    assert p["by_month"]["2024-12"]["scope2_location_t_co2e"] == pytest.approx(DEC_MWH * BAOTOU_LOC, abs=2e-6)
    assert p["by_gas"]["CF4"] == {"mass_t": pytest.approx(0.01), "t_co2e": pytest.approx(73.8)}
    assert p["by_activity"]["process.oxalate_calcination.Nd2O3"] == pytest.approx(7.85)
    assert "process.oxalic_acid" not in p["by_activity"]
    assert p["production_t"] == {"la2o3": 20.0}
    assert p["by_line"]["baotou / sep"]["scope2_location_t_co2e"] == pytest.approx((100 + DEC_MWH) * BAOTOU_LOC)
    assert {"grid.north.2023", "residual.cn.2023", "ar6.cf4"} <= {f["factor_id"] for f in p["factors_used"]}
    # the China 2015 method, named, on the same data
    cn = p["other_methods"]["cn-2015"]
    assert cn["scope1_t_co2e"] == pytest.approx(GAS_CN + DIESEL_CN + 14 * 0.349 * 0.996 + PFC_AR6, abs=2e-6)
    assert cn["by_activity"]["process.oxalic_acid"] == pytest.approx(4.866456)  # 14 t × 0.349 × 0.996


def test_cn2015_method_and_ar5(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        p = inventory(s, "acme", 2024, method="cn-2015", gwp_set="ar5")
    assert p["scope1_t_co2e"] == pytest.approx(GAS_CN + DIESEL_CN + 14 * 0.349 * 0.996 + PFC_AR5, abs=2e-6)
    assert any("no guideline NCV for diesel" in n for n in p["notes"])
    assert p["gwp_set"] == "ar5" and "ar5.cf4" in {f["factor_id"] for f in p["factors_used"]}


def test_year_split_and_the_next_year(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        p25, _ = compute(s, "acme", 2025)
        p22, _ = compute(s, "acme", 2022)
    assert p25["scope2_location_t_co2e"] == pytest.approx(15 * BAOTOU_LOC)
    assert p22["total_t_co2e"] == 0.0


def test_user_factor_set_fills_scope3(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        add_factor_set(s, "acme", "factor_id,kind,key,gas,value,unit,source,tag,version\n"
                                  "hcl1,purchased_ef,hcl,CO2e,300,kg CO2e/t,supplier PCF 2024,U,1\n", "supplier")
        assert compute(s, "acme", 2024, factor_sets=["supplier"])[0]["scope3_t_co2e"] == pytest.approx(1.5)
        assert compute(s, "acme", 2024)[0]["scope3_t_co2e"] == 0.0          # only when chosen
        choose_sets(s, "acme", ["supplier"], 2024)
        p = compute(s, "acme", 2024)[0]
    assert p["scope3_t_co2e"] == pytest.approx(1.5) and p["unquantified"] == []
    assert "supplier" in p["provenance"]["factor_sets"]


def test_explain_walks_back_to_rows_and_factors(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        p = inventory(s, "acme", 2024)
        ex = explain(s, "acme", 2024, site="baotou", month="2024-03")
        gas = explain(s, "acme", 2024, site="baotou", activity="fuel.natural_gas")
    assert ex["t_co2e"] == pytest.approx(p["by_site_month"]["baotou / 2024-03"]["total_t_co2e"], abs=2e-6)
    [row] = gas["records"]
    assert (row["file"], row["row"], row["amount_as_imported"], row["amount"]) == ("inv.csv", 3, "1 万Nm3", 10000)
    assert row["t_co2e"] == pytest.approx(GAS_GHGP)
    assert {f["factor_id"] for f in gas["factors"]} == {"cn2015.ncv.natural_gas", "ipcc.ef.natural_gas",
                                                         "ar6.co2"}
    with pytest.raises(ValidationFailed):
        explain(s, "acme", 2024, month="2023-01")


def test_lock_freezes_the_year_refuses_changes_and_unlock_is_recorded(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        info = lock_year(s, "acme", "2024", "verifier-v", "verified")
    with session_scope(engine) as s:
        p = inventory(s, "acme", 2024)
        assert p["locked"] is True and p["result_id"] == info["frozen_result_id"]
        assert p["total_t_co2e"] == pytest.approx(info["total_t_co2e"])
        with pytest.raises(PeriodLockedError, match="recalculation refused"):
            inventory(s, "acme", 2024, gwp_set="ar5")
    with pytest.raises(ValidationFailed), session_scope(engine) as s:
        import_activity(s, "acme", (H + "baotou,2024-06-01,2024-06-30,fuel.diesel,1,t,,\n").encode(), "late.csv")
    with session_scope(engine) as s:
        periods.unlock(s, "acme", "2024", "verifier-v", "supplier invoice corrected")
        import_activity(s, "acme", (H + "baotou,2024-06-01,2024-06-30,fuel.diesel,1,t,,\n").encode(), "late.csv")
        p2 = inventory(s, "acme", 2024, gwp_set="ar5")
        actions = [e.action for e in audit.entries(s, "acme", 100)]
    assert p2["locked"] is False
    # newest first; reading the frozen result is not a calculation, so nothing between lock and unlock
    assert actions[:4] == ["inventory.calculate", "import", "period.unlock", "period.lock"]


def test_reading_again_returns_the_stored_result_until_an_input_changes(engine: Engine) -> None:
    load(engine)
    with session_scope(engine) as s:
        first = inventory(s, "acme", 2024)
        again = inventory(s, "acme", 2024)
        calcs = [e for e in audit.entries(s, "acme", 100) if e.action == "inventory.calculate"]
    assert again["result_id"] == first["result_id"] and again["total_t_co2e"] == first["total_t_co2e"]
    assert len(calcs) == 1
    with session_scope(engine) as s:
        import_activity(s, "acme", (H + "baotou,2024-06-01,2024-06-30,fuel.diesel,1,t,,\n").encode(), "more.csv")
        third = inventory(s, "acme", 2024)
    assert third["result_id"] != first["result_id"]
    assert third["scope1_t_co2e"] == pytest.approx(first["scope1_t_co2e"] + DIESEL_GHGP, abs=2e-6)


def test_a_locked_year_is_recomputed_with_the_factor_versions_it_was_verified_with(engine: Engine) -> None:
    """Regression: after a newer version of a chosen factor set, the pages recomputed a locked year with it."""
    from rareeco.inventory.service import verified_compute

    load(engine)
    supplier = ("factor_id,kind,key,gas,value,unit,source,tag,version\n"
                "hcl1,purchased_ef,hcl,CO2e,{v},kg CO2e/t,PCF,U,{n}\n")
    with session_scope(engine) as s:
        add_factor_set(s, "acme", supplier.format(v=300, n=1), "supplier")      # 5 t × 0.3 = 1.5 t
        choose_sets(s, "acme", ["supplier"], 2024)
        info = lock_year(s, "acme", "2024", "verifier-v", "verified")
        add_factor_set(s, "acme", supplier.format(v=500, n=2), "supplier")      # a newer version: 2.5 t
    with session_scope(engine) as s:
        assert verified_compute(s, "acme", 2025, "ghg-protocol", "ar6") is None      # not locked
        payload, _, frozen = verified_compute(s, "acme", 2024, "ghg-protocol", "ar6") or (None, None, None)
        assert frozen is not None and frozen.id == info["frozen_result_id"]
        assert payload["scope3_t_co2e"] == pytest.approx(1.5)
        assert payload["total_t_co2e"] == pytest.approx(info["total_t_co2e"])
        assert compute(s, "acme", 2024)[0]["scope3_t_co2e"] == pytest.approx(2.5)   # the latest version
