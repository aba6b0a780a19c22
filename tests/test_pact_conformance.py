"""PACT v3 conformance: every mandatory case of ``specs/pact/v3-conformance-test-cases.md``, against the real host
over HTTPS (uvicorn on a loopback port, a self-signed certificate the client verifies), with the demo producer's
published 2025 footprints.  Each test is named after its case; every body the host sends is validated against the
specification's ``v3/openapi.yaml`` (and callbacks against its event schemas).

The asynchronous cases (#12–#14) post to the host and wait for the answer at a local HTTPS receiver that is the
client's registered callback host.  Plain HTTP to the TLS port gets no answer at all (#9–#11, #17).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import select

from conftest import pg_database
from rareeco.api.pact import HostConfig, backoff_s, create_pact_app, serve_in_thread
from rareeco.declare import pact
from rareeco.demo.load import load_demo
from rareeco.ledger import periods
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import PactEvent, PactFootprint
from rareeco.ledger.structure import create_org, now
from rareeco.tls import self_signed, signing_key

SPEC = pact.spec_dir()
if not (SPEC / "v3" / "openapi.yaml").is_file():
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"the PACT specification is required in CI but missing at {SPEC}")
    pytest.skip(f"PACT specification not found at {SPEC} (set RAREECO_PACT_SPEC_DIR)", allow_module_level=True)

YEAR = 2025
PUBLISHED = ("prnd-oxide", "ndfeb-magnet-recycled", "la2o3", "prnd-metal", "ndfeb-magnet")
GRANTED = ("prnd-oxide", "ndfeb-magnet-recycled", "la2o3", "prnd-metal")      # not ndfeb-magnet
HS_OXIDE = "urn:pact:productclassification:hs:284690"
HS_MAGNET = "urn:pact:productclassification:hs:850511"
ORG_URN = "urn:rareeco:org:demo"


def urn(product: str) -> str:
    return f"urn:rareeco:product:demo:{product}"


# ------------------------------------------------------------------ schema checks of everything the host sends

def schema_ok(doc: Any, schema: str, version: str = "v3") -> None:
    problems = [f.line() for f in pact.schema_findings(doc, version, schema)]
    assert not problems, problems


LIST_200 = "#/paths/~13~1footprints/get/responses/200/content/application~1json/schema"
GET_200 = "#/paths/~13~1footprints~1{id}/get/responses/200/content/application~1json/schema"
LIST_200_V2 = "#/paths/~12~1footprints/get/responses/200/content/application~1json/schema"
GET_200_V2 = "#/paths/~12~1footprints~1{id}/get/responses/200/content/application~1json/schema"


def listed(r: httpx.Response, status: int = 200) -> list[dict[str, Any]]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    schema_ok(body, LIST_200)
    return body["data"]  # type: ignore[no-any-return]


def one(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, (r.status_code, r.text[:500])
    body = r.json()
    schema_ok(body, GET_200)
    return body["data"]  # type: ignore[no-any-return]


def error(r: httpx.Response, status: int | tuple[int, ...], code: str | tuple[str, ...]) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) else (code,)
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    schema_ok(body, "Error")
    assert body["code"] in codes, body
    return body  # type: ignore[no-any-return]


def settled(h: dict[str, Any], event_id: str, timeout: float = 10.0) -> PactEvent:
    """The outbox row of an event sent, once its delivery is settled (the receiver may see it a moment before)."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(h["engine"]) as s:
            row = s.execute(select(PactEvent).where(PactEvent.event_id == event_id)).scalar_one()
            if row.status not in ("pending", "sending") or time.monotonic() > deadline:
                return row
        time.sleep(0.05)


def ids(data: list[dict[str, Any]]) -> set[str]:
    return {d["id"] for d in data}


# ------------------------------------------------------------------ the callback receiver (the buyer's host)

