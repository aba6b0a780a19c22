"""The buyers' access page (/pact) in a real browser (Debian's Chromium via Playwright) against `rareeco demo --serve`:
the published PACT footprints, a buyer registered (its secret shown once), granted a product and revoked, the page
in Chinese; a verifier is refused; every field has a label."""

from __future__ import annotations

import re
from typing import Any

from browser_support import screenshot
from test_browser import sign_in

# demo 2025, economic allocation (the organisation's default), kg CO2e per declared unit (1 kg) as the page rounds
# them (3 decimals); `rareeco footprint --json`: 47.43649… and 15.55106…; `rareeco pact footprints demo` the same
PUBLISHED = {"prnd-oxide": "47.436", "ndfeb-magnet-recycled": "15.551"}
BUYER = "Browser Buyer GmbH"


def published(page: Any) -> dict[str, list[str]]:
    """The published footprints table: product → its cells (year, state, published, kg CO2e, primary, verified, id)."""
    rows = page.locator("table.pact-footprints tbody tr")
    return {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").all_inner_texts()
            for i in range(rows.count())}


def register(page: Any, name: str, hosts: str = "") -> tuple[str, str]:
    """Register a buyer through the form (no product ticked); the client id and the secret the answer shows once."""
    form = page.locator("form[action='/pact/clients/create']")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Callback hosts", exact=True).fill(hosts)
    with page.expect_navigation():                                     # the POST answers with the page itself
        form.get_by_role("button", name="Register", exact=True).click()
    status = page.get_by_role("status")
    assert "Client registered" in status.inner_text() and name in status.inner_text()
    client_id = page.get_by_label("Client id", exact=True).input_value()
    secret = page.get_by_label("Client secret", exact=True).input_value()
    assert re.fullmatch(r"pact-demo-[0-9a-f]{12}", client_id), client_id
    assert len(secret) >= 40, "a 32-byte url-safe secret"
    return client_id, secret


def test_register_grant_and_revoke_a_buyer(page: Any) -> None:
    sign_in(page)
    with page.expect_navigation():
        page.get_by_role("link", name="Buyers (PACT)", exact=True).click()
    page.wait_for_url(re.compile(r".*/pact$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Buyers' access (PACT)"
    assert page.get_by_role("link", name="Buyers (PACT)", exact=True).get_attribute("aria-current") == "page"

    # the two footprints the demo published, with the figures of its ledger
    assert page.get_by_role("heading", name="Published footprints (2)").count() == 1
    rows = published(page)
    assert set(rows) == set(PUBLISHED)
    for product, kg in PUBLISHED.items():
        year, state, _, shown_kg, *_ = rows[product]
        assert (year, state, shown_kg) == ("2025", "Active", kg), (product, rows[product])

    # a buyer: the client id and the secret, shown once, and the buyer in the list without any product
    client_id, secret = register(page, BUYER, "buyer.example")
    row = page.locator(f"tr[data-client='{client_id}']")
    assert row.get_attribute("data-state") == "active"
    assert row.locator("th").inner_text() == BUYER
    assert row.locator("code").inner_text() == client_id
    assert row.locator("ul.grants").inner_text().strip() == "none"
    assert row.get_by_label("Callback hosts", exact=True).input_value() == "buyer.example"
    assert secret not in row.inner_text()                              # the list never shows it

    # grant it the recycled magnet
    row.get_by_label("Grant", exact=True).select_option("ndfeb-magnet-recycled")
    with page.expect_navigation():                                     # the POST, its redirect and the page
        row.get_by_role("button", name="Grant", exact=True).click()
    page.wait_for_url(re.compile(r".*/pact$"))
    row = page.locator(f"tr[data-client='{client_id}']")
    grants = row.locator("ul.grants li[data-grant]")
    assert grants.count() == 1
    assert grants.first.get_attribute("data-grant") == "ndfeb-magnet-recycled"
    assert grants.first.inner_text().startswith("ndfeb-magnet-recycled")
    assert row.get_by_role("button", name=f"Withdraw ndfeb-magnet-recycled — {BUYER}").count() == 1
    # a product it already sees is no longer offered
    assert "ndfeb-magnet-recycled" not in row.get_by_label("Grant", exact=True).locator("option").all_inner_texts()
    assert page.get_by_role("status").count() == 0                    # the redirect shows the secret no more
    assert secret not in page.content()
    screenshot(page, "pact-en")

    # revoke it: marked revoked, nothing left to act on
    with page.expect_navigation():
        row.get_by_role("button", name=f"Revoke {BUYER}", exact=True).click()
    page.wait_for_url(re.compile(r".*/pact$"))
    row = page.locator(f"tr[data-client='{client_id}']")
    assert row.get_attribute("data-state") == "revoked"
    assert re.fullmatch(r"revoked \d{4}-\d{2}-\d{2} \d{2}:\d{2}", row.locator("td").nth(2).inner_text().strip())
    assert row.locator("form").count() == 0                            # no grant, callback or revoke form
    assert "buyer.example" in row.inner_text()

    # reloaded, the secret is nowhere: neither in the page nor in its fields
    page.reload()
    assert page.locator("#new-client-secret").count() == 0
    assert secret not in page.content()
    values = page.evaluate("() => [...document.querySelectorAll('input')].map(e => e.value)")
    assert secret not in values
    assert page.locator(f"tr[data-client='{client_id}']").get_attribute("data-state") == "revoked"

    with page.expect_navigation():                                     # the POST, its redirect and the page
        page.get_by_role("button", name="中文").click()
    page.wait_for_url(re.compile(r".*/pact$"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", level=1).inner_text() == "买方访问（PACT）"
    assert page.get_by_role("link", name="买方（PACT）", exact=True).count() == 1
    assert page.locator(f"tr[data-client='{client_id}'] td").nth(2).inner_text().startswith("已吊销")
    assert {p: cells[3] for p, cells in published(page).items()} == PUBLISHED
    screenshot(page, "pact-zh")
    with page.expect_navigation():                                     # and back, for the other tests
        page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Buyers' access (PACT)"


def test_a_verifier_is_refused(page: Any) -> None:
    sign_in(page, "demo-verifier")
    with page.expect_navigation() as nav:
        page.get_by_role("link", name="Buyers (PACT)", exact=True).click()
    assert nav.value.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "You may not do this"
    alert = page.get_by_role("alert")
    assert alert.get_attribute("data-code") == "forbidden"
    assert "your role (verifier) may not do this — needs: admin" in alert.inner_text()
    # nothing of the page: no form, no buyer, no footprint
    assert page.locator("form[action^='/pact']").count() == 0
    assert page.locator("table").count() == 0
    assert "Register a buyer" not in page.content()

    # nor may it register a buyer by posting the form itself (with a valid CSRF token)
    csrf = page.locator("input[name='csrf_token']").first.input_value()
    resp = page.request.post("/pact/clients/create", form={"name": "Verifier's buyer", "callback_hosts": "",
                                                           "csrf_token": csrf})
    assert resp.status == 403
    assert "Client secret" not in resp.text()
    sign_in(page)                                                      # the admin sees no such buyer
    page.goto("/pact")
    assert page.locator("table.pact-clients th[scope='row']", has_text="Verifier's buyer").count() == 0


def test_every_form_field_has_a_label(page: Any) -> None:
    sign_in(page)
    page.goto("/pact")
    register(page, "Label check buyer")                                # the shown-once fields and a buyer's forms
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && e.type !== 'submit')
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.name || e.id)""")
    assert unlabelled == [], unlabelled
    assert page.locator("tr[data-state='active'] select[name='product']").count() >= 1
