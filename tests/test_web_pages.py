"""Web pages (import, inventory, periods, reference data, tokens) over HTTP: values worked out by hand, roles,
CSRF, the Chinese catalogue — and no page lets a user of one organisation see or change another's data."""

import re
import warnings
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select

import rareeco.web.routes  # noqa: F401  (registers the pages; app.py imports it too)
from conftest import make_org
from rareeco.ingest.activity import import_activity
from rareeco.ledger import accounts, periods, structure, tokens
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import (
    ActivityRecord,
    ApiToken,
    AuditEntry,
    FactorChoice,
    FactorSetRecord,
    ImportBatch,
    PendingUpload,
    PeriodLock,
    QuarantineRow,
    User,
)
from rareeco.reference.usersets import add_factor_set, choose_sets
from rareeco.web import i18n

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

PW = "correct horse battery"
H = "site,period_start,period_end,activity,amount,unit,line,product,note\n"
GOOD = H + "baotou,2024-03-01,2024-03-31,electricity.grid,100,MWh,sep,,\n"
BAD = H + ("baotuo,2024-03-01,2024-03-31,electricity.grid,100,MWh,,,\n"          # row 2: unknown site
           "baotou,2024-03-01,2024-03-31,electricity.grid,<i>abc,MWh,,,\n"      # row 3: amount not a number
           "baotou,2024-03-01,2024-03-31,electricity.grid,5,t,,,\n"             # row 4: a tonne of electricity
           "baotou,2024-13-01,2024-03-31,fuel.diesel,1,t,,,\n")                 # row 5: month 13
