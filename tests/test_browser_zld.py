"""The zero-liquid-discharge page in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`:
the demo's verified December 2025 with its Sankey drawn, November 2025 not verified (an unexplained loss), and
Chinese."""

from __future__ import annotations

import re
from typing import Any

from browser_support import screenshot
from test_browser import card, sign_in


def sankey_drawn(page: Any, chart: str, *labels: str) -> Any:
    """ECharts drew the Sankey in SVG: its nodes named, its flows as paths."""
    page.wait_for_selector(f"#{chart} svg")
    svg = page.locator(f"#{chart} svg")
    for name in labels:
        assert svg.locator("text", has_text=name).count() >= 1, name
    assert svg.locator("path").count() >= 6
    return svg


def test_the_verified_month_and_its_sankey(page: Any) -> None:
    sign_in(page)
    page.goto("/compliance/zld")
    assert page.get_by_role("heading", level=1).inner_text() == "Zero liquid discharge"
    assert page.locator("#zld-period").input_value() == "2025-12"                  # the latest period
    verdict = page.locator("#zld-verdict")
    assert verdict.get_attribute("data-verdict") == "confirmed"
    assert "Zero discharge confirmed" in verdict.inner_text()
    assert card(page, "recovery_pct") == "93.9%" and card(page, "closure_pct") == "1.1%"
    sankey_drawn(page, "chart-zld-water", "Feed", "Drawn from the tanks", "Evaporator", "Distillate reused",
                 "Unexplained loss")
    sankey_drawn(page, "chart-zld-salt", "NH4Cl (dry)", "Na2SO4 (dry)", "Crystalliser")
    assert page.locator("table.zld-salts tr[data-salt='NH4Cl'] [data-key='dry_t']").inner_text() == "361.0"
    assert page.locator("table.zld-conversion").get_attribute("data-state") == "ok"
    rows = page.locator("table.zld-periods tbody tr")
    assert [rows.nth(i).get_attribute("data-verdict") for i in range(rows.count())] == ["confirmed", "not-confirmed"]
    screenshot(page, "zld-en")

    with page.expect_navigation():                                  # the select submits on change
        page.select_option("#zld-period", "2025-11")
    assert "period=2025-11" in page.url
    assert page.locator("#zld-verdict").get_attribute("data-verdict") == "not-confirmed"
    reason = page.locator("#zld-verdict li[data-reason='balance']").inner_text()
    assert re.search(r"250\.8 m3 \(2\.9% of the water in\) are unexplained", reason), reason
    sankey_drawn(page, "chart-zld-water", "Unexplained loss", "Into the tanks")


def test_the_page_in_chinese(page: Any) -> None:
    sign_in(page)
    page.goto("/compliance/zld")
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    try:
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert "零排放已确认" in page.locator("#zld-verdict").inner_text()
        page.goto("/compliance/zld?plant=BT-ZLD&period=2025-11")
        assert "零排放未确认" in page.locator("#zld-verdict").inner_text()
        page.wait_for_selector("#chart-zld-water svg text:has-text('蒸发器')")
        sankey_drawn(page, "chart-zld-water", "进水", "无法解释的损失")
        screenshot(page, "zld-zh")
    finally:
        with page.expect_navigation():                              # back to English, for the other tests
            page.get_by_role("button", name="English").click()


def test_every_form_field_has_a_label(page: Any) -> None:
    sign_in(page)
    page.goto("/compliance/zld")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && e.type !== 'submit')
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.name || e.id)""")
    assert unlabelled == []
