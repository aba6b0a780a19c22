"""The energy pages in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`: the EnPI
chart drawn, the convention switched, the baseline page's CUSUM chart, the energy-flow Sankey, and Chinese."""

from __future__ import annotations

import re
from typing import Any

from browser_support import screenshot
from test_browser import card, sign_in


def enpi_chart_drawn(page: Any) -> None:
    """ECharts drew two lines (last year and this year) with a point per month, in SVG."""
    page.wait_for_selector("#chart-enpi svg")
    svg = page.locator("#chart-enpi svg")
    assert svg.locator("text", has_text="2024").count() >= 1 and svg.locator("text", has_text="2025").count() >= 1
    assert svg.locator("path").count() >= 24 + 2                    # 2 × 12 symbols and the two lines


def test_the_enpi_page_and_the_convention_switch(page: Any) -> None:
    sign_in(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Energy", exact=True).click()
    page.wait_for_url(re.compile(r".*/energy$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Energy per tonne (EnPI) 2025"
    enpi_chart_drawn(page)
    equivalent = card(page, "kgce_per_t")
    assert float(equivalent.replace(",", "")) > 1000
    screenshot(page, "energy-enpi-en")

    with page.expect_navigation():                                  # the select submits on change
        page.select_option("#en-convention", "generation")
    assert "convention=generation" in page.url
    assert page.locator("#en-convention").input_value() == "generation"
    assert page.locator("[data-key='convention']").inner_text() == "generation-equivalent value"
    generation = card(page, "kgce_per_t")
    assert float(generation.replace(",", "")) > float(equivalent.replace(",", ""))   # 0.404 > 0.1229 kgce/kWh
    enpi_chart_drawn(page)

    with page.expect_navigation():
        page.select_option("#en-line", "baotou / separation")
    assert page.locator("#en-line").input_value() == "baotou / separation"
    assert page.get_by_role("heading", name="Monthly energy per tonne · baotou / separation · 2024 / 2025").count() == 1
    enpi_chart_drawn(page)
    assert page.locator("a[data-key='report-pdf']").get_attribute("href").startswith("/energy/report?month=2025-12")


def test_the_baseline_page_shows_the_cusum(page: Any) -> None:
    sign_in(page)
    page.goto("/energy")
    with page.expect_navigation():
        page.get_by_role("link", name="Baselines and savings").click()
    page.wait_for_url(re.compile(r".*/energy/baseline$"))
    with page.expect_navigation():
        page.select_option("#bl-line", "baotou / separation")
    assert page.get_by_role("heading", level=1).inner_text() == "Baseline · baotou / separation"
    assert "production_t" in page.locator("[data-key='formula']").inner_text()
    page.wait_for_selector("#chart-cusum svg")
    cusum = page.locator("#chart-cusum svg")
    assert cusum.locator("text", has_text="CUSUM").count() >= 1     # the legend
    assert cusum.locator("path").count() >= 12 + 12                 # a bar and a point per month
    last = page.locator("table.reporting tbody tr").last.locator("[data-key='cusum']").inner_text()
    assert card(page, "cusum") == f"{float(last.replace(',', '')) / 1000:,.1f}"
    page.wait_for_selector("#chart-baseline svg")
    page.wait_for_selector("#chart-fit svg")
    screenshot(page, "energy-baseline-en")


def test_the_energy_flow_sankey(page: Any) -> None:
    sign_in(page)
    page.goto("/energy/flows")
    page.wait_for_selector("#chart-sankey svg")
    svg = page.locator("#chart-sankey svg")
    for name in ("Purchased grid electricity", "baotou", "baotou / separation", "Praseodymium-neodymium oxide"):
        assert svg.locator("text", has_text=name).count() >= 1, name
    assert svg.locator("path").count() >= 20                        # the flows
    screenshot(page, "energy-flows-en")


def test_the_energy_pages_in_chinese(page: Any) -> None:
    sign_in(page)
    page.goto("/energy/baseline?line=ganzhou/magnet")
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    try:
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.get_by_role("heading", name="节能量与累积和（CUSUM） 2025").count() == 1
        page.wait_for_selector("#chart-cusum svg text:has-text('节能量')")
        assert page.get_by_text("超出基准范围").count() >= 1
        page.goto("/energy/flows")
        page.wait_for_selector("#chart-sankey svg text:has-text('外购电网电力')")
        screenshot(page, "energy-flows-zh")
    finally:
        with page.expect_navigation():                              # back to English, for the other tests
            page.get_by_role("button", name="English").click()


def test_every_form_field_has_a_label(page: Any) -> None:
    sign_in(page)
    for path in ("/energy", "/energy/baseline", "/energy/flows"):
        page.goto(path)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.type !== 'submit')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)""")
        assert unlabelled == [], (path, unlabelled)


def test_the_measures_page_draws_its_chart(page: Any) -> None:
    sign_in(page)
    page.goto("/energy")
    with page.expect_navigation():
        page.get_by_role("link", name="Energy-saving measures").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Energy-saving measures 2025"
    page.wait_for_selector("#chart-measures svg")
    rows = page.locator("table.measures tbody tr").count()
    assert rows >= 1
    assert page.locator("#chart-measures svg text", has_text="Estimated").count() == 1   # the legend
    screenshot(page, "energy-measures-en")
