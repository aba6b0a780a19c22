"""Inventory report writers: the Excel workbook and the PDF, in English and Chinese, checked by value."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from conftest import make_org
from rareeco import reports
from rareeco.ingest.activity import import_activity
from rareeco.inventory.service import inventory
from rareeco.ledger.db import make_engine, session_scope
from rareeco.reference.catalogue import activities
from rareeco.reports import chart, labels
from rareeco.reports.model import SCOPE_COLUMNS, build
from rareeco.reports.pdf import fmt_t, render_html

CSV = """site,period_start,period_end,activity,amount,unit,line,product
baotou,2025-01-01,2025-01-31,electricity.grid,1000,MWh,sep,
baotou,2025-02-01,2025-02-28,electricity.grid,800,MWh,sep,
ganzhou,2025-01-01,2025-01-31,fuel.natural_gas,10,万Nm3,,
baotou,2025-01-01,2025-01-31,purchased.hcl,50,t,sep,
baotou,2025-01-01,2025-01-31,production.output,20,t,sep,la2o3
""".encode()
pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")
SHEET_KEYS = ("sheet_summary", "sheet_site", "sheet_line", "sheet_month", "sheet_category", "sheet_activity",
              "sheet_gas", "sheet_factors", "sheet_notes", "sheet_provenance")


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The 2025 inventory of a tiny ledger: grid electricity, natural gas, and HCl without a factor."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}")
    try:
        make_org(eng)
        with session_scope(eng) as s:
            import_activity(s, "acme", CSV, "x.csv")
        with session_scope(eng) as s:
            return inventory(s, "acme", 2025)
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def files(payload: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    made: dict[str, Path] = {}
    for lang in ("en", "zh"):
        made[f"xlsx-{lang}"] = reports.inventory_xlsx(payload, out / f"inv-{lang}.xlsx", lang)
        made[f"pdf-{lang}"] = reports.inventory_pdf(payload, out / f"inv-{lang}.pdf", lang)
    return made


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


def _row(ws: Any, first: str) -> tuple[Any, ...]:
    """The row whose column A is ``first``."""
    found = [r for r in _rows(ws) if r and r[0] == first]
    assert len(found) == 1, f"{first!r} in {ws.title}: {len(found)} rows"
    return found[0]


def _cell(ws: Any, value: Any) -> Any:
    return next(c for row in ws.iter_rows() for c in row if c.value == value)


def _pdf_pages(path: Path) -> list[str]:
    return [p.extract_text() or "" for p in PdfReader(path).pages]


# ---------------------------------------------------------------- labels


def test_every_label_exists_in_both_languages() -> None:
    assert set(labels.EN) == set(labels.ZH)
    fields = string.Formatter()
    for key in labels.EN:
        assert labels.ZH[key] or labels.EN[key] == "", key
        en = {f for _, f, _, _ in fields.parse(labels.EN[key]) if f}
        zh = {f for _, f, _, _ in fields.parse(labels.ZH[key]) if f}
        assert en == zh, f"placeholders of {key!r} differ: {en} vs {zh}"


def test_language_codes() -> None:
    assert labels.lang_code("en") == "en"
    assert labels.lang_code("zh") == labels.lang_code("zh-CN") == labels.lang_code("ZH_hans") == "zh"
    assert labels.lang_code("fr") == "en"
    assert labels.labels("zh-CN") is labels.ZH


def test_sheet_names_are_valid_excel_names() -> None:
    for lang in (labels.EN, labels.ZH):
        names = [lang[k] for k in SHEET_KEYS]
        assert len(set(names)) == len(names)
        assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)


# ---------------------------------------------------------------- Excel


def test_xlsx_summary_holds_the_payload_totals(payload: dict[str, Any], files: dict[str, Path]) -> None:
    wb = load_workbook(files["xlsx-en"])
    assert wb.sheetnames == [labels.EN[k] for k in SHEET_KEYS]
    ws = wb["Summary"]
    assert _row(ws, "Organisation")[1] == "acme"
    assert _row(ws, "Reporting year")[1] == 2025
    assert _row(ws, "Accounting method")[1] == labels.EN["method_ghg-protocol"]
    assert _row(ws, "GWP set")[1] == labels.EN["gwp_ar6"]
    assert _row(ws, "Result id")[1] == payload["result_id"]
    header = _row(ws, "Item")
    assert header[1:4] == ("GHG Protocol (this report)", "China 2015 guideline", "Unit")
    other = payload["other_methods"]["cn-2015"]
    for key, label_key, _ in SCOPE_COLUMNS:
        row = _row(ws, labels.EN[label_key])
        assert row[1] == payload[key], key                      # exactly the payload number, not text
        assert isinstance(row[1], int | float) and not isinstance(row[1], bool)
        assert row[3] == "t CO2e"
        if key in other:
            assert row[2] == other[key]
    assert _row(ws, labels.EN["total_market"])[2] == pytest.approx(
        other["scope1_t_co2e"] + other["scope2_market_t_co2e"] + other["scope3_t_co2e"])
    assert _row(ws, "Scope 2 note")[1] == labels.EN["scope2_note"]
    assert _row(ws, "la2o3")[1] == 20.0
    cell = next(c for row in ws.iter_rows() for c in row if c.value == payload["total_t_co2e"])
    assert cell.number_format == "#,##0.000"
    assert ws["A1"].font.b and _cell(ws, "Organisation").font.b and _cell(ws, "Item").font.b
    assert ws.column_dimensions["A"].width >= len("Scope 2 – purchased energy, location-based")


def test_xlsx_in_chinese(payload: dict[str, Any], files: dict[str, Path]) -> None:
    wb = load_workbook(files["xlsx-zh"])
    assert wb.sheetnames == ["汇总", "按场址", "按产线", "按月份", "按排放类别", "按活动", "按温室气体",
                             "排放因子", "说明", "数据溯源"]
    ws = wb["汇总"]
    assert _row(ws, "组织")[1] == "acme"
    assert _row(ws, "范围一 – 直接排放")[1] == payload["scope1_t_co2e"]
    for key, label_key, _ in SCOPE_COLUMNS:
        assert _row(ws, labels.ZH[label_key])[1] == payload[key]
    acts = {r[0]: r for r in _rows(wb["按活动"])}
    assert acts["electricity.grid"][1] == activities()["electricity.grid"].label("zh") == "外购电网电力"
    assert acts["electricity.grid"][4] == payload["by_activity"]["electricity.grid"]


def test_xlsx_breakdowns_are_numbers(payload: dict[str, Any], files: dict[str, Path]) -> None:
    wb = load_workbook(files["xlsx-en"])
    keys = [k for k, _, _ in SCOPE_COLUMNS]
    for site, values in payload["by_site"].items():
        assert list(_row(wb["By site"], site)[1:]) == [values[k] for k in keys]
    assert list(_row(wb["By site"], "Total")[1:]) == pytest.approx([payload[k] for k in keys])
    line = next(r for r in _rows(wb["By line"]) if r[:2] == ("baotou", "sep"))
    assert list(line[2:]) == [payload["by_line"]["baotou / sep"][k] for k in keys]
    assert list(_row(wb["By month"], "2025-02")[1:7]) == [payload["by_month"]["2025-02"][k] for k in keys]
    cats = {r[1]: r for r in _rows(wb["By category"])}
    assert cats["stationary_combustion"][0] == "Stationary combustion"
    assert cats["stationary_combustion"][3] == payload["by_category"]["stationary_combustion"]
    assert cats["stationary_combustion"][4] == pytest.approx(
        payload["by_category"]["stationary_combustion"] / payload["total_t_co2e"])
    acts = {r[0]: r for r in _rows(wb["By activity"])}
    gas = acts["fuel.natural_gas"]
    assert gas[1] == "Natural gas, stationary combustion"
    assert gas[4] == payload["by_activity"]["fuel.natural_gas"]
    assert gas[5] == payload["other_methods"]["cn-2015"]["by_activity"]["fuel.natural_gas"]
    assert _row(wb["By gas"], "CO2")[1:3] == (payload["by_gas"]["CO2"]["mass_t"],
                                              payload["by_gas"]["CO2"]["t_co2e"])
    for ws in wb:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    assert not re.fullmatch(r"-?[\d,]+\.\d+", c.value), f"number as text in {ws.title}!{c.coordinate}"


def test_xlsx_factors_notes_provenance(payload: dict[str, Any], files: dict[str, Path]) -> None:
    wb = load_workbook(files["xlsx-en"])
    factors = {r[0]: r for r in _rows(wb["Factors"])}
    for f in payload["factors_used"]:
        row = factors[f["factor_id"]]
        assert row[:5] == (f["factor_id"], f["set"], f["value"], f["unit"], f["tag"])
        assert row[5] == labels.EN[f"tag_{f['tag']}"]
        assert row[6:8] == (f["source"], f["version"])
    assert factors["V"][1].startswith("verified") and factors["S"][1].startswith("secondary")
    assert factors["C"][1].startswith("computed") and factors["U"][1] == "user-supplied"
    notes = _rows(wb["Notes"])
    assert [r[1] for r in notes if isinstance(r[0], int)] == payload["notes"]
    hcl = next(r for r in notes if r[0] == "purchased.hcl")
    unq = payload["unquantified"][0]
    assert hcl == ("purchased.hcl", "Hydrochloric acid (31%)", 50.0, "t", 1, unq["reason"])
    prov = wb["Provenance"]
    assert _row(prov, "Result id")[1] == payload["result_id"]
    assert _row(prov, "Software version")[1] == payload["provenance"]["software_version"]
    assert _row(prov, "Calculated at")[1] == payload["provenance"]["calculated_at"]
    assert _row(prov, "Input SHA-256 (all batches)")[1] == payload["provenance"]["input_sha256"]
    batch = payload["provenance"]["input_batches"][0]
    assert _row(prov, batch["batch_id"])[1:3] == ("x.csv", batch["sha256"])
    for set_id, version in payload["provenance"]["factor_sets"].items():
        assert _row(prov, set_id)[1] == version


def test_xlsx_of_a_minimal_hand_made_payload(tmp_path: Path) -> None:
    """A stored result read back without comparison or breakdowns still writes (zero totals, no rows)."""
    p = {"organisation": "tiny", "year": 2024, "method": "cn-2015", "gwp_set": "ar5", "locked": True,
         "scope1_t_co2e": 1.5, "scope2_location_t_co2e": 2.25, "scope2_market_t_co2e": 2.0,
         "scope3_t_co2e": 0.0, "total_t_co2e": 3.75, "total_market_t_co2e": 3.5,
         "by_site": {}, "by_line": {}, "by_month": {}, "by_site_month": {}, "by_category": {},
         "by_activity": {}, "by_gas": {}, "production_t": {}, "notes": [], "unquantified": [],
         "factors_used": [], "provenance": {}}
    wb = load_workbook(reports.inventory_xlsx(p, tmp_path / "t.xlsx", "zh-CN"))
    ws = wb["汇总"]
    assert _row(ws, labels.ZH["total_market"])[1] == 3.5
    assert _row(ws, "状态")[1] == labels.ZH["status_locked"]
    assert _row(ws, "核算方法")[1] == labels.ZH["method_cn-2015"]
    html = render_html(p, "en")
    assert "3.8" in html and "tiny" in html and "<svg" not in html


# ---------------------------------------------------------------- PDF


def test_pdf_english(payload: dict[str, Any], files: dict[str, Path]) -> None:
    pages = _pdf_pages(files["pdf-en"])
    text = "\n".join(pages)
    assert "Greenhouse gas inventory report" in text
    assert "acme" in text
    assert fmt_t(payload["total_t_co2e"]) == "1,363.4" and "1,363.4" in text
    assert fmt_t(payload["total_market_t_co2e"]) in text
    assert "Scope 2 – purchased energy, location-based" in text
    assert "Scope 2 – purchased energy, market-based" in text
    assert "China 2015 guideline" in text                               # method comparison
    assert "purchased.hcl" in text and "no factor of kind purchased_ef" in text   # unquantified
    assert "grid.north.2023" in text and "MEE/NBS" in text               # factors cited
    assert payload["provenance"]["input_batches"][0]["sha256"][:16] in text.replace("\n", "")
    n = len(pages)
    assert n >= 2
    for i, page in enumerate(pages, 1):
        assert f"Page {i} of {n}" in page


def test_pdf_chinese(payload: dict[str, Any], files: dict[str, Path]) -> None:
    reader = PdfReader(files["pdf-zh"])
    pages = [p.extract_text() or "" for p in reader.pages]
    text = "\n".join(pages)
    assert "温室气体排放清单报告" in text
    assert "范围一" in text and "基于市场" in text and "外购电网电力" in text
    assert "acme" in text and fmt_t(payload["total_t_co2e"]) in text
    for i, page in enumerate(pages, 1):
        assert f"第 {i} 页，共 {len(pages)} 页" in page
    fonts = {str(f.get_object()["/BaseFont"]) for p in reader.pages
             for f in p["/Resources"]["/Font"].values()}
    assert any("WenQuanYi" in f for f in fonts), fonts


def test_html_loads_nothing_from_outside(payload: dict[str, Any]) -> None:
    for lang in ("en", "zh"):
        html = render_html(payload, lang)
        assert "<svg" in html and "<script" not in html
        assert not re.search(r"<link|@import|url\(|@font-face|\ssrc=", html)
        assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]  # the SVG namespace
        assert "WenQuanYi Zen Hei" in html and "sans-serif" in html
    from weasyprint.urls import FatalURLFetchingError

    from rareeco.reports.pdf import _fetcher

    with pytest.raises((FatalURLFetchingError, RuntimeError)):
        _fetcher()("https://example.org/font.woff2")


def test_monthly_chart(payload: dict[str, Any]) -> None:
    r = build(payload, "en")
    svg = chart.monthly_chart(r)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    # January: scope 1 (gas at ganzhou) and scope 2; February: scope 2 only
    assert svg.count('fill="#1b4965"') == 1 + 1          # one scope 1 bar + the legend swatch
    assert svg.count('fill="#5fa8d3"') == 2 + 1
    assert ">Jan<" in svg and ">Feb<" in svg and ">Mar<" not in svg
    assert chart.monthly_chart(build({**payload, "by_month": {}}, "en")) == ""
    assert [chart.nice_step(v) for v in (854.5, 48763.0, 3.0, 0.0)] == [200, 10000, 1, 1]
