"""Steps the e2e tests share: sign in on the keypad, start a shift."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

GUARD = ("1001", "123456")
GUARD2 = ("1002", "654321")
SUPERVISOR = ("supervisor", "supervisor-demo")

LOGIN_URL = re.compile(r"/kiosk/login(\?.*)?$")
START_URL = re.compile(r"/kiosk/shift/start(\?.*)?$")
HOME_URL = re.compile(r"/kiosk/$")
HANDOVER_URL = re.compile(r"/kiosk/shift/handover$")


def tap_keys(page: Page, keys: str) -> None:
    """Tap the on-screen keypad, one key per character."""
    for key in keys:
        page.locator(f'.keypad .key[data-key="{key}"]').tap()


def keypad_login(page: Page, base_url: str, staff_no: str, pin: str) -> None:
    """Sign in the way a guard does: tap the staff field, keypad, ✓, keypad, ✓ (submits)."""
    page.goto(f"{base_url}/kiosk/login")
    staff, pin_field = page.get_by_test_id("staff_no"), page.get_by_test_id("pin")
    staff.tap()
    tap_keys(page, staff_no)
    expect(staff).to_have_value(staff_no)
    tap_keys(page, "✓")
    expect(pin_field).to_be_focused()
    tap_keys(page, pin)
    expect(pin_field).to_have_value(pin)
    tap_keys(page, "✓")


def quick_login(page: Page, base_url: str, staff_no: str = GUARD[0], pin: str = GUARD[1]) -> None:
    """Sign in by filling the fields (for tests about something else than the keypad)."""
    page.goto(f"{base_url}/kiosk/login")
    page.get_by_test_id("staff_no").fill(staff_no)
    page.get_by_test_id("pin").fill(pin)
    page.get_by_test_id("login").tap()
    expect(page).to_have_url(START_URL)
    page.wait_for_load_state()  # the URL changes before the page is there: counting would see 0


def start_shift(page: Page) -> None:
    """On the start-shift page: tick every post order and start; lands on the tiles."""
    expect(page).to_have_url(START_URL)
    page.wait_for_load_state()  # ticking before the page is ready leaves boxes unticked
    acks = page.get_by_test_id("ack")
    for box in acks.all():
        box.check()
    page.get_by_test_id("start").tap()
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_test_id("tile-handover")).to_be_visible()
