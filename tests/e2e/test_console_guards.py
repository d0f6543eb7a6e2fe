"""A PIN reset in Chromium: the supervisor opens the guard accounts page, resets guard 1002's
PIN, reads the new PIN off the page, and the guard signs in on the kiosk with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import GUARD2, LOGIN_URL, START_URL, SUPERVISOR, quick_login

pytestmark = pytest.mark.e2e


def test_supervisor_resets_a_pin_and_the_guard_signs_in(page: Page, live_server: str,
                                                         screens_dir: Path, browser):
    """Protects the reset with CSRF on, end to end: the PIN page shows a 6-digit PIN that works at
    the kiosk, while the guard's old PIN is refused."""
    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(SUPERVISOR[0])
    page.get_by_test_id("password").fill(SUPERVISOR[1])
    page.get_by_test_id("submit").click()
    page.goto(f"{live_server}/console/guards/")
    row = page.get_by_test_id(f"guard-{GUARD2[0]}")
    expect(row).to_contain_text("李保安")
    row.get_by_test_id(f"reset-open-{GUARD2[0]}").click()
    page.screenshot(path=str(screens_dir / "console-guards.png"), full_page=True)
    row.get_by_test_id(f"reset-{GUARD2[0]}").click()
    shown = page.get_by_test_id("new-pin")
    expect(shown).to_have_text(re.compile(r"^\s*\d{6}\s*$"))
    pin = shown.inner_text().strip()
    page.screenshot(path=str(screens_dir / "console-guard-pin.png"), full_page=True)

    kiosk = browser.new_context(viewport={"width": 1280, "height": 800}, has_touch=True, locale="zh-CN")
    try:
        guard = kiosk.new_page()
        guard.set_default_timeout(10_000)
        guard.goto(f"{live_server}/kiosk/login")
        guard.get_by_test_id("staff_no").fill(GUARD2[0])
        guard.get_by_test_id("pin").fill(GUARD2[1])
        guard.get_by_test_id("login").tap()
        expect(guard).to_have_url(LOGIN_URL)  # the old PIN is refused
        quick_login(guard, live_server, GUARD2[0], pin)
        expect(guard).to_have_url(START_URL)
    finally:
        kiosk.close()
