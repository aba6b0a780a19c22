"""The air-compliance pages over HTTP (/compliance, /compliance/data, /compliance/live, /compliance/exceedances)
on a small organisation fed through a real HJ 212 gateway: the stack of tests/test_compliance.py (constant SO2
50 mg/m3, O2 15 %, flow 10 m3/s; reference O2 18 % → 25 mg/m3; a 30-minute maintenance at 02:00, an upset × 5 at
05:00–07:00, a silent hour at 09:00) over 2025-12-01 00:00–12:00.

Expected values are worked by hand or read from :func:`rareeco.monitoring.compliance.outlet_hours`, never from the
page code.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from conftest import make_org, pg_database
from rareeco.ingest.hj212_gateway import add_station
from rareeco.ingest.hj212_profile import frames
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import ComplianceEvent
from rareeco.monitoring import compliance, outlets, processing
from rareeco.web import compliance as web_compliance
from test_compliance import DAY, MN, PW, SETTINGS, STACK, through_gateway
from test_web_pages import assert_accessible, csrf_of, sign_in, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

END = datetime(2025, 12, 1, 12)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``acme`` with outlet DA001 and half a day of minute data (viewer ``vic``, steward ``stew``, Chinese viewer
    ``zoe``); ``empty`` without compliance settings (``bob``) — on SQLite and on PostgreSQL (which hands back
    aware times where SQLite gives the wall time they were written with)."""
    if request.param == "sqlite":
        yield from _ledger(f"sqlite:///{tmp_path_factory.mktemp('complianceweb') / 'ledger.db'}")
    else:
        for url in pg_database():
            yield from _ledger(url)


def _ledger(url: str) -> Iterator[dict[str, Any]]:
    eng = make_engine(url)
    make_org(eng, "acme")
    make_org(eng, "empty")
    with session_scope(eng) as s:
        add_station(s, "acme", "baotou", MN, PW, "roasting kiln stack DA001")
        outlets.save(s, "acme", SETTINGS)
    assert through_gateway(eng, {MN: frames(STACK, DAY, END)}) == {"sent": 660, "acknowledged": 660}
    processing.process(eng, "acme")
    with session_scope(eng) as s:
        assert len(compliance.detect(s, "acme", DAY, END)) == 1
    users(eng, "acme", vic="viewer", stew="steward", zoe="viewer")
    users(eng, "empty", bob="admin")
    yield {"engine": eng, "app": create_app(engine=eng, demo_mode=False)}
    eng.dispose()


@pytest.fixture(scope="module")
def en(ledger: dict[str, Any]) -> TestClient:
    return sign_in(ledger["app"], "vic")[0]


@pytest.fixture(scope="module")
def zh(ledger: dict[str, Any]) -> TestClient:
    client, token = sign_in(ledger["app"], "zoe")
    assert client.post("/lang", data={"lang": "zh", "csrf_token": token, "next": "/"},
                       follow_redirects=False).status_code == 303
    return client


def cell(html: str, table: str, attr: str, value: str, key: str) -> str:
    """The text of ``data-key=key`` in the row ``data-attr=value`` of ``<table class="… table …">``."""
    t = re.search(rf'<table class="[^"]*\b{table}\b[^"]*"[^>]*>(.*?)</table>', html, re.S)
    assert t is not None, table
    row = re.search(rf'<tr [^>]*data-{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', t.group(1), re.S)
    assert row is not None, (attr, value)
    m = re.search(rf'data-key="{key}"[^>]*>(.*?)</td>', row.group(1), re.S)
    assert m is not None, (value, key)
    return unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()


def hours_table(engine: Any) -> Any:
    with session_scope(engine) as s:
        settings = outlets.load(s, "acme")
        return compliance.outlet_hours(s, "acme", settings.outlet("DA001"), DAY, END)


# ---------------------------------------------------------------- the overview page

