"""The monthly energy report: the PDF read back by text extraction and the workbook by openpyxl, in English and
Chinese; every figure is the month summary's (whose figures test_energy_service checks by hand)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from typer.testing import CliRunner

from rareeco.demo.load import load_demo
from rareeco.energy.month import demo_quota_map, month_summary
from rareeco.ledger.db import make_engine, session_scope
from rareeco.reports import energy_labels
from rareeco.reports.energy_report import energy_pdf, energy_xlsx, fmt_n, fmt_pct, render_html

MONTH = "2025-06"
pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('energyreport') / 'demo.db'}"
    eng = make_engine(url)
    with session_scope(eng) as s:
        load_demo(s)
    eng.dispose()
    return url


@pytest.fixture(scope="module")
def summary(demo_db: str) -> dict[str, Any]:
    eng = make_engine(demo_db)
    with session_scope(eng) as s:
        out = month_summary(s, "demo", MONTH, quota_map=demo_quota_map())
    eng.dispose()
    return out


@pytest.fixture(scope="module")
def files(summary: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("files")
    made = {}
    for lang in ("en", "zh"):
        made[f"pdf-{lang}"] = energy_pdf(summary, out / f"e-{lang}.pdf", lang)
        made[f"xlsx-{lang}"] = energy_xlsx(summary, out / f"e-{lang}.xlsx", lang)
    return made


def pdf_text(path: Path) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)


def test_both_languages_have_the_same_labels() -> None:
    assert set(energy_labels.EN) == set(energy_labels.ZH)
    for lang in ("en", "zh"):
        L = energy_labels.energy_labels(lang)
        for key in (k for k in L if k.startswith("sheet_")):
            assert len(L[key]) <= 31 and not set(L[key]) & set("[]:*?/\\"), key


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pdf_carries_the_figures(files: dict[str, Path], summary: dict[str, Any], lang: str) -> None:
    text = pdf_text(files[f"pdf-{lang}"])
    flat = re.sub(r"\s+", " ", text)
    L = energy_labels.energy_labels(lang)
    assert L["report_title"] in text and L["sec_baselines"] in text
    assert ("2025年6月" if lang == "zh" else "Jun 2025") in text
    tot = summary["organisation_total"]
    assert f"{fmt_n(tot['kgce_per_t'], 1)} {L['kgce_per_t']}" in flat
    assert f"{L['mom']} {fmt_pct(tot['mom_change_pct'])}" in flat and fmt_pct(tot["yoy_change_pct"]) in flat
    for line, v in summary["lines"].items():                      # one row per line: kgce, GJ, t, kgce/t, changes
        row = " ".join([line, fmt_n(v["kgce"]), fmt_n(v["gj"], 1), fmt_n(v["production_t"], 1),
                        fmt_n(v["kgce_per_t"], 1), fmt_pct(v["mom_change_pct"]), fmt_pct(v["yoy_change_pct"])])
        assert row in flat, row
        b = summary["baselines"][line]
        if b["savings"]:
            assert fmt_n(b["savings"]["total_kgce"]) in flat and fmt_n(b["cusum_kgce"]) in flat
    assert fmt_n(summary["savings_to_date"]["total_kgce"]) in flat
    assert fmt_n(summary["savings_to_date"]["uncertainty_68_kgce"]) in flat
    for q in summary["quota"]:
        assert q["quota"] in flat
    gas = "天然气（固定燃烧）" if lang == "zh" else "Natural gas, stationary combustion"
    assert gas in flat
    if lang == "zh":
        assert "超出基准范围" in flat and "is outside the baseline range" not in flat   # translated warnings


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_workbook_reads_back(files: dict[str, Path], summary: dict[str, Any], lang: str) -> None:
    L = energy_labels.energy_labels(lang)
    wb = load_workbook(files[f"xlsx-{lang}"])
    assert wb.sheetnames == [L[k] for k in ("sheet_summary", "sheet_lines", "sheet_carriers", "sheet_quota",
                                            "sheet_baselines", "sheet_cusum", "sheet_notes")]
    rows = {r[0]: r for r in wb[L["sheet_lines"]].iter_rows(min_row=2, values_only=True)}
    for line, v in [*summary["lines"].items(), (L["total_row"], summary["organisation_total"])]:
        r = rows[line]
        # Excel keeps 15 significant digits
        assert r[1:6] == pytest.approx((v["kgce"], v["gj"], v["production_t"], v["kgce_per_t"], v["gj_per_t"]),
                                       rel=1e-14)
        assert r[6] == pytest.approx(v["mom_change_pct"] / 100) and r[7] == pytest.approx(v["yoy_change_pct"] / 100)
        assert r[8] == pytest.approx(v["ytd"]["kgce_per_t"], rel=1e-14)
    ws = wb[L["sheet_lines"]]
    assert ws["G2"].number_format == "+0.00%;-0.00%;0.00%"
    carriers = [r for r in wb[L["sheet_carriers"]].iter_rows(min_row=2, values_only=True) if r[0] and r[3]]
    assert sum(r[4] for r in carriers) == pytest.approx(summary["organisation_total"]["kgce"])
    base = {r[0]: r for r in wb[L["sheet_baselines"]].iter_rows(min_row=2, values_only=True) if r[0]}
    for line, b in summary["baselines"].items():
        if b["savings"]:
            assert base[line][4] == pytest.approx(b["savings"]["total_kgce"], rel=1e-14)
            assert base[line][7] == pytest.approx(b["cusum_kgce"], rel=1e-14)
            assert base[line][5] == pytest.approx(b["savings"]["uncertainty"][0]["kgce"], rel=1e-14)
    assert base[L["total_row"]][4] == pytest.approx(summary["savings_to_date"]["total_kgce"], rel=1e-14)
    cusum = list(wb[L["sheet_cusum"]].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in cusum] == [f"2025-{m:02d}" for m in range(1, 7)]
    assert cusum[-1][2] == pytest.approx(summary["savings_to_date"]["total_kgce"])
    quota = {r[0]: r for r in wb[L["sheet_quota"]].iter_rows(min_row=2, values_only=True) if r[0] and r[1]}
    for q in summary["quota"]:
        assert quota[q["product"]][2] == pytest.approx(q["kgce_per_t"], rel=1e-14)
        assert quota[q["product"]][6] == (q["level"] if q["level"] is not None else L["above_3"])


def test_the_html_loads_nothing_from_outside(summary: dict[str, Any]) -> None:
    html = render_html(summary, "zh")
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<svg") == 2                                  # the trend and the CUSUM


def test_the_report_command(demo_db: str, tmp_path: Path) -> None:
    from rareeco.cli import app

    quota = Path(__file__).parents[1] / "src" / "rareeco" / "demo" / "energy-quota.yaml"
    for lang, fmt in (("en", "pdf"), ("zh", "xlsx")):
        out = tmp_path / f"r.{fmt}"
        r = CliRunner().invoke(app, ["--db", demo_db, "energy", "report", "--org", "demo", "--month", MONTH,
                                     "--lang", lang, "--format", fmt, "--out", str(out), "--map", str(quota)],
                               catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 1000
    assert "bayan-obo:prnd-oxide" in pdf_text(tmp_path / "r.pdf")
    bad = CliRunner().invoke(app, ["--db", demo_db, "energy", "report", "--org", "demo", "--month", MONTH,
                                   "--out", str(tmp_path / "r.docx")])
    assert bad.exit_code != 0
