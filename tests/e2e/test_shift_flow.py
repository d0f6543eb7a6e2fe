"""The guard's shift in a real browser: keypad sign-in, post orders, a promise, handover."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    GUARD,
    GUARD2,
    HANDOVER_URL,
    HOME_URL,
    LOGIN_URL,
    START_URL,
    SUPERVISOR,
    keypad_login,
    quick_login,
    start_shift,
)

pytestmark = pytest.mark.e2e

PASS_ON_TO = "1-1-101 陈先生"


def expect_script_banner(page: Page) -> None:
    """The polite-script banner is shown with some text in it (whatever the language)."""
    banner = page.get_by_test_id("script")
    expect(banner).to_be_visible()
    expect(banner.locator(".text")).to_have_text(re.compile(r"\S"))


def test_shift_from_keypad_login_to_handover(page: Page, live_server: str):
    """Protects the issue's "Done when" flow: keypad sign-in, orders, promise, two-PIN handover."""
    keypad_login(page, live_server, *GUARD)
    expect(page).to_have_url(START_URL)
    who = page.get_by_test_id("who")
    expect(who).to_have_text(re.compile(r"\S"))
    outgoing_name = who.inner_text()
    expect(page.get_by_test_id("ack")).not_to_have_count(0)
    expect_script_banner(page)

    start_shift(page)
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.locator(".tiles .tile")).to_have_count(12)

    page.get_by_test_id("tile-phone_call").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/journal/phone_call$"))
    expect_script_banner(page)
    page.get_by_test_id("who").last.fill("2-1-502 刘女士")
    page.get_by_test_id("what").fill("快递到岗亭，请转告业主 parcel at the post")
    page.get_by_test_id("pass_on_to").fill(PASS_ON_TO)
    page.get_by_test_id("due_minutes").fill("30")
    page.get_by_test_id("save").tap()
    expect(page).to_have_url(HOME_URL)
    expect(page.locator(".flash.success")).to_be_visible()

    page.get_by_test_id("tile-handover").tap()
    expect(page).to_have_url(HANDOVER_URL)
    expect_script_banner(page)
    items = page.get_by_test_id("open-item")
    expect(items.filter(has_text=PASS_ON_TO)).to_have_count(1)
    assert items.count() >= 1
    expect(page.get_by_test_id("open-count")).not_to_have_text("0")

    page.get_by_test_id("outgoing_pin").fill(GUARD[1])
    page.get_by_test_id("incoming_staff_no").fill(GUARD2[0])
    page.get_by_test_id("incoming_pin").fill(GUARD2[1])
    page.get_by_test_id("confirm-handover").tap()

    expect(page).to_have_url(START_URL)
    expect(page.locator(".flash.success")).to_be_visible()
    expect(who).to_have_text(re.compile(r"\S"))
    expect(who).not_to_have_text(outgoing_name)
    expect(page.get_by_test_id("start")).to_be_visible()


def test_wrong_pin_shows_error_and_stays_on_login(page: Page, live_server: str):
    """Protects the keypad's wrong-PIN path: an error flash, still on the login page, PIN cleared."""
    keypad_login(page, live_server, GUARD[0], "000000")
    expect(page.locator(".flash.error")).to_be_visible()
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_test_id("pin")).to_have_value("")
    expect(page.get_by_test_id("staff_no")).to_have_value(GUARD[0])
    expect(page.get_by_test_id("who")).to_have_count(0)


def test_start_without_ticking_orders_is_refused(page: Page, live_server: str):
    """Protects the post-order rule: no shift starts until every order is ticked."""
    quick_login(page, live_server)
    unread = page.get_by_test_id("ack").count()
    assert unread >= 1
    page.get_by_test_id("start").tap()
    expect(page.locator(".flash.error")).to_be_visible()
    expect(page).to_have_url(START_URL)
    expect(page.get_by_test_id("ack")).to_have_count(unread)
    expect(page.get_by_test_id("tile-handover")).to_have_count(0)


def test_supervisor_sees_entries_and_verifies_chain(page: Page, live_server: str):
    """Protects the supervisor console: shift-book entries are listed and the chain verifies."""
    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(SUPERVISOR[0])
    page.get_by_test_id("password").fill(SUPERVISOR[1])
    page.get_by_test_id("submit").tap()
    expect(page).to_have_url(re.compile(r"/console/$"))
    rows = page.locator("[data-testid=entries] tr:has(td)")
    expect(rows).not_to_have_count(0)
    assert rows.count() >= 1
    page.get_by_test_id("verify").tap()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.locator(".flash.error")).to_have_count(0)
