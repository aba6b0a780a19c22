"""EPD pages, public downloads and API over HTTP: the workflow buttons each role sees and may use, the figures
shown are the declaration's, downloads validate, published versions are public and nothing else is — and no
organisation sees another's EPDs on a page or through the API."""

from __future__ import annotations

import io
import json
import re
import warnings
from html import unescape
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from rareeco.declare import epd_service, ilcd, openepd_export
from rareeco.demo.load import load_demo
from rareeco.ledger import tokens
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import AuditEntry, Epd
from test_footprint import hand_ledger
from test_web_pages import CSRF, assert_accessible, sign_in, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")
YEAR = 2025


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo (steward ``sam``, verifier ``vera``, viewer ``vic``, a viewer token, a draft EPD of La2O3) and
    ``other`` (the hand ledger, admin ``bob``, verifier ``otto``, an admin token, a published EPD of its product m)."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('epdweb') / 'ledger.db'}")
    with session_scope(eng) as s:
        load_demo(s)
        hand_ledger(s, "other", "Other Metals")
        toks = {"demo": tokens.create(s, "demo", "reader", "viewer"), "other": tokens.create(s, "other", "o", "admin")}
    users(eng, "demo", sam="steward", vera="verifier", vic="viewer")
    users(eng, "other", bob="admin", otto="verifier")
    with session_scope(eng) as s:
        e, _ = epd_service.build(s, "other", "m", 2023, "bob")
        epd_service.submit(s, "other", e.id, "bob")
        epd_service.verify(s, "other", e.id, "otto")
        epd_service.publish(s, "other", e.id, "bob")
        other_id = e.id
        epd_service.build(s, "demo", "la2o3", YEAR, "sam")                     # a demo draft the others must not see
    return {"engine": eng, "app": create_app(engine=eng, demo_mode=False), "other_id": other_id,
            "api": {k: {"Authorization": f"Bearer {v}"} for k, v in toks.items()}}


def csrf(client: TestClient, path: str = "/epds") -> str:
    m = CSRF.search(client.get(path).text)
    assert m is not None
    return m.group(1)


def status_of(html: str) -> str:
    m = re.search(r'id="epd-status" data-status="([a-z_]+)"', html)
    assert m is not None
    return m.group(1)


def buttons(html: str) -> set[str]:
    return set(re.findall(r'<button type="submit"[^>]*id="(epd-[a-z-]+)"', html))