BAD_CELLS = {(2, "site"), (3, "amount"), (4, "unit"), (5, "period_start")}
BAOTOU_LOC = 0.6361        # t CO2/MWh, 2024 → latest year 2023, CN-NM has none → North China grid (test_inventory)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Form(HTMLParser):
    """Ids, label targets, form controls and table headers of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.controls: list[str | None] = []
        self.th_scopes: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a.get("id"))
        elif tag == "th":
            self.th_scopes.append(a.get("scope"))


def assert_accessible(html: str) -> None:
    """Every visible control has a <label for>, every table header a scope."""
    page = Form()
    page.feed(html)
    assert page.controls and all(c in page.labels for c in page.controls), page.controls
    assert None not in page.th_scopes


def users(engine: Engine, org: str, **roles: str) -> None:
    with session_scope(engine) as s:
        for name, role in roles.items():
            if s.execute(select(func.count()).select_from(User)
                         .where(User.username == name)).scalar_one() == 0:
                accounts.create_user(s, name, PW)
            accounts.grant(s, name, org, role)


def sign_in(app: Any, username: str) -> tuple[TestClient, str]:
    """A browser signed in as ``username`` and its CSRF token (read from a page, as a browser would)."""
    client = TestClient(app)
    r = client.post("/login", data={"username": username, "password": PW}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client, csrf_of(client)


def csrf_of(client: TestClient) -> str:
    m = CSRF.search(client.get("/periods").text)
    assert m is not None
    return m.group(1)


def upload(client: TestClient, token: str, name: str, text: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/import/check", data={"csrf_token": token, **form},
                       files={"file": (name, text.encode(), "text/csv")})


def count(engine: Engine, model: Any, org: str = "acme") -> int:
    with session_scope(engine) as s:
        return int(s.execute(select(func.count()).select_from(model).where(model.org_id == org)).scalar_one())


def cell(html: str, key: str, method: str = "ghg-protocol") -> str:
    m = re.search(rf'data-key="{key}" data-method="{method}">([^<]*)<', html)
    assert m is not None, key
    return m.group(1)


def findings(html: str) -> set[tuple[str, int, str]]:
    return {(c, int(r), col) for c, r, col in
            re.findall(r'class="finding \w+" data-code="(\w+)" data-row="(\d+)" data-column="(\w+)"', html)}


@pytest.fixture
def acme(engine: Engine) -> Any:
    make_org(engine, "acme")
    users(engine, "acme", stew="steward", veri="verifier", view="viewer", boss="admin")
    return create_app(engine=engine, demo_mode=False)


def test_check_lists_every_finding_then_confirm_imports_and_totals_match(engine: Engine, acme: Any) -> None:
    client, token = sign_in(acme, "stew")
    audit_before = count(engine, AuditEntry)
    r = upload(client, token, "march.csv", BAD)
    assert r.status_code == 200
    assert {(row, col) for _, row, col in findings(r.text)} == BAD_CELLS
    assert {c for c, _, _ in findings(r.text)} == {"unknown_site", "malformed_number", "unit_mismatch",
                                                   "malformed_date"}
    assert "unknown site &#39;baotuo&#39;" in r.text and 'action="/import/confirm"' not in r.text
    assert "&lt;i&gt;abc" in r.text and "<i>abc" not in r.text          # cell text is escaped, never markup
    # the dry run stored nothing: no batch, no records, no audit entry, nothing pending
    assert (count(engine, ImportBatch), count(engine, ActivityRecord), count(engine, PendingUpload)) == (0, 0, 0)
    assert count(engine, AuditEntry) == audit_before

    r = upload(client, token, "march.csv", GOOD)                # the corrected file, same name
    assert r.status_code == 200 and 'id="check-ok"' in r.text and not findings(r.text)
    assert (count(engine, ImportBatch), count(engine, PendingUpload)) == (0, 1)
    pending = re.search(r'name="pending_id" value="(\d+)"', r.text)
    assert pending is not None
    r = client.post("/import/confirm", data={"csrf_token": token, "pending_id": pending.group(1)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/import?imported=")
    page = client.get(r.headers["location"]).text
    with session_scope(engine) as s:
        b = s.execute(select(ImportBatch)).scalar_one()
        assert (b.file_name, b.rows_stored, b.imported_by, b.status) == ("march.csv", 1, "stew", "active")
    assert f'data-batch="{b.id}"' in page and b.sha256[:12] in page
    assert count(engine, PendingUpload) == 0

    expected = 100 * BAOTOU_LOC                                  # 63.61 t CO2e, scope 2 location-based
    inv = client.get("/inventory?year=2024").text
    assert cell(inv, "total_t_co2e") == i18n.number(expected, "en", 3) == "63.610"
    assert cell(inv, "scope2_location_t_co2e", "cn-2015") == "63.610"   # same grid factor in both methods
    assert cell(inv, "scope2_market_t_co2e") == "60.960"                # 100 MWh × 0.6096 residual
    assert re.search(r'data-key="total_t_co2e"><h2>[^<]*</h2><p class="big">63\.6<', client.get("/").text)
    # drill down to the row and the factor behind the number
    drill = client.get("/inventory?year=2024&site=baotou&line=sep&month=2024-03&activity=electricity.grid").text
    assert 'data-key="records_t_co2e">63.610<' in drill and "march.csv" in drill and "100 MWh" in drill
    assert 'data-factor="grid.north.2023"' in drill and "0.6361" in drill and 'data-tag="V"' in drill
    frag = client.get("/inventory/explain?year=2024&site=baotou&line=sep&month=2024-03&activity=electricity.grid")
    assert frag.status_code == 200 and "<html" not in frag.text and "grid.north.2023" in frag.text
    levels = [client.get(u).text for u in ("/inventory?year=2024", "/inventory?year=2024&site=baotou",
                                           "/inventory?year=2024&site=baotou&line=sep")]
    assert all("63.610" in t for t in levels) and 'data-level="month"' in levels[2]

    # a replacement: 120 MWh → 76.332 t, the old batch superseded, counted once
    r = upload(client, token, "march-v2.csv", GOOD.replace(",100,", ",120,"), replace=str(b.id))
    pending = re.search(r'name="pending_id" value="(\d+)"', r.text)
    assert pending is not None
    client.post("/import/confirm", data={"csrf_token": token, "pending_id": pending.group(1)})
    assert cell(client.get("/inventory?year=2024").text, "total_t_co2e") == "76.332"   # 120 × 0.6361
    assert "superseded by batch" in client.get("/import").text

    # the verifier locks 2024; a new file for 2024 is then refused by the check, naming row and column
    verifier, vtoken = sign_in(acme, "veri")
    r = verifier.post("/periods/lock", data={"csrf_token": vtoken, "period": "2024", "comment": "verified V-17"},
                      follow_redirects=False)
    assert r.status_code == 303
    assert 'data-period="2024" data-state="locked"' in verifier.get("/periods").text
    r = upload(client, token, "late.csv", GOOD.replace(",100,", ",7,"))
    assert ("period_locked", 2, "period_start") in findings(r.text)
    assert "falls in the locked period 2024" in r.text and 'action="/import/confirm"' not in r.text
    assert count(engine, ImportBatch) == 2
    r = verifier.post("/periods/unlock", data={"csrf_token": vtoken, "period": "2024", "comment": " "})
    assert r.status_code == 422 and "unlocking needs a comment" in r.text
    r = verifier.post("/periods/unlock", data={"csrf_token": vtoken, "period": "2024", "comment": "restated"})
    assert r.status_code == 200 and 'data-state="unlocked"' in r.text and "restated" in r.text


def test_partial_import_shows_quarantined_rows(engine: Engine, acme: Any) -> None:
    client, token = sign_in(acme, "stew")
    r = upload(client, token, "partial.csv", GOOD + "nowhere,2024-04-01,2024-04-30,fuel.diesel,1,t,,,\n", partial="1")
    assert ("unknown_site", 3, "site") in findings(r.text) and 'id="check-ok"' in r.text
    pending = re.search(r'name="pending_id" value="(\d+)"', r.text)
    assert pending is not None and 'name="partial" value="1"' in r.text
    page = client.post("/import/confirm", data={"csrf_token": token, "pending_id": pending.group(1),
                                                "partial": "1"}).text
    assert count(engine, QuarantineRow) == 1 and "site=nowhere" in page and "unknown site" in page
    # cancel drops a checked file
    r = upload(client, token, "other.csv", GOOD.replace("03-", "05-"))
    pending = re.search(r'name="pending_id" value="(\d+)"', r.text)
    assert pending is not None and count(engine, PendingUpload) == 1
    client.post("/import/cancel", data={"csrf_token": token, "pending_id": pending.group(1)})
    assert count(engine, PendingUpload) == 0 and count(engine, ImportBatch) == 1


def test_roles_viewer_cannot_upload_or_lock_and_only_admins_see_tokens(engine: Engine, acme: Any) -> None:
    viewer, token = sign_in(acme, "view")
    assert 'action="/import/check"' not in viewer.get("/import").text
    r = upload(viewer, token, "v.csv", GOOD)
    assert r.status_code == 403 and "You may not do this" in r.text and "Traceback" not in r.text
    r = viewer.post("/periods/lock", data={"csrf_token": token, "period": "2024", "comment": "x"})
    assert r.status_code == 403
    for path in ("/inventory", "/periods", "/reference", "/import"):
        assert viewer.get(path).status_code == 200
    assert viewer.get("/tokens").status_code == 403
    r = viewer.post("/tokens/create", data={"csrf_token": token, "name": "sneaky", "role": "admin"})
    assert r.status_code == 403
    steward, stoken = sign_in(acme, "stew")
    assert steward.get("/tokens").status_code == 403
    assert steward.post("/periods/lock", data={"csrf_token": stoken, "period": "2024"}).status_code == 403
    assert (count(engine, ImportBatch), count(engine, PendingUpload), count(engine, PeriodLock),
            count(engine, ApiToken)) == (0, 0, 0, 0)


def test_post_without_a_valid_csrf_token_is_refused(engine: Engine, acme: Any) -> None:
    client, token = sign_in(acme, "boss")
    audit_before = count(engine, AuditEntry)
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post("/periods/lock", data={**data, "period": "2024", "comment": "x"})
        assert r.status_code == 403 and "CSRF" in r.text
        assert upload(client, data.get("csrf_token", ""), "c.csv", GOOD).status_code == 403
        assert client.post("/tokens/create", data={**data, "name": "t"}).status_code == 403
        assert client.post("/reference/choose", data={**data, "year": "2024"}).status_code == 403
    assert (count(engine, PeriodLock), count(engine, PendingUpload), count(engine, ApiToken),
            count(engine, FactorChoice)) == (0, 0, 0, 0)
    assert count(engine, AuditEntry) == audit_before
    # htmx sends the token as a header instead of a form field
    r = client.post("/periods/lock", data={"period": "2024-02", "comment": "x"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and count(engine, PeriodLock) == 1


def test_chinese_pages(engine: Engine, acme: Any) -> None:
    client, token = sign_in(acme, "view")
    client.post("/lang", data={"csrf_token": token, "lang": "zh", "next": "/inventory"})
    inv = client.get("/inventory").text
    assert "范围一" in inv and "两种方法的合计" in inv and 'lang="zh-CN"' in inv
    assert "导入活动数据" in client.get("/import").text and "审计日志" in client.get("/periods").text
    assert "已在原始或权威来源中核实" in client.get("/reference").text
    refused = client.get("/tokens")
    assert refused.status_code == 403 and "您无权执行此操作" in refused.text and "查看者" in refused.text
    forged = client.post("/periods/lock", data={"csrf_token": "x", "period": "2024"})
    assert "表单已过期（CSRF 校验失败）" in forged.text


def test_reference_sets_and_tokens(engine: Engine, acme: Any) -> None:
    client, token = sign_in(acme, "boss")
    with session_scope(engine) as s:
        import_activity(s, "acme", (H + "baotou,2024-03-01,2024-03-31,purchased.hcl,5,t,,,\n").encode(), "hcl.csv")
    fs = ("# title: Supplier PCF\nfactor_id,kind,key,gas,value,unit,source,tag,version\n"
          "hcl1,purchased_ef,hcl,CO2e,300,kg CO2e/t,supplier PCF 2024,U,1\n")
    r = client.post("/reference/add", data={"csrf_token": token, "set_id": "supplier"},
                    files={"file": ("supplier.csv", fs.encode(), "text/csv")})
    assert r.status_code == 200 and 'data-set="supplier"' in r.text and "supplier PCF 2024" in r.text
    bad = fs.replace(",U,1", ",X,1")
    r = client.post("/reference/add", data={"csrf_token": token},
                    files={"file": ("broken.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422 and ("factor_invalid", 2, "tag") in findings(r.text)
    assert count(engine, FactorSetRecord) == 1
    assert cell(client.get("/inventory?year=2024").text, "scope3_t_co2e") == "0.000"   # not chosen yet
    r = client.post("/reference/choose", data={"csrf_token": token, "sets": ["supplier"], "year": "2024"})
    assert r.status_code == 200 and re.search(r'data-year="2024"><th scope="row">2024</th><td><code>supplier', r.text)
    assert cell(client.get("/inventory?year=2024").text, "scope3_t_co2e") == "1.500"   # 5 t × 300 kg/t

    r = client.post("/tokens/create", data={"csrf_token": token, "name": "erp", "role": "steward"})
    found = re.search(r'id="new-token" readonly size="64" value="(rk_acme_[^"]+)"', r.text)
    assert r.status_code == 200 and found is not None
    api = {"Authorization": f"Bearer {found.group(1)}"}
    assert client.get("/api/v1/orgs/acme/sites", headers=api).status_code == 200
    listing = client.get("/tokens").text
    assert found.group(1) not in listing and "erp" in listing               # shown once
    token_id = re.search(r'data-token="(\d+)" data-state="active"', listing)
    assert token_id is not None
    client.post("/tokens/revoke", data={"csrf_token": token, "token_id": token_id.group(1)})
    assert client.get("/api/v1/orgs/acme/sites", headers=api).status_code == 401
    assert 'data-state="revoked"' in client.get("/tokens").text

    client.post("/periods/lock", data={"csrf_token": token, "period": "2024-01", "comment": "x"})
    check = upload(client, token, "a11y.csv", BAD).text
    drill = "/inventory?year=2024&site=baotou&line=(site)&month=2024-03&activity=purchased.hcl"
    for html in [check] + [client.get(u).text for u in ("/import", "/periods", "/reference", "/tokens", "/", drill)]:
        assert_accessible(html)


# ------------------------------------------------------------------ isolation between organisations

A_FILE, A_SITE, A_TOKEN, A_COMMENT = "alpha-secret-ledger.csv", "alpha-mine", "alpha-token-name", "alpha-lock-note"
A_PRODUCT = "alpha-secret-oxide"          # asked for by name in the URL (so echoed in links); its name must not show
A_MARKERS = (A_FILE, A_SITE, A_TOKEN, A_COMMENT, "Alpha Rare Earth", "Alpha private factors", "alpha-pending.csv",
             "alpha-quarantine-note", "alpha-partial.csv", "0.424242", "4321 MWh", "=4321", "4,321", "2,748",
             "Alpha secret oxide name")


def walk(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, also inside included routers (newer FastAPI keeps them nested)."""
    out: list[tuple[str, set[str]]] = []
    for route in routes:
        sub = getattr(route, "original_router", None)
        if sub is not None:
            out += walk(sub.routes, prefix + getattr(getattr(route, "include_context", None), "prefix", ""))
        else:
            out.append((prefix + getattr(route, "path", ""), set(getattr(route, "methods", None) or ())))
    return out


