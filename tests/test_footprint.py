"""Product footprints from the ledger, checked by hand, by conservation and by bw2calc.

The hand ledger (year 2023, so every cited factor is of the year): site baotou, two lines.

* line ``sep`` makes A 10 t and B 30 t, using 100 MWh of grid electricity and 10 t of HCl;
* line ``met`` makes M 5 t from 6 t of A (``consumption.product``), using 20 MWh and emitting 0.001 t CF4.

Factors: electricity 0.6205 t CO2e/MWh (``cfp.cn.grid.2023``, V); HCl 0.3 t CO2e/t and prices A 100 and
B 10 CNY/kg (a user set, U); CF4 GWP100 from the built-in AR6 set.

By hand, line ``sep`` emits 100 × 0.6205 + 10 × 0.3 = 65.05 t CO2e:

* mass: A and B each 65.05 / 40 = 1.62625 kg CO2e/kg;
* economic: values 10 × 100 = 1000 and 30 × 10 = 300 → factors 10/13 and 3/13 → A 65.05 × 10/13 / 10 =
  5.003846…, B 65.05 × 3/13 / 30 = 0.500385… kg CO2e/kg;
* M (mass) = (6 × 1.62625 + 20 × 0.6205 + 0.001 × GWP_CF4) / 5; its primary-data share is the CF4 term
  over the total.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from rareeco.errors import FactorNotFoundError, ValidationFailed
from rareeco.footprint.assess import assess
from rareeco.footprint.config import FootprintConfig, ProductSettings, parse_config
from rareeco.footprint.service import footprints, product_footprint, set_config
from rareeco.footprint.system import LineYear, build
from rareeco.ingest.activity import import_activity
from rareeco.ledger import structure
from rareeco.ledger.db import session_scope
from rareeco.reference import FactorTable, builtin_sets, parse_factor_set
from rareeco.reference.usersets import add_factor_set, choose_sets

USER_SET = """factor_id,kind,key,year,gas,value,unit,source,tag,version,valid_from,valid_to,note
t.hcl,purchased_ef,hcl,,CO2e,0.3,t CO2e/t,test,U,1,,,
t.price.a,price,a,2023,,100,CNY/kg,test,U,1,,,
t.price.b,price,b,2023,,10,CNY/kg,test,U,1,,,
"""
HEADER = "site,line,product,period_start,period_end,activity,amount,unit\n"
ROWS = """baotou,sep,a,2023-01-01,2023-12-31,production.output,10,t
baotou,sep,b,2023-01-01,2023-12-31,production.output,30,t
baotou,sep,,2023-01-01,2023-12-31,electricity.grid,100,MWh
baotou,sep,,2023-01-01,2023-12-31,purchased.hcl,10,t
baotou,met,m,2023-01-01,2023-12-31,production.output,5,t
baotou,met,a,2023-01-01,2023-12-31,consumption.product,6,t
baotou,met,,2023-01-01,2023-12-31,electricity.grid,20,MWh
baotou,met,,2023-01-01,2023-12-31,process.pfc_cf4,1,kg
"""
SETTINGS = "products:\n  m: {feeds: [a]}\n"


def cf4_gwp() -> float:
    return FactorTable(builtin_sets()).gwp("ar6")["CF4"].value


def hand_ledger(s: Session, org: str, name: str | None = None) -> None:
    """The organisation ``org`` with the hand ledger of this module's docstring."""
    structure.create_org(s, org, name)
    structure.add_site(s, org, "baotou", "CN-NM")
    for line in ("sep", "met"):
        structure.add_line(s, org, "baotou", line)
    for p in ("a", "b", "m"):
        structure.add_product(s, org, p)
    add_factor_set(s, org, USER_SET, "test-set", "test")
    choose_sets(s, org, ["test-set"], None, "test")
    set_config(s, org, SETTINGS, "test")
    import_activity(s, org, (HEADER + ROWS).encode(), "hand.csv", "test")


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    with session_scope(engine) as s:
        hand_ledger(s, "acme")
    return engine


