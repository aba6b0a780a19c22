"""HTTP API: one error shape, roles, and no route lets one organisation see or change another's data."""

import warnings

import pytest
from sqlalchemy import Engine

from conftest import make_org
from rareeco.ledger import tokens
from rareeco.ledger.db import session_scope

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

CSV = ("site,period_start,period_end,activity,amount,unit\n"
       "baotou,2024-01-01,2024-01-31,electricity.grid,100,MWh\n"
       "baotou,2024-01-01,2024-01-31,fuel.diesel,2,t\n")
SECRET_FILE = "acme-secret-file.csv"
# 2023: a line that makes la2o3, so the footprint routes have a product to show (every row on the line)
PRODUCTION = ("site,line,product,period_start,period_end,activity,amount,unit\n"
              "baotou,sep,la2o3,2023-01-01,2023-12-31,production.output,10,t\n"
              "baotou,sep,,2023-01-01,2023-12-31,electricity.grid,50,MWh\n")


@pytest.fixture
def api(engine: Engine) -> tuple[TestClient, dict[str, dict[str, str]], int]:
    make_org(engine, "acme")
    make_org(engine, "other")
    with session_scope(engine) as s:
        toks = {name: tokens.create(s, org, name, role) for name, org, role in (
            ("acme", "acme", "admin"), ("other", "other", "admin"), ("acme-viewer", "acme", "viewer"),
            ("acme-steward", "acme", "steward"))}
    client = TestClient(create_app(engine=engine))
    headers = {k: {"Authorization": f"Bearer {v}"} for k, v in toks.items()}
    r = client.post("/api/v1/orgs/acme/imports", headers=headers["acme"],
                    files={"file": (SECRET_FILE, CSV.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    batch_id = r.json()["batch_id"]
    r = client.post("/api/v1/orgs/acme/imports", headers=headers["acme"],
                    files={"file": ("acme-production-2023.csv", PRODUCTION.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    return client, headers, batch_id


def assert_error_shape(body: dict) -> None:  # type: ignore[type-arg]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fix", "findings"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def org_routes(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if path.startswith("/api/v1/orgs/{org}"):
            for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
                out.append((method, path))
    return out


def fill(path: str, org: str, batch_id: int) -> str:
    year = "2023" if "/footprints/" in path else "2024"        # the year acme made la2o3
    return (path.replace("{org}", org).replace("{year}", year).replace("{batch_id}", str(batch_id))
            .replace("{period}", "2024").replace("{product}", "la2o3"))


def call(client: TestClient, method: str, url: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(url, headers=headers)
    if url.endswith("/imports"):
        return client.post(url, headers=headers, files={"file": ("x.csv", CSV.replace("100", "7").encode())})
    if url.endswith("/sites"):
        return client.post(url, headers=headers, json={"code": "intruder", "province": "CN-NM"})
    return client.post(url, headers=headers, json={"comment": "x"})


def test_every_org_route_is_closed_to_other_organisations(api) -> None:  # type: ignore[no-untyped-def]
    client, headers, batch_id = api
    routes = org_routes(client)
    assert len(routes) >= 16
    assert ("GET", "/api/v1/orgs/{org}/footprints/{year}/{product}") in routes
    before = client.get("/api/v1/orgs/acme/audit?limit=1000", headers=headers["acme"]).json()
    for method, path in routes:
        r = call(client, method, fill(path, "acme", batch_id), headers["other"])
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert_error_shape(r.json())
        assert SECRET_FILE not in r.text and "acme-secret" not in r.text
    after = client.get("/api/v1/orgs/acme/audit?limit=1000", headers=headers["acme"]).json()
    assert after == before                                     # nothing changed in acme
    assert client.get("/api/v1/orgs/acme/imports", headers=headers["acme"]).json()[0]["file_name"] == SECRET_FILE


def test_every_org_route_answers_its_own_organisation(api) -> None:  # type: ignore[no-untyped-def]
    client, headers, batch_id = api
    for method, path in org_routes(client):
        if path.endswith("/unlock"):
            continue                                            # needs a lock first: see test below
        r = call(client, method, fill(path, "acme", batch_id), headers["acme"])
        assert r.status_code in (200, 201), (method, path, r.text)


def test_without_token_or_with_a_bad_one(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    for h in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = client.get("/api/v1/orgs/acme/sites", headers=h)
        assert r.status_code == 401
        assert_error_shape(r.json())


def test_roles(api) -> None:  # type: ignore[no-untyped-def]
    client, headers, _ = api
    r = client.post("/api/v1/orgs/acme/imports", headers=headers["acme-viewer"],
                    files={"file": ("v.csv", CSV.replace("100", "9").encode())})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.post("/api/v1/orgs/acme/periods/2024/lock", headers=headers["acme-steward"], json={"comment": ""})
    assert r.status_code == 403
    assert client.get("/api/v1/orgs/acme/inventory/2024", headers=headers["acme-viewer"]).status_code == 200


def test_import_errors_lock_and_unlock_over_http(api) -> None:  # type: ignore[no-untyped-def]
    client, headers, batch_id = api
    h = headers["acme"]
    r = client.post("/api/v1/orgs/acme/imports", headers=h, files={"file": ("a.csv", CSV.encode())})
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_import"
    bad = CSV.replace("100,MWh", "100,t")
    r = client.post("/api/v1/orgs/acme/imports", headers=h, files={"file": ("bad.csv", bad.encode())})
    assert r.status_code == 422
    [f] = [f for f in r.json()["error"]["findings"] if f["severity"] == "blocking"]
    assert (f["file"], f["row"], f["column"], f["code"]) == ("bad.csv", 2, "unit", "unit_mismatch")
    inv = client.get("/api/v1/orgs/acme/inventory/2024", headers=h).json()
    assert inv["scope2_location_t_co2e"] == pytest.approx(100 * 0.6361)
    r = client.post("/api/v1/orgs/acme/periods/2024/lock", headers=h, json={"comment": "verified"})
    assert r.status_code == 201 and r.json()["total_t_co2e"] == pytest.approx(inv["total_t_co2e"])
    r = client.post("/api/v1/orgs/acme/imports", headers=h,
                    files={"file": ("late.csv", CSV.replace("100", "5").encode())})
    assert r.status_code == 422
    assert {f["code"] for f in r.json()["error"]["findings"] if f["severity"] == "blocking"} == {"period_locked"}
    r = client.post("/api/v1/orgs/acme/periods/2024/unlock", headers=h, json={"comment": ""})
    assert r.status_code == 422                                  # a comment is required
    r = client.post("/api/v1/orgs/acme/periods/2024/unlock", headers=h, json={"comment": "reopened"})
    assert r.status_code == 200
    assert client.get("/api/v1/orgs/acme/audit/verify", headers=h).json()["ok"] is True


def test_error_shape_for_unknown_routes_and_bad_parameters(api) -> None:  # type: ignore[no-untyped-def]
    client, headers, _ = api
    for r in (client.get("/api/v1/nope"), client.get("/api/v1/orgs/acme/inventory/abc", headers=headers["acme"]),
              client.get("/api/v1/orgs/acme/findings?limit=0", headers=headers["acme"])):
        assert r.status_code in (404, 422)
        assert_error_shape(r.json())


def test_openapi_document(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "rareeco API"
    assert "/api/v1/orgs/{org}/inventory/{year}" in spec["paths"]
    assert "/api/v1/orgs/{org}/imports" in spec["paths"]


def test_api_docs_load_nothing_from_the_internet(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    page = client.get("/api/v1/docs").text
    assert "/api/v1/docs/static/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert client.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200
