"""Stored XSS in a real browser: payloads typed by a guard, a supervisor and an API client are
shown as text on the kiosk, the console and the portal; nothing runs, nothing is injected."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import SUPERVISOR, quick_login, start_shift
from tests.e2e.test_csp import staff_login
from tests.support.hostile_fields import PAYLOADS, latest_shift

pytestmark = pytest.mark.e2e

SCRIPT, IMG = PAYLOADS[0], PAYLOADS[1]
VISIT_URL = re.compile(r"/kiosk/visitors/(\d+)$")
# What would exist if a payload became markup: an <img src=x> or any inline <script>.
INJECTED = "document.querySelectorAll('img[src=\"x\"], script:not([src])').length"


def assert_inert(page: Page, dialogs: list[str], *texts: str) -> None:
    """No dialog opened, no injected element, and each payload is on the page as plain text."""
    page.wait_for_load_state("networkidle")
    assert not dialogs, f"a payload ran at {page.url}: {dialogs}"
    assert page.evaluate(INJECTED) == 0, f"injected element at {page.url}"
    for text in texts:
        expect(page.get_by_text(text, exact=False).first).to_be_attached()


def watch(page: Page) -> list[str]:
    """Messages of every dialog `page` opens (dismissed at once)."""
    found: list[str] = []

    def seen(dialog) -> None:
        found.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    return found


def test_payloads_stay_text_on_kiosk_console_and_portal(page: Page, browser, app, live_server: str):
    """Protects against stored XSS end to end: a post order, a visitor's name and purpose and a
    journal note carrying <script> and <img onerror> payloads are shown as text on the guard's
    start page, visit page and on-site list, the supervisor's shift page and the host's portal."""
    console = browser.new_context().new_page()
    console_dialogs = watch(console)
    staff_login(console, live_server, *SUPERVISOR)
    console.goto(f"{live_server}/console/orders/")
    form = console.get_by_test_id("new-order")
    form.locator("input[name=title]").fill(IMG)
    form.locator("textarea[name=body]").fill(SCRIPT)
    form.locator("button[type=submit]").click()
    assert_inert(console, console_dialogs, IMG)

    dialogs = watch(page)
    quick_login(page, live_server)
    assert_inert(page, dialogs, IMG, SCRIPT)  # the start page lists the new order
    start_shift(page)
    page.get_by_test_id("tile-visitors").tap()
    page.get_by_test_id("unit").fill("1-1-101")
    page.get_by_test_id("next").tap()
    page.get_by_test_id("id_number").fill("11010519491231002x")
    page.get_by_test_id("name").fill(IMG)
    page.get_by_test_id("purpose").fill(SCRIPT)
    page.get_by_test_id("start").tap()
    expect(page).to_have_url(VISIT_URL)
    visit_id = VISIT_URL.search(page.url).group(1)
    assert_inert(page, dialogs, IMG, SCRIPT)
    page.goto(f"{live_server}/kiosk/journal/note")
    page.get_by_test_id("text").fill(SCRIPT)
    page.get_by_test_id("save").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/$"))
    assert_inert(page, dialogs)

    portal = browser.new_context().new_page()
    portal_dialogs = watch(portal)
    staff_login(portal, live_server, "13800000001", "resident-demo")
    expect(portal.get_by_test_id(f"approve-{visit_id}")).to_be_visible()
    assert_inert(portal, portal_dialogs, IMG)

    console.goto(f"{live_server}/console/shifts/{latest_shift(app)}")
    assert_inert(console, console_dialogs)  # the shift report: its timeline names the visit
