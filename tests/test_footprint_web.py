"""Product-footprint pages and API over HTTP: the figures shown are the stored payload's, in the viewer's
language; the contribution labels, the allocation table summing to 100 %; and no other organisation sees them."""

from __future__ import annotations

import json
import re
import warnings
from html import unescape
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from rareeco.demo.load import load_demo
from rareeco.footprint.service import footprints, product_footprint
from rareeco.ledger import tokens
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import AuditEntry, Result
from rareeco.reference.catalogue import activities
from rareeco.web import i18n
from test_footprint import hand_ledger
from test_web_pages import assert_accessible, sign_in, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

YEAR = 2025
PRND_ECONOMIC, PRND_MASS = "47.436", "11.237"     # demo 2025, PrNd oxide, kg CO2e/kg (rareeco footprint --json)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo organisation (viewer ``vic``, a viewer token) and organisation ``other`` with the hand ledger of
    test_footprint (2023: products a, b, m; admin ``bob`` and an admin token)."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fpweb') / 'ledger.db'}")
    with session_scope(eng) as s:
        load_demo(s)
        hand_ledger(s, "other", "Other Metals")
        toks = {"demo": tokens.create(s, "demo", "reader", "viewer"), "other": tokens.create(s, "other", "o", "admin")}
    users(eng, "demo", vic="viewer")
    users(eng, "other", bob="admin")
    with session_scope(eng) as s:
        payload = footprints(s, "demo", YEAR)                       # stored; the pages reuse it
    return {"engine": eng, "app": create_app(engine=eng, demo_mode=False), "payload": payload,
            "api": {k: {"Authorization": f"Bearer {v}"} for k, v in toks.items()}}


def cell(html: str, product: str, key: str) -> str:
    row = re.search(rf'<tr data-product="{re.escape(product)}">(.*?)</tr>', html, re.S)
    assert row is not None, product
    m = re.search(rf'data-key="{re.escape(key)}">(?:<strong>)?([^<]*)<', row.group(1))
    assert m is not None, (product, key)
    return m.group(1)


def big(html: str, key: str) -> str:
    m = re.search(rf'class="card" data-key="{re.escape(key)}"[^>]*><h2>[^<]*</h2>\s*<p class="big">([^<]*)<', html)
    assert m is not None, key
    return unescape(m.group(1))


def chart(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="footprint-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def counts(engine: Engine, org: str) -> tuple[int, int]:
    with session_scope(engine) as s:
        return (s.execute(select(func.count()).select_from(Result).where(Result.org_id == org)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.org_id == org)).scalar_one())


# ------------------------------------------------------------------ pages

def test_the_list_shows_every_product_with_the_payloads_figures(ledger: dict[str, Any]) -> None:
    p = ledger["payload"]
    client, _ = sign_in(ledger["app"], "vic")
    before = counts(ledger["engine"], "demo")
    r = client.get(f"/footprints?year={YEAR}")
    assert r.status_code == 200
    assert counts(ledger["engine"], "demo") == before                  # the stored result was reused
    html = r.text
    assert cell(html, "prnd-oxide", "kg_co2e_per_declared_unit") == PRND_ECONOMIC
    assert (cell(html, "prnd-oxide", "mass"), cell(html, "prnd-oxide", "economic")) == (PRND_MASS, PRND_ECONOMIC)
    assert p["default_allocation"] == "economic" and len(p["products"]) == 11
    for code in p["products"]:
        fp = product_footprint(p, code)
        u = fp["uncertainty"]["percentiles"]
        assert cell(html, code, "kg_co2e_per_declared_unit") == i18n.number(fp["kg_co2e_per_declared_unit"], "en", 3)
        for a in ("mass", "economic"):
            assert cell(html, code, a) == i18n.number(fp["by_allocation_kg_co2e"][a], "en", 3)
        assert cell(html, code, "interval") == (f"{i18n.number(u['p2.5'], 'en', 3)} – "
                                                f"{i18n.number(u['p97.5'], 'en', 3)}")
        assert cell(html, code, "primary") == i18n.percent(fp["primary_data_share_pct"] / 100, "en")
        assert f'href="/footprints/{code}?year={YEAR}"' in html
    assert f"#{p['result_id']}" in html
    assert 'href="/footprints" aria-current="page">Footprints<' in html
    assert_accessible(html)


