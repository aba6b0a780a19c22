"""The meters page over HTTP (/energy/meters): the demo's tree with each meter's year, the sub-meter balance (the demo
is built with 4.0 % unaccounted every month), one meter's days and hours; the CSV upload (stored, refused with row
and column, repeated file, viewer refused, never a server error); the EnPI page's targets met and missed.

Expected values come from the ledger through :mod:`rareeco.energy.meters` and from the demo's construction (the
sub-meter shares 0.24 + 0.16 + 0.56 of meters.yaml, the targets of energy-targets.yaml), not from the page code.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import datetime
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import make_org
from rareeco.demo.load import load_demo
from rareeco.energy.meters import balance, meters, totals, tree
from rareeco.energy.service import enpi
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import Point, SeriesBatch
from rareeco.web import i18n
from test_web_pages import assert_accessible, sign_in, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

YEAR = 2025           # the demo's readings cover 2024 and 2025; uploads below add 2026, so pages name the year
GOOD = ("meter,timestamp,value\n"
        "BT-SEP-AGIT,2026-01-01T00:00:00,80.5\n"
        "BT-SEP-AGIT,2026-01-01T01:00:00,79.9\n"
        "BT-SEP-AGIT,2026-01-01T02:00:00,81.2\n")
BAD = ("meter,timestamp,value\n"
       "BT-SEP-AGTI,2026-02-01T00:00:00,80.5\n"            # row 2: no such meter
       "BT-SEP-AGIT,2026-02-01T01:00:00,8O.1\n"            # row 3: a letter O in the number
       "BT-SEP-AGIT,2026-02-31T02:00:00,81.2\n")           # row 4: 31 February
BAD_CELLS = {("unknown_meter", 2, "meter"), ("bad_value", 3, "value"), ("bad_timestamp", 4, "timestamp")}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo (viewer ``vic``, steward ``stew``, Chinese viewer ``zoe``) and ``acme`` without meters (``bob``)."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('metersweb') / 'ledger.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    make_org(eng, "acme")
    users(eng, "demo", vic="viewer", stew="steward", zoe="viewer")
    users(eng, "acme", bob="admin")
    return {"engine": eng, "app": create_app(engine=eng, demo_mode=False)}


@pytest.fixture(scope="module")
def en(ledger: dict[str, Any]) -> TestClient:
    return sign_in(ledger["app"], "vic")[0]


@pytest.fixture(scope="module")
def zh(ledger: dict[str, Any]) -> TestClient:
    client, token = sign_in(ledger["app"], "zoe")
    assert client.post("/lang", data={"lang": "zh", "csrf_token": token, "next": "/"},
                       follow_redirects=False).status_code == 303
    return client


@pytest.fixture(scope="module")
def steward(ledger: dict[str, Any]) -> tuple[TestClient, str]:
    return sign_in(ledger["app"], "stew")


def charts(html: str) -> Any:
    m = re.search(r'<script type="application/json" id="meters-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))


def row_cell(html: str, table: str, attr: str, value: str, key: str) -> str:
    """The text of ``data-key=key`` in the row ``data-attr=value`` of ``<table class="… table …">``."""
    t = re.search(rf'<table class="[^"]*\b{table}\b[^"]*"[^>]*>(.*?)</table>', html, re.S)
    assert t is not None, table
    row = re.search(rf'<tr data-{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', t.group(1), re.S)
    assert row is not None, (attr, value)
    m = re.search(rf'data-key="{key}"[^>]*>(?:<[^>]+>)?([^<]*)<', row.group(1))
    assert m is not None, (value, key)
    return unescape(m.group(1)).strip()


def upload(client: TestClient, token: str, name: str, text: str | bytes, stamp: str = "start"):  # type: ignore[no-untyped-def]
    body = text.encode() if isinstance(text, str) else text
    return client.post("/energy/meters/import", data={"csrf_token": token, "stamp": stamp, "year": str(YEAR)},
                       files={"file": (name, body, "text/csv")})


def stored(engine: Any) -> tuple[int, int]:
    """(meter batches, points) of the demo."""
    with session_scope(engine) as s:
        batches = s.execute(select(func.count()).select_from(SeriesBatch).where(SeriesBatch.org_id == "demo"))
        return int(batches.scalar_one()), int(s.execute(select(func.count()).select_from(Point)).scalar_one())


def findings(html: str) -> set[tuple[str, int, str]]:
    return {(c, int(r), col) for c, r, col in
            re.findall(r'class="finding \w+" data-code="(\w+)" data-row="(\d+)" data-column="(\w+)"', html)}


# ---------------------------------------------------------------- the page

def test_the_tree_with_each_meters_year(ledger: dict[str, Any], en: TestClient) -> None:
    with session_scope(ledger["engine"]) as s:
        expected = tree(s, "demo")
        ms = meters(s, "demo")
        t = totals(s, ms, "m", datetime(YEAR, 1, 1), datetime(YEAR + 1, 1, 1))
        units = {m.code: m.unit for m in ms}
    year_total = t.groupby("meter")["total"].sum()
    r = en.get("/energy/meters", params={"year": str(YEAR)})
    assert r.status_code == 200
    html = r.text
    assert_accessible(html)
    assert '<a href="/energy/meters" aria-current="page">Meters</a>' in html           # the energy sub-navigation
    rows = re.findall(r'<tr data-meter="([^"]+)" data-depth="(\d)"', html)
    assert rows == [(x["code"], str(x["depth"])) for x in expected]
    assert len(rows) == 10 and ("BT-SEP-AGIT", "1") in rows and ("BT-SEP-EL", "0") in rows
    for code, _ in rows:
        assert row_cell(html, "meter-tree", "meter", code, "total") == i18n.number(year_total[code], "en", 3)
        assert row_cell(html, "meter-tree", "meter", code, "unit") == units[code]
    assert units["BT-SEP-EL"] == "MWh" and units["BT-SEP-GAS"] == "Nm3"
    # the sub-meters read 0.24 + 0.16 + 0.56 = 96 % of their incomer over the year
    subs = sum(year_total[c] for c in ("BT-SEP-AGIT", "BT-SEP-PUMP", "BT-SEP-PROC"))
    assert subs / year_total["BT-SEP-EL"] == pytest.approx(0.96, abs=1e-6)
    assert row_cell(html, "meter-tree", "meter", "BT-SEP-AGIT", "role") == "sub-meter"


def test_the_sub_meter_balance_is_four_percent_every_month(ledger: dict[str, Any], en: TestClient) -> None:
    with session_scope(ledger["engine"]) as s:
        b = balance(s, "demo", "m", datetime(YEAR, 1, 1), datetime(YEAR + 1, 1, 1))
    assert [x["meter"] for x in b] == ["BT-SEP-EL"] * 12
    html = en.get("/energy/meters", params={"year": str(YEAR)}).text
    for x in b:
        month = str(int(x["period"][5:7]))
        assert row_cell(html, "balance", "month", month, "unaccounted_pct") == "4.0%"
        assert row_cell(html, "balance", "month", month, "main") == i18n.number(x["main"], "en", 3)
        assert row_cell(html, "balance", "month", month, "sub_total") == i18n.number(x["sub_total"], "en", 3)
        assert row_cell(html, "balance", "month", month, "missing") == "—"
    assert row_cell(html, "balance", "month", "", "unaccounted_pct") == "4.0%"        # the year
    chart = charts(html)["balances"][0]
    assert chart["meter"] == "BT-SEP-EL" and chart["unit"] == "MWh"
    assert chart["months"] == [f"{YEAR}-{m:02d}" for m in range(1, 13)]
    assert [s["code"] for s in chart["subs"]] == ["BT-SEP-AGIT", "BT-SEP-PUMP", "BT-SEP-PROC"]
    for i, x in enumerate(b):                                     # the stack adds up to the main meter
        stack = sum(s["values"][i] for s in chart["subs"]) + chart["unaccounted"][i]
        assert stack == pytest.approx(x["main"], abs=0.01)
        assert chart["unaccounted"][i] / x["main"] == pytest.approx(0.04, abs=1e-4)


def test_the_page_in_chinese(zh: TestClient) -> None:
    html = zh.get("/energy/meters", params={"year": str(YEAR)}).text
    assert '<html lang="zh-CN">' in html
    assert "<h1>计量表 2025</h1>" in html and "分表平衡" in html and "未计量差额" in html
    assert row_cell(html, "meter-tree", "meter", "BT-SEP-AGIT", "role") == "分表"
    assert "外购电网电力" in html                                   # the carrier's Chinese name
    assert row_cell(html, "balance", "month", "1", "unaccounted_pct") == i18n.percent(0.04, "zh")
    assert json.loads(re.search(r'id="meters-labels">(.*?)</script>', html).group(1))["unaccounted"] == "未计量差额"  # type: ignore[union-attr]
    assert 'data-state="read-only"' in html                        # a viewer


def test_a_meters_days_and_hours(ledger: dict[str, Any], en: TestClient) -> None:
    with session_scope(ledger["engine"]) as s:
        ms = meters(s, "demo")
        june = totals(s, [m for m in ms if m.code == "BT-SEP-AGIT"], "m", datetime(YEAR, 6, 1), datetime(YEAR, 7, 1))
    html = en.get("/energy/meters", params={"year": str(YEAR), "meter": "BT-SEP-AGIT", "month": "6"}).text
    assert 'value="BT-SEP-AGIT" selected' in html and 'value="6" selected' in html
    assert 'tr data-meter="BT-SEP-AGIT" data-depth="1" aria-current="true"' in html
    m = charts(html)["meter"]
    assert (m["code"], m["unit"], m["month"]) == ("BT-SEP-AGIT", "kWh", f"{YEAR}-06")
    assert m["days"] == list(range(1, 31)) and len(m["hours"]) == 30 * 24
    assert m["hours"][0] == f"{YEAR}-06-01 00:00" and m["hours"][-1] == f"{YEAR}-06-30 23:00"
    month_kwh = float(june["total"].iloc[0]) * 1000                 # the month roll-up, MWh → kWh
    assert sum(m["day_values"]) == pytest.approx(month_kwh, abs=0.1)
    assert sum(m["hour_values"]) == pytest.approx(month_kwh, abs=0.5)
    assert row_cell(html, "meter-days", "day", "1", "value") == i18n.number(m["day_values"][0], "en", 3)
    # "2025-06" is read as June too; a meter that is not one of the organisation's is ignored, and said so
    assert 'value="6" selected' in en.get("/energy/meters", params={"year": str(YEAR), "month": "2025-06"}).text
    other = en.get("/energy/meters", params={"year": str(YEAR), "meter": "<b>nope</b>", "month": "13"})
    assert other.status_code == 200 and 'data-state="unknown-meter"' in other.text and "<b>nope" not in other.text
    assert charts(other.text)["meter"]["code"] == "BT-SEP-EL"       # the first meter of the tree


def test_an_organisation_without_meters(ledger: dict[str, Any]) -> None:
    """acme sees none of the demo's meters, and cannot write readings into them."""
    bob, token = sign_in(ledger["app"], "bob")
    r = bob.get("/energy/meters", params={"year": "2024", "meter": "BT-SEP-EL", "month": "2024-03"})
    assert r.status_code == 200 and 'data-state="no-meters"' in r.text
    assert "BT-SEP-EL</a>" not in r.text and charts(r.text) == {}
    before = stored(ledger["engine"])
    r = upload(bob, token, "into-demo.csv", GOOD.replace("2026-01-01", "2026-07-01"))
    assert r.status_code == 422 and findings(r.text) == {("unknown_meter", n, "meter") for n in (2, 3, 4)}
    assert "not a meter of acme" in r.text and stored(ledger["engine"]) == before