class Receiver:
    """A buyer's host: ``/3/events`` records what arrives (503 to the first ``fail`` posts) and takes only its own
    bearer tokens, which its OAuth2 token endpoint (announced by its OpenID document) gives the producer."""

    CLIENT_ID, SECRET = "producer-at-buyer", "buyer-issued-secret"

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.tokens: set[str] = set()
        self.unauthorised = 0
        self.fail = 0
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.get("/.well-known/openid-configuration")
        async def openid(request: Request) -> dict[str, str]:
            return {"issuer": str(request.base_url).rstrip("/"),
                    "token_endpoint": f"{str(request.base_url).rstrip('/')}/oauth/token"}

        @self.app.post("/oauth/token")
        async def token(request: Request) -> Response:
            expected = "Basic " + base64.b64encode(f"{self.CLIENT_ID}:{self.SECRET}".encode()).decode()
            if request.headers.get("authorization") != expected or \
                    dict(parse_qsl((await request.body()).decode())).get("grant_type") != "client_credentials":
                return Response(b'{"error": "invalid_client"}', status_code=401, media_type="application/json")
            tok = f"rcv-token-{len(self.tokens) + 1}"
            self.tokens.add(tok)
            return Response(json.dumps({"access_token": tok, "token_type": "Bearer", "expires_in": 3600}).encode(),
                            media_type="application/json")

        @self.app.post("/3/events")
        async def receive(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                self.unauthorised += 1
                return Response(status_code=401)
            body = json.loads(await request.body())
            with self.lock:
                if self.fail > 0:
                    self.fail -= 1
                    return Response(status_code=503)
                self.events.append((dict(request.headers), body))
            return Response(status_code=200)

    def wait_for(self, request_id: str, timeout: float = 15.0) -> tuple[dict[str, str], dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for h, e in self.events:
                    if e.get("data", {}).get("requestEventId") == request_id:
                        return h, e
            time.sleep(0.05)
        raise AssertionError(f"no answer to {request_id} within {timeout} s")


# ------------------------------------------------------------------ the host with the demo producer

def verify_context(cert: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    return ctx


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The host runs once on SQLite and once on PostgreSQL (the hot path speaks SQL to the driver directly)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('pact-ledger') / 'ledger.db'}"
    else:
        yield from pg_database()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, ledger_url: str) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("pact")
    engine = make_engine(ledger_url)
    with session_scope(engine) as s:
        load_demo(s)
        pact.set_profile(s, "demo", "test", product="prnd-oxide", classifications=[HS_OXIDE])
        pact.set_profile(s, "demo", "test", product="ndfeb-magnet-recycled", classifications=[HS_MAGNET],
                         cpc="46950")
        pact.set_profile(s, "demo", "test", verification_coverage="product level",
                         verification_standard="ISO 14064-3")
    with session_scope(engine) as s:
        first = pact.publish(s, "demo", "prnd-oxide", YEAR, "test").id      # before the year is verified
    with session_scope(engine) as s:
        periods.lock(s, "demo", str(YEAR), "demo-verifier", "2025 activity data checked")
    with session_scope(engine) as s:
        rows = {p: pact.publish(s, "demo", p, YEAR, "test") for p in PUBLISHED}   # prnd-oxide: a second version
        published = {p: r.id for p, r in rows.items()}
        payloads = {p: r.payload for p, r in rows.items()}
        # organisation beta: one footprint of its own (the demo's payload under beta's name and ids)
        create_org(s, "beta", "Beta Magnets")
        beta = json.loads(json.dumps(payloads["ndfeb-magnet"]))
        beta.update(id="6f1c2b1e-0d4e-4c55-9a51-2c3b4d5e6f70", companyName="Beta Magnets",
                    companyIds=["urn:rareeco:org:beta"], productIds=["urn:rareeco:product:beta:magnet"])
        s.add(PactFootprint(id=beta["id"], org_id="beta", product_code="magnet", status="Active", created_at=now(),
                            valid_from=pact.parse_time(beta["validityPeriodStart"]),
                            valid_until=pact.parse_time(beta["validityPeriodEnd"]), payload=beta))

    receiver = Receiver()
    recv_tls = self_signed(tmp / "receiver-tls")
    host_tls = self_signed(tmp / "host-tls")
    callback_ssl = ssl.create_default_context(cafile=str(recv_tls.cert))
    config = HostConfig(engine, signing_key(host_tls), token_seconds=3600, retry_base_s=0.2, list_refresh_s=0.0,
                        callback_ssl=callback_ssl, delivery_poll_s=0.2)
    with serve_in_thread(receiver.app, recv_tls) as recv_url, \
            serve_in_thread(create_pact_app(config), host_tls) as url:
        recv_host = urlsplit(recv_url).netloc
        with session_scope(engine) as s:
            a, a_secret = pact.add_client(s, "demo", "Magnet maker A", "test", [recv_host], GRANTED)
            every, every_secret = pact.add_client(s, "demo", "Auditor", "test", [], ["*"])
            other, other_secret = pact.add_client(s, "demo", "Buyer of magnets only", "test", [], ["ndfeb-magnet"])
            none, none_secret = pact.add_client(s, "demo", "Nothing granted", "test", [], [])
            b, b_secret = pact.add_client(s, "beta", "Beta's buyer", "test", [recv_host], ["*"])
            pact.set_callback_auth(s, "demo", a.client_id, recv_host, Receiver.CLIENT_ID, Receiver.SECRET)
            creds = {"a": (a.client_id, a_secret), "all": (every.client_id, every_secret),
                     "other": (other.client_id, other_secret), "none": (none.client_id, none_secret),
                     "b": (b.client_id, b_secret)}
        client = httpx.Client(base_url=url, verify=verify_context(host_tls.cert), timeout=20.0)
        tokens = {k: token(client, *v) for k, v in creds.items()}
        yield {"url": url, "client": client, "engine": engine, "creds": creds, "tokens": tokens,
               "published": published, "first": first, "payloads": payloads, "beta": beta["id"],
               "receiver": receiver, "recv_url": recv_url, "key": signing_key(host_tls), "tls": host_tls}
        client.close()
    engine.dispose()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded"}


def token(client: httpx.Client, client_id: str, secret: str) -> str:
    r = client.post("/auth/token", content=b"grant_type=client_credentials", headers=basic(client_id, secret))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(h: dict[str, Any], who: str = "a") -> dict[str, str]:
    return {"Authorization": f"Bearer {h['tokens'][who]}"}


def get(h: dict[str, Any], path: str, who: str = "a", **params: Any) -> httpx.Response:
    return h["client"].get(path, headers=bearer(h, who), params=params or None)  # type: ignore[no-any-return]


def post_event(h: dict[str, Any], event: dict[str, Any], who: str = "a", auth: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/cloudevents+json; charset=UTF-8",
               "Authorization": auth or f"Bearer {h['tokens'][who]}"}
    return h["client"].post("/3/events", content=json.dumps(event).encode(), headers=headers)  # type: ignore


def plain_http(h: dict[str, Any], method: str, path: str, **kw: Any) -> httpx.Response | None:
    """The same request over plain HTTP to the TLS port: None when the connection fails (no answer)."""
    url = h["url"].replace("https://", "http://") + path
    try:
        return httpx.request(method, url, timeout=5.0, **kw)
    except httpx.TransportError:
        return None


def active_ids(h: dict[str, Any], products: tuple[str, ...] = GRANTED) -> set[str]:
    return {h["published"][p] for p in products}


# ------------------------------------------------------------------ #1, #2, #18, #19: authentication

def test_case_01_auth_token_with_valid_credentials(host: dict[str, Any]) -> None:
    r = host["client"].post("/auth/token", content=b"grant_type=client_credentials", headers=basic(*host["creds"]["a"]))
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"].count(".") == 2
    assert r.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], host["key"], algorithms=["HS256"])
    assert claims["sub"] == host["creds"]["a"][0] and claims["exp"] - claims["iat"] == 3600