def test_the_product_page_under_both_allocations(ledger: dict[str, Any]) -> None:
    p = ledger["payload"]
    client, _ = sign_in(ledger["app"], "vic")
    r = client.get(f"/footprints/prnd-oxide?year={YEAR}")
    assert r.status_code == 200
    html = r.text
    assert "<h1>Praseodymium-neodymium oxide 2025</h1>" in html
    assert big(html, "kg_co2e_per_declared_unit") == PRND_ECONOMIC and 'data-allocation="economic"' in html
    assert "kg CO2e / 1 kg · Economic allocation" in html
    assert (big(html, "allocation-mass"), big(html, "allocation-economic")) == (PRND_MASS, PRND_ECONOMIC)

    mass = client.get(f"/footprints/prnd-oxide?year={YEAR}&allocation=mass").text
    assert big(mass, "kg_co2e_per_declared_unit") == PRND_MASS and 'data-allocation="mass"' in mass
    fp = product_footprint(p, "prnd-oxide", "mass")
    # contributions: own line's direct emissions and the catalogue's labels of purchased inputs, in the chart too
    data = chart(mass)
    labels = {c["label"]: c["kg"] for c in data["contributions"]}
    assert labels["direct emissions — baotou / separation"] == pytest.approx(fp["contributions_kg_co2e"]["prnd-oxide"])
    grid = activities()["electricity.grid"].label("en")
    assert labels[grid] == pytest.approx(fp["contributions_kg_co2e"]["electricity.grid"])
    assert len(labels) == len(fp["contributions_kg_co2e"])
    assert sum(labels.values()) == pytest.approx(fp["kg_co2e_per_declared_unit"])
    assert re.search(r'data-process="electricity.grid"><th scope="row">[^<]+<code>electricity.grid</code></th>', mass)
    # the line's allocation factors, a sum row of 100 % for each allocation
    for a in ("mass", "economic"):
        assert f'data-key="sum-{a}">100.0%<' in mass
        for code, f in fp["allocation_factors"][a].items():
            m = re.search(rf'<tr data-product="{code}"[^>]*>.*?data-key="factor-{a}">([^<]*)<', mass, re.S)
            assert m is not None and m.group(1) == i18n.percent(f, "en"), (a, code)
    assert "634.4 t × 392 CNY/kg" in mass                          # the economic basis of PrNd oxide
    # uncertainty: percentiles and the histogram of every run
    u = fp["uncertainty"]
    for k in ("p2.5", "p50", "p97.5"):
        assert f'data-key="{k}">{i18n.number(u["percentiles"][k], "en", 3)}<' in mass
    assert sum(data["histogram"]["counts"]) == u["iterations"] == 2000
    assert data["histogram"]["percentiles"] == u["percentiles"]
    # primary data, data quality, ISO 14067 split, notes, exclusions, provenance
    assert f'data-key="primary">{i18n.percent(fp["primary_data_share_pct"] / 100, "en")}<' in mass
    for k, v in fp["data_quality"].items():
        assert f'data-key="dq-{k}">{i18n.number(v, "en", 2)}<' in mass
    assert f'data-key="fossil_kg_co2e">{i18n.number(fp["iso14067"]["fossil_kg_co2e"], "en", 3)}<' in mass
    assert all(unescape(n) in unescape(mass) for n in fp["notes"])
    assert "electricity.green_certificate" in mass
    assert f'data-key="result_id">#{p["result_id"]}<' in mass and p["provenance"]["input_sha256"] in mass
    for s, v in p["provenance"]["factor_sets"].items():
        assert f'<tr data-set="{s}"><th scope="row">{s}</th><td><code>{v}</code>' in mass
    assert_accessible(mass)


