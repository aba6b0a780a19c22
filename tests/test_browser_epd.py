"""The EPD workflow in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`:
the declarant (demo) builds the PrNd-oxide EPD and submits it; the verifier (demo-verifier) comments and
verifies it; the declarant publishes it; the public PDF link downloads without signing in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from browser_support import new_page, screenshot
from test_browser import sign_in

METAL_ECONOMIC = "64.300"     # demo 2025, PrNd metal, kg CO2e/kg (docs/footprints.md)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login.*"))


def sign_in_to(page: Any, user: str, path: str) -> None:
    """Sign in and land on ``path`` (``/login?next=…``: no detour through the overview)."""
    page.goto(f"/login?next={path}")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill("demo-password")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith(path), page.url


def click(page: Any, name: str) -> None:
    """Click a form's button and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def status(page: Any) -> str:
    return str(page.locator("#epd-status").get_attribute("data-status"))


def test_build_verify_publish_and_download(browser: Any, server: str, tmp_path: Path) -> None:
    pages = new_page(browser, server)
    page = next(pages)
    # the declarant builds the draft from the footprint and submits it
    sign_in(page, "demo")
    page.get_by_role("link", name="EPDs", exact=True).click()
    page.wait_for_url(re.compile(r".*/epds$"))
    page.select_option("#epd-product", "prnd-metal")   # the demo already published PrNd oxide's
    page.select_option("#epd-year", "2025")
    click(page, "Build draft")
    page.wait_for_url(re.compile(r".*/epds/\d+$"))
    epd_url = page.url
    assert status(page) == "draft"
    assert page.locator("tr[data-indicator='GWP-total'] td[data-module='A1-A3']").inner_text() == METAL_ECONOMIC
    assert page.locator("td[data-module='D']").first.inner_text() == "MND"
    screenshot(page, "epd-draft-en")
    click(page, "Submit for verification")
    assert status(page) == "in_verification"
    assert page.get_by_role("button", name="Verify").count() == 0          # the declarant cannot verify
    sign_out(page)

    # the verifier comments and verifies
    sign_in_to(page, "demo-verifier", epd_url.removeprefix(server))
    page.get_by_role("textbox", name="Comment").fill("Allocation and module split checked against the footprint.")
    click(page, "Add comment")
    assert page.locator("ul.comments li").count() == 1, page.locator("main").inner_text()[:2000]
    assert page.locator("ul.comments li").first.inner_text().startswith("demo-verifier")
    assert page.get_by_role("button", name="Publish").count() == 0          # a verifier does not publish
    click(page, "Verify")
    assert status(page) == "verified"
    screenshot(page, "epd-verified-en")
    sign_out(page)

    # the declarant publishes; the public link works for anyone
    sign_in_to(page, "demo", epd_url.removeprefix(server))
    click(page, "Publish")
    assert status(page) == "published"
    public = page.locator("#public-pdf")
    href = str(public.get_attribute("href"))
    assert re.fullmatch(r"/epd/[0-9a-f-]{36}/v1\.pdf", href)
    screenshot(page, "epd-published-en")
    with page.expect_download() as dl:
        public.click()
    pdf = tmp_path / "epd.pdf"
    dl.value.save_as(pdf)
    text = PdfReader(pdf).pages[0].extract_text()
    assert "Praseodymium-neodymium metal" in text and METAL_ECONOMIC in text

    # in Chinese
    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("镨钕金属 2025")
    screenshot(page, "epd-published-zh")
    with page.expect_navigation():
        page.get_by_role("button", name="English").click()
    next(pages, None)

    # signed out (a fresh browser context): the published PDF downloads, an unpublished version does not
    anon = browser.new_context(base_url=server)
    r = anon.request.get(href)
    assert r.status == 200 and r.headers["content-type"] == "application/pdf"
    assert anon.request.get(href.replace("/v1.pdf", "/v2.pdf")).status == 404
    r = anon.request.get(href.replace(".pdf", ".xml"))
    assert r.status == 200 and b"epd2019:epd-version=\"1.3\"" in r.body()
    anon.close()