def test_case_02_auth_token_with_invalid_credentials(host: dict[str, Any]) -> None:
    client_id, _ = host["creds"]["a"]
    for headers in (basic(client_id, "wrong-secret"), basic("no-such-client", "x"),
                    {"Authorization": "Basic !!notbase64", "Content-Type": "application/x-www-form-urlencoded"}):
        r = host["client"].post("/auth/token", content=b"grant_type=client_credentials", headers=headers)
        assert r.status_code in (400, 401)
        assert r.json()["error"] == "invalid_client" and "access_token" not in r.text
    r = host["client"].post("/auth/token", content=b"grant_type=password", headers=basic(*host["creds"]["a"]))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_case_18_openid_connect_flow(host: dict[str, Any]) -> None:
    r = host["client"].get("/.well-known/openid-configuration")
    assert r.status_code == 200
    conf = r.json()
    assert conf["issuer"] == host["url"] and "client_credentials" in conf["grant_types_supported"]
    endpoint = conf["token_endpoint"]
    assert endpoint.startswith(host["url"])
    r = host["client"].post(endpoint, content=b"grant_type=client_credentials", headers=basic(*host["creds"]["a"]))
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert listed(host["client"].get("/3/footprints", headers=fresh))


def test_case_19_openid_connect_flow_with_incorrect_credentials(host: dict[str, Any]) -> None:
    endpoint = host["client"].get("/.well-known/openid-configuration").json()["token_endpoint"]
    r = host["client"].post(endpoint, content=b"grant_type=client_credentials",
                            headers=basic(host["creds"]["a"][0], "incorrect"))
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"


# ------------------------------------------------------------------ #3, #4, #5, #8: reading footprints

def test_case_03_get_footprint(host: dict[str, Any]) -> None:
    pid = host["published"]["prnd-oxide"]
    pf = one(get(host, f"/3/footprints/{pid}"))
    assert pf == host["payloads"]["prnd-oxide"]
    assert pf["id"] == pid and pf["status"] == "Active" and pf["productIds"] == [urn("prnd-oxide")]
    p = pf["pcf"]
    assert p["declaredUnitOfMeasurement"] == "kilogram" and p["declaredUnitAmount"] == "1"
    assert (p["referencePeriodStart"], p["referencePeriodEnd"]) == ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    assert p["geographyCountry"] == "CN" and p["ipccCharacterizationFactors"] == ["AR6"]
    assert p["productOrSectorSpecificRules"] == [{"operator": "EPD International",
                                                  "ruleNames": ["Rare-earth concentrates, oxides, metals and magnets"]}]
    assert p["verification"]["providerName"] == "demo-verifier" and p["verification"]["coverage"] == "product level"
    assert pf["precedingPfIds"] == [host["first"]]


def test_case_04_list_footprints(host: dict[str, Any]) -> None:
    data = listed(get(host, "/3/footprints"))
    # the granted products' footprints, the deprecated first version of prnd-oxide included (spec: SHOULD)
    assert ids(data) == active_ids(host) | {host["first"]}
    assert all(isinstance(d["pcf"]["pcfExcludingBiogenicUptake"], str) for d in data)


