"""Supplier-specific footprints (PACT) in place of secondary factors: checked by hand on the hand ledger of
test_footprint, then on the demo with a footprint pulled over HTTPS from the test host (docs/suppliers.md).

Hand ledger, year 2023 (tests/test_footprint.py): line ``sep`` makes A 10 t and B 30 t with 100 MWh and 10 t HCl.
The supplier's HCl footprint says 0.25 kg CO2e per kg with a primary-data share of 40 % (instead of the factor
set's 0.3 t/t), so by hand:

* line ``sep`` = 100 × 0.6205 + 10 × 0.25 = 64.55 t CO2e; by mass A = B = 64.55 / 40 kg CO2e/kg;
* A's primary data: the line has no direct emissions; the HCl contributes 2.5 / 40 kg per kg, 40 % of it
  primary, so the share is 0.4 × 2.5 / 64.55;
* data quality (technological, weighted by contribution): (62.05 × 2 + 2.5 × 1) / 64.55.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pact_host import CLIENT_ID, CLIENT_SECRET, Host, footprint, pact_host
from rareeco.demo.load import load_demo
from rareeco.footprint.service import footprints, product_footprint
from rareeco.ingest import pact_client as pc
from rareeco.ledger.db import make_engine, session_scope
from test_footprint import hand_ledger

HCL = "urn:pact:chlor-alkali.example:product:hcl-31"
CONCENTRATE = "urn:pact:bayan-obo-mining.example:product:re-concentrate-50"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    yield from pact_host(tmp_path_factory.mktemp("pact-host"))


def test_a_supplier_footprint_replaces_the_factor_by_hand(engine: Engine) -> None:
    with session_scope(engine) as s:
        hand_ledger(s, "acme")
        before = footprints(s, "acme", 2023, iterations=0)
        pf = footprint(product_id=HCL, kg="0.25", pds="40", ref_year=2022, company="Chlor-alkali Co. (invented)")
        pc.store(s, "acme", pc.Pull("test", [pf]), "purchased.hcl")
        after = footprints(s, "acme", 2023, iterations=0)
    a = after["footprints"]["mass"]["a"]
    assert a["kg_co2e_per_declared_unit"] == pytest.approx(64.55 / 40, rel=1e-12)
    assert a["contributions_kg_co2e"]["purchased.hcl"] == pytest.approx(2.5 / 40, rel=1e-12)
    assert a["primary_data_share_pct"] == pytest.approx(100 * 0.4 * 2.5 / 64.55, rel=1e-12)
    assert before["footprints"]["mass"]["a"]["primary_data_share_pct"] == 0.0
    assert a["data_quality"]["technological"] == pytest.approx(round((62.05 * 2 + 2.5) / 64.55, 2))
    assert a["supplier_data"] == [{"activity": "purchased.hcl", "pf_id": pf["id"], "supplier": "Chlor-alkali Co. "
                                   "(invented)", "sha256": pc.payload_sha256(pf), "kg_co2e": pytest.approx(2.5 / 40),
                                   "supplier_primary_data_share_pct": 40.0, "primary_kg_co2e": pytest.approx(0.025)}]
    # M takes 6 t of A: the supplier's primary data reach it through A
    m = after["footprints"]["mass"]["m"]
    assert m["contributions_kg_co2e"]["purchased.hcl"] == pytest.approx(6 / 5 * 2.5 / 40, rel=1e-12)
    # provenance: the footprint used, with its checksum; a new result, not the stored one
    assert after["provenance"]["supplier_footprints"] == {pf["id"]: pc.payload_sha256(pf)}
    assert after["result_id"] != before["result_id"]
    hcl = next(b for b in after["background"] if b["activity"] == "purchased.hcl")
    assert hcl["supplier_pf_id"] == pf["id"] and hcl["t_co2e_per_unit"] == pytest.approx(0.25)
    assert after["supplier_footprints"][0]["primary_data_share_pct"] == 40.0


def test_a_footprint_not_valid_in_the_year_or_deprecated_is_not_used(engine: Engine) -> None:
    with session_scope(engine) as s:
        hand_ledger(s, "acme")
        old = footprint(product_id=HCL, kg="0.25", ref_year=2017)             # valid 2018 … 2021
        gone = footprint(product_id=HCL, kg="0.2", ref_year=2022)
        gone["status"] = "Deprecated"
        pc.store(s, "acme", pc.Pull("test", [old, gone]), "purchased.hcl")
        p = footprints(s, "acme", 2023, iterations=0)
    assert p["footprints"]["mass"]["a"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 / 40, rel=1e-12)
    assert p["supplier_footprints"] == [] and p["provenance"]["supplier_footprints"] == {}


@pytest.fixture()
def demo(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    return eng


def prnd(payload: dict[str, Any]) -> dict[str, Any]:
    return product_footprint(payload, "prnd-oxide")


def test_the_demo_separation_line_with_its_concentrate_suppliers_pcf(demo: Engine, host: Host) -> None:
    """docs/suppliers.md: PrNd oxide before and after the concentrate supplier's PCF (0.75 kg CO2e/kg, 70 %
    primary) replaces the invented factor (0.9 t CO2e/t)."""
    with session_scope(demo) as s:
        before = prnd(footprints(s, "demo", 2025, iterations=0))
    pf = footprint(product_id=CONCENTRATE, kg="0.75", pds="70", ref_year=2024,
                   company="Bayan Obo Mining Co. (invented)")
    host.state.reset([pf])
    with session_scope(demo) as s:
        got = pc.pull(s, "demo", host.url, CLIENT_ID, CLIENT_SECRET, filters={"productId": CONCENTRATE},
                      activity="purchased.re_concentrate", ca_file=host.ca_file)
        assert got.stored == [pf["id"]]
        after = prnd(footprints(s, "demo", 2025, iterations=0))
    c0, c1 = (r["contributions_kg_co2e"]["purchased.re_concentrate"] for r in (before, after))
    assert c1 == pytest.approx(c0 * 0.75 / 0.9, rel=1e-9)
    assert after["kg_co2e_per_declared_unit"] == pytest.approx(before["kg_co2e_per_declared_unit"] - c0 + c1,
                                                               rel=1e-9)
    own = before["contributions_kg_co2e"]["prnd-oxide"]
    assert before["primary_data_share_pct"] == pytest.approx(100 * own / before["kg_co2e_per_declared_unit"])
    assert after["primary_data_share_pct"] == pytest.approx(100 * (own + 0.7 * c1) / after["kg_co2e_per_declared_unit"])
    assert (round(before["kg_co2e_per_declared_unit"], 3), round(before["primary_data_share_pct"], 1)) == (47.436, 26.6)
    assert (round(after["kg_co2e_per_declared_unit"], 3), round(after["primary_data_share_pct"], 1)) == (46.067, 37.8)
    assert after["provenance"]["supplier_footprints"] == {pf["id"]: pc.payload_sha256(pf)}
    # the metal and magnets downstream inherit the supplier's data
    with session_scope(demo) as s:
        p = footprints(s, "demo", 2025, iterations=0)
    assert p["footprints"]["economic"]["ndfeb-magnet"]["supplier_data"][0]["pf_id"] == pf["id"]
    assert "purchased.re_concentrate" not in p["footprints"]["economic"]["ndfeb-magnet-recycled"][
        "contributions_kg_co2e"]
    # a newer version of the supplier's footprint makes a new result
    newer = footprint(product_id=CONCENTRATE, kg="0.7", pds="75", ref_year=2024, preceding=[pf["id"]],
                      created="2025-09-01T00:00:00Z")
    host.state.reset([newer])
    with session_scope(demo) as s:
        pc.pull(s, "demo", host.url, CLIENT_ID, CLIENT_SECRET, activity="purchased.re_concentrate",
                ca_file=host.ca_file)
        renewed = footprints(s, "demo", 2025, iterations=0)
    assert renewed["result_id"] != p["result_id"]
    assert renewed["provenance"]["supplier_footprints"] == {newer["id"]: pc.payload_sha256(newer)}
    assert prnd(renewed)["contributions_kg_co2e"]["purchased.re_concentrate"] == pytest.approx(c0 * 0.7 / 0.9,
                                                                                                rel=1e-9)


# ------------------------------------------------------------------ the page

def test_the_suppliers_page_shows_own_footprints_only_in_both_languages(tmp_path: Path) -> None:
    import warnings

    from test_web_pages import assert_accessible, sign_in, users

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rareeco.api.app import create_app

    eng = make_engine(f"sqlite:///{tmp_path / 'pages.db'}")
    mine = footprint(product_id=HCL, kg="0.25", pds="40", ref_year=2022, company="Chlor-alkali Co. (invented)")
    theirs = footprint(product_id=HCL, kg="0.31", company="Someone Else's Supplier")
    with session_scope(eng) as s:
        hand_ledger(s, "acme")
        hand_ledger(s, "rival")
        pc.store(s, "acme", pc.Pull("test", [mine]), "purchased.hcl")
        pc.store(s, "rival", pc.Pull("test", [theirs]), "purchased.hcl")
    users(eng, "acme", ann="viewer")
    users(eng, "rival", rob="viewer")
    app = create_app(engine=eng, demo_mode=False)
    client, _ = sign_in(app, "ann")
    html = client.get("/suppliers?year=2023").text
    assert f'data-pf="{mine["id"]}" class="current"' in html and theirs["id"] not in html
    assert "Someone Else" not in html and "used in the footprints" in html
    assert 'data-key="pds">40.0%<' in html and 'data-key="kg">0.250<' in html
    assert 'href="/suppliers" aria-current="page">Suppliers<' in html
    assert_accessible(html)
    other, _ = sign_in(app, "rob")
    html = other.get("/suppliers?year=2023").text
    assert theirs["id"] in html and mine["id"] not in html
    # the footprint page of a product names the supplier footprint behind its primary data
    fp_html = client.get("/footprints/a?year=2023&allocation=mass").text
    assert f'<tr data-supplier="{mine["id"]}">' in fp_html and 'data-key="primary">0.025<' in fp_html
    assert_accessible(fp_html)
    with session_scope(eng) as s:
        from rareeco.ledger.models import User

        s.query(User).filter(User.username == "ann").one().lang = "zh"
    zh = client.get("/suppliers?year=2023").text
    assert "供应商碳足迹" in zh and "已用于碳足迹" in zh


# ------------------------------------------------------------------ the command line

def test_supplier_commands(tmp_path: Path, host: Host) -> None:
    import json

    from typer.testing import CliRunner

    from rareeco.cli import app

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def run(*args: str) -> str:
        r = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    eng = make_engine(db)
    with session_scope(eng) as s:
        hand_ledger(s, "acme")
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "concentrate-pcf.json"
    assert "1 footprints from concentrate-pcf.json: 1 stored" in run("supplier", "import", str(example), "--org",
                                                                     "acme")
    pf_id = json.loads(example.read_text())["id"]
    assert run("supplier", "list", "--org", "acme", "--json").count('"status": "unmapped"') == 1
    run("supplier", "map", pf_id, "purchased.re_concentrate", "--org", "acme")
    shown = json.loads(run("supplier", "show", pf_id, "--org", "acme"))
    assert shown["activity"] == "purchased.re_concentrate" and shown["payload"]["id"] == pf_id
    hcl = footprint(product_id=HCL, kg="0.25", pds="40", ref_year=2022)
    host.state.reset([hcl])
    for cmd in (("supplier", "pull"), ("pact", "pull")):           # the same command under both names
        out = run(*cmd, host.url, "--org", "acme", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
                  "--ca-file", str(host.ca_file), "--activity", "purchased.hcl", "--product-id", HCL)
        assert "1 footprints from" in out and "(1 page, 0 retries)" in out
    rows = json.loads(run("supplier", "list", "--org", "acme", "--year", "2023", "--json"))
    assert {r["pf_id"]: r["status"] for r in rows} == {pf_id: "not valid in 2023", hcl["id"]: "usable"}
    fp = json.loads(run("footprint", "--org", "acme", "--year", "2023", "--product", "a", "--iterations", "0",
                        "--json", "--allocation", "mass"))
    assert fp["kg_co2e_per_declared_unit"] == pytest.approx(64.55 / 40, rel=1e-12)
