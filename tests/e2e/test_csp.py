"""The Content-Security-Policy in a real browser: every kiosk, portal, desk and console screen
runs without a single violation, and the handlers moved out of the templates still work."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import SUPERVISOR, quick_login, start_shift
from tests.e2e.kiosk_screens import walk_kiosk

pytestmark = pytest.mark.e2e

# Every violation becomes a console error the test can see, whatever blocked it.
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => console.error(
    `Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
    ` at ${e.sourceFile}:${e.lineNumber}`));"""
TODAY = datetime.date.today().isoformat()
STAFF_SCREENS = {
    ("13800000001", "resident-demo"): ["/portal/", "/portal/passes/", "/portal/passes/new", "/portal/slips/",
                                       "/portal/slips/new"],
    ("desk", "desk-demo"): ["/desk/", "/desk/slips/", "/desk/slips/new", "/desk/residents/new",
                            "/desk/vehicles/", "/desk/workers/", "/desk/workers/new", "/watchlist/"],
    SUPERVISOR: ["/console/", "/console/book/", "/console/shifts/", "/console/shifts/1",
                 f"/console/charts/?day={TODAY}&from={TODAY}&to={TODAY}", "/console/orders/",
                 "/console/orders/1", "/console/scripts/", "/console/pending/", "/console/integrity/",
                 "/console/guards/", "/console/violations/", "/console/vehicles/", "/console/privacy/"],
    ("admin", "admin-demo"): ["/admin/users"],
}


@pytest.fixture
def violations(page: Page) -> Iterator[list[str]]:
    """Console errors about the Content Security Policy on `page`, as they happen."""
    found: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda m: found.append(f"{page.url}: {m.text}")
            if "content security policy" in m.text.lower() else None)
    yield found


def staff_login(page: Page, base_url: str, login: str, secret: str) -> None:
    """Sign in on the desktop login page."""
    page.goto(f"{base_url}/login")
    page.get_by_test_id("login").fill(login)
    page.get_by_test_id("password").fill(secret)
    page.get_by_test_id("submit").click()
    expect(page).not_to_have_url(re.compile(r"/login$"))


def test_kiosk_screens_run_within_the_policy(page: Page, app, live_server: str, violations):
    """Protects the kiosk under the CSP: every screen a guard reaches (keypad, live events, car
    prompt, visitor flow, scans, violations) loads its scripts and styles without a violation, so
    no button silently stops working."""
    shown = [name for name in walk_kiosk(page, app, live_server)]
    assert len(shown) > 20
    assert not violations, "\n".join(violations)


def test_portal_desk_and_console_run_within_the_policy(browser, live_server: str):
    """Protects the portal, desk and console under the CSP: each role's screens load without a
    Content Security Policy violation."""
    found: list[str] = []
    for (login, secret), paths in STAFF_SCREENS.items():
        context = browser.new_context()
        page = context.new_page()
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda m, p=page: found.append(f"{p.url}: {m.text}")
                if "content security policy" in m.text.lower() else None)
        staff_login(page, live_server, login, secret)
        for path in paths:
            response = page.goto(f"{live_server}{path}")
            assert response is not None and response.ok, f"{path}: {response and response.status}"
            page.wait_for_load_state("networkidle")
        context.close()
    assert not found, "\n".join(found)


def test_moved_handlers_still_work(page: Page, live_server: str, violations):
    """Protects the behaviour of what were inline handlers: the print button prints, and a
    data-confirm form is sent only when the confirmation is accepted."""
    page.add_init_script("window.print = () => { window.__printed = (window.__printed || 0) + 1; };")
    quick_login(page, live_server)
    start_shift(page)
    page.goto(f"{live_server}/kiosk/visitors/onsite")
    page.get_by_test_id("print").tap()
    assert page.evaluate("window.__printed") == 1
    page.context.clear_cookies()
    staff_login(page, live_server, *SUPERVISOR)
    page.goto(f"{live_server}/console/orders/1")
    retire = page.locator("form[data-confirm]")
    page.once("dialog", lambda d: d.dismiss())
    retire.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/console/orders/1$"))
    expect(page.get_by_test_id("edit-order")).to_be_visible()  # still current: not retired
    page.once("dialog", lambda d: d.accept())
    retire.get_by_role("button").click()
    expect(page.get_by_test_id("edit-order")).to_have_count(0)
    assert not violations, "\n".join(violations)