def test_case_05_pagination_link(host: dict[str, Any]) -> None:
    full = listed(get(host, "/3/footprints"))
    r = get(host, "/3/footprints", limit=2)
    pages = [listed(r)]
    assert len(pages[0]) == 2
    seen_links = []
    while "link" in r.headers:
        link = r.headers["link"]
        assert link.endswith('>; rel="next"') and link.startswith("<https://")
        target = link[1:link.index(">")]
        assert urlsplit(target).netloc == urlsplit(host["url"]).netloc       # the request's host, absolute
        assert dict(parse_qsl(urlsplit(target).query))["limit"] == "2"
        r = host["client"].get(target, headers=bearer(host))
        again = host["client"].get(target, headers=bearer(host))            # a link can be called more than once
        assert listed(again) == listed(r)
        pages.append(listed(r))
        seen_links.append(target)
        assert len(pages[-1]) <= 2
    assert len(seen_links) == 2
    assert [d["id"] for p in pages for d in p] == [d["id"] for d in full]
    r = get(host, "/3/footprints", limit=2, offset=2)                      # the case's own request form
    assert ids(listed(r)) == ids(pages[1])
    error(get(host, "/3/footprints", limit=0), 400, "BadRequest")


def test_case_08_get_footprint_with_nonexistent_id(host: dict[str, Any]) -> None:
    body = error(get(host, "/3/footprints/non-existent-id"), 404, "NotFound")
    assert "non-existent-id" in body["message"]
    error(get(host, "/3/footprints/00000000-0000-4000-8000-000000000000"), 404, "NotFound")


# ------------------------------------------------------------------ #6, #7, #16: invalid tokens

def test_case_06_list_footprints_with_invalid_token(host: dict[str, Any]) -> None:
    r = host["client"].get("/3/footprints", headers={"Authorization": "Bearer invalid-access-token"})
    body = error(r, (400, 401), "BadRequest")
    assert body["message"] == "Invalid token provided" and "data" not in body
    error(host["client"].get("/3/footprints"), (400, 401), "BadRequest")               # no token at all


def test_case_07_get_footprint_with_invalid_token(host: dict[str, Any]) -> None:
    pid = host["published"]["prnd-oxide"]
    forged = jwt.encode({"sub": host["creds"]["a"][0], "iat": int(time.time()), "exp": int(time.time()) + 60},
                        b"not-the-host-key-not-the-host-key!!", algorithm="HS256")
    for tok in ("invalid-access-token", forged):
        r = host["client"].get(f"/3/footprints/{pid}", headers={"Authorization": f"Bearer {tok}"})
        error(r, (400, 401), "BadRequest")


def test_case_16_events_with_invalid_token(host: dict[str, Any]) -> None:
    event = {"type": pact.PUBLISHED, "specversion": "1.0", "id": "test-run-id-12345",
             "source": "https://webhook.example.com", "time": "2023-05-19T12:30:00Z",
             "data": {"pfIds": ["urn:gtin:4712345060507"]}}
    error(post_event(host, event, auth="Bearer invalid-access-token"), (400, 401), "BadRequest")


def test_expired_token_is_token_expired(host: dict[str, Any]) -> None:
    t = int(time.time())
    expired = jwt.encode({"sub": host["creds"]["a"][0], "iat": t - 7200, "exp": t - 3600}, host["key"],
                         algorithm="HS256")
    r = host["client"].get("/3/footprints", headers={"Authorization": f"Bearer {expired}"})
    error(r, 401, "TokenExpired")


# ------------------------------------------------------------------ #9, #10, #11, #17: plain HTTP gets no answer

def test_case_09_auth_over_http_is_rejected(host: dict[str, Any]) -> None:
    r = plain_http(host, "POST", "/auth/token", content=b"grant_type=client_credentials",
                   headers=basic(*host["creds"]["a"]))
    assert r is None


def test_case_10_list_over_http_is_rejected(host: dict[str, Any]) -> None:
    assert plain_http(host, "GET", "/3/footprints", headers=bearer(host)) is None


def test_case_11_get_over_http_is_rejected(host: dict[str, Any]) -> None:
    pid = host["published"]["prnd-oxide"]
    assert plain_http(host, "GET", f"/3/footprints/{pid}", headers=bearer(host)) is None


def test_case_17_events_over_http_are_rejected(host: dict[str, Any]) -> None:
    body = b'{"specversion": "1.0", "id": "test-run-id-12345", "type": "' + pact.PUBLISHED.encode() + b'"}'
    assert plain_http(host, "POST", "/3/events", content=body,
                      headers={**bearer(host), "Content-Type": "application/cloudevents+json"}) is None


# ------------------------------------------------------------------ #12–#15: events

