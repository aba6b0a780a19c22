"""Zero-liquid-discharge records in the ledger (docs/zld.md): import, balance and verdict worked by hand, every
problem of a bad file named with its period and field (and nothing stored), the same file refused, a correction
superseding without double counting, salts as dry co-products, the magnesium-bicarbonate check, the Sankey's
links, the CLI, the web page in English and Chinese, and the demo's two months.

The month worked by hand (the same as tests/test_zld.py): 10,000 m3 fed, tanks 500 → 300 m3 (200 m3 given up);
9,300 m3 distillate reused, 400 m3 purged, 300 m3 vented, 250 t NH4Cl at 4 % moisture (10 m3 water, 240 t dry)
and 100 t Na2SO4 at 10 % (10 m3, 90 t dry).  In 10,200; out 10,020; closure 180 / 10,200 = 1.765 %.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from conftest import make_org
from rareeco.api.app import create_app
from rareeco.cli import app as cli_app
from rareeco.errors import DuplicateImportError, ValidationFailed
from rareeco.ledger import periods, structure
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import ActivityRecord, FindingRecord, ImportBatch, Product, ZldPeriod
from rareeco.monitoring import zld
from rareeco.monitoring.zld_records import conversion, import_records, report, sankey
from test_web_pages import assert_accessible, sign_in, users

# IUPAC standard atomic weights (abridged) — independent of the shipped molar masses
AW = {"C": 12.011, "O": 15.999, "H": 1.008, "Mg": 24.305, "S": 32.06}
M_CO2 = AW["C"] + 2 * AW["O"]
M_BIC = AW["Mg"] + 2 * (AW["H"] + AW["C"] + 3 * AW["O"])
M_SO4 = AW["Mg"] + AW["S"] + 4 * AW["O"]

DEC = """
  - month: 2025-12
    feed_m3: 10000
    distillate_reused_m3: 9300
    purge_m3: 400
    discharge_m3: 0
    tank_start_m3: 500
    tank_end_m3: 300
    vented_m3: 300
    energy_kwh: 480000
    feed_tds_g_l: 35
    purge_tds_g_l: 50
    salts:
      - {kind: NH4Cl, product: nh4cl, wet_t: %(nh4cl)s, moisture_pct: 4}
      - {kind: Na2SO4, product: na2so4, wet_t: 100, moisture_pct: 10}
    conversion: {mgso4_t: 85, mg_hco3_t: 100, co2_recycled_t: %(co2)s}
"""
NOV = """
  - start: 2025-11-01
    end: 2025-11-30
    feed_m3: 8000
    distillate_reused_m3: 7400
    purge_m3: 300
    discharge_m3: 5
    vented_m3: 200
    energy_kwh: 400000
    salts:
      - {kind: NH4Cl, product: nh4cl, wet_t: 200, moisture_pct: 5}