def page_routes(app: Any) -> list[tuple[str, str]]:
    """Every GET and POST route of the pages: all but the API, the static files and the sign-in form."""
    out = {(method, path) for path, methods in walk(app.routes) for method in methods & {"GET", "POST"}
           if path and not path.startswith(("/api", "/static", "/login"))}
    return sorted(out, key=lambda mp: (mp[1] == "/logout", mp))      # signing out last


PAGE_ROUTES = page_routes(create_app(engine=create_engine("sqlite://")))


def two_orgs(engine: Engine) -> dict[str, Any]:
    """Organisation alpha full of data (batches, quarantine, lock, token, factor set, a pending upload) and
    organisation beta with a little; bob is an admin of beta only, carol belongs to both."""
    with session_scope(engine) as s:
        structure.create_org(s, "alpha", "Alpha Rare Earth Co")
        structure.add_site(s, "alpha", A_SITE, "CN-NM")
        structure.add_product(s, "alpha", A_PRODUCT, "Alpha secret oxide name")
        structure.create_org(s, "beta", "Beta Metals")
        structure.add_site(s, "beta", "baotou", "CN-NM")
    users(engine, "alpha", alice="admin", carol="viewer")
    users(engine, "beta", bob="admin", carol="admin")
    with session_scope(engine) as s:
        import_activity(s, "beta", (H + "baotou,2024-03-01,2024-03-31,electricity.grid,10,MWh,,,\n").encode(),
                        "beta.csv", "bob")
        a = import_activity(s, "alpha", (H + f"{A_SITE},2024-03-01,2024-03-31,electricity.grid,4321,MWh,,,\n")
                            .encode(), A_FILE, "alice")
        import_activity(s, "alpha", (H + f"{A_SITE},2024-04-01,2024-04-30,fuel.diesel,1,t,,,\n"
                                     "nowhere,2024-04-01,2024-04-30,fuel.diesel,1,t,,,alpha-quarantine-note\n")
                        .encode(), "alpha-partial.csv", "alice", partial=True)
        add_factor_set(s, "alpha", "# title: Alpha private factors\nfactor_id,kind,key,gas,value,unit,source,tag,"
                       "version\nal1,purchased_ef,hcl,CO2e,0.424242,t CO2e/t,alpha supplier,U,1\n", "alpha-set",
                       "alice")
        choose_sets(s, "alpha", ["alpha-set"], 2024, "alice")
        tokens.create(s, "alpha", A_TOKEN, "admin", "alice")
        alice = accounts.get_user(s, "alice")
        s.add(PendingUpload(org_id="alpha", user_id=alice.id, file_name="alpha-pending.csv", content=b"x",
                            replace_batch=None, created_at=structure.now()))
    with session_scope(engine) as s:
        periods.lock(s, "alpha", "2023", "alice", A_COMMENT)
        pending = s.execute(select(PendingUpload.id)).scalar_one()
        tok = s.execute(select(ApiToken.id)).scalar_one()
    return {"batch": a.batch_id, "sha": a.sha256[:12], "pending": pending, "token": tok}