def request_event(h: dict[str, Any], event_id: str, product_ids: list[str], source: str | None = None,
                  **criteria: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source or h["recv_url"], "time": "2023-05-19T10:30:00Z",
            "type": pact.REQUEST_CREATED,
            "data": {"productId": product_ids, "comment": "Please send PCF data for this year.", **criteria}}


def test_case_12_and_13_request_is_fulfilled_by_a_callback(host: dict[str, Any]) -> None:
    r = post_event(host, request_event(host, "test-run-id-12345", [urn("prnd-oxide"), urn("la2o3")]))
    assert r.status_code == 200 and r.content == b""                                         # case 12
    headers, event = host["receiver"].wait_for("test-run-id-12345")                          # case 13
    schema_ok(event, "RequestFulfilledEvent")
    assert headers["content-type"] == "application/cloudevents+json; charset=UTF-8"
    assert headers["authorization"] in {f"Bearer {t}" for t in host["receiver"].tokens}      # the buyer's token
    assert host["receiver"].unauthorised == 0
    assert event["type"] == "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
    assert event["specversion"] == "1.0" and event["source"] == f"{host['url']}/3/events"
    # the latest (Active) footprints of the two products, exactly as published
    assert {pf["id"] for pf in event["data"]["pfs"]} == {host["published"]["prnd-oxide"], host["published"]["la2o3"]}
    assert [pf for pf in event["data"]["pfs"] if pf["id"] == host["published"]["prnd-oxide"]][0] == \
        host["payloads"]["prnd-oxide"]
    out = settled(host, event["id"])
    assert (out.direction, out.status, out.attempts) == ("out", "delivered", 1)
    assert out.target_url == f"{host['recv_url']}/3/events"


def test_case_14a_and_14b_request_for_unknown_product_is_rejected_by_a_callback(host: dict[str, Any]) -> None:
    r = post_event(host, request_event(host, "test-run-id-14", ["urn:null"]))
    assert r.status_code == 200 and r.content == b""                                         # case 14.A
    headers, event = host["receiver"].wait_for("test-run-id-14")                             # case 14.B
    schema_ok(event, "RequestRejectedEvent")
    assert headers["content-type"] == "application/cloudevents+json; charset=UTF-8"
    assert headers["authorization"].startswith("Bearer rcv-token-")
    assert event["type"] == "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
    assert event["data"] == {"requestEventId": "test-run-id-14",
                             "error": {"code": "NotFound", "message": "The requested footprint could not be found."}}


def test_a_request_for_a_product_not_granted_is_rejected(host: dict[str, Any]) -> None:
    post_event(host, request_event(host, "ask-for-magnet", [urn("ndfeb-magnet")]))
    _, event = host["receiver"].wait_for("ask-for-magnet")
    assert event["type"] == pact.REQUEST_REJECTED


def test_case_15_published_event_is_accepted(host: dict[str, Any]) -> None:
    event = {"type": pact.PUBLISHED, "specversion": "1.0", "id": "123e4567-e89b-12d3-a456-426614174000",
             "source": "https://webhook.example.com", "time": "2023-05-19T11:30:00Z",
             "data": {"pfIds": ["urn:gtin:4712345060507"]}}
    r = post_event(host, event)
    assert r.status_code == 200 and r.content == b""
    with session_scope(host["engine"]) as s:
        rec = s.execute(select(PactEvent).where(PactEvent.event_id == event["id"])).scalar_one()
        assert (rec.direction, rec.status, rec.payload) == ("in", "received", event)


def test_malformed_events_are_bad_requests(host: dict[str, Any]) -> None:
    good = request_event(host, "m1", [urn("prnd-oxide")])
    error(post_event(host, {**good, "specversion": "0.3"}), 400, "BadRequest")
    error(post_event(host, {k: v for k, v in good.items() if k != "source"}), 400, "BadRequest")
    error(post_event(host, {**good, "data": {"validOn": "not a date"}}), 400, "BadRequest")
    error(post_event(host, {**good, "type": "org.example.Unknown"}), 400, "NotImplemented")
    error(post_event(host, {**good, "data": {"pf": {"productIds": [urn("prnd-oxide")]}}}), 400, "BadRequest")
    error(post_event(host, {**good, "data": {"x-atq-invoice-id": "1"}}), 400, "NotImplemented")
    r = host["client"].post("/3/events", content=b"{", headers={**bearer(host), "Content-Type": "application/json"})
    error(r, 400, "BadRequest")


def test_events_to_a_host_outside_the_callback_hosts_are_refused(host: dict[str, Any]) -> None:
    received = len(host["receiver"].events)
    for source in ("https://evil.example.com/3/events", "http://" + urlsplit(host["recv_url"]).netloc,
                   host["recv_url"].rsplit(":", 1)[0] + ":1"):
        body = error(post_event(host, request_event(host, f"probe-{source}", [urn("prnd-oxide")], source=source)),
                     403, "AccessDenied")
        assert "callback host" in body["message"]
    with session_scope(host["engine"]) as s:
        assert s.execute(select(PactEvent).where(PactEvent.event_id.like("probe-%"))).first() is None
    # client "all" has no callback host at all: its requests are refused too
    error(post_event(host, request_event(host, "probe-all", [urn("prnd-oxide")]), who="all"), 403, "AccessDenied")
    time.sleep(0.3)
    assert len(host["receiver"].events) == received