def test_hand_ledger_footprints(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        p = footprints(s, "acme", 2023, iterations=0)
    mass, econ = p["footprints"]["mass"], p["footprints"]["economic"]
    assert mass["a"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 / 40, rel=1e-12)
    assert mass["b"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 / 40, rel=1e-12)
    assert econ["a"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 * 10 / 13 / 10, rel=1e-12)
    assert econ["b"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 * 3 / 13 / 30, rel=1e-12)
    m = (6 * 65.05 / 40 + 20 * 0.6205 + 0.001 * cf4_gwp()) / 5
    assert mass["m"]["kg_co2e_per_declared_unit"] == pytest.approx(m, rel=1e-12)
    assert mass["m"]["primary_data_share_pct"] == pytest.approx(100 * 0.001 * cf4_gwp() / 5 / m, rel=1e-12)
    assert p["allocation_factors"]["economic"]["baotou / sep"] == pytest.approx({"a": 10 / 13, "b": 3 / 13})
    assert p["allocation_factors"]["mass"]["baotou / met"] == {"m": 1.0}
    # contributions add up to the footprint; M's come from A's line, its own CF4 and electricity
    c = mass["m"]["contributions_kg_co2e"]
    assert math.fsum(c.values()) == pytest.approx(m, rel=1e-12)
    assert c["m"] == pytest.approx(0.001 * cf4_gwp() / 5, rel=1e-12)            # direct: CF4 only
    assert c["purchased.hcl"] == pytest.approx(6 / 5 * 3.0 / 40, rel=1e-12)
    one = product_footprint(p, "a", "economic")
    assert one["by_allocation_kg_co2e"]["mass"] == pytest.approx(1.62625)
    assert "t.price.a" in one["allocation_basis"]["economic"]["a"]


def test_results_are_stored_once_and_renewed_when_inputs_change(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        first = footprints(s, "acme", 2023, iterations=0)
        again = footprints(s, "acme", 2023, iterations=0)
    assert again["result_id"] == first["result_id"]
    with session_scope(ledger) as s:
        set_config(s, "acme", SETTINGS + "declared_unit: 1 t\n", "test")
        renewed = footprints(s, "acme", 2023, iterations=0)
    assert renewed["result_id"] != first["result_id"]
    assert renewed["provenance"]["settings_sha256"] != first["provenance"]["settings_sha256"]
    assert renewed["footprints"]["mass"]["a"]["kg_co2e_per_declared_unit"] == pytest.approx(1626.25)


def test_monte_carlo_is_seeded_and_brackets_the_value(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        p = footprints(s, "acme", 2023, iterations=500)
    u = p["footprints"]["mass"]["m"]["uncertainty"]
    value = p["footprints"]["mass"]["m"]["kg_co2e_per_declared_unit"]
    assert u["iterations"] == 500 and sum(u["histogram"]["counts"]) == 500
    assert u["percentiles"]["p2.5"] < value < u["percentiles"]["p97.5"]


def test_a_feed_that_was_not_made_is_excluded_not_counted_as_zero(engine: Engine) -> None:
    lines = [LineYear("s / met", "s", {"m": 5.0}, {"x": 6.0}, {"electricity.grid": 20.0}, 3)]
    fs = build(lines, 2023, FootprintConfig(), FactorTable(builtin_sets()))
    assert any(e.get("feed") == "x" for e in fs.excluded)


def test_bad_settings_name_every_problem() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_config("allocation: weight\ndeclared_unit: 1 kWh\nproducts: {m: {feeds: oxide}}\nextra: 1\n")
    paths = {f.column for f in exc.value.findings}
    assert paths == {"allocation", "declared_unit", "products.m.feeds", "extra"}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.1, 1000), min_size=1, max_size=5), st.floats(1, 1e4), st.floats(0, 1e3),
       st.sampled_from(["mass", "economic"]))
def test_allocation_conserves_the_line_burden(made: list[float], mwh: float, hcl_t: float, method: str) -> None:
    """Σ footprint × amount made = everything the line emitted, whatever the split (ISO 14044 4.3.4.2)."""
    codes = [f"p{i}" for i in range(len(made))]
    prices = "".join(f"x.{c},price,{c},2023,,{10 + i},CNY/kg,test,U,1,,,\n" for i, c in enumerate(codes))
    table = FactorTable([parse_factor_set(USER_SET + prices, "test-set")] + builtin_sets())
    line = LineYear("s / l", "s", dict(zip(codes, made, strict=True)), {},
                    {"electricity.grid": mwh, "purchased.hcl": hcl_t}, 1)
    fs = build([line], 2023, FootprintConfig(products={c: ProductSettings() for c in codes}), table,
               allocation=method)
    res = assess(fs)
    assert math.fsum(fs.allocation_factors["s / l"].values()) == pytest.approx(1.0, abs=1e-12)
    total = math.fsum(res[c]["kg_co2e_per_declared_unit"] * t for c, t in zip(codes, made, strict=True))
    assert total == pytest.approx(mwh * 0.6205 + hcl_t * 0.3, rel=1e-9)


def test_records_without_a_line_are_excluded_with_their_amount(ledger: Engine) -> None:
    """A site-level row beside line rows (the line column then holds floats and gaps) is named, not lost."""
    extra = HEADER + "baotou,,,2023-01-01,2023-12-31,electricity.grid,7,MWh\n"
    with session_scope(ledger) as s:
        import_activity(s, "acme", extra.encode(), "site-level.csv", "test")
        p = footprints(s, "acme", 2023, iterations=0)
    assert {"activity": "electricity.grid", "amount": 7.0, "unit": "MWh"}.items() <= \
        next(e for e in p["excluded"] if e.get("activity") == "electricity.grid").items()
    assert p["footprints"]["mass"]["a"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 / 40, rel=1e-12)


def test_prices_in_two_currencies_make_economic_allocation_unavailable_not_wrong() -> None:
    usd = USER_SET.replace("t.price.b,price,b,2023,,10,CNY/kg", "t.price.b,price,b,2023,,1.4,USD/kg")
    table = FactorTable([parse_factor_set(usd, "test-set")] + builtin_sets())
    line = LineYear("s / sep", "s", {"a": 10.0, "b": 30.0}, {}, {"electricity.grid": 100.0}, 2)
    with pytest.raises(FactorNotFoundError, match="no common currency"):
        build([line], 2023, FootprintConfig(), table, allocation="economic")
    assert build([line], 2023, FootprintConfig(), table, allocation="mass").allocation_factors["s / sep"] == \
        {"a": 0.25, "b": 0.75}
