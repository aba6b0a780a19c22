"""The product-footprint pages in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`:
from the navigation to PrNd oxide, both allocations, the charts drawn, and the page in Chinese."""

from __future__ import annotations

import re
from typing import Any

from browser_support import screenshot
from test_browser import card, sign_in

PRND_ECONOMIC, PRND_MASS = "47.436", "11.237"     # demo 2025, PrNd oxide, kg CO2e/kg (the organisation's default:
                                                  # economic allocation; rareeco footprint --json)


def charts_drawn(page: Any) -> None:
    """ECharts drew both charts as SVG: a bar per contribution, the histogram's bins and its percentile lines."""
    page.wait_for_selector("#chart-contrib svg")
    page.wait_for_selector("#chart-hist svg")
    contrib = page.locator("#chart-contrib svg")
    assert contrib.locator("text", has_text="direct emissions — baotou / separation").count() >= 1
    assert contrib.locator("path").count() >= 10                       # 13 contributions of PrNd oxide
    hist = page.locator("#chart-hist svg")
    assert hist.locator("path").count() >= 30                          # 30 bins (and the axes)
    assert hist.locator("text", has_text="Median").count() == 1


def test_footprints_from_the_navigation_to_one_product(page: Any) -> None:
    sign_in(page)
    page.get_by_role("link", name="Footprints", exact=True).click()
    page.wait_for_url(re.compile(r".*/footprints$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Product carbon footprints 2025"
    row = page.locator("tr[data-product='prnd-oxide']")
    assert row.locator("[data-key='kg_co2e_per_declared_unit']").inner_text() == PRND_ECONOMIC
    assert row.locator("[data-key='mass']").inner_text() == PRND_MASS
    screenshot(page, "footprints-en")

    page.get_by_role("link", name="Praseodymium-neodymium oxide", exact=True).click()
    page.wait_for_url(re.compile(r".*/footprints/prnd-oxide\?year=2025$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Praseodymium-neodymium oxide 2025"
    assert card(page, "kg_co2e_per_declared_unit") == PRND_ECONOMIC
    charts_drawn(page)

    page.select_option("#fp-allocation", "mass")                      # submits on change
    page.wait_for_url(re.compile(r".*allocation=mass"))
    assert card(page, "kg_co2e_per_declared_unit") == PRND_MASS
    assert page.locator("#fp-allocation").input_value() == "mass"
    assert page.locator("[data-key='sum-mass']").inner_text() == "100.0%"
    charts_drawn(page)
    screenshot(page, "footprint-en")

    with page.expect_navigation():                                     # the POST, its redirect and the page
        page.get_by_role("button", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", level=1).inner_text() == "氧化镨钕 2025"
    assert page.get_by_role("heading", name="碳足迹的来源").count() == 1
    assert page.get_by_role("link", name="产品碳足迹", exact=True).count() == 1
    assert card(page, "kg_co2e_per_declared_unit") in (PRND_ECONOMIC, PRND_MASS)   # /lang keeps the path only
    page.wait_for_selector("#chart-contrib svg text:has-text('直接排放 — baotou / separation')")
    screenshot(page, "footprint-zh")
    with page.expect_navigation():                                     # and back, for the other tests
        page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Praseodymium-neodymium oxide 2025"


def test_every_form_field_has_a_label(page: Any) -> None:
    sign_in(page)
    for path in ("/footprints", "/footprints/prnd-oxide"):
        page.goto(path)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.type !== 'submit')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)""")
        assert unlabelled == [], (path, unlabelled)