# ---------------------------------------------------------------- the upload

def test_upload_stores_the_readings_then_refuses_the_same_file(ledger: dict[str, Any],
                                                               steward: tuple[TestClient, str]) -> None:
    client, token = steward
    page = client.get("/energy/meters", params={"year": str(YEAR)}).text
    assert 'action="/energy/meters/import"' in page and 'data-state="read-only"' not in page
    batches, points = stored(ledger["engine"])
    r = upload(client, token, "agit-2026-01-01.csv", GOOD)
    assert r.status_code == 200, r.text[:500]
    assert 'id="meter-import-ok"' in r.text
    assert_accessible(r.text)
    assert re.search(r'data-key="points_stored">3<', r.text) and re.search(r'data-key="duplicates">0<', r.text)
    assert stored(ledger["engine"]) == (batches + 1, points + 3)
    assert "2026" in re.search(r'<select id="mt-year".*?</select>', r.text, re.S).group(0)  # type: ignore[union-attr]
    again = upload(client, token, "agit-2026-01-01.csv", GOOD)
    assert again.status_code == 409
    assert 'data-code="duplicate_import"' in again.text and "This file is already imported" in again.text
    assert "already imported as meter batch" in again.text
    assert stored(ledger["engine"]) == (batches + 1, points + 3)
    # an overlapping file: the repeated readings are skipped, the new one stored, a changed one is a conflict
    overlap = GOOD.replace("81.2", "90.0") + "BT-SEP-AGIT,2026-01-01T03:00:00,80.0\n"
    r = upload(client, token, "agit-2026-01-01-again.csv", overlap)
    assert r.status_code == 200
    assert re.search(r'data-key="points_stored">1<', r.text) and re.search(r'data-key="duplicates">2<', r.text)
    assert re.search(r'data-key="conflicts">1<', r.text) and 'data-code="conflict"' in r.text


