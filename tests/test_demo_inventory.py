"""The demo producer: idempotent loading, and the figures docs/inventory-explained.md states."""

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from rareeco.demo.load import load_demo
from rareeco.inventory.explain import explain
from rareeco.inventory.service import compute
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import ActivityRecord, ImportBatch

DOC = (Path(__file__).parents[1] / "docs" / "inventory-explained.md").read_text("utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    from rareeco.ledger.db import make_engine

    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    with session_scope(eng) as s:
        first = load_demo(s)
    with session_scope(eng) as s:
        second = load_demo(s)
    # two activity files a year, meter readings, temperatures, the ZLD records (demo/zld.yaml)
    assert first["created"] and len(first["imported"]) == 7
    assert not second["created"] and second["imported"] == []          # idempotent
    return eng


def test_loading_twice_changes_nothing(demo: Engine) -> None:
    with session_scope(demo) as s:
        # + the ZLD records (demo/zld.yaml): one batch, two salts in each of two months
        assert s.execute(select(func.count()).select_from(ImportBatch)).scalar_one() == 4 + 1
        assert s.execute(select(func.count()).select_from(ActivityRecord)).scalar_one() == 492 + 240 + 517 + 240 + 4


@pytest.mark.parametrize("year", [2024, 2025])
def test_headline_figures_match_the_documentation(demo: Engine, year: int) -> None:
    with session_scope(demo) as s:
        p, _ = compute(s, "demo", year)
        cn, _ = compute(s, "demo", year, method="cn-2015")
    col = 1 if year == 2024 else 2
    rows = {line.split("|")[1].replace("*", "").strip(): line.split("|")[1 + col].replace("*", "").strip()
            for line in DOC.splitlines() if line.startswith("| ") and line.count("|") == 4}
    expected = {"scope 1": p["scope1_t_co2e"], "scope 2, location-based": p["scope2_location_t_co2e"],
                "scope 2, market-based": p["scope2_market_t_co2e"], "scope 3 (categories 1, 4, 5)": p["scope3_t_co2e"],
                "total (scope 2 location-based)": p["total_t_co2e"],
                "total, scope 2 market-based": p["total_market_t_co2e"],
                "total under the China 2015 guideline method": cn["total_t_co2e"]}
    for label, value in expected.items():
        assert rows[label] == f"{value:,.1f}", label
    for site in ("baotou", "ganzhou"):
        assert f"{p['by_site'][site]['total_t_co2e']:,.1f}" in DOC
    for line in ("baotou / separation", "baotou / metal", "ganzhou / recycling", "ganzhou / magnet"):
        assert f"{p['by_line'][line]['total_t_co2e']:,.1f}" in DOC


def test_the_line_month_walkthrough(demo: Engine) -> None:
    with session_scope(demo) as s:
        where = {"site": "ganzhou", "line": "recycling", "month": "2024-03"}
        ex = explain(s, "demo", 2024, **where)
        s1 = explain(s, "demo", 2024, **where, scope="1")
        m = explain(s, "demo", 2024, **where, scope="2m")
        cn = explain(s, "demo", 2024, **where, scope="1", method="cn-2015")
    for value in (ex["t_co2e"], s1["t_co2e"], m["t_co2e"], cn["t_co2e"]):
        assert f"**{value:,.3f}" in DOC
    for r in ex["records"]:
        assert f"| {r['activity']} | {r['row']} |" in DOC and f"{r['t_co2e']:,.3f} |" in DOC


def test_the_demo_publishes_its_declarations_once(tmp_path: Path) -> None:
    """``rareeco demo``: PACT footprints and verified, published EPDs of PrNd oxide and the recycled magnet."""
    from rareeco.declare import epd_service, pact
    from rareeco.ledger.db import make_engine

    eng = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    with session_scope(eng) as s:
        first = load_demo(s, declarations=True)
    with session_scope(eng) as s:
        again = load_demo(s, declarations=True)
        active = {f.product_code: f for f in pact.published(s, "demo", status="Active")}
        epds = epd_service.list_epds(s, "demo")
    assert len(first["imported"]) == 7 and again["imported"] == [] and "nothing changed" in again["message"]
    assert set(active) == {"prnd-oxide", "ndfeb-magnet-recycled"}
    assert active["prnd-oxide"].payload["pcf"]["pcfExcludingBiogenicUptake"].startswith("47.43")
    assert sorted((e.product_code, e.status, e.verified_by) for e in epds) == [
        ("ndfeb-magnet-recycled", "published", "demo-verifier"), ("prnd-oxide", "published", "demo-verifier")]