def test_a_product_from_a_line_fed_by_another_product(ledger: dict[str, Any]) -> None:
    """PrNd metal: its feed's (PrNd oxide's) direct emissions are labelled with the separation line."""
    client, _ = sign_in(ledger["app"], "vic")
    html = client.get(f"/footprints/prnd-metal?year={YEAR}").text
    fp = product_footprint(ledger["payload"], "prnd-metal")
    labels = {c["label"]: c["kg"] for c in chart(html)["contributions"]}
    assert labels["direct emissions — baotou / separation"] == pytest.approx(fp["contributions_kg_co2e"]["prnd-oxide"])
    assert big(html, "kg_co2e_per_declared_unit") == i18n.number(fp["kg_co2e_per_declared_unit"], "en", 3)


def test_unknown_product_bad_allocation_and_a_year_without_production(ledger: dict[str, Any]) -> None:
    client, _ = sign_in(ledger["app"], "vic")
    r = client.get(f"/footprints/nope?year={YEAR}")
    assert r.status_code == 404 and "no footprint for product &#39;nope&#39;" in r.text and "prnd-oxide" in r.text
    r = client.get(f"/footprints/prnd-oxide?year={YEAR}&allocation=weight")     # unknown: the default is shown
    assert r.status_code == 200 and big(r.text, "kg_co2e_per_declared_unit") == PRND_ECONOMIC
    r = client.get("/footprints?year=2024")
    assert r.status_code == 200 and 'data-product="prnd-oxide"' in r.text


def test_chinese_pages(ledger: dict[str, Any]) -> None:
    client, token = sign_in(ledger["app"], "vic")
    client.post("/lang", data={"csrf_token": token, "lang": "zh", "next": "/footprints"})
    try:
        listing = client.get(f"/footprints?year={YEAR}").text
        assert "<h1>产品碳足迹 2025</h1>" in listing and ">产品碳足迹</a>" in listing and "氧化镨钕" in listing
        assert cell(listing, "prnd-oxide", "kg_co2e_per_declared_unit") == PRND_ECONOMIC
        page = client.get(f"/footprints/prnd-oxide?year={YEAR}&allocation=mass").text
        assert "<h1>氧化镨钕 2025</h1>" in page and "按质量分配" in page and "碳足迹的来源" in page
        labels = [c["label"] for c in chart(page)["contributions"]]
        assert "直接排放 — baotou / separation" in labels
        assert activities()["electricity.grid"].label("zh") in labels
        assert big(page, "kg_co2e_per_declared_unit") == PRND_MASS
    finally:
        client.post("/lang", data={"csrf_token": token, "lang": "en", "next": "/"})


def test_another_organisation_sees_only_its_own_footprints(ledger: dict[str, Any]) -> None:
    eng = ledger["engine"]
    before = counts(eng, "demo")
    bob, _ = sign_in(ledger["app"], "bob")
    demo_markers = ("Praseodymium", "la2o3", PRND_ECONOMIC, PRND_MASS, "baotou / separation",
                    ledger["payload"]["provenance"]["input_sha256"])
    for year in (YEAR, 2023):                                          # the product code bob asks for is echoed
        r = bob.get(f"/footprints/prnd-oxide?year={year}")
        assert r.status_code == 404 and "products made that year: a, b, m" in r.text   # other's only year: 2023
        assert not [m for m in demo_markers if m in r.text]
    listing = bob.get(f"/footprints?year={YEAR}").text
    assert "<h1>Product carbon footprints 2023</h1>" in listing
    assert set(re.findall(r'<tr data-product="([^"]+)">', listing)) == {"a", "b", "m"}
    assert not [m for m in (*demo_markers, "prnd-oxide") if m in listing]
    assert counts(eng, "demo") == before                                # nothing was computed or logged for demo


# ------------------------------------------------------------------ API