def test_an_undelivered_answer_is_retried_with_backoff(host: dict[str, Any]) -> None:
    host["receiver"].fail = 2
    post_event(host, request_event(host, "retry-me", [urn("la2o3")]))
    _, event = host["receiver"].wait_for("retry-me")
    out = settled(host, event["id"])
    assert (out.status, out.attempts, out.last_error) == ("delivered", 3, None)
    assert 0.8 * 0.2 <= backoff_s(1, 0.2) <= 1.2 * 0.2 and 0.8 * 1.6 <= backoff_s(4, 0.2) <= 1.2 * 1.6
    assert backoff_s(40, 2.0) <= 1.2 * 3600


def test_answers_carry_the_buyers_token_fetched_once(host: dict[str, Any]) -> None:
    for n in range(3):
        post_event(host, request_event(host, f"token-{n}", [urn("la2o3")]))
        headers, _ = host["receiver"].wait_for(f"token-{n}")
        assert headers["authorization"] == "Bearer rcv-token-1"
    assert host["receiver"].tokens == {"rcv-token-1"} and host["receiver"].unauthorised == 0


def test_wrong_buyer_credentials_keep_the_answer_in_the_outbox(host: dict[str, Any]) -> None:
    recv_host = urlsplit(host["recv_url"]).netloc
    with session_scope(host["engine"]) as s:
        pact.set_callback_auth(s, "beta", host["creds"]["b"][0], recv_host, "producer-at-buyer", "wrong-secret")
    post_event(host, request_event(host, "wrong-credentials", ["urn:rareeco:product:beta:magnet"]), who="b")
    deadline = time.monotonic() + 10
    while True:
        with session_scope(host["engine"]) as s:
            out = [e for e in s.execute(select(PactEvent).where(PactEvent.direction == "out")).scalars()
                   if e.payload["data"]["requestEventId"] == "wrong-credentials"]
            if out and out[0].attempts >= 2 or time.monotonic() > deadline:
                break
        time.sleep(0.05)
    assert out[0].status in ("pending", "sending") and out[0].attempts >= 2
    assert "token endpoint" in (out[0].last_error or "") and "HTTP 401" in (out[0].last_error or "")
    assert not [e for _, e in host["receiver"].events if e["data"]["requestEventId"] == "wrong-credentials"]


def test_a_request_event_is_answered_once(host: dict[str, Any]) -> None:
    event = request_event(host, "twice", [urn("prnd-metal")])
    assert post_event(host, event).status_code == 200
    assert post_event(host, event).status_code == 200
    host["receiver"].wait_for("twice")
    time.sleep(0.3)
    with session_scope(host["engine"]) as s:
        answers = s.execute(select(PactEvent).where(PactEvent.direction == "out")).scalars().all()
        assert sum(a.payload["data"]["requestEventId"] == "twice" for a in answers) == 1


# ------------------------------------------------------------------ #20–#29: filters, positive

def test_case_20_filter_by_product_id(host: dict[str, Any]) -> None:
    data = listed(get(host, "/3/footprints", productId=urn("la2o3")))
    assert ids(data) == {host["published"]["la2o3"]}
    data = listed(get(host, "/3/footprints", productId=urn("PRND-OXIDE").upper()))       # case-insensitive
    assert ids(data) == {host["published"]["prnd-oxide"], host["first"]}


def test_case_21_filter_by_company_id(host: dict[str, Any]) -> None:
    assert ids(listed(get(host, "/3/footprints", companyId=ORG_URN))) == active_ids(host) | {host["first"]}


def test_case_22_filter_by_geography(host: dict[str, Any]) -> None:
    everything = active_ids(host) | {host["first"]}
    assert ids(listed(get(host, "/3/footprints", geography="CN"))) == everything
    assert ids(listed(get(host, "/3/footprints", geography="cn"))) == everything


def test_case_23_filter_by_classification(host: dict[str, Any]) -> None:
    data = listed(get(host, "/3/footprints", classification=HS_MAGNET))
    assert ids(data) == {host["published"]["ndfeb-magnet-recycled"]}
    assert all(HS_MAGNET in d["productClassifications"] for d in data)


def validity(h: dict[str, Any], product: str) -> tuple[str, str]:
    p = h["payloads"][product]
    return p["validityPeriodStart"], p["validityPeriodEnd"]


def shifted(text: str, seconds: int) -> str:
    return pact.iso(pact.parse_time(text) + timedelta(seconds=seconds))


