"""End-to-end tests in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from browser_support import contrast_ratio, screenshot

SRC = Path(__file__).parents[1] / "src" / "rareeco"


def sign_in(page: Any, user: str = "demo", password: str = "demo-password") -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))


def card(page: Any, key: str) -> str:
    return str(page.locator(f".card[data-key='{key}'] .big").inner_text())


def test_sign_in_and_see_the_dashboard_with_its_chart(page: Any) -> None:
    page.goto("/")
    assert "/login" in page.url                                        # signed out → sign-in page
    sign_in(page)
    assert card(page, "total_t_co2e") == "72,068.6"                    # the demo's 2025 total (docs)
    assert card(page, "scope2_market_t_co2e") == "18,539.7"
    page.wait_for_selector("#chart-monthly svg")                       # ECharts drew the chart (local JS)
    screenshot(page, "overview-en")
    page.select_option("#year", "2024")
    page.wait_for_url(re.compile(r".*year=2024"))
    assert card(page, "total_t_co2e") == "71,834.7"


def test_wrong_password_is_refused_on_the_page(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill("demo")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("wrong user name or password")


def test_switch_to_chinese(page: Any) -> None:
    sign_in(page)
    with page.expect_navigation():                                     # the POST, its redirect and the page
        page.get_by_role("button", name="中文").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator(".card[data-key='scope1_t_co2e'] h2").inner_text() == "范围一"
    assert page.get_by_role("link", name="概览").count() == 1
    screenshot(page, "overview-zh")
    with page.expect_navigation():                                     # and back, for the other tests
        page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator(".card[data-key='scope1_t_co2e'] h2").inner_text() == "Scope 1"


def test_keyboard_only_sign_in(page: Any) -> None:
    page.goto("/login")
    assert page.evaluate("document.activeElement.id") == "username"    # focused on arrival
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type("demo-password")
    page.keyboard.press("Enter")
    page.wait_for_selector(".card")
    assert card(page, "total_t_co2e") == "72,068.6"


def test_every_form_field_has_a_label(page: Any) -> None:
    sign_in(page)
    for path in ("/login", "/"):
        page.goto(path)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.type !== 'submit')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)""")
        assert unlabelled == [], (path, unlabelled)


def test_chart_colours_contrast_with_the_background() -> None:
    js = (SRC / "web" / "static" / "app.js").read_text()
    palette = json.loads(re.search(r"const PALETTE = (\{.*?\});", js).group(1))  # type: ignore[union-attr]
    assert len(palette) >= 4
    for name, colour in palette.items():
        assert contrast_ratio(colour) >= 3.0, (name, colour)          # WCAG 2.1 SC 1.4.11, non-text contrast
