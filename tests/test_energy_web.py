"""Energy pages over HTTP: the EnPI page, the baseline page, the energy flows and the monthly report download show
the service's figures, in English and Chinese; the chart data is the payload's; other organisations see nothing.

The figures themselves are checked against an independent computation in test_energy_service.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from html import unescape
from importlib import resources
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import Engine

from conftest import make_org
from rareeco.demo.load import load_demo
from rareeco.energy.baseline import _validity, range_warnings
from rareeco.energy.quota import check
from rareeco.energy.service import baseline, enpi, flows
from rareeco.ledger.db import make_engine, session_scope
from rareeco.web import i18n
from rareeco.web.energy_text import MESSAGES, translate
from test_web_pages import assert_accessible, sign_in, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from rareeco.api.app import create_app

YEAR = 2025
pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo organisation (viewer ``vic``) and an organisation ``acme`` without energy data (admin ``bob``)."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('energyweb') / 'ledger.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    make_org(eng, "acme")
    users(eng, "demo", vic="viewer")
    users(eng, "acme", bob="admin")
    return {"engine": eng, "app": create_app(engine=eng, demo_mode=False)}


@pytest.fixture(scope="module")
def en(ledger: dict[str, Any]) -> TestClient:
    client, _ = sign_in(ledger["app"], "vic")
    return client


@pytest.fixture(scope="module")
def zh(ledger: dict[str, Any]) -> TestClient:
    """A second viewer whose language is Chinese."""
    users(ledger["engine"], "demo", zoe="viewer")
    client, token = sign_in(ledger["app"], "zoe")
    assert client.post("/lang", data={"lang": "zh", "csrf_token": token, "next": "/"},
                       follow_redirects=False).status_code == 303
    return client


def payload(engine: Engine, fn: Any, *args: Any, **kw: Any) -> Any:
    with session_scope(engine) as s:
        return fn(s, "demo", *args, **kw)


def data(html: str, name: str) -> Any:
    m = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', html, re.S)
    assert m is not None, name
    return json.loads(m.group(1))


def big(html: str, key: str) -> str:
    m = re.search(rf'class="card" data-key="{re.escape(key)}"[^>]*><h2>[^<]*</h2>\s*<p class="big">([^<]*)<', html)
    assert m is not None, key
    return unescape(m.group(1))


def cell(html: str, attr: str, value: str, key: str) -> str:
    row = re.search(rf'<tr data-{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None, (attr, value)
    m = re.search(rf'data-key="{re.escape(key)}">(?:<[^>]+>)?([^<]*)<', row.group(1))
    assert m is not None, (value, key)
    return unescape(m.group(1))


def num(v: float, d: int = 1, lang: str = "en") -> str:
    return i18n.number(v, lang, d)


def pct(v: float | None, lang: str = "en") -> str:
    return i18n.percent(None if v is None else v / 100, lang)


# ---------------------------------------------------------------- EnPI

def test_the_enpi_page_shows_the_payload(ledger: dict[str, Any], en: TestClient) -> None:
    r = payload(ledger["engine"], enpi, YEAR)
    html = en.get("/energy").text
    assert_accessible(html)
    assert big(html, "kgce_per_t") == num(r["kgce_per_t"])
    assert big(html, "yoy_change_pct") == pct(r["yoy_change_pct"])
    for line, v in r["lines"].items():
        assert cell(html, "line", line, "kgce_per_t") == num(v["kgce_per_t"])
        assert cell(html, "line", line, "gj_per_t") == num(v["gj_per_t"], 2)
        assert cell(html, "line", line, "yoy") == pct(v["yoy_change_pct"])
    chart = data(html, "energy-enpi-data")
    assert [s["year"] for s in chart["series"]] == [YEAR - 1, YEAR]
    months = {}
    for row in r["monthly"]:
        kg, t = months.get(row["month"], (0.0, 0.0))
        months[row["month"]] = (kg + row["kgce"], t + row["production_t"])
    assert chart["series"][1]["values"] == [round(kg / t, 3) for _, (kg, t) in sorted(months.items())]
    assert 'href="/energy/report?month=2025-12&amp;fmt=pdf' in html and "fmt=xlsx" in html
    assert 'data-state="no-quota"' in html                         # no quota map configured


def test_the_convention_and_the_line(ledger: dict[str, Any], en: TestClient) -> None:
    gen = payload(ledger["engine"], enpi, YEAR, "generation")
    html = en.get("/energy", params={"convention": "generation", "line": "baotou/separation"}).text
    assert big(html, "kgce_per_t") == num(gen["kgce_per_t"])
    assert 'data-key="convention">generation-equivalent value' in html
    assert 'value="generation" selected' in html and 'value="baotou / separation" selected' in html
    sep = [row for row in gen["monthly"] if row["line"] == "baotou / separation"]
    assert data(html, "energy-enpi-data")["series"][1]["values"] == [round(x["kgce_per_t"], 3) for x in sep]
    other = en.get("/energy", params={"line": "nowhere/none"})   # a filter naming no line is ignored, and said so
    assert other.status_code == 200 and 'data-state="unknown-line"' in other.text
    assert big(other.text, "kgce_per_t") == num(payload(ledger["engine"], enpi, YEAR)["kgce_per_t"])


def test_quota_levels_when_a_map_is_configured(ledger: dict[str, Any], en: TestClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = resources.files("rareeco.demo").joinpath("energy-quota.yaml")
    monkeypatch.setenv("RAREECO_ENERGY_QUOTA_MAP", str(path))
    import yaml

    rows = check(payload(ledger["engine"], enpi, YEAR)["products"], yaml.safe_load(path.read_text("utf-8")))
    html = en.get("/energy").text
    assert rows
    for q in rows:
        assert cell(html, "product", q["product"], "level") == (str(q["level"]) if q["level"] else "above level 3")


def test_the_enpi_page_in_chinese(zh: TestClient, ledger: dict[str, Any]) -> None:
    r = payload(ledger["engine"], enpi, YEAR)
    html = zh.get("/energy").text
    assert '<html lang="zh-CN">' in html
    assert "单位产品能耗（EnPI）" in html and "各产线单位产品能耗" in html and "同比" in html and "当量值" in html
    assert big(html, "kgce_per_t") == num(r["kgce_per_t"], 1, "zh")
    assert 'data-state="no-quota"' in html and "未配置限额映射" in html


# ---------------------------------------------------------------- baseline

def test_the_baseline_page_shows_the_model_savings_and_cusum(ledger: dict[str, Any], en: TestClient) -> None:
    b = payload(ledger["engine"], baseline, "baotou/separation", YEAR - 1, YEAR)
    html = en.get("/energy/baseline", params={"line": "baotou/separation"}).text
    assert_accessible(html)
    assert "<h1>Baseline · baotou / separation</h1>" in html
    assert f'<code data-key="formula">{b["model"]["formula"]}</code>' in html
    assert '<code data-key="temperature-source">weather:baotou:temperature_c</code>' in html
    assert b["model"]["variables"] == ["production_t", "hdd_k_d"]            # the stored temperatures count
    for m in b["models"]:
        assert cell(html, "model", "+".join(m["variables"]), "valid") == ("yes" if m["valid"] else "no")
    assert big(html, "r2") == num(b["model"]["r2"], 3)
    assert big(html, "savings") == num(b["savings"]["total_kgce"] / 1000)
    assert big(html, "uncertainty-68") == num(b["savings"]["uncertainty"][0]["kgce"] / 1000)
    assert big(html, "uncertainty-90") == num(b["savings"]["uncertainty"][1]["kgce"] / 1000)
    assert big(html, "cusum") == num(b["reporting"][-1]["cusum_kgce"] / 1000)
    for row in b["reporting"]:
        assert cell(html, "month", row["month"], "cusum") == num(row["cusum_kgce"], 0)
    chart = data(html, "energy-baseline-data")
    assert chart["cusum"] == [round(x["cusum_kgce"], 1) for x in b["reporting"]]
    assert chart["baseline"] == [round(x["baseline_kgce"], 1) for x in b["reporting"]]
    assert chart["fit_months"][0] == "2024-01" and len(chart["fit_model"]) == 12
    assert ('data-key="guideline14" class="ok"' in html) == b["savings"]["guideline14_ok"]


def test_the_baseline_page_in_chinese_translates_the_warnings(zh: TestClient, ledger: dict[str, Any]) -> None:
    b = payload(ledger["engine"], baseline, "ganzhou/magnet", YEAR - 1, YEAR)
    assert b["range_warnings"]                                     # 2025 output above the 2024 range
    html = zh.get("/energy/baseline", params={"line": "ganzhou/magnet"}).text
    assert "能源基准与节能量" in html and "累积和" in html and "选定模型" in html
    assert html.count("超出基准范围") == len(b["range_warnings"])
    assert "is outside the baseline range" not in html


def test_every_calculator_sentence_has_a_chinese_pattern() -> None:
    """The sentences baseline.py writes match a pattern of energy_text (so a reworded sentence fails here)."""
    import pandas as pd

    from rareeco.energy.baseline import fit_model

    sentences = _validity({"const": 0.5, "x": 0.5}, ("x",), 0.5, 0.1, 3)
    d = pd.DataFrame({"e": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 2.0, 3.0, 4.5]})
    m = fit_model(d, "e", ["x"])
    sentences += range_warnings(m, pd.DataFrame({"x": [100.0]}, index=["2025-01"]))
    assert len(sentences) == 6
    for text in sentences:
        assert translate(text, "zh") != text, text
    assert translate("something else", "zh") == "something else"
    assert translate(sentences[0], "en") == sentences[0]
    translated = i18n.translations("zh")
    assert all(translated.gettext(msg) != msg for msg in MESSAGES)


# ---------------------------------------------------------------- flows

def test_the_energy_flow_page(ledger: dict[str, Any], en: TestClient, zh: TestClient) -> None:
    f = payload(ledger["engine"], flows, YEAR)
    html = en.get("/energy/flows").text
    assert_accessible(html)
    chart = data(html, "energy-sankey-data")
    assert {n["level"] for n in chart["nodes"]} == {"carrier", "site", "line", "product"}
    assert len(chart["links"]) == len(f["sankey"]["links"])
    labels = {n["name"]: n["label"] for n in chart["nodes"]}
    assert labels["c:electricity.grid"] == "Purchased grid electricity"
    assert labels["p:prnd-oxide"] == "Praseodymium-neodymium oxide"
    assert big(html, "total_kgce") == num(f["sankey"]["total_kgce"] / 1000)
    assert cell(html, "line", "baotou / metal", "kgce") == num(
        next(r["kgce"] for r in f["by_line_carrier"] if r["line"] == "baotou / metal"), 0)
    z = data(zh.get("/energy/flows").text, "energy-sankey-data")
    zl = {n["name"]: n["label"] for n in z["nodes"]}
    assert zl["c:electricity.grid"] == "外购电网电力" and zl["p:prnd-oxide"] == "氧化镨钕"


# ---------------------------------------------------------------- report download

def test_the_report_downloads(en: TestClient, zh: TestClient) -> None:
    r = en.get("/energy/report", params={"month": "2025-06", "fmt": "xlsx"})
    assert r.status_code == 200 and 'filename="energy-demo-2025-06-en.xlsx"' in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[0] == "Summary"
    r = zh.get("/energy/report", params={"month": "2025-06", "fmt": "pdf"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "月度能源报告" in text and "2025年6月" in text
    assert en.get("/energy/report", params={"month": "2025-13", "fmt": "pdf"}).status_code == 422
    assert en.get("/energy/report", params={"month": "2025-06", "fmt": "doc"}).status_code == 404
    empty = en.get("/energy/report", params={"month": "2023-06", "fmt": "xlsx"})   # no data: a report that says so
    assert empty.status_code == 200
    notes = [c.value for row in load_workbook(io.BytesIO(empty.content))["Notes"].iter_rows() for c in row]
    assert "no line of demo recorded energy or production in 2023-06" in notes


# ---------------------------------------------------------------- isolation and empty ledgers

def test_another_organisation_sees_none_of_it(ledger: dict[str, Any]) -> None:
    client, _ = sign_in(ledger["app"], "bob")
    html = client.get("/energy").text
    assert 'data-state="empty"' in html and "baotou / separation" not in html
    assert "baotou / separation" not in client.get("/energy/flows").text
    r = client.get("/energy/baseline", params={"line": "baotou/separation"})
    assert r.status_code == 200 and 'data-state="empty"' in r.text and "baotou / separation" not in r.text
    r = client.get("/energy/report", params={"month": "2025-06", "fmt": "xlsx"})
    cells = [c.value for ws in load_workbook(io.BytesIO(r.content)) for row in ws.iter_rows() for c in row]
    assert r.status_code == 200 and not any("separation" in str(v) for v in cells)
    r = client.get("/energy/measures")
    assert r.status_code == 200 and 'data-state="empty"' in r.text


def test_signed_out_is_sent_to_sign_in(ledger: dict[str, Any]) -> None:
    client = TestClient(ledger["app"])
    for path in ("/energy", "/energy/baseline", "/energy/flows", "/energy/report?month=2025-06&fmt=pdf"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


def test_the_navigation_links_the_energy_pages(en: TestClient) -> None:
    html = en.get("/energy/flows").text
    assert '<a href="/energy" aria-current="page">Energy</a>' in html
    assert '<a href="/energy/flows" aria-current="page">Energy flows</a>' in html


# ---------------------------------------------------------------- measures

def test_the_measures_page(ledger: dict[str, Any], en: TestClient, zh: TestClient) -> None:
    from rareeco.energy.measures_service import savings

    r = payload(ledger["engine"], savings, YEAR)
    assert r["measures"]
    html = en.get("/energy/measures").text
    assert_accessible(html)
    chart = data(html, "energy-measures-data")
    assert chart["codes"] == [m["code"] for m in r["measures"]]
    for m in r["measures"]:
        est = m["estimated"]["year"]["kgce"]
        assert cell(html, "measure", m["code"], "estimated") == num(est, 0)
        if m["verified"]["status"] == "verified" and m["verified"].get("option") == "B":
            assert cell(html, "measure", m["code"], "verified").startswith(num(m["verified"]["kgce"], 0))
    for g in r["verified_scopes"]:
        if g.get("kgce") is not None:
            assert cell(html, "scope", g["scope"], "kgce") == num(g["kgce"], 0)
    rec = r["reconciliation"]
    assert f'data-key="explained-verified">{pct(rec["verified"]["explained_pct"])}<' in html
    z = zh.get("/energy/measures").text
    assert "节能措施台账" in z and "节能措施可解释的单位产品能耗变化" in z
    first = r["measures"][0]
    assert (first["name_zh"] or first["name"]) in z