def test_the_workflow_on_the_pages(site: dict[str, Any]) -> None:
    app, eng = site["app"], site["engine"]
    sam, token = sign_in(app, "sam")
    page = sam.get("/epds").text
    assert 'id="epd-build"' in page and 'data-product="prnd-oxide"' not in page
    assert_accessible(page)
    r = sam.post("/epds/build", data={"csrf_token": token, "product": "prnd-oxide", "year": str(YEAR),
                                      "programme": "csre", "address": ""}, follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    epd_id = int(url.rsplit("/", 1)[1])
    page = sam.get(url).text
    assert_accessible(page)
    # the declarant: rebuild, submit, and answer comments
    assert status_of(page) == "draft" and buttons(page) == {"epd-rebuild", "epd-submit", "epd-comment-send"}
    gwp = re.search(r'data-indicator="GWP-total">.*?data-module="A1-A3">([^<]+)<', page, re.S)
    assert gwp is not None and gwp.group(1) == "47.436"
    assert 'data-indicator="AP" data-status="ND"' in page and "Chinese Society of Rare Earths" in page
    # the steward cannot verify (the button is not there, and the request is refused)
    assert sam.post(f"{url}/verify", data={"csrf_token": token}).status_code == 403
    assert sam.post(f"{url}/submit", data={}).status_code == 403                    # no CSRF token
    assert sam.post(f"{url}/submit", data={"csrf_token": token}, follow_redirects=False).status_code == 303

    vera, vtoken = sign_in(app, "vera")
    page = vera.get(url).text
    assert status_of(page) == "in_verification" and buttons(page) == {"epd-verify", "epd-comment-send"}
    r = vera.post(f"{url}/comment", data={"csrf_token": vtoken, "text": "Table 3: <b>units</b> checked."},
                  follow_redirects=False)
    assert r.status_code == 303
    assert vera.post(f"{url}/publish", data={"csrf_token": vtoken}).status_code == 403     # a verifier cannot publish
    assert vera.post(f"{url}/verify", data={"csrf_token": vtoken}, follow_redirects=False).status_code == 303
    page = sam.get(url).text
    assert status_of(page) == "verified" and "epd-publish" in buttons(page)
    assert "Table 3: &lt;b&gt;units&lt;/b&gt; checked." in page                     # escaped
    # not public before publication
    uuid = re.search(r"<code>([0-9a-f-]{36})</code>", page).group(1)               # type: ignore[union-attr]
    public = TestClient(app)
    assert public.get(f"/epd/{uuid}/v1.pdf").status_code == 404
    assert sam.post(f"{url}/publish", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    page = sam.get(url).text
    assert status_of(page) == "published" and buttons(page) == {"epd-rebuild"}
    assert f'href="/epd/{uuid}/v1.pdf"' in page
    # public downloads, without signing in
    r = public.get(f"/epd/{uuid}/v1.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    assert "Praseodymium-neodymium oxide" in text and "47.436" in text
    zh = PdfReader(io.BytesIO(public.get(f"/epd/{uuid}/v1.pdf?lang=zh").content)).pages[0].extract_text()
    assert "氧化镨钕" in zh and "47.436" in zh
    assert ilcd.validation_errors(public.get(f"/epd/{uuid}/v1.xml").content) == []
    openepd_export.validate(public.get(f"/epd/{uuid}/v1.json").json())
    assert public.get(f"/epd/{uuid}/v2.pdf").status_code == 404
    with session_scope(eng) as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(
            AuditEntry.subject == f"demo/epd/{epd_id}").order_by(AuditEntry.seq))]
    assert actions == ["epd.build", "epd.submit", "epd.comment", "epd.verify", "epd.publish"]


def test_signed_in_downloads_and_roles(site: dict[str, Any]) -> None:
    app = site["app"]
    sam, token = sign_in(app, "sam")
    r = sam.post("/epds/build", data={"csrf_token": token, "product": "ndfeb-magnet", "year": str(YEAR)},
                 follow_redirects=False)
    url = r.headers["location"]
    xml = sam.get(f"{url}/download/xml")
    assert xml.status_code == 200 and ilcd.validation_errors(xml.content) == []
    assert xml.headers["content-disposition"] == 'attachment; filename="epd-ndfeb-magnet-2025-v1-ilcd.xml"'
    doc = sam.get(f"{url}/download/json").json()
    assert doc["impacts"]["IPCC AR6"]["gwp"]["D"]["mean"] == pytest.approx(-16.785, abs=5e-4)
    pdf = sam.get(f"{url}/download/pdf?lang=en")
    assert "DRAFT" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    vic, vtoken = sign_in(app, "vic")                                             # a viewer reads, never acts
    page = vic.get(url).text
    assert buttons(page) == set() and vic.get(f"{url}/download/json").status_code == 200
    r = vic.post("/epds/build", data={"csrf_token": vtoken, "product": "la2o3", "year": str(YEAR)})
    assert r.status_code == 403
    r = sam.post("/epds/build", data={"csrf_token": token, "product": "nope", "year": str(YEAR)})
    assert r.status_code == 404 and "no footprint for product" in unescape(r.text)


def test_pages_in_chinese(site: dict[str, Any]) -> None:
    app = site["app"]
    vic, token = sign_in(app, "vic")
    vic.post("/lang", data={"csrf_token": token, "lang": "zh", "next": "/epds"})
    page = vic.get("/epds").text
    assert "<h1>环境产品声明（EPD）</h1>" in page and "已发布" in page
    rows = re.findall(r'<tr data-epd="(\d+)"', page)
    detail = vic.get(f"/epds/{rows[0]}").text
    assert "每声明单位的结果" in detail and "未声明" in detail
    assert '<th scope="row">平流层臭氧消耗潜势 (ODP)</th>' in detail
    vic.post("/lang", data={"csrf_token": csrf(vic), "lang": "en", "next": "/epds"})


def test_no_organisation_sees_anothers_epds(site: dict[str, Any]) -> None:
    app, eng, other_id = site["app"], site["engine"], site["other_id"]
    with session_scope(eng) as s:
        before = s.execute(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action.like("epd.%"))).scalar_one()
        demo_ids = [e.id for e in s.execute(select(Epd).where(Epd.org_id == "demo")).scalars()]
    assert demo_ids
    sam, token = sign_in(app, "sam")
    assert f'data-epd="{other_id}"' not in sam.get("/epds").text
    for path in (f"/epds/{other_id}", f"/epds/{other_id}/download/pdf", f"/epds/{other_id}/download/xml"):
        r = sam.get(path)
        assert r.status_code == 404 and "Other Metals" not in r.text, path
    for action in ("submit", "comment", "verify", "publish"):
        r = sam.post(f"/epds/{other_id}/{action}", data={"csrf_token": token, "text": "x"})
        assert r.status_code in (403, 404), action
    bob, btoken = sign_in(app, "bob")
    for i in demo_ids:
        assert bob.get(f"/epds/{i}").status_code == 404
    # the API: every EPD route (from the OpenAPI document) answers 404 to another organisation's token
    spec = TestClient(app).get("/api/v1/openapi.json").json()
    paths = [p for p in spec["paths"] if p.startswith("/api/v1/orgs/{org}/epds")]
    assert len(paths) == 5
    api = TestClient(app)
    for p in paths:
        own = api.get(p.replace("{org}", "other").replace("{epd_id}", str(other_id)), headers=site["api"]["other"])
        assert own.status_code == 200, p
        for org, epd in (("demo", other_id), ("other", demo_ids[0]), ("demo", demo_ids[0])):
            if org == "other" and "{epd_id}" not in p:
                assert {x["id"] for x in own.json()} == {other_id}                   # its own list only
                continue
            r = api.get(p.replace("{org}", org).replace("{epd_id}", str(epd)), headers=site["api"]["other"])
            assert r.status_code == 404 and set(r.json()) == {"error"}, (p, org, epd)
        assert api.get(p.replace("{org}", "other").replace("{epd_id}", str(other_id))).status_code == 401
    with session_scope(eng) as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action.like("epd.%"))).scalar_one() == before           # nothing done


def test_api_lists_and_serves_the_declaration(site: dict[str, Any]) -> None:
    api = TestClient(site["app"])
    h = site["api"]["other"]
    rows = api.get("/api/v1/orgs/other/epds", headers=h).json()
    assert [(r["product"], r["version"], r["status"]) for r in rows] == [("m", 1, "published")]
    one = api.get(f"/api/v1/orgs/other/epds/{rows[0]['id']}", headers=h).json()
    assert one["declaration"]["uuid"] == rows[0]["uuid"] and one["verified_by"] == "otto"
    assert one["gwp_total_a1_a3_kg_co2e"] == one["declaration"]["results"][0]["values"]["A1-A3"]
    xml = api.get(one["downloads"]["ilcd.xml"], headers=h)
    assert ilcd.validation_errors(xml.content) == [] and "Independent external review" in xml.text
    doc = json.loads(api.get(one["downloads"]["openepd.json"], headers=h).content)
    assert doc["private"] is False and doc["third_party_verifier_name"] == "otto"
    pdf = api.get(one["downloads"]["pdf"] + "?lang=zh", headers=h)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert pdf.status_code == 200 and "otto" in text and "验证声明" in text