def test_a_bad_file_names_row_and_column_and_stores_nothing(ledger: dict[str, Any],
                                                            steward: tuple[TestClient, str]) -> None:
    client, token = steward
    before = stored(ledger["engine"])
    r = upload(client, token, "bad.csv", BAD)
    assert r.status_code == 422
    assert findings(r.text) == BAD_CELLS
    assert_accessible(r.text)
    assert "Nothing was stored." in r.text and "&#39;8O.1&#39;" in r.text
    assert "register it with rareeco meter add" in r.text
    assert stored(ledger["engine"]) == before
    # the wide layout: an unknown meter column is named in row 1
    r = upload(client, token, "wide.csv", "timestamp,BT-SEP-AGIT,NOPE\n2026-03-01T00:00:00,1,2\n")
    assert r.status_code == 422 and findings(r.text) == {("unknown_meter", 1, "NOPE")}
    assert stored(ledger["engine"]) == before


def test_a_bad_file_in_chinese(ledger: dict[str, Any]) -> None:
    """The page's own words and the importer's remedies are translated; the finding messages stay as written."""
    users(ledger["engine"], "demo", wang="steward")
    client, token = sign_in(ledger["app"], "wang")
    assert client.post("/lang", data={"lang": "zh", "csrf_token": token, "next": "/"}).status_code == 200
    before = stored(ledger["engine"])
    r = upload(client, token, "坏文件.csv", BAD)
    assert r.status_code == 422 and findings(r.text) == BAD_CELLS
    assert "数据有错误" in r.text and "未保存任何数据。" in r.text
    assert "未知计量表" in r.text and "请用 rareeco meter add 登记该计量表" in r.text
    assert "以计量表单位表示的数字（使用小数点，不加千位分隔符）" in r.text
    assert "is not a meter of demo with a series" in r.text          # the finding's own message, in English
    assert "坏文件.csv" in r.text and stored(ledger["engine"]) == before
    r = upload(client, token, "header.csv", "site,amount\nbaotou,1\n")
    assert "请使用 meter,timestamp,value[,flag]（长格式）或 timestamp,&lt;meter&gt;,…（宽格式）" in r.text


