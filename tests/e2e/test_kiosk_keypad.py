"""The on-screen keypads in Chromium: a plate typed only with the province picker and letter keys,
and the two-PIN handover typed only with the number keypad (plate_keypad.js)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import GUARD, GUARD2, HANDOVER_URL, START_URL, quick_login, start_shift, tap_keys

pytestmark = pytest.mark.e2e

SHOW_URL = re.compile(r"/kiosk/violations/\d+$")
MIN_KEY_PX = 48


def test_plate_and_pin_keypads(page: Page, live_server: str, screens_dir: Path):
    """Protects typing without a keyboard: tapping the plate field opens the province grid, 粤 then
    B12345 on the letter keys saves the violation as 粤B12345 (I/O are offered only as the authority
    letter), the keys are ≥ 48 px and the tablet keyboard is suppressed; at handover the number
    keypad fills both guards' PINs and the incoming staff number (✓ moves on) and the handover
    completes."""
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.goto(f"{live_server}/kiosk/violations/new?type=parking")
    plate = page.get_by_test_id("plate")
    expect(plate).to_have_attribute("inputmode", "none")
    plate.tap()
    pad = page.get_by_test_id("plate-keypad")
    expect(pad).to_be_visible()
    provinces, alnum = pad.locator(".kp-provinces"), pad.locator(".kp-alnum")
    expect(provinces.locator(".key")).to_have_count(33)
    expect(alnum).to_be_hidden()
    box = provinces.locator('.key[data-key="粤"]').bounding_box()
    assert box and box["height"] >= MIN_KEY_PX and box["width"] >= MIN_KEY_PX

    provinces.locator('.key[data-key="粤"]').tap()
    expect(alnum).to_be_visible()
    expect(alnum.locator('.key[data-key="O"]')).to_be_enabled()  # 粤O: a police series
    alnum.locator('.key[data-key="B"]').tap()
    expect(alnum.locator('.key[data-key="O"]')).to_be_disabled()  # never in the serial
    for ch in "12345":
        alnum.locator(f'.key[data-key="{ch}"]').tap()
    expect(plate).to_have_value("粤B12345")
    page.screenshot(path=str(screens_dir / "kiosk-plate-keypad.png"), full_page=True)
    pad.locator('.key[data-key="done"]').tap()
    expect(pad).to_be_hidden()

    page.get_by_test_id("place").fill("B2车库36号")
    page.get_by_test_id("save").tap()
    expect(page).to_have_url(SHOW_URL)
    expect(page.get_by_test_id("v-plate")).to_have_text("粤B12345")

    page.goto(f"{live_server}/kiosk/")
    page.get_by_test_id("tile-handover").tap()
    expect(page).to_have_url(HANDOVER_URL)
    page.get_by_test_id("outgoing_pin").tap()
    expect(page.get_by_test_id("digit-keypad")).to_be_visible()
    tap_keys(page, GUARD[1] + "✓")
    expect(page.get_by_test_id("incoming_staff_no")).to_be_focused()
    tap_keys(page, GUARD2[0] + "✓" + GUARD2[1])
    expect(page.get_by_test_id("outgoing_pin")).to_have_value(GUARD[1])
    expect(page.get_by_test_id("incoming_staff_no")).to_have_value(GUARD2[0])
    expect(page.get_by_test_id("incoming_pin")).to_have_value(GUARD2[1])
    tap_keys(page, "✓")
    expect(page.get_by_test_id("digit-keypad")).to_be_hidden()
    page.get_by_test_id("confirm-handover").tap()
    expect(page).to_have_url(START_URL)
    expect(page.locator(".flash.success")).to_be_visible()
