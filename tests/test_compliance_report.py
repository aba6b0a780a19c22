"""The monthly compliance report: figures of a small month worked by hand, the workbook read back by openpyxl and
the PDF by text extraction, in English and Chinese.

One stack (DA001) uploads constant channels (spread 0) through a real gateway on 1 December 2025, 00:00–12:00:
SO2 50 mg/m3, O2 15 %, flow 10 m3/s; reference O2 18 % → 50 × 3/6 = 25 mg/m3; rate 50 × 36,000 × 1e-6 = 1.8 kg/h.
Episodes: maintenance 02:00–02:30 (30 of 60 values valid < 75 %: invalid hour), upset 05:00–07:00 (SO2 × 5:
125 mg/m3 converted, 9.0 kg/h), silent 09:00–10:00 (missing), stopped 10:00–11:00 (flag F).  The logger also sent
two hourly values on 30 November (20:00, 21:00): 2 × 1.8 kg more in the year to date.

December: 744 h = 9 valid (00, 01, 03, 04, 05, 06, 07, 08, 11) + 1 invalid + 1 stopped + 733 missing;
availability 9 / 743; monthly average (7 × 25 + 2 × 125) / 9 = 47.22 mg/m3, max 125 at 05:00; 1 December is a
valid day (9 ≥ 8 valid hours) above the daily permit limit 40 and the daily target 30; the hourly limit 100 is
exceeded 2 h; quantities 7 × 1.8 + 2 × 9.0 = 30.6 kg in December, 34.2 kg in the year (34.2 % of 0.1 t).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from conftest import pg_database
from rareeco.ingest.hj212_gateway import add_station
from rareeco.ingest.hj212_profile import Channel, Episode, Stack, frames
from rareeco.ledger import structure
from rareeco.ledger.db import make_engine, session_scope
from rareeco.monitoring import compliance, outlets, processing
from rareeco.monitoring.compliance_month import month_summary
from rareeco.reports import compliance_labels
from rareeco.reports.compliance_report import compliance_pdf, compliance_xlsx, render_html
from test_compliance import through_gateway

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")
MN, PW = "STACKDA001", "654321"
STACK = Stack(MN, PW, (Channel("a21026", 50.0, 0.0, 1), Channel("a19001", 15.0, 0.0, 1),
                       Channel("a00000", 10.0, 0.0, 2)),
              (Episode("maintenance", datetime(2025, 12, 1, 2), datetime(2025, 12, 1, 2, 30)),
               Episode("upset", datetime(2025, 12, 1, 5), datetime(2025, 12, 1, 7), 5.0, ("a21026",)),
               Episode("silent", datetime(2025, 12, 1, 9), datetime(2025, 12, 1, 10)),
               Episode("stopped", datetime(2025, 12, 1, 10), datetime(2025, 12, 1, 11))),
              stopped_values={"a19001": 20.9})
SETTINGS: dict[str, Any] = {
    "validity": {"hour_min_valid_fraction": 0.75, "day_min_valid_hours": 8},
    "outlets": [{"code": "DA001", "name": "Roasting kiln stack", "name_zh": "焙烧窑排气筒", "mn": MN,
                 "site": "baotou", "reference_o2_pct": 18, "flow": {"code": "a00000", "unit": "m3/s"},
                 "pollutants": [{"code": "a21026", "name": "SO2", "name_zh": "二氧化硫", "unit": "mg/m3",
                                 "limits": [{"value": 100, "period": "h", "source": "permit 3.1"},
                                            {"value": 40, "period": "d", "source": "permit 3.2"},
                                            {"value": 30, "period": "d", "kind": "target", "source": "ultra-low"},
                                            {"value": 0.1, "period": "y", "source": "permit 5"}]}]}]}
MEAN = (7 * 25 + 2 * 125) / 9


def build_month(url: str) -> dict[str, Any]:
    eng = make_engine(url)
    try:
        with session_scope(eng) as s:
            structure.create_org(s, "acme")
            structure.add_site(s, "acme", "baotou", "CN-NM")
            add_station(s, "acme", "baotou", MN, PW, "roasting kiln stack DA001")
            outlets.save(s, "acme", SETTINGS)
        uploads = frames(STACK, datetime(2025, 11, 30, 20), datetime(2025, 11, 30, 22), "2061") + \
            frames(STACK, datetime(2025, 12, 1), datetime(2025, 12, 1, 12))
        through_gateway(eng, {MN: uploads})
        processing.process(eng, "acme")
        with session_scope(eng) as s:
            new = compliance.detect(s, "acme", datetime(2025, 12, 1), datetime(2025, 12, 2))
            hourly = next(e for e in new if e.period == "h")
            compliance.acknowledge(s, "acme", hourly.id, "ops", "scrubber pump tripped; restarted 07:00",
                                   now=datetime(2025, 12, 1, 0, 30, tzinfo=UTC))
        with session_scope(eng) as s:
            return month_summary(s, "acme", "2025-12")
    finally:
        eng.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def summary(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield build_month(f"sqlite:///{tmp_path_factory.mktemp('compliance') / 'c.db'}")
    else:
        for url in pg_database():
            yield build_month(url)


def test_the_month_is_worked_by_hand(summary: dict[str, Any]) -> None:
    assert summary["period"] == {"start": "2025-12-01 00:00", "end": "2026-01-01 00:00",
                                 "through": "2026-01-01 00:00", "complete": True}
    (o,) = summary["outlets"]
    (p,) = o["pollutants"]
    assert p["hours"] == {"valid": 9, "invalid": 1, "stopped": 1, "missing": 733, "total": 744}
    assert p["flags"] == {"F": 60, "M": 30}
    assert p["availability_pct"] == pytest.approx(100 * 9 / 743)
    assert p["mean"] == pytest.approx(MEAN)
    assert (p["max"], p["max_at"]) == (pytest.approx(125.0), "2025-12-01 05:00")
    assert (p["valid_days"], p["days"], p["daily_limit"], p["days_over_daily_limit"]) == (1, 31, 40.0, 1)
    assert [(x["kind"], x["period"], x["value"], x["over"]) for x in p["limits"]] == [
        ("permit", "h", 100.0, 2), ("permit", "d", 40.0, 1), ("target", "d", 30.0, 1), ("permit", "y", 0.1, 0)]
    assert p["quantity_t_month"] == pytest.approx(0.0306)
    assert p["quantity_t_ytd"] == pytest.approx(0.0342)
    assert p["yearly_share_pct"] == pytest.approx(34.2)
    assert summary["totals"] == {"events": 3, "permit_events": 2, "unacknowledged": 2}
    ev = {(e["period"], e["limit"]): e for e in summary["events"]}
    h = ev[("h", 100.0)]
    assert (h["start"], h["end"], h["periods"], h["duration_h"], h["peak"]) == \
        ("2025-12-01 05:00", "2025-12-01 07:00", 2, 2.0, 125.0)
    assert (h["acknowledged_by"], h["acknowledged_at"]) == ("ops", "2025-12-01 08:30")   # 00:30 UTC, local time
    d = ev[("d", 40.0)]
    assert (d["start"], d["end"], d["peak"], d["acknowledged_by"]) == \
        ("2025-12-01 00:00", "2025-12-02 00:00", pytest.approx(MEAN), None)


def test_both_languages_have_the_same_labels() -> None:
    assert set(compliance_labels.EN) == set(compliance_labels.ZH)
    for lang in ("en", "zh"):
        L = compliance_labels.compliance_labels(lang)
        for key in (k for k in L if k.startswith("sheet_")):
            assert len(L[key]) <= 31 and not set(L[key]) & set("[]:*?/\\"), key


@pytest.fixture(scope="module")
def files(summary: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("files")
    return {f"{kind}-{lang}": (compliance_pdf if kind == "pdf" else compliance_xlsx)(summary, out / f"c-{lang}.{kind}",
                                                                                      lang)
            for lang in ("en", "zh") for kind in ("pdf", "xlsx")}


def pdf_text(path: Path) -> str:
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() or "" for p in PdfReader(path).pages))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pdf_carries_the_figures(files: dict[str, Path], lang: str) -> None:
    text = pdf_text(files[f"pdf-{lang}"]).replace("， ", "，")   # extraction adds a space after a full-width comma
    L = compliance_labels.compliance_labels(lang)
    zh = lang == "zh"
    outlet, so2 = ("DA001 焙烧窑排气筒", "二氧化硫") if zh else ("DA001 Roasting kiln stack", "SO2")
    for key in ("report_title", "sec_hours", "sec_concentrations", "sec_limits", "sec_events", "sec_quantities"):
        assert L[key] in text, key
    assert ("2025年12月" if zh else "Dec 2025") in text
    assert f"{outlet} {so2} 9 1 1 733 F 60, M 30 1.2%" in text
    assert f"DA001 {so2} (mg/m3) 18.0 47.22 125.00 2025-12-01 05:00 1 40.00 1" in text
    assert f"DA001 {so2} {L['kind_permit']} {L['period_h']} 100.00 mg/m3 {L['over_h'].format(n=2)} permit 3.1" in text
    assert f"DA001 {so2} {L['kind_permit']} {L['period_y']} 0.10 t {L['over_y'].format(share=34.2)} permit 5" in text
    assert (f"1 DA001 · {so2} {L['kind_permit']} 100.00 mg/m3 ({L['period_h']}) 2025-12-01 05:00 2025-12-01 07:00 "
            f"2 125.00 {L['acknowledged']}: {L['ack_by'].format(who='ops', when='2025-12-01 08:30')} — "
            f"{L['comment']}: scrubber pump tripped; restarted 07:00") in text
    assert (f"3 DA001 · {so2} {L['kind_target']} 30.00 mg/m3 ({L['period_d']}) 2025-12-01 00:00 2025-12-02 00:00 "
            f"24 47.22 {L['not_acknowledged']}") in text
    assert f"DA001 {so2} 0.0306 0.0342 0 / 0 0.10 34.2%" in text
    assert L["note_flags"][:30] in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_workbook_reads_back(files: dict[str, Path], lang: str) -> None:
    L = compliance_labels.compliance_labels(lang)
    wb = load_workbook(files[f"xlsx-{lang}"])
    assert wb.sheetnames == [L[k] for k in ("sheet_summary", "sheet_hours", "sheet_concentrations", "sheet_limits",
                                            "sheet_events", "sheet_quantities", "sheet_notes")]
    so2 = "二氧化硫" if lang == "zh" else "SO2"
    ws = wb[L["sheet_hours"]]
    assert [c.value for c in ws[2]][1:] == [so2, 9, 1, 1, 733, "F 60, M 30", pytest.approx(9 / 743)]
    ws = wb[L["sheet_concentrations"]]
    row = [c.value for c in ws[2]]
    assert row[1:] == [so2, "mg/m3", 18.0, pytest.approx(MEAN), pytest.approx(125.0), "2025-12-01 05:00", 1, 40.0, 1]
    assert ws.cell(2, 5).number_format == "#,##0.00"
    ws = wb[L["sheet_limits"]]
    assert [[c.value for c in r][4] for r in ws.iter_rows(min_row=2)] == [100.0, 40.0, 30.0, 0.1]
    assert ws.cell(5, 7).value == L["over_y"].format(share=34.2)
    ws = wb[L["sheet_events"]]
    events = {(r[4].value, r[5].value): [c.value for c in r] for r in ws.iter_rows(min_row=2)}
    h = events[(L["period_h"], 100.0)]
    assert h[7:] == ["2025-12-01 05:00", "2025-12-01 07:00", 2.0, 125.0, "2025-12-01 05:00",
                     "ops", "2025-12-01 08:30", "scrubber pump tripped; restarted 07:00"]
    assert events[(L["period_d"], 30.0)][3] == L["kind_target"]
    assert events[(L["period_d"], 40.0)][12] == L["not_acknowledged"]
    ws = wb[L["sheet_quantities"]]
    assert [c.value for c in ws[2]][2:] == [pytest.approx(0.0306), pytest.approx(0.0342), "0 / 0", 0.1,
                                            pytest.approx(0.342)]
    ws = wb[L["sheet_summary"]]
    meta = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(3, ws.max_row + 1)}
    assert (meta[L["headline_events"]], meta[L["headline_unacknowledged"]]) == (3, 2)
    assert meta[L["headline_availability"]] == pytest.approx(9 / 743)


def test_the_html_loads_nothing_from_outside(summary: dict[str, Any]) -> None:
    html = render_html(summary, "zh")
    assert "http://" not in html and "https://" not in html and "<img" not in html


def test_a_water_outlet_counts_milligrams_per_litre(sqlite_engine: Any) -> None:
    """Ammonia nitrogen 10 mg/L at 50 m3/h: 10 g/m3 × 50 m3/h = 0.5 kg/h (1 mg/L = 1,000 mg/m3)."""
    water = Stack("WATERDW001", PW, (Channel("w21003", 10.0, 0.0, 2), Channel("w00000", 50.0, 0.0, 1)))
    with session_scope(sqlite_engine) as s:
        structure.create_org(s, "acme")
        structure.add_site(s, "acme", "baotou", "CN-NM")
        add_station(s, "acme", "baotou", water.mn, PW, "wastewater outlet DW001")
        outlets.save(s, "acme", {"outlets": [{
            "code": "DW001", "mn": water.mn, "site": "baotou", "flow": {"code": "w00000", "unit": "m3/h"},
            "pollutants": [{"code": "w21003", "name": "Ammonia nitrogen", "unit": "mg/L",
                            "limits": [{"value": 15, "period": "d", "unit": "mg/L"}]}]}]})
    through_gateway(sqlite_engine, {water.mn: frames(water, datetime(2025, 12, 1), datetime(2025, 12, 1, 1))})
    processing.process(sqlite_engine, "acme")
    with session_scope(sqlite_engine) as s:
        settings = outlets.load(s, "acme")
        hours = compliance.outlet_hours(s, "acme", settings.outlet("DW001"), datetime(2025, 12, 1),
                                        datetime(2025, 12, 1, 1), settings)
    assert (hours.loc[0, "measured"], hours.loc[0, "kg_h"]) == (pytest.approx(10.0), pytest.approx(0.5))