def test_case_24_filter_by_valid_on(host: dict[str, Any]) -> None:
    start, _ = validity(host, "la2o3")
    data = listed(get(host, "/3/footprints", validOn=start))
    assert host["published"]["la2o3"] in ids(data)
    for d in data:
        assert d["validityPeriodStart"] <= start <= d["validityPeriodEnd"]


def test_case_25_filter_by_valid_after(host: dict[str, Any]) -> None:
    start, _ = validity(host, "la2o3")
    data = listed(get(host, "/3/footprints", validAfter=shifted(start, -1)))
    assert host["published"]["la2o3"] in ids(data)
    assert all(d["validityPeriodStart"] > shifted(start, -1) for d in data)
    assert host["published"]["la2o3"] not in ids(listed(get(host, "/3/footprints", validAfter=start)))


def test_case_26_filter_by_valid_before(host: dict[str, Any]) -> None:
    _, end = validity(host, "la2o3")
    data = listed(get(host, "/3/footprints", validBefore=shifted(end, 1)))
    assert host["published"]["la2o3"] in ids(data)
    assert host["published"]["la2o3"] not in ids(listed(get(host, "/3/footprints", validBefore=end)))


def test_case_27_filter_by_status(host: dict[str, Any]) -> None:
    assert ids(listed(get(host, "/3/footprints", status="Active"))) == active_ids(host)
    deprecated = listed(get(host, "/3/footprints", status="Deprecated"))
    assert ids(deprecated) == {host["first"]} and deprecated[0]["status"] == "Deprecated"


def test_case_28_filter_by_status_and_product_id(host: dict[str, Any]) -> None:
    data = listed(get(host, "/3/footprints", status="Active", productId=urn("prnd-oxide")))
    assert ids(data) == {host["published"]["prnd-oxide"]}


def test_case_29_filter_by_several_company_ids_is_or(host: dict[str, Any]) -> None:
    r = host["client"].get("/3/footprints", headers=bearer(host), params=[
        ("companyId", ORG_URN), ("companyId", "urn:uuid:other-company"), ("companyId", "urn:uuid:another-company")])
    assert ids(listed(r)) == active_ids(host) | {host["first"]}
    r = host["client"].get("/3/footprints", headers=bearer(host), params=[
        ("productId", urn("la2o3")), ("productId", urn("prnd-metal")), ("geography", "DE"), ("geography", "CN")])
    assert ids(listed(r)) == {host["published"]["la2o3"], host["published"]["prnd-metal"]}


# ------------------------------------------------------------------ #30–#39: filters, negative; #40

@pytest.mark.parametrize("case,params", [
    (30, [("productId", "urn:bogus:product:nonexistent123")]),
    (31, [("companyId", "urn:bogus:company:nonexistent456")]),
    (32, [("geography", "XX")]),
    (33, [("classification", "urn:bogus:classification:nonexistent789")]),
    (34, [("validOn", "1900-01-01T00:00:00Z")]),
    (35, [("validAfter", "2099-12-31T23:59:59Z")]),
    (36, [("validBefore", "1900-01-01T00:00:00Z")]),
    (37, [("status", "BogusStatusValue")]),
    (38, [("companyId", "urn:bogus:company:5FIi8zS3"), ("productId", "urn:bogus:product:nonexistent123")]),
    (39, [("companyId", "urn:bogus:company:nonexistent1"), ("companyId", "urn:bogus:company:nonexistent2"),
          ("companyId", "urn:bogus:company:nonexistent3")]),
])
def test_cases_30_to_39_negative_filters_give_an_empty_list(host: dict[str, Any], case: int,
                                                            params: list[tuple[str, str]]) -> None:
    r = host["client"].get("/3/footprints", headers=bearer(host), params=params)
    assert listed(r) == []
    assert "link" not in r.headers
    assert r.json() == {"data": []}


def test_a_filter_and_an_existing_value_is_still_and(host: dict[str, Any]) -> None:
    r = host["client"].get("/3/footprints", headers=bearer(host),
                           params=[("companyId", ORG_URN), ("productId", "urn:bogus:product:nonexistent123")])
    assert listed(r) == []


def test_case_40_odata_filter_is_a_bad_request(host: dict[str, Any]) -> None:
    r = host["client"].get("/3/footprints", headers=bearer(host),
                           params={"$filter": "created ge '2023-01-15T10:15:30Z'"})
    assert r.status_code == 400 and "data" not in r.json()
    error(r, 400, "NotImplemented")
    error(get(host, "/3/footprints", unknownParameter="1"), 400, "BadRequest")
    error(get(host, "/3/footprints", validOn="yesterday"), 400, "BadRequest")


# ------------------------------------------------------------------ access: grants, organisations, revocation

