"""The meters page in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`: the tree and
the sub-meter balance chart drawn, choosing a meter draws its days and hours, an upload through the form stores the
readings and a repeated upload is refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from browser_support import screenshot
from test_browser import sign_in

# 2023 has no demo readings (they cover 2024 and 2025), so the page's default year stays 2025 after this upload
READINGS = ("meter,timestamp,value\n"
            "BT-MET-EL,2023-12-31T21:00:00,1000.5\n"
            "BT-MET-EL,2023-12-31T22:00:00,990.25\n"
            "BT-MET-EL,2023-12-31T23:00:00,1010\n")


def test_the_tree_and_the_balance_chart(page: Any) -> None:
    sign_in(page)
    page.goto("/energy")
    with page.expect_navigation():
        page.get_by_role("link", name="Meters", exact=True).click()
    page.wait_for_url(re.compile(r".*/energy/meters$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Meters 2025"
    rows = page.locator("table.meter-tree tbody tr")
    assert rows.count() == 10
    assert page.locator("table.meter-tree tr[data-depth='1']").count() == 3           # the separation sub-meters
    assert page.locator("tr[data-meter='BT-SEP-AGIT'] [data-key='role']").inner_text() == "sub-meter"
    pcts = page.locator("table.balance tbody [data-key='unaccounted_pct']").all_inner_texts()
    assert pcts == ["4.0%"] * 12
    page.wait_for_selector("#chart-balance-0 svg")
    svg = page.locator("#chart-balance-0 svg")
    for name in ("BT-SEP-AGIT", "BT-SEP-PUMP", "BT-SEP-PROC", "Unaccounted"):
        assert svg.locator("text", has_text=name).count() >= 1, name                  # the legend
    assert svg.locator("path").count() >= 4 * 12                                      # four stacked bars a month
    screenshot(page, "energy-meters-en")


def test_choosing_a_meter_draws_its_days_and_hours(page: Any) -> None:
    sign_in(page)
    page.goto("/energy/meters?year=2025")
    with page.expect_navigation():                                  # the select submits on change
        page.select_option("#mt-meter", "BT-SEP-GAS")
    assert "meter=BT-SEP-GAS" in page.url
    assert page.locator("#mt-meter").input_value() == "BT-SEP-GAS"
    assert page.get_by_role("heading", level=2, name=re.compile(r"^BT-SEP-GAS · .* · 2025-12$")).count() == 1
    page.wait_for_selector("#chart-days svg")
    days = page.locator("#chart-days svg")
    assert days.locator("text", has_text="BT-SEP-GAS · Daily total").count() == 1
    assert days.locator("path").count() >= 31                      # a bar per day of December
    page.wait_for_selector("#chart-hours svg")
    assert page.locator("#chart-hours svg text", has_text="Nm3").count() >= 1         # the axis names the unit
    with page.expect_navigation():
        page.select_option("#mt-month", "2")
    page.wait_for_selector("#chart-days svg")
    assert page.locator("table.meter-days tbody tr").count() == 28
    screenshot(page, "energy-meters-gas-en")


def test_upload_through_the_form(page: Any, tmp_path: Path) -> None:
    sign_in(page)
    page.goto("/energy/meters")
    path = tmp_path / "met-2023-12-31.csv"
    path.write_text(READINGS, encoding="utf-8")

    def submit() -> None:
        page.get_by_label("CSV file of meter readings").set_input_files(str(path))
        page.select_option("#mt-stamp", "start")
        with page.expect_navigation():
            page.get_by_role("button", name="Import the readings").click()

    submit()
    ok = page.locator("#meter-import-ok")
    assert ok.locator("[data-key='points_stored']").inner_text() == "3"
    assert "met-2023-12-31.csv" in ok.inner_text()
    assert page.get_by_role("heading", level=1).inner_text() == "Meters 2025"   # the page stays on its year
    assert page.locator("#mt-year option[value='2023']").count() == 1
    screenshot(page, "energy-meters-upload-en")
    submit()                                                        # the same file again
    error = page.locator("#meter-import-error")
    assert error.get_attribute("data-code") == "duplicate_import"
    assert "This file is already imported" in error.inner_text()
    page.goto("/energy/meters?year=2023&meter=BT-MET-EL&month=12")
    page.wait_for_selector("#chart-days svg")
    day = page.locator("table.meter-days tbody tr[data-day='31'] [data-key='value']")     # in the folded table
    assert day.text_content() == "3,000.750"                        # 1000.5 + 990.25 + 1010 kWh