@pytest.mark.parametrize(("name", "body"), [
    ("empty.csv", b""),
    ("binary.csv", bytes(range(256)) * 4),
    ("header.csv", b"site,period_start,amount\nbaotou,2025-01-01,3\n"),
    ("noheader.csv", b"\n\n\n"),
    ("quotes.csv", b'meter,timestamp,value\n"BT-SEP-AGIT,2026-04-01T00:00:00,1\n'),
])
def test_unreadable_files_are_refused_on_the_page(ledger: dict[str, Any], steward: tuple[TestClient, str],
                                                  name: str, body: bytes) -> None:
    client, token = steward
    before = stored(ledger["engine"])
    r = upload(client, token, name, body)
    assert r.status_code == 422, r.text[:500]
    assert 'id="meter-import-error"' in r.text and 'action="/energy/meters/import"' in r.text   # try again
    assert "timestamp,&lt;meter&gt;," in r.text and "<meter>" not in r.text      # the placeholder, escaped
    assert stored(ledger["engine"]) == before


@pytest.mark.parametrize(("name", "day"), [("..", "08-01"), ("../../x.csv", "08-02"), ("读数" * 120 + ".csv", "08-03"),
                                          ("a\x00b.csv", "08-04")])
def test_any_file_name_is_safe(ledger: dict[str, Any], steward: tuple[TestClient, str], name: str, day: str) -> None:
    client, token = steward
    r = upload(client, token, name, f"meter,timestamp,value\nBT-SEP-PROC,2026-{day}T00:00:00,1\n")
    assert r.status_code == 200 and re.search(r'data-key="points_stored">1<', r.text)