def test_a_client_sees_only_its_grants_and_never_another_organisation(host: dict[str, Any]) -> None:
    magnet = host["published"]["ndfeb-magnet"]
    error(get(host, f"/3/footprints/{magnet}"), 403, "AccessDenied")                 # demo's, not granted to a
    assert magnet not in ids(listed(get(host, "/3/footprints")))
    assert ids(listed(get(host, "/3/footprints", "other"))) == {magnet}                # granted to "other" only
    assert one(get(host, f"/3/footprints/{magnet}", "other"))["id"] == magnet
    everything = ids(listed(get(host, "/3/footprints", "all")))
    assert everything == active_ids(host, PUBLISHED) | {host["first"]}
    # beta's client sees beta's footprint only; demo's ids are unknown to it, and beta's to demo's clients
    assert ids(listed(get(host, "/3/footprints", "b"))) == {host["beta"]}
    error(get(host, f"/3/footprints/{host['published']['prnd-oxide']}", "b"), 404, "NotFound")
    for who in ("a", "all", "other"):
        error(get(host, f"/3/footprints/{host['beta']}", who), 404, "NotFound")
        assert host["beta"] not in ids(listed(get(host, "/3/footprints", who)))
    # nothing granted: access denied; no response names another client or its grants
    error(get(host, "/3/footprints", "none"), 403, "AccessDenied")
    texts = [get(host, "/3/footprints", w).text for w in ("a", "other", "all", "b")]
    for cid, _ in host["creds"].values():
        assert not any(cid in t for t in texts)


def test_a_withdrawn_grant_takes_effect_at_once(host: dict[str, Any]) -> None:
    metal = host["published"]["prnd-metal"]
    cid = host["creds"]["a"][0]
    with session_scope(host["engine"]) as s:
        pact.ungrant(s, "demo", cid, "prnd-metal", "test")
    try:
        error(get(host, f"/3/footprints/{metal}"), 403, "AccessDenied")
        assert metal not in ids(listed(get(host, "/3/footprints")))
    finally:
        with session_scope(host["engine"]) as s:
            pact.grant(s, "demo", cid, "prnd-metal", "test")
    assert one(get(host, f"/3/footprints/{metal}"))["id"] == metal


def test_a_revoked_client_gets_access_denied(host: dict[str, Any], tmp_path: Path) -> None:
    with session_scope(host["engine"]) as s:
        c, secret = pact.add_client(s, "demo", "Soon revoked", "test", [], ["*"])
        cid = c.client_id
    tok = token(host["client"], cid, secret)
    assert listed(host["client"].get("/3/footprints", headers={"Authorization": f"Bearer {tok}"}))
    with session_scope(host["engine"]) as s:
        pact.revoke_client(s, "demo", cid, "test")
    error(host["client"].get("/3/footprints", headers={"Authorization": f"Bearer {tok}"}), 403, "AccessDenied")
    pid = host["published"]["prnd-oxide"]
    error(host["client"].get(f"/3/footprints/{pid}", headers={"Authorization": f"Bearer {tok}"}), 403,
          "AccessDenied")
    r = host["client"].post("/auth/token", content=b"grant_type=client_credentials", headers=basic(cid, secret))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


# ------------------------------------------------------------------ lifecycle, v2.3, errors

def test_a_new_publication_deprecates_the_previous_one(host: dict[str, Any]) -> None:
    old = one(get(host, f"/3/footprints/{host['first']}"))
    new = one(get(host, f"/3/footprints/{host['published']['prnd-oxide']}"))
    assert old["status"] == "Deprecated" and new["status"] == "Active"
    assert new["precedingPfIds"] == [old["id"]] and "precedingPfIds" not in old
    assert "verification" not in old["pcf"] and "verification" in new["pcf"]      # the year was locked in between
    assert old["pcf"]["pcfExcludingBiogenicUptake"] == new["pcf"]["pcfExcludingBiogenicUptake"]
    assert {k: v for k, v in old.items() if k not in ("status",)} != new


def test_v2_read_only_for_v23_recipients(host: dict[str, Any]) -> None:
    pid = host["published"]["ndfeb-magnet-recycled"]
    r = get(host, f"/2/footprints/{pid}")
    assert r.status_code == 200, r.text
    schema_ok(r.json(), GET_200_V2, "v2")
    v2 = r.json()["data"]
    v3 = host["payloads"]["ndfeb-magnet-recycled"]
    assert v2["pcf"]["pCfExcludingBiogenic"] == v3["pcf"]["pcfExcludingBiogenicUptake"]
    assert v2["productCategoryCpc"] == "46950" and v2["specVersion"].startswith("2.")
    r = get(host, "/2/footprints")
    schema_ok(r.json(), LIST_200_V2, "v2")
    assert ids(r.json()["data"]) == {pid}                                   # the only product with a CPC code
    error(get(host, f"/2/footprints/{host['published']['la2o3']}"), 404, "NotFound")


def test_unknown_routes_answer_in_the_pact_error_shape(host: dict[str, Any]) -> None:
    error(get(host, "/3/nothing-here"), 404, "NotFound")
    r = host["client"].delete(f"/3/footprints/{host['published']['la2o3']}", headers=bearer(host))
    assert r.status_code == 405 and r.json()["code"] == "BadRequest"