def test_the_cards_and_the_month(ledger: dict[str, Any], en: TestClient) -> None:
    r = en.get("/compliance")
    assert r.status_code == 200
    html = r.text
    assert_accessible(html)
    assert "<h1>Air compliance 2025-12</h1>" in html                      # the newest month with data
    assert '<a href="/compliance" aria-current="page">Stacks (CEMS)</a>' in html
    assert '<a href="/compliance/zld"' in html and '<a href="/compliance/exceedances"' in html
    # the latest minute (11:59) of each channel, as stored: constant values, flag N
    assert cell(html, "live", "channel", "DA001:a21026", "value") == "50.00"
    assert cell(html, "live", "channel", "DA001:a19001", "value") == "15.00"
    assert cell(html, "live", "channel", "DA001:a00000", "value") == "10.00"
    assert cell(html, "live", "channel", "DA001:a21026", "flag") == "N · normal"
    assert cell(html, "live", "channel", "DA001:a21026", "at") == "2025-12-01 11:59"
    assert 'id="chart-hours-DA001-a21026"' in html and 'id="chart-days-DA001-a21026"' in html
    # the month's quantity: 8 valid hours × 1.8 kg + 2 upset hours × 9.0 kg; the other 734 hours have no value
    t = cell(html, "quantities", "pollutant", "a21026", "t")
    exact = re.search(r'data-key="t" data-value="([^"]+)"', html)
    assert exact is not None and t == "0.032"
    assert float(exact.group(1)) == pytest.approx((8 * 1.8 + 2 * 9.0) / 1000)
    assert cell(html, "quantities", "pollutant", "a21026", "valid_h") == "10"
    assert cell(html, "quantities", "pollutant", "a21026", "missing_h") == str(31 * 24 - 10)
    config = json.loads(re.search(r'id="compliance-config">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert config["outlets"] == ["DA001"] and config["month"] == "2025-12"
    other = en.get("/compliance", params={"month": "2025-11"}).text
    assert "<h1>Air compliance 2025-11</h1>" in other
    assert cell(other, "quantities", "pollutant", "a21026", "t") == "—"
    assert 'data-state="unknown-month"' in en.get("/compliance", params={"month": "Dec"}).text


def test_the_chart_data(ledger: dict[str, Any], en: TestClient) -> None:
    r = en.get("/compliance/data", params={"outlet": "DA001", "month": "2025-12"})
    assert r.status_code == 200
    d = r.json()
    assert len(d["hours"]) == 31 * 24 and len(d["days"]) == 31 and d["reference_o2_pct"] == 18
    so2 = d["pollutants"][0]
    assert so2["code"] == "a21026"
    limits = {(x["value"], x["period"], x["kind"]) for x in so2["limits"]}
    assert limits == {(100.0, "h", "permit"), (30.0, "d", "target")}
    assert so2["converted"][0] == pytest.approx(25.0)                       # 50 × (21 − 18) / (21 − 15)
    assert (so2["status"][2], so2["flags"][2], so2["converted"][2]) == ("invalid", "M:30", None)  # maintenance
    assert so2["converted"][5] == so2["converted"][6] == pytest.approx(125.0)                      # the upset
    assert (so2["status"][9], so2["converted"][9]) == ("missing", None)                            # silent
    assert so2["status"][12:] == ["missing"] * (31 * 24 - 12)
    assert so2["daily"][0] is None and so2["daily_status"][0] == "invalid"   # 10 valid hours < 20
    assert en.get("/compliance/data", params={"outlet": "DA009", "month": "2025-12"}).status_code == 404
    assert en.get("/compliance/data", params={"outlet": "DA001", "month": "12/2025"}).status_code == 422


def test_the_live_stream_sends_the_latest_values_first(ledger: dict[str, Any], en: TestClient) -> None:
    with en.stream("GET", "/compliance/live") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = []
        for line in r.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    assert lines[0] == "event: values"
    values = json.loads(lines[1].removeprefix("data:"))
    assert set(values) == {"DA001:a21026", "DA001:a19001", "DA001:a00000"}
    so2 = values["DA001:a21026"]
    assert (so2["value"], so2["flag"], so2["at"], so2["hourly"]) == (50.0, "N", "2025-12-01 11:59", False)
    assert so2["ts"] == int(datetime.fromisoformat("2025-12-01T11:59:00+08:00").timestamp())
    assert so2["age_s"] > 0 and so2["age"].endswith(" d")
    # signed out: sent to the sign-in page, not streamed
    r = TestClient(ledger["app"]).get("/compliance/live", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/compliance/live"


def events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The data of each ``values`` event of a stream (comments and other events skipped)."""
    event = ""
    for line in lines:
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:") and event == "values":
            yield json.loads(line.removeprefix("data:"))


def test_the_live_stream_sends_what_changed(ledger: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A station of its own (so the other tests' latest values stay): after the first event, a new minute arrives
    through the gateway while the stream is open — the stream holds no transaction that would block the writer —
    and the next event carries the channels that changed."""
    monkeypatch.setattr(web_compliance, "LIVE_POLL_S", 0.2)
    eng, mn = ledger["engine"], "STACKLIVE01"
    make_org(eng, "live")
    settings = json.loads(json.dumps(SETTINGS))
    settings["outlets"][0]["mn"] = mn
    with session_scope(eng) as s:
        add_station(s, "live", "baotou", mn, PW)
        outlets.save(s, "live", settings)
    stack = dataclasses.replace(STACK, mn=mn, episodes=())
    minute = timedelta(minutes=1)
    through_gateway(eng, {mn: frames(stack, DAY, DAY + 10 * minute)})
    processing.process(eng, "live")
    users(eng, "live", lola="viewer")
    client = sign_in(ledger["app"], "lola")[0]
    with client.stream("GET", "/compliance/live") as r:
        stream = events(r.iter_lines())
        first = next(stream)
        assert {v["at"] for v in first.values()} == {"2025-12-01 00:09"} and len(first) == 3
        assert through_gateway(eng, {mn: frames(stack, DAY + 10 * minute, DAY + 11 * minute)})["acknowledged"] == 1
        assert processing.process(eng, "live").points_stored == 3
        second = next(stream)
    assert set(second) == set(first)
    assert {v["at"] for v in second.values()} == {"2025-12-01 00:10"}
    assert second["DA001:a21026"]["value"] == 50.0


def test_an_organisation_without_settings(ledger: dict[str, Any]) -> None:
    client = sign_in(ledger["app"], "bob")[0]
    html = client.get("/compliance").text
    assert 'data-state="no-settings"' in html
    assert 'data-state="no-events"' in client.get("/compliance/exceedances").text
    with client.stream("GET", "/compliance/live") as r:      # nothing to show: empty values, and the stream ends
        assert list(r.iter_lines()) == ["retry: 60000", "event: values", "data: {}", ""]


# ---------------------------------------------------------------- exceedances

def test_the_exceedance_and_its_peak(ledger: dict[str, Any], en: TestClient) -> None:
    hours = hours_table(ledger["engine"])
    so2 = hours[hours["pollutant"] == "a21026"].set_index("hour")
    above = so2[(so2["status"] == "valid") & (so2["converted"] > 100)]
    assert list(above.index) == [datetime(2025, 12, 1, 5), datetime(2025, 12, 1, 6)]
    html = en.get("/compliance/exceedances").text
    rows = re.findall(r'<tr id="event-(\d+)" data-event="\d+" data-kind="(\w+)" data-outlet="(\w+)" '
                      r'data-pollutant="(\w+)"', html)
    assert [r[1:] for r in rows] == [("permit", "DA001", "a21026")]
    ev = rows[0][0]
    assert cell(html, "exceedances", "event", ev, "start") == "2025-12-01 05:00"
    assert cell(html, "exceedances", "event", ev, "end") == "2025-12-01 07:00"
    assert cell(html, "exceedances", "event", ev, "duration") == "2.0"
    assert cell(html, "exceedances", "event", ev, "limit") == "100.0 mg/m3 · hourly"
    peak = float(re.search(rf'id="event-{ev}".*?data-key="peak" data-value="([^"]+)"', html, re.S).group(1))  # type: ignore[union-attr]
    assert peak == pytest.approx(float(above["converted"].max())) == pytest.approx(125.0)
    assert "ack-form" not in html and "Not acknowledged" in html                # a viewer sees no form


def test_acknowledging_needs_a_comment(ledger: dict[str, Any]) -> None:
    client, token = sign_in(ledger["app"], "stew")
    with session_scope(ledger["engine"]) as s:
        ev = s.execute(select(ComplianceEvent.id).where(ComplianceEvent.org_id == "acme")).scalar_one()
    url = f"/compliance/exceedances/{ev}/acknowledge"
    page = client.get("/compliance/exceedances").text
    assert_accessible(page)
    assert f'action="{url}"' in page
    assert client.post(url, data={"comment": "x"}).status_code == 403                      # no CSRF token
    viewer, vtoken = sign_in(ledger["app"], "vic")
    assert viewer.post(url, data={"comment": "x", "csrf_token": vtoken}).status_code == 403  # a viewer
    r = client.post(url, data={"comment": "   ", "csrf_token": token})
    assert r.status_code == 422
    assert 'id="ack-error"' in r.text and "an acknowledgement needs a comment" in r.text
    assert "say what caused it and what was done" in r.text and 'aria-invalid="true"' in r.text
    with session_scope(ledger["engine"]) as s:
        assert s.get(ComplianceEvent, ev).acknowledged_at is None                          # type: ignore[union-attr]
    r = client.post(url, data={"comment": "scrubber pump tripped; restarted 07:00", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/compliance/exceedances#event-{ev}"
    with session_scope(ledger["engine"]) as s:
        stored = s.get(ComplianceEvent, ev)
        assert stored is not None
        assert (stored.acknowledged_by, stored.comment) == ("stew", "scrubber pump tripped; restarted 07:00")
    html = client.get("/compliance/exceedances").text
    assert cell(html, "exceedances", "event", str(ev), "ack").startswith("stew · ")
    assert "scrubber pump tripped; restarted 07:00" in html
    again = client.post(url, data={"comment": "again", "csrf_token": csrf_of(client)})
    assert again.status_code == 422 and "acknowledged by stew already" in again.text


def test_the_pages_in_chinese(zh: TestClient) -> None:
    html = zh.get("/compliance").text
    assert '<html lang="zh-CN">' in html
    assert "<h1>废气达标监测 2025-12</h1>" in html and "排气筒实时数据" in html and "排放量" in html
    assert "焙烧窑排气筒" in html                                               # the outlet's Chinese name
    assert cell(html, "live", "channel", "DA001:a21026", "flag") == "N · 正常"
    labels = json.loads(re.search(r'id="compliance-labels">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert labels["hourly"] == "小时均值" and labels["flags"]["M"] == "维护"
    ex = zh.get("/compliance/exceedances").text
    assert "<h1>超标事件</h1>" in ex and "许可限值" in ex and "峰值" in ex