def test_api_lists_the_years_footprints(ledger: dict[str, Any]) -> None:
    p = ledger["payload"]
    client = TestClient(ledger["app"])
    r = client.get(f"/api/v1/orgs/demo/footprints/{YEAR}", headers=ledger["api"]["demo"])
    assert r.status_code == 200
    body = r.json()
    assert (body["year"], body["default_allocation"], body["result_id"]) == (YEAR, "economic", p["result_id"])
    rows = {row["product"]: row for row in body["products"]}
    assert set(rows) == set(p["products"])
    prnd = rows["prnd-oxide"]
    assert (prnd["name"], prnd["line"], prnd["declared_unit"]) == ("Praseodymium-neodymium oxide",
                                                                    "baotou / separation", "1 kg")
    assert f"{prnd['kg_co2e_per_declared_unit']:.3f}" == PRND_ECONOMIC
    assert {a: f"{v:.3f}" for a, v in prnd["by_allocation_kg_co2e"].items()} == {"mass": PRND_MASS,
                                                                                  "economic": PRND_ECONOMIC}
    for code, row in rows.items():
        fp = product_footprint(p, code)
        assert row["kg_co2e_per_declared_unit"] == fp["kg_co2e_per_declared_unit"]
        assert row["primary_data_share_pct"] == fp["primary_data_share_pct"]
        assert row["interval_95_kg_co2e"] == [fp["uncertainty"]["percentiles"]["p2.5"],
                                              fp["uncertainty"]["percentiles"]["p97.5"]]
        assert row["result_id"] == p["result_id"]


def test_api_one_products_footprint(ledger: dict[str, Any]) -> None:
    p = ledger["payload"]
    client = TestClient(ledger["app"])
    h = ledger["api"]["demo"]
    url = f"/api/v1/orgs/demo/footprints/{YEAR}/prnd-oxide"
    r = client.get(url, headers=h)
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(product_footprint(p, "prnd-oxide"), default=str))
    r = client.get(url + "?allocation=mass", headers=h)
    assert r.status_code == 200 and r.json()["allocation"] == "mass"
    assert f"{r.json()['kg_co2e_per_declared_unit']:.3f}" == PRND_MASS
    assert sum(r.json()["allocation_factors"]["mass"].values()) == pytest.approx(1.0)


def test_api_errors_in_the_one_shape(ledger: dict[str, Any]) -> None:
    client = TestClient(ledger["app"])
    h = ledger["api"]["demo"]
    r = client.get(f"/api/v1/orgs/demo/footprints/{YEAR}/nope", headers=h)
    assert r.status_code == 404
    err = r.json()["error"]
    assert set(r.json()) == {"error"} and set(err) == {"code", "message", "fix", "findings"}
    assert err["code"] == "not_found" and "prnd-oxide" in err["fix"] and "la2o3" in err["fix"]
    r = client.get(f"/api/v1/orgs/demo/footprints/{YEAR}/prnd-oxide?allocation=weight", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    assert r.json()["error"]["fix"] == "use mass or economic"
    r = client.get("/api/v1/orgs/demo/footprints/2019", headers=h)
    assert r.status_code == 404 and "no production recorded" in r.json()["error"]["message"]
    r = client.get("/api/v1/orgs/demo/footprints/abc", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_api_other_organisations_token_gets_404(ledger: dict[str, Any]) -> None:
    eng = ledger["engine"]
    before = counts(eng, "demo")
    client = TestClient(ledger["app"])
    for url in (f"/api/v1/orgs/demo/footprints/{YEAR}", f"/api/v1/orgs/demo/footprints/{YEAR}/prnd-oxide",
                f"/api/v1/orgs/demo/footprints/{YEAR}/prnd-oxide?allocation=mass"):
        r = client.get(url, headers=ledger["api"]["other"])
        assert r.status_code == 404 and r.json()["error"]["message"] == "organisation 'demo' not found"
        assert PRND_ECONOMIC not in r.text and "Praseodymium" not in r.text
    assert counts(eng, "demo") == before
    own = client.get("/api/v1/orgs/other/footprints/2023", headers=ledger["api"]["other"]).json()
    assert {row["product"] for row in own["products"]} == {"a", "b", "m"}
