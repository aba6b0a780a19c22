"""The air-compliance pages in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`, whose
stacks went through the real HJ 212 gateway: December 2025 with its charts drawn and live values streamed, exactly
one permit exceedance (the SO2 scrubber trip of stacks.yaml) whose peak the test works out itself from the data
logger's minute uploads, its acknowledgement from the page, and the Chinese page."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from browser_support import screenshot
from rareeco.demo.compliance import settings, stacks
from rareeco.ingest.hj212_profile import segments
from test_browser import sign_in

UPSET = [datetime(2025, 12, 17, h) for h in (14, 15, 16)]


def so2_hours() -> dict[datetime, float]:
    """SO2 of the kiln stack at its reference O2 per hour of December 2025, from the logger's minute uploads
    (not from the ledger): the hour's mean SO2 × (21 − O2 ref) / (21 − the hour's mean O2), minutes flagged N only."""
    kiln = next(s for s in stacks() if s.mn == "DEMOBTDA001")
    ref = next(o for o in settings()["outlets"] if o["code"] == "DA001")["reference_o2_pct"]
    so2: dict[datetime, list[float]] = {}
    o2: dict[datetime, list[float]] = {}
    for seg in segments(kiln, datetime(2025, 12, 1), datetime(2026, 1, 1), "2051"):
        if "a21026-Flag=N" not in seg:
            continue
        t = datetime.strptime(re.search(r"DataTime=(\d{14})", seg).group(1), "%Y%m%d%H%M%S")  # type: ignore[union-attr]
        hour = t.replace(minute=0)
        so2.setdefault(hour, []).append(float(re.search(r"a21026-Avg=([\d.]+)", seg).group(1)))  # type: ignore[union-attr]
        o2.setdefault(hour, []).append(float(re.search(r"a19001-Avg=([\d.]+)", seg).group(1)))  # type: ignore[union-attr]
    return {h: sum(v) / len(v) * (21 - ref) / (21 - sum(o2[h]) / len(o2[h])) for h, v in so2.items()}


def test_december_with_its_charts_and_live_values(page: Any) -> None:
    sign_in(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Compliance", exact=True).click()
    page.wait_for_url(re.compile(r".*/compliance$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Air compliance 2025-12"
    assert page.locator("#cp-month").input_value() == "2025-12"
    for outlet, pollutants in (("DA001", ("a21026", "a21018", "a34013")), ("DA002", ("a21018", "a34013"))):
        for p in pollutants:
            page.wait_for_selector(f"#chart-hours-{outlet}-{p} svg")
            page.wait_for_selector(f"#chart-days-{outlet}-{p} svg")
    assert page.locator(".hours-chart svg").count() == 5 and page.locator(".days-chart svg").count() == 5
    so2 = page.locator("#chart-hours-DA001-a21026 svg")
    assert so2.locator("text", has_text="permit limit 200").count() == 1               # the limit lines
    assert so2.locator("text", has_text="target 35").count() == 1
    assert so2.locator("text", has_text="maintenance").count() == 1                     # the 4-hour gap is shaded
    page.wait_for_selector("#live-status[data-state='live']")                            # the first SSE event came
    row = page.locator("tr[data-channel='DA001:a21026']")
    assert row.locator("[data-key='at']").inner_text() == "2025-12-31 23:59"
    assert row.locator("[data-key='flag']").inner_text() == "N · normal"
    assert float(row.locator("[data-key='value']").inner_text().replace(",", "")) > 0
    q = page.locator("table.quantities[data-outlet='DA001'] tr[data-pollutant='a21026']")
    assert q.locator("[data-key='valid_h']").inner_text() == "740"                       # 744 h − 4 h maintenance
    assert q.locator("[data-key='missing_h']").inner_text() == "4"
    screenshot(page, "compliance-en")


def test_exactly_one_permit_exceedance_with_its_peak(page: Any) -> None:
    hours = so2_hours()
    above = sorted(h for h, v in hours.items() if v > 200)
    assert above == UPSET                                                                # worked from the uploads
    sign_in(page)
    page.goto("/compliance")
    with page.expect_navigation():
        page.get_by_role("link", name="Exceedances", exact=True).click()
    permit = page.locator("table.exceedances tr[data-kind='permit']")
    assert permit.count() == 1
    row = permit.first
    assert (row.get_attribute("data-outlet"), row.get_attribute("data-pollutant")) == ("DA001", "a21026")
    assert row.locator("[data-key='start']").inner_text() == "2025-12-17 14:00"
    assert row.locator("[data-key='end']").inner_text() == "2025-12-17 17:00"
    assert row.locator("[data-key='duration']").inner_text() == "3.0"
    assert row.locator("[data-key='limit']").inner_text() == "200.0 mg/m3 · hourly"
    peak = float(row.locator("[data-key='peak']").get_attribute("data-value"))
    assert peak == pytest.approx(max(hours[h] for h in UPSET), rel=1e-9)
    # the ultra-low target is exceeded over the same hours (a target, not a violation)
    target = page.locator("table.exceedances tr[data-kind='target'][data-pollutant='a21026']")
    assert target.count() == 1 and target.locator("[data-key='start']").inner_text() == "2025-12-17 14:00"
    screenshot(page, "compliance-exceedances-en")


def test_acknowledging_from_the_browser_stores_the_comment(page: Any) -> None:
    sign_in(page)
    page.goto("/compliance/exceedances")
    row = page.locator("table.exceedances tr[data-kind='permit']").first
    event = row.get_attribute("data-event")
    box = row.get_by_label("Comment")
    box.fill("   ")                                           # passes the browser's `required`, not the server
    with page.expect_navigation():
        row.get_by_role("button", name="Acknowledge").click()
    error = page.locator("#ack-error")
    assert error.is_visible() and error.get_attribute("data-event") == event
    assert "an acknowledgement needs a comment" in error.inner_text()
    screenshot(page, "compliance-ack-error-en")
    comment = "Scrubber circulation pump tripped at 14:00; standby pump started 16:50. Report filed."
    row = page.locator(f"tr#event-{event}")
    row.get_by_label("Comment").fill(comment)
    with page.expect_navigation():
        row.get_by_role("button", name="Acknowledge").click()
    page.goto("/compliance/exceedances")                                      # stored, not just shown
    row = page.locator(f"tr#event-{event}")
    assert row.locator("[data-key='comment']").inner_text() == comment
    assert row.locator("[data-key='acknowledged_by']").inner_text() == "demo"
    assert row.locator("textarea").count() == 0


def test_the_pages_in_chinese(page: Any) -> None:
    sign_in(page)
    page.goto("/compliance")
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    try:
        assert page.get_by_role("heading", level=1).inner_text() == "废气达标监测 2025-12"
        assert page.get_by_role("heading", name="排气筒实时数据").count() == 1
        assert "焙烧窑排气筒" in page.locator(".card.outlet[data-outlet='DA001'] h3").inner_text()
        page.wait_for_selector("#chart-hours-DA001-a21026 svg")
        assert page.locator("#chart-hours-DA001-a21026 svg text", has_text="许可限值 200").count() == 1
        assert page.locator("#chart-hours-DA001-a21026 svg text", has_text="维护").count() == 1
        page.goto("/compliance/exceedances")
        assert page.get_by_role("heading", level=1).inner_text() == "超标事件"
        head = page.locator("table.exceedances thead").inner_text()
        assert "排放口" in head and "污染物" in head and "峰值" in head
        screenshot(page, "compliance-exceedances-zh")
    finally:
        with page.expect_navigation():
            page.get_by_role("button", name="English").click()