def test_no_file_an_unknown_stamp_and_an_end_stamp(ledger: dict[str, Any], steward: tuple[TestClient, str]) -> None:
    client, token = steward
    r = client.post("/energy/meters/import", data={"csrf_token": token, "stamp": "start"})
    assert r.status_code == 422 and "no file chosen" in r.text
    assert upload(client, token, "x.csv", GOOD, stamp="middle").status_code == 422
    # an end-stamped reading at 01:00 covers 00:00–01:00: it is filed at 00:00 of 2026-05-01
    r = upload(client, token, "end.csv", "meter,timestamp,value\nBT-SEP-PUMP,2026-05-01T01:00:00,55.5\n", stamp="end")
    assert r.status_code == 200 and re.search(r'data-key="points_stored">1<', r.text)
    m = charts(client.get("/energy/meters", params={"year": "2026", "meter": "BT-SEP-PUMP", "month": "5"}).text)
    assert m["meter"]["hours"] == ["2026-05-01 00:00"] and m["meter"]["hour_values"] == [55.5]


def test_a_viewer_cannot_upload_and_the_form_needs_its_token(ledger: dict[str, Any], en: TestClient,
                                                             steward: tuple[TestClient, str]) -> None:
    page = en.get("/energy/meters", params={"year": str(YEAR)}).text
    assert 'data-state="read-only"' in page and 'action="/energy/meters/import"' not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    before = stored(ledger["engine"])
    r = upload(en, token, "viewer.csv", GOOD.replace("2026-01-01", "2026-06-01"))
    assert r.status_code == 403 and "your role (viewer) may not do this" in r.text
    client, _ = steward
    r = upload(client, "not-the-token", "csrf.csv", GOOD.replace("2026-01-01", "2026-06-02"))
    assert r.status_code == 403 and "CSRF" in r.text
    assert stored(ledger["engine"]) == before


# ---------------------------------------------------------------- targets on the EnPI page

def target_cell(html: str, line: str) -> re.Match[str]:
    row = re.search(rf'<tr data-line="{re.escape(line)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None, line
    m = re.search(r'<td data-key="target" data-met="(\w*)"[^>]*>(.*?)</td>', row.group(1), re.S)
    assert m is not None, line
    return m


def test_the_enpi_page_shows_targets_met_and_missed(ledger: dict[str, Any], en: TestClient, zh: TestClient) -> None:
    with session_scope(ledger["engine"]) as s:
        r = enpi(s, "demo", YEAR)
    # the demo's 2025 targets: separation and recycling met, metal and magnet missed
    expected = {"baotou / separation": (1420, "true"), "baotou / metal": (1200, "false"),
                "ganzhou / recycling": (1230, "true"), "ganzhou / magnet": (1100, "false")}
    assert {ln: t["met"] for ln, t in r["targets"].items()} == {ln: v == "true" for ln, (_, v) in expected.items()}
    html = en.get("/energy", params={"year": str(YEAR)}).text
    assert '<th scope="col">Target (kgce/t)</th>' in html
    for line, (target, met) in expected.items():
        m = target_cell(html, line)
        assert m.group(1) == met
        text = " ".join(unescape(re.sub(r"<[^>]+>", "", m.group(2))).split())
        gap = i18n.percent(r["targets"][line]["gap_pct"] / 100, "en")
        assert text == f"{i18n.number(target, 'en', 1)} · {'met' if met == 'true' else 'missed'} ({gap})"
    assert "达标" in zh.get("/energy", params={"year": str(YEAR)}).text and "未达标" in zh.get("/energy").text
    # targets are set in the equivalent value: under the generation convention they are shown but not compared
    gen = en.get("/energy", params={"year": str(YEAR), "convention": "generation"}).text
    m = target_cell(gen, "baotou / metal")
    assert m.group(1) == "" and "not compared" in m.group(2)
    old = en.get("/energy", params={"year": "2024"}).text         # no targets for 2024
    assert target_cell(old, "baotou / metal").group(2) == "—"
