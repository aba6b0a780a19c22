"""The buyers' access page (/pact) over HTTP: an admin registers a buyer (the secret shown once), grants and
withdraws products, sets callback hosts, revokes; the published footprints and the event log are shown; only
admins may use it, and another organisation's admin gets 404 for every client of ours and changes nothing."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from conftest import make_org
from rareeco.declare import pact
from rareeco.ledger import structure
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import AuditEntry, PactClient, PactEvent, PactFootprint
from rareeco.ledger.structure import now
from test_web_pages import assert_accessible, csrf_of, sign_in, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: F401

from rareeco.api.app import create_app

PF_ID = "0b5c1a9e-3f4d-4e2a-9b7c-1d2e3f4a5b6c"


def payload(pf_id: str = PF_ID) -> dict[str, Any]:
    return {"id": pf_id, "status": "Active", "productIds": ["urn:rareeco:product:acme:la2o3"],
            "pcf": {"referencePeriodStart": "2025-01-01T00:00:00Z", "referencePeriodEnd": "2026-01-01T00:00:00Z",
                    "pcfExcludingBiogenicUptake": "4.25", "primaryDataShare": "31.5",
                    "verification": {"providerName": "vera"}}}


@pytest.fixture
def site(engine: Engine) -> dict[str, Any]:
    """acme (admin alice, viewer vic) with a published footprint and an event; beta (admin bob)."""
    make_org(engine, "acme")
    with session_scope(engine) as s:
        structure.add_product(s, "acme", "ndfeb-magnet", "Sintered NdFeB magnet", "烧结钕铁硼磁体")
        structure.create_org(s, "beta", "Beta Metals")
        structure.add_product(s, "beta", "beta-oxide")
        s.add(PactFootprint(id=PF_ID, org_id="acme", product_code="la2o3", status="Active", created_at=now(),
                            payload=payload()))
        s.add(PactEvent(org_id="acme", client_pk=None, direction="in", event_type=pact.PUBLISHED,
                        event_id="evt-acme-1", payload={"id": "evt-acme-1"}, status="received", attempts=0,
                        created_at=now()))
    users(engine, "acme", alice="admin", vic="viewer")
    users(engine, "beta", bob="admin")
    return {"engine": engine, "app": create_app(engine=engine, demo_mode=False)}


def client_rows(engine: Engine, org: str) -> list[tuple[Any, ...]]:
    with session_scope(engine) as s:
        out = []
        for c in pact.clients(s, org):
            out.append((c.client_id, c.name, tuple(c.callback_hosts), c.revoked_at is not None,
                        tuple(pact.grants_of(s, c))))
        return out


def register(browser: Any, token: str, **form: Any) -> Any:
    return browser.post("/pact/clients/create", data={"csrf_token": token, **form}, follow_redirects=False)


def test_an_admin_registers_a_buyer_and_manages_its_access(site: dict[str, Any]) -> None:
    engine = site["engine"]
    alice, token = sign_in(site["app"], "alice")
    page = alice.get("/pact")
    assert page.status_code == 200 and "No buyer is registered yet." in page.text
    assert_accessible(page.text)

    r = register(alice, token, name="Magnet Co", callback_hosts="buyer.example.com:8443, hooks.example.org",
                 grants=["la2o3"])
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    client_id = re.search(r'id="new-client-id" readonly size="40" value="([^"]+)"', r.text).group(1)  # type: ignore
    secret = re.search(r'id="new-client-secret" readonly size="64" value="([^"]+)"', r.text).group(1)  # type: ignore
    assert client_rows(engine, "acme") == [(client_id, "Magnet Co", ("buyer.example.com:8443", "hooks.example.org"),
                                            False, ("la2o3",))]
    with session_scope(engine) as s:
        assert pact.authenticate(s, client_id, secret) is not None
        pk = pact.get_client(s, "acme", client_id).id
    again = alice.get("/pact").text
    assert secret not in again and f'data-client="{client_id}" data-state="active"' in again     # shown once
    assert 'data-grant="la2o3"' in again

    def post(path: str, **form: Any) -> Any:
        return alice.post(path, data={"csrf_token": token, "client": str(pk), **form}, follow_redirects=False)

    assert post("/pact/grants/add", product="*").status_code == 303
    assert post("/pact/grants/remove", product="la2o3").status_code == 303
    assert client_rows(engine, "acme")[0][4] == ("*",)
    bad = post("/pact/grants/add", product="no-such-product")
    assert bad.status_code == 404 and "no-such-product" in bad.text
    assert post("/pact/clients/callbacks", callback_hosts="new.example.com").status_code == 303
    refused = post("/pact/clients/callbacks", callback_hosts="https://x.example.com/path?q=1")
    assert refused.status_code == 422 and 'data-code="validation_failed"' in refused.text
    assert client_rows(engine, "acme")[0][2] == ("new.example.com",)
    assert post("/pact/clients/revoke").status_code == 303
    assert client_rows(engine, "acme")[0][3] is True
    with session_scope(engine) as s:
        assert pact.authenticate(s, client_id, secret) is None
        actions = set(s.execute(select(AuditEntry.action).where(AuditEntry.org_id == "acme")).scalars())
    assert {"pact.client.add", "pact.grant", "pact.ungrant", "pact.client.callbacks", "pact.client.revoke"} <= actions
    assert 'data-state="revoked"' in alice.get("/pact").text


def test_a_registration_with_an_unknown_product_stores_nothing(site: dict[str, Any]) -> None:
    alice, token = sign_in(site["app"], "alice")
    r = register(alice, token, name="Half done", grants=["la2o3", "not-ours"])
    assert r.status_code == 404 and "not-ours" in r.text
    assert client_rows(site["engine"], "acme") == []


def test_published_footprints_and_the_event_log_are_shown(site: dict[str, Any]) -> None:
    alice, _ = sign_in(site["app"], "alice")
    html = alice.get("/pact").text
    row = re.search(rf'<tr data-footprint="{PF_ID}" data-state="Active">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "la2o3" in row.group(1) and "4.250" in row.group(1) and "31.5 %" in row.group(1)
    assert '<tr data-event="evt-acme-1" data-state="received">' in html and "PublishedEvent" in html


def test_only_admins_use_the_page(site: dict[str, Any]) -> None:
    vic, token = sign_in(site["app"], "vic")
    assert vic.get("/pact").status_code == 403
    assert register(vic, token, name="Sneaky", grants=["la2o3"]).status_code == 403
    assert client_rows(site["engine"], "acme") == []


def test_a_post_without_the_csrf_token_is_refused(site: dict[str, Any]) -> None:
    alice, _ = sign_in(site["app"], "alice")
    assert register(alice, "forged", name="No token").status_code == 403
    assert client_rows(site["engine"], "acme") == []


def test_another_organisations_admin_gets_404_and_changes_nothing(site: dict[str, Any]) -> None:
    engine = site["engine"]
    with session_scope(engine) as s:
        c, _ = pact.add_client(s, "acme", "Acme's secret buyer", "alice", ["acme-buyer.example.com"], ["la2o3"])
        pk, client_id = c.id, c.client_id
    before = client_rows(engine, "acme")
    bob, token = sign_in(site["app"], "bob")
    page = bob.get("/pact").text
    for marker in (client_id, "Acme's secret buyer", PF_ID, "evt-acme-1", "acme-buyer.example.com"):
        assert marker not in page
    for path, form in (("/pact/clients/revoke", {}), ("/pact/grants/add", {"product": "*"}),
                       ("/pact/grants/remove", {"product": "la2o3"}),
                       ("/pact/clients/callbacks", {"callback_hosts": "evil.example.com"})):
        r = bob.post(path, data={"csrf_token": token, "client": str(pk), **form}, follow_redirects=False)
        assert r.status_code == 404, (path, r.status_code)
        assert client_id not in r.text and "Acme's secret buyer" not in r.text
    # a grant of acme's product to a client of beta is refused too (the product is not beta's)
    r = register(bob, token, name="Beta buyer", grants=["la2o3"])
    assert r.status_code == 404
    assert client_rows(engine, "acme") == before
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(PactClient).where(PactClient.org_id == "beta")) \
            .scalar_one() == 0


def test_the_page_in_chinese(site: dict[str, Any]) -> None:
    alice, token = sign_in(site["app"], "alice")
    alice.post("/lang", data={"csrf_token": token, "lang": "zh", "next": "/pact"})
    html = alice.get("/pact").text
    assert "买方访问（PACT）" in html and "登记买方" in html and "烧结钕铁硼磁体" in html
    assert csrf_of(alice)
