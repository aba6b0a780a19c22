"""Browser flows that change data, on their own demo server: import with errors, fix, confirm,
see the dashboard change; lock as verifier and see an import refused; screenshots of every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from browser_support import new_page, screenshot
from test_browser import card, sign_in

HEADER = "site,period_start,period_end,activity,amount,unit,line,product\n"
# 2026 has no demo data, so the dashboard shows exactly this file:
# 100 MWh × 0.6361 (North China grid, 2023: latest year) = 63.61 t; 1 万Nm3 × 389.31 GJ × 56.1 kg/GJ = 21.840 t
GOOD = HEADER + ("baotou,2026-01-01,2026-01-31,electricity.grid,100,MWh,separation,\n"
                 "baotou,2026-01-01,2026-01-31,fuel.natural_gas,1,万Nm3,,\n")
BAD = GOOD + ("baotou,2026-01-01,2026-01-31,electricity.grid,50,t,separation,\n"
              "mars,2026-01-01,2026-01-31,fuel.diesel,1,t,,\n")


def upload(page: Any, path: Path) -> None:
    page.goto("/import")
    page.get_by_label("CSV or Excel file").set_input_files(str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="Check the file").click()


def test_import_errors_fix_confirm_and_lock(browser: Any, server: str, tmp_path: Path) -> None:
    pages = new_page(browser, server)
    page = next(pages)
    sign_in(page)
    bad = tmp_path / "energy-2026.csv"
    bad.write_text(BAD, encoding="utf-8")
    upload(page, bad)
    text = page.inner_text("main")
    assert "4" in text and "unit 't' does not fit this activity" in text and "unknown site 'mars'" in text
    rows = page.locator("table tbody tr").all_inner_texts()
    assert any(r.startswith("energy-2026.csv\t4\tunit") or "\t4\t" in r for r in rows)   # row 4, column unit
    assert any("\t5\t" in r and "site" in r for r in rows)                               # row 5, column site
    assert page.get_by_role("button", name="Import").count() == 0      # nothing to confirm: it has errors
    screenshot(page, "import-check-errors")

    fixed = tmp_path / "energy-2026-fixed.csv"
    fixed.write_text(GOOD, encoding="utf-8")
    upload(page, fixed)
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r".*/import\?imported=\d+"))
    page.goto("/?year=2026")
    assert card(page, "scope2_location_t_co2e") == "63.6"
    assert card(page, "scope1_t_co2e") == "21.8"
    assert card(page, "total_t_co2e") == "85.5"                        # 63.61 + 21.840291
    next(pages, None)

    # the verifier locks 2026; the steward's next import into it is refused
    pages = new_page(browser, server)
    page = next(pages)
    sign_in(page, "demo-verifier")
    page.goto("/periods")
    page.get_by_label("Period (YYYY or YYYY-MM)").fill("2026")
    page.get_by_label("Comment").fill("verified in the browser test")
    with page.expect_navigation():
        page.get_by_role("button", name="Lock").click()
    assert "verified in the browser test" in page.inner_text("main")
    screenshot(page, "periods")
    next(pages, None)

    pages = new_page(browser, server)
    page = next(pages)
    sign_in(page)
    late = tmp_path / "late-2026.csv"
    late.write_text(GOOD.replace("2026-01", "2026-02").replace("-31,", "-28,"), encoding="utf-8")
    upload(page, late)
    assert "falls in the locked period 2026" in page.inner_text("main")
    assert page.get_by_role("button", name="Import").count() == 0
    next(pages, None)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshots_of_every_main_page(browser: Any, server: str, lang: str) -> None:
    pages = new_page(browser, server)
    page = next(pages)
    sign_in(page)
    if lang == "zh":
        with page.expect_navigation():
            page.get_by_role("button", name="中文").click()
    for path, name in (("/?year=2025", "overview"), ("/import", "import"), ("/inventory?year=2025", "inventory"),
                       ("/periods", "periods"), ("/reference", "reference"), ("/tokens", "tokens")):
        r = page.goto(path)
        assert r.status == 200, path
        assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
        screenshot(page, f"{name}-{lang}")
    if lang == "zh":
        with page.expect_navigation():
            page.get_by_role("button", name="English").click()
    next(pages, None)


def test_reports_download_in_the_viewers_language(browser: Any, server: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    pages = new_page(browser, server)
    page = next(pages)
    sign_in(page)
    page.goto("/inventory?year=2025")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Excel").click()
    path = tmp_path / "r.xlsx"
    dl.value.save_as(path)
    assert dl.value.suggested_filename == "inventory-demo-2025-ghg-protocol-en.xlsx"
    assert load_workbook(path).sheetnames[0] == "Summary"
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    page.goto("/inventory?year=2025")
    with page.expect_download() as dl:
        page.get_by_role("link", name="PDF").click()
    assert dl.value.suggested_filename.endswith("-zh.pdf")
    pdf = tmp_path / "r.pdf"
    dl.value.save_as(pdf)
    from pypdf import PdfReader

    assert "范围一" in PdfReader(pdf).pages[0].extract_text()
    page.get_by_role("button", name="English").click()
    next(pages, None)