def state(engine: Engine, org: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        def rows(*cols: Any) -> list[Any]:
            model = cols[0].class_
            return [tuple(r) for r in s.execute(select(*cols).where(model.org_id == org).order_by(cols[0])).all()]
        return {"batches": rows(ImportBatch.id, ImportBatch.status, ImportBatch.superseded_by_id),
                "records": rows(ActivityRecord.id, ActivityRecord.amount),
                "locks": rows(PeriodLock.id, PeriodLock.unlocked_at),
                "audit": rows(AuditEntry.seq, AuditEntry.hash),
                "tokens": rows(ApiToken.id, ApiToken.revoked_at),
                "pending": rows(PendingUpload.id),
                "choices": rows(FactorChoice.id),
                "sets": rows(FactorSetRecord.id),
                "quarantine": rows(QuarantineRow.id)}


def test_every_page_route_is_closed_to_other_organisations(engine: Engine) -> None:
    ids = two_orgs(engine)
    app = create_app(engine=engine, demo_mode=False)
    assert page_routes(app) == PAGE_ROUTES and len(PAGE_ROUTES) >= 18
    before = state(engine, "alpha")
    bob, token = sign_in(app, "bob")
    batch_markers = (f'batch-{ids["batch"]}"', f'replace={ids["batch"]}"', f'data-batch="{ids["batch"]}"',
                     f'data-token="{ids["token"]}"', ids["sha"])
    # every query and form field aims at alpha's objects: its site, batch, lock, token, factor set, pending file
    query = (f"?year=2024&site={A_SITE}&line=(site)&month=2024-03&activity=electricity.grid"
             f"&replace={ids['batch']}&imported={ids['batch']}")
    form = {"csrf_token": token, "replace": str(ids["batch"]), "pending_id": str(ids["pending"]),
            "token_id": str(ids["token"]), "period": "2023", "comment": "intrusion", "partial": "1",
            "sets": ["alpha-set"], "year": "2024", "set_id": "probe", "name": "probe", "role": "admin",
            "org": "alpha", "lang": "en", "next": "/"}
    probe = H + "baotou,2024-05-01,2024-05-31,electricity.grid,3,MWh,,,\n"
    for method, path in PAGE_ROUTES:
        if method == "GET":
            r = bob.get(path.replace("{fmt}", "pdf").replace("{product}", A_PRODUCT).replace("{epd_id}", "1")
                        .replace("{uuid}", "00000000-0000-4000-8000-000000000000").replace("{version}", "1") + query,
                        follow_redirects=False)
            named = any(k in path for k in ("{product}", "{epd_id}", "{uuid}")) \
                or path == "/compliance/data"   # one object (an outlet): not beta's
            assert r.status_code == (404 if named else 200), (path, r.status_code)
        else:
            r = bob.post(path, data=form, files={"file": ("probe.csv", probe.encode(), "text/csv")},
                         follow_redirects=False)
            assert r.status_code < 500, (path, r.status_code, r.text[:300])
        leaked = [m for m in A_MARKERS + batch_markers if m in r.text]
        assert not leaked, (method, path, leaked)
        if path == "/import/check":
            assert "no active batch" in r.text                      # replacing alpha's batch is refused
    assert state(engine, "alpha") == before
    again, _ = sign_in(app, "bob")                                  # bob still sees beta, and only beta
    assert "beta.csv" in again.get("/import").text


def test_a_member_of_both_switches_organisation(engine: Engine) -> None:
    two_orgs(engine)
    app = create_app(engine=engine, demo_mode=False)
    carol, token = sign_in(app, "carol")
    r = carol.post("/org", data={"csrf_token": token, "org": "beta", "next": "/import"})
    assert r.status_code == 200 and "beta.csv" in r.text and A_FILE not in r.text
    assert A_TOKEN not in carol.get("/tokens").text              # carol is beta's admin: beta's tokens only
    r = carol.post("/org", data={"csrf_token": token, "org": "alpha", "next": "/import"})
    assert A_FILE in r.text and "beta.csv" not in r.text and "alpha-quarantine-note" in r.text
    assert carol.get("/tokens").status_code == 403                 # a viewer in alpha
    inv = carol.get("/inventory?year=2024").text
    assert cell(inv, "scope2_location_t_co2e") == i18n.number(4321 * BAOTOU_LOC, "en", 3) == "2,748.588"