"""


def records(nh4cl: float = 250, co2: float = 60.15, months: tuple[str, ...] = ("nov", "dec"), extra: str = "") -> str:
    body = {"nov": NOV, "dec": DEC % {"nh4cl": nh4cl, "co2": co2}}
    return ("# a plant's ZLD records, worked by hand\nplant: BT-ZLD\nsite: baotou\nline: sep\ntolerance_pct: 2\n"
            + extra + "periods:" + "".join(body[m] for m in months))


def setup_org(engine: Engine, org: str = "acme") -> None:
    make_org(engine, org)
    with session_scope(engine) as s:
        structure.add_product(s, org, "nh4cl", "Ammonium chloride, recovered")
        structure.add_product(s, org, "na2so4", "Sodium sulfate, recovered", "无水硫酸钠（回收）")
        structure.add_line(s, org, "baotou", "zld")


def load(engine: Engine, text: str, name: str = "bt-zld.yaml", org: str = "acme") -> Any:
    with session_scope(engine) as s:
        return import_records(s, org, text.encode(), name, "tester")


def counts(engine: Engine, org: str = "acme") -> tuple[int, int, int]:
    with session_scope(engine) as s:
        return tuple(int(s.execute(select(func.count()).select_from(m).where(m.org_id == org)).scalar_one())
                     for m in (ImportBatch, ZldPeriod, ActivityRecord))  # type: ignore[return-value]


def coproducts(engine: Engine, org: str = "acme") -> dict[tuple[str, str], float]:
    """Active production.output of the salts per (product, period start) — what the inventory and footprints
    read."""
    with session_scope(engine) as s:
        rows = s.execute(select(Product.code, ActivityRecord.period_start, func.sum(ActivityRecord.amount))
                         .join(Product, Product.id == ActivityRecord.product_id)
                         .join(ImportBatch, ImportBatch.id == ActivityRecord.batch_id)
                         .where(ActivityRecord.org_id == org, ImportBatch.status == "active",
                                ActivityRecord.activity == "production.output",
                                Product.code.in_(("nh4cl", "na2so4")))
                         .group_by(Product.code, ActivityRecord.period_start)).all()
    return {(code, str(start)): float(t) for code, start, t in rows}


# ------------------------------------------------------------------------------------------ import and balance

def test_import_and_balance_worked_by_hand(engine: Engine) -> None:
    setup_org(engine)
    r = load(engine, records())
    assert r.plant == "BT-ZLD" and r.periods == ["2025-11", "2025-12"] and r.coproduct_rows == 3
    assert r.superseded_batches == [] and r.findings == []
    with session_scope(engine) as s:
        rows = {p["period"]: p for p in report(s, "acme")}
        batch = s.get(ImportBatch, r.batch_id)
        assert batch is not None and batch.sha256 == r.sha256 and batch.status == "active"
        assert (batch.period_start.isoformat(), batch.period_end.isoformat()) == ("2025-11-01", "2025-12-31")
    dec = rows["2025-12"]
    assert (dec["site"], dec["line"], dec["file"]) == ("baotou", "sep", "bt-zld.yaml")
    assert dec["water_in_m3"] == 10_200 and dec["water_out_m3"] == pytest.approx(10_020)
    assert dec["closure_pct"] == pytest.approx(100 * 180 / 10_200) and dec["water_loss_m3"] == pytest.approx(180)
    assert dec["recovery_pct"] == pytest.approx(93.0)
    assert dec["kwh_per_m3_evaporated"] == pytest.approx(480_000 / 9_600) and dec["kwh_per_m3_feed"] == 48.0
    assert dec["salt_in_t"] == 350.0 and dec["salt_out_t"] == pytest.approx(350.0)
    assert dec["zero_discharge"] is True and dec["reasons"] == []
    assert [(x["kind"], x["product"], x["dry_t"], x["water_m3"]) for x in dec["salts"]] == [
        ("NH4Cl", "nh4cl", pytest.approx(240.0), pytest.approx(10.0)),
        ("Na2SO4", "na2so4", pytest.approx(90.0), pytest.approx(10.0))]
    # November (explicit dates, no tanks): in 8,000; out 7,400 + 300 + 10 (200 t at 5 %) + 200 + 5 = 7,915
    nov = rows["2025-11"]
    assert nov["water_in_m3"] == 8_000 and nov["water_out_m3"] == pytest.approx(7_915)
    assert nov["closure_pct"] == pytest.approx(100 * 85 / 8_000)           # 1.06 %: closes …
    assert nov["closes"] is True and nov["zero_discharge"] is False        # … but the discharge meter reads 5 m3
    assert nov["reasons"] == ["the discharge meter reads 5 m3"] and "salt_in_t" not in nov
    assert nov["conversion"] is None


def test_salts_are_dry_coproducts_of_the_site_or_the_named_line(engine: Engine) -> None:
    """Dry t (the product; the moisture is water of the water balance), production.output with the product, on the
    site without a line — or on ``coproduct_line`` when the file names one."""
    setup_org(engine)
    load(engine, records())
    assert coproducts(engine) == {("nh4cl", "2025-11-01"): pytest.approx(190.0),
                                  ("nh4cl", "2025-12-01"): pytest.approx(240.0),
                                  ("na2so4", "2025-12-01"): pytest.approx(90.0)}
    with session_scope(engine) as s:
        recs = list(s.execute(select(ActivityRecord).order_by(ActivityRecord.id)).scalars())
    assert {(r.activity, r.unit, r.line_id) for r in recs} == {("production.output", "t", None)}
    assert "250 t wet at 4 % moisture = 240.000 t dry" in (recs[1].note or "")
    assert recs[1].period_start.isoformat() == "2025-12-01" and recs[1].period_end.isoformat() == "2025-12-31"

    make_org(engine, "beta")
    with session_scope(engine) as s:
        structure.add_line(s, "beta", "baotou", "zld")
        structure.add_product(s, "beta", "nh4cl")
        structure.add_product(s, "beta", "na2so4")
    load(engine, records(extra="coproduct_line: zld\n"), org="beta")
    with session_scope(engine) as s:
        lines = set(s.execute(select(ActivityRecord.line_id).where(ActivityRecord.org_id == "beta")).scalars())
        zld_line = structure.lines(s, "beta")
    assert lines == {next(ln.id for ln in zld_line if ln.code == "zld")}


def test_a_bad_file_stores_nothing_and_names_period_and_field(engine: Engine) -> None:
    setup_org(engine)
    bad = records().replace("    feed_m3: 10000\n", "").replace("purge_m3: 300", "purge_m3: -3") \
        .replace("product: na2so4", "product: glauber-salt").replace("moisture_pct: 10", "moisture_pct: 100") \
        .replace("distillate_reused_m3: 7400", "distilate_reused_m3: 7400")
    with pytest.raises(ValidationFailed) as e:
        load(engine, bad)
    by_field = {f.column: f for f in e.value.findings}
    assert "nothing was imported" in e.value.message and all(f.file == "bt-zld.yaml" for f in e.value.findings)
    assert set(by_field) == {"periods[1].feed_m3", "periods[0].purge_m3", "periods[1].salts[1].product",
                             "periods[1].salts[1].moisture_pct", "periods[0].distilate_reused_m3",
                             "periods[0].distillate_reused_m3"}
    assert by_field["periods[1].feed_m3"].message == "period 2025-12: feed_m3 is missing"
    assert by_field["periods[0].purge_m3"].message.startswith("period 2025-11: purge_m3 -3 is out of range")
    unknown = by_field["periods[1].salts[1].product"]
    assert unknown.code == "unknown_product" and "rareeco product add acme glauber-salt" in (unknown.fix or "")
    assert "did you mean 'distillate_reused_m3'" in by_field["periods[0].distilate_reused_m3"].message
    assert by_field["periods[1].salts[1].moisture_pct"].data == {"period": "2025-12",
                                                                 "field": "periods[1].salts[1].moisture_pct"}
    assert counts(engine) == (0, 0, 0)
    # the plant's site and an overlap of two periods are found too; unreadable YAML names its line
    with pytest.raises(ValidationFailed) as e:
        load(engine, records(months=("dec", "dec")).replace("site: baotou", "site: paotou"))
    assert {f.code for f in e.value.findings} == {"unknown_site", "overlapping_period"}
    with pytest.raises(ValidationFailed, match="line 3"):
        load(engine, "plant: BT-ZLD\nsite: baotou\n  tolerance_pct: [2\n")
    assert counts(engine) == (0, 0, 0)


def test_a_locked_period_is_refused(engine: Engine) -> None:
    setup_org(engine)
    with session_scope(engine) as s:
        periods.lock(s, "acme", "2025", "verifier")
    with pytest.raises(ValidationFailed) as e:
        load(engine, records())
    assert {f.code for f in e.value.findings} == {"period_locked"} and len(e.value.findings) == 2
    assert counts(engine) == (0, 0, 0)


def test_the_same_file_twice_is_refused(engine: Engine) -> None:
    setup_org(engine)
    first = load(engine, records())
    with pytest.raises(DuplicateImportError, match=f"already imported as batch {first.batch_id}"):
        load(engine, records(), name="renamed.yaml")
    assert counts(engine) == (1, 2, 3)


def test_a_correction_supersedes_without_double_counting(engine: Engine) -> None:
    setup_org(engine)
    first = load(engine, records())
    # December's NH4Cl was 260 t, not 250: 249.6 t dry
    second = load(engine, records(nh4cl=260), name="bt-zld-corrected.yaml")
    assert second.superseded_batches == [first.batch_id]
    assert coproducts(engine)[("nh4cl", "2025-12-01")] == pytest.approx(249.6)
    assert coproducts(engine)[("nh4cl", "2025-11-01")] == pytest.approx(190.0)     # counted once
    with session_scope(engine) as s:
        old = s.get(ImportBatch, first.batch_id)
        assert old is not None and (old.status, old.superseded_by_id) == ("superseded", second.batch_id)
        stored = list(s.execute(select(ZldPeriod)).scalars())
        assert {p.batch_id for p in stored} == {second.batch_id} and len(stored) == 2
        dec = next(p for p in report(s, "acme") if p["period"] == "2025-12")
        assert dec["salts"][0]["wet_t"] == 260
    # the earlier file again is a new correction of the same periods (it is no longer active)
    third = load(engine, records())
    assert third.superseded_batches == [second.batch_id]
    assert coproducts(engine)[("nh4cl", "2025-12-01")] == pytest.approx(240.0)
    # a correction must hold every period of the batch it replaces
    with pytest.raises(ValidationFailed) as e:
        load(engine, records(nh4cl=255, months=("dec",)))
    [f] = e.value.findings
    assert f.code == "missing_period" and f.message.startswith(f"period 2025-11: is in batch {third.batch_id}")
    assert counts(engine) == (3, 2, 9)


# ------------------------------------------------------------------------------------------ conversion

def test_conversion_against_the_stoichiometry_by_hand() -> None:
    # MgO + 2 CO2 + H2O → Mg(HCO3)2: 100 t Mg(HCO3)2 take 100 × 2 × 44.009 / 146.337 = 60.147 t CO2
    per_t = 2 * M_CO2 / M_BIC
    c = conversion({"mgso4_t": 85, "mg_hco3_t": 100, "co2_recycled_t": 61}, 2.0)
    assert c is not None
    assert c["co2_per_t_mg_hco3"] == pytest.approx(per_t, abs=1e-5)
    assert c["co2_stoichiometric_t"] == pytest.approx(100 * per_t, abs=1e-3)
    assert c["co2_ratio"] == pytest.approx(61 / (100 * per_t), abs=1e-5) and c["co2_off"] is False   # 1.4 % < 2 %
    assert conversion({"mgso4_t": 85, "mg_hco3_t": 100, "co2_recycled_t": 61}, 1.0)["co2_off"] is True  # type: ignore[index]
    # Mg of 100 t Mg(HCO3)2 against that of 85 t MgSO4: 0.6834 / 0.7062 kmol
    assert c["mg_recycled_pct"] == pytest.approx(100 * (100 / M_BIC) / (85 / M_SO4), abs=1e-3)
    assert any(f.startswith("stoich.mm.MgHCO3_2 = 146.337 g/mol [C]") for f in c["factors"])
    assert conversion({}, 2.0) is None
    assert conversion({"mgso4_t": 0, "mg_hco3_t": 0, "co2_recycled_t": 3}, 2.0)["co2_off"] is True  # type: ignore[index]


def test_an_off_conversion_is_an_advisory_finding_of_the_batch(engine: Engine) -> None:
    setup_org(engine)
    r = load(engine, records(co2=70))            # 70 / 60.147 = 1.164: 16 % above the stoichiometry
    [f] = r.findings
    assert (f.code, f.severity, f.column) == ("conversion_co2_off", "advisory", "periods[1].conversion.co2_recycled_t")
    assert f.message.startswith("period 2025-12: CO2 recycled 70 t is 1.164 × the stoichiometric 60.147 t")
    with session_scope(engine) as s:
        stored = list(s.execute(select(FindingRecord).where(FindingRecord.batch_id == r.batch_id)).scalars())
        dec = next(p for p in report(s, "acme") if p["period"] == "2025-12")
    assert [x.code for x in stored] == ["conversion_co2_off"]
    assert dec["conversion"]["co2_off"] is True and dec["conversion"]["co2_ratio"] == pytest.approx(1.1638, abs=1e-4)


# ------------------------------------------------------------------------------------------ Sankey

MONTH = zld.Period(feed_m3=10_000, distillate_reused_m3=9_300, purge_m3=400, discharge_m3=0, tank_start_m3=500,
                   tank_end_m3=300, vented_m3=300,
                   salts=(zld.Salt("NH4Cl", 250, 4), zld.Salt("Na2SO4", 100, 10)),
                   feed_tds_g_l=35.0, purge_tds_g_l=50.0, energy_kwh=480_000)


def flows(graph: dict[str, Any]) -> dict[str, float]:
    return {(lk["source"] if lk["target"] == mid else lk["target"]): lk["value"]
            for mid in [next(n["name"] for n in graph["nodes"] if n["side"] == "middle")] for lk in graph["links"]}


def sides(graph: dict[str, Any]) -> tuple[float, float]:
    mid = next(n["name"] for n in graph["nodes"] if n["side"] == "middle")
    return (sum(lk["value"] for lk in graph["links"] if lk["target"] == mid),
            sum(lk["value"] for lk in graph["links"] if lk["source"] == mid))


def test_the_sankey_of_the_month_worked_by_hand() -> None:
    s = sankey(MONTH)
    w = s["water"]
    assert w["unit"] == "m3" and flows(w) == {
        "feed": 10_000, "tank_draw": 200, "distillate": 9_300, "purge": 400, "salt_water": pytest.approx(20),
        "vented": 300, "loss": pytest.approx(180)}                            # no discharge link: it reads 0
    assert sides(w) == (pytest.approx(10_200), pytest.approx(10_200)) and w["total"] == 10_200
    salt = s["salt"]
    assert salt["unit"] == "t" and flows(salt) == {"salt_in": 350, "salt:NH4Cl": pytest.approx(240),
                                                   "salt:Na2SO4": pytest.approx(90), "purge_salt": 20}
    # tanks filled and more water out than in: the fill is an outflow, the excess an unexplained gain
    filled = zld.Period(feed_m3=100, distillate_reused_m3=90, purge_m3=5, discharge_m3=2, tank_start_m3=10,
                        tank_end_m3=20)
    f = sankey(filled)
    assert flows(f["water"]) == {"feed": 100, "gain": 7, "distillate": 90, "purge": 5, "discharge": 2,
                                 "tank_fill": 10} and f["salt"] is None
    assert sides(f["water"]) == (107, 107)


volume = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(feed=st.floats(min_value=1, max_value=1e6), dist=volume, purge=volume, dis=volume, t0=volume, t1=volume,
       vent=volume, wet=st.floats(min_value=0.1, max_value=1e4), moist=st.floats(min_value=0, max_value=99),
       tds=st.floats(min_value=0.1, max_value=400), ptds=st.floats(min_value=0, max_value=600))
def test_the_sankey_links_always_balance(feed: float, dist: float, purge: float, dis: float, t0: float,
                                         t1: float, vent: float, wet: float, moist: float, tds: float,
                                         ptds: float) -> None:
    p = zld.Period(feed_m3=feed, distillate_reused_m3=dist, purge_m3=purge, discharge_m3=dis, tank_start_m3=t0,
                   tank_end_m3=t1, vented_m3=vent, salts=(zld.Salt("NH4Cl", wet, moist),), feed_tds_g_l=tds,
                   purge_tds_g_l=ptds)
    s = sankey(p)
    for graph in (s["water"], s["salt"]):
        into, out = sides(graph)
        assert into == pytest.approx(out, rel=1e-9, abs=1e-6) and graph["total"] == pytest.approx(into)
        assert all(lk["value"] > 0 for lk in graph["links"])


# ------------------------------------------------------------------------------------------ CLI

runner = CliRunner()


def test_cli_import_and_balance(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    eng = make_engine(url)
    setup_org(eng)
    eng.dispose()
    f = tmp_path / "bt-zld.yaml"
    f.write_text(records(), "utf-8")
    r = runner.invoke(cli_app, ["--db", url, "zld", "import", str(f), "--org", "acme"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "batch 1: 2 period(s) of BT-ZLD (2025-11, 2025-12), 3 co-product row(s) imported from bt-zld.yaml" \
        in " ".join(r.output.split())
    r = runner.invoke(cli_app, ["--db", url, "zld", "import", str(f), "--org", "acme", "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["error"]["code"] == "duplicate_import"
    r = runner.invoke(cli_app, ["--db", url, "zld", "balance", "--org", "acme", "--month", "2025-12", "--json"])
    assert r.exit_code == 0, r.output
    [dec] = json.loads(r.output)
    assert dec["period"] == "2025-12" and dec["zero_discharge"] is True and dec["recovery_pct"] == pytest.approx(93)
    r = runner.invoke(cli_app, ["--db", url, "zld", "balance", "--org", "acme", "--plant", "BT-ZLD"],
                      env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert re.search(r"BT-ZLD\s+2025-11\s+\+1\.06\s+92\.50\s+52\.6\s+5\.0\s+NO", r.output), r.output
    assert re.search(r"BT-ZLD\s+2025-12\s+\+1\.76\s+93\.00\s+50\.0\s+0\.0\s+yes", r.output), r.output
    assert "BT-ZLD 2025-11: the discharge meter reads 5 m3" in r.output
    r = runner.invoke(cli_app, ["--db", url, "zld", "balance", "--org", "acme", "--plant", "XX"])
    assert r.exit_code != 0 and "no ZLD plant 'XX'" in str(r.exception)


# ------------------------------------------------------------------------------------------ web page

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('zldweb') / 'ledger.db'}")
    setup_org(eng)
    load(eng, records())
    users(eng, "acme", zv="viewer", zs="steward", zz="viewer")
    make_org(eng, "empty")
    users(eng, "empty", ze="admin")
    return {"engine": eng, "app": create_app(engine=eng, demo_mode=False)}


def test_the_page_in_english(site: dict[str, Any]) -> None:
    client, _ = sign_in(site["app"], "zv")
    html = client.get("/compliance/zld").text
    assert_accessible(html)
    assert re.search(r'<a href="/compliance[^"]*" aria-current="page">Compliance</a>', html)
    # the table: both months; the detail: the latest (December), zero discharge confirmed
    assert re.search(r'data-period="2025-12" data-verdict="confirmed"', html)
    assert re.search(r'data-period="2025-11" data-verdict="not-confirmed"', html)
    assert 'id="zld-verdict" role="status" data-verdict="confirmed"' in html and "Zero discharge confirmed" in html
    assert 'data-key="recovery_pct"><h2>Water recovery</h2><p class="big">93.0%' in html
    assert 'data-key="kwh_per_m3_evaporated"><h2>Specific energy</h2><p class="big">50.0' in html
    assert '<tr data-salt="NH4Cl">' in html and 'data-key="dry_t">240.0<' in html
    assert 'data-key="co2_ratio">1.000<' in html            # 60.15 t recorded against 60.147 t
    chart = json.loads(re.search(r'id="zld-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert sum(lk["value"] for lk in chart["water"]["links"] if lk["target"] == "evaporator") == 10_200
    # November: the reason, in words and figures
    html = client.get("/compliance/zld?plant=BT-ZLD&period=2025-11").text
    assert 'data-verdict="not-confirmed"' in html and "Zero discharge not confirmed" in html
    assert '<li data-reason="discharge">The discharge meter reads 5.0 m3.</li>' in html
    assert "No magnesium-bicarbonate conversion was recorded in this period." in html
    assert 'data-state="unknown-period"' in client.get("/compliance/zld?period=1999-01").text
    assert 'data-state="read-only"' in html                 # a viewer has no upload form


def test_the_page_in_chinese(site: dict[str, Any]) -> None:
    client, token = sign_in(site["app"], "zz")
    assert client.post("/lang", data={"lang": "zh", "csrf_token": token, "next": "/"},
                       follow_redirects=False).status_code == 303
    html = client.get("/compliance/zld").text
    assert '<html lang="zh-CN">' in html and ">合规</a>" in html and "零排放已确认" in html
    assert "水回收率" in html and "无水硫酸钠（回收）" in html
    html = client.get("/compliance/zld?period=2025-11").text
    assert "零排放未确认" in html and "外排流量计读数为 5.0 m3。" in html


def test_upload_stores_refuses_and_names_the_field(site: dict[str, Any]) -> None:
    client, token = sign_in(site["app"], "zs")

    def post(name: str, text: str) -> Any:
        return client.post("/compliance/zld/import", data={"csrf_token": token},
                           files={"file": (name, text.encode(), "application/yaml")})

    before = counts(site["engine"])
    r = post("bad.yaml", records(nh4cl=251).replace("moisture_pct: 4", "moisture_pct: four"))
    assert r.status_code == 422 and 'id="zld-import-error"' in r.text and "Nothing was stored." in r.text
    assert 'data-code="malformed_number" data-column="periods[1].salts[0].moisture_pct"' in r.text
    assert counts(site["engine"]) == before
    r = post("dup.yaml", records())
    assert r.status_code == 409 and "This file is already imported" in r.text
    r = post("corrected.yaml", records(nh4cl=260))
    assert r.status_code == 200 and 'id="zld-import-ok"' in r.text and 'data-key="superseded"' in r.text
    assert 'data-key="dry_t">249.6<' in r.text
    viewer, vtoken = sign_in(site["app"], "zv")
    r = viewer.post("/compliance/zld/import", data={"csrf_token": vtoken},
                    files={"file": ("x.yaml", records(nh4cl=1).encode(), "application/yaml")})
    assert r.status_code == 403
    assert client.post("/compliance/zld/import", data={"csrf_token": "wrong"},
                       files={"file": ("x.yaml", b"x", "application/yaml")}).status_code == 403


def test_an_organisation_without_records(site: dict[str, Any]) -> None:
    client, _ = sign_in(site["app"], "ze")
    html = client.get("/compliance/zld").text
    assert 'data-state="empty"' in html and 'id="zld-upload"' in html


# ------------------------------------------------------------------------------------------ the demo

def test_the_demo_has_a_verified_and_an_open_month(tmp_path: Path) -> None:
    """December 2025 verifies, November 2025 does not (250.8 m3 unexplained); the salts leave the demo's other
    figures alone (booked on the site without a line — tests/test_footprint_demo.py and test_meters.py hold the
    footprints and the −7.82 % EnPI)."""
    from rareeco.demo.load import load_demo
    from rareeco.energy.service import enpi

    eng = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    with session_scope(eng) as s:
        rows = {p["period"]: p for p in report(s, "demo", plant="BT-ZLD")}
        yoy = enpi(s, "demo", 2025)["yoy_change_pct"]
    assert set(rows) == {"2025-11", "2025-12"}
    dec, nov = rows["2025-12"], rows["2025-11"]
    assert dec["zero_discharge"] is True and dec["readings"]["discharge_m3"] == 0
    assert dec["water_in_m3"] == 9_150 and dec["water_out_m3"] == pytest.approx(9_051)     # +1.08 % ≤ 2 %
    assert nov["zero_discharge"] is False and nov["water_loss_m3"] == pytest.approx(250.8)
    assert nov["reasons"] == ["the water balance does not close: +2.88 % against ± 2 %"]
    assert coproducts(eng, "demo") == {("nh4cl", "2025-11-01"): pytest.approx(342.0),
                                       ("nh4cl", "2025-12-01"): pytest.approx(361.0),
                                       ("na2so4", "2025-11-01"): pytest.approx(128.8),
                                       ("na2so4", "2025-12-01"): pytest.approx(138.0)}
    assert round(yoy, 2) == -7.82
    eng.dispose()
