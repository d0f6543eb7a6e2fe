"""The goods-out screens in Chromium at 1280×800: a keyboard-wedge scanner types a release slip
into the focused field, the guard ticks every line of goods on the touchscreen, types the
carrier's ID and releases; the screen says the goods are released and thanks the resident."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask_babel import force_locale
from playwright.sync_api import Page, expect

from gate.extensions import db
from kiosk_ui.scripts import script
from tests.e2e.helpers import GUARD, quick_login, start_shift
from tests.support import slips as make

pytestmark = pytest.mark.e2e

SCREEN_URL = re.compile(r"/kiosk/slips/$")
CHECK_URL = re.compile(r"/kiosk/slips/\d+/check$")
MIN_TARGET_PX = 44
TARGETS = ":is(a, button, label):is(.btn, .tile, .key, .goods-line)"


def shot(page: Page, screens: Path, name: str) -> None:
    page.screenshot(path=str(screens / f"slips-{name}.png"), full_page=True)


def big_enough(page: Page) -> None:
    """Every visible kiosk button and goods row is tall enough for gloved fingers."""
    page.wait_for_load_state("load")  # measure after the stylesheet applies
    for target in page.locator(TARGETS).all():
        if target.is_visible():
            box = target.bounding_box()
            assert box and box["height"] >= MIN_TARGET_PX, target.evaluate("el => el.outerHTML.slice(0, 120)")


def wedge_scan(page: Page, text: str) -> None:
    """What a keyboard-wedge scanner does: type into whatever has focus, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_scan_tick_and_release(page: Page, app, live_server: str, screens_dir: Path):
    """Protects the guard's goods-out flow on the touchscreen: the tile opens the scan field with
    focus and the greeting script; a wedge scan opens the check page with every line of goods as a
    big row; ticking them all and typing the carrier's ID releases the goods, the verdict shows
    the masked ID only, with the thank-you script, and focus is back in the scan field."""
    with app.app_context():
        slip = make.approved()
        text, serial = make.token(slip), slip.serial
        with app.test_request_context(), force_locale("zh_CN"):
            ask, done = script("slip_ask"), script("slip_done")
        db.session.remove()
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.get_by_test_id("tile-slips").tap()
    expect(page).to_have_url(SCREEN_URL)
    field = page.get_by_test_id("slip-input")
    expect(field).to_be_focused()
    expect(page.get_by_test_id("script").locator(".text")).to_have_text(ask)
    expect(page.get_by_test_id("slip-hint")).to_contain_text("FX-2026-000123")
    big_enough(page)
    shot(page, screens_dir, "00-waiting")

    wedge_scan(page, text)
    expect(page).to_have_url(CHECK_URL)
    expect(page.get_by_test_id("check-serial")).to_have_text(serial)
    expect(page.get_by_test_id("check-carrier")).to_have_text("李师傅")
    rows = page.get_by_test_id("goods-line")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("纸箱")
    big_enough(page)
    for row in rows.all():
        row.tap()
    expect(page.get_by_test_id("line-1")).to_be_checked()
    expect(page.get_by_test_id("line-2")).to_be_checked()
    expect(page.get_by_test_id("id_type-resident_id")).to_be_checked()
    page.get_by_test_id("id_number").fill(make.CARRIER_ID)
    shot(page, screens_dir, "01-check")

    page.get_by_test_id("release").tap()
    expect(page).to_have_url(SCREEN_URL)
    result = page.get_by_test_id("slip-result")
    expect(result).to_have_class(re.compile(r"\bslip-result\b.*\breleased\b"))
    expect(result.get_by_test_id("slip-serial")).to_have_text(serial)
    expect(result.get_by_test_id("slip-id-masked")).to_have_text("110105********002X")
    expect(page.get_by_test_id("script").locator(".text")).to_have_text(done)
    assert make.CARRIER_ID not in page.content()
    expect(field).to_be_focused()
    shot(page, screens_dir, "02-released")


def test_unticked_line_keeps_ticks_not_the_id(page: Page, app, live_server: str):
    """Protects the check on the touchscreen: releasing with a line unticked says what to fix,
    keeps the ticked line ticked and the ID field empty (the number is never sent back)."""
    with app.app_context():
        text = make.token(make.approved())
        db.session.remove()
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.goto(f"{live_server}/kiosk/slips/")
    wedge_scan(page, text)
    expect(page).to_have_url(CHECK_URL)
    page.get_by_test_id("goods-line").first.tap()
    page.get_by_test_id("id_number").fill(make.CARRIER_ID)
    page.get_by_test_id("release").tap()
    expect(page).to_have_url(CHECK_URL)
    expect(page.locator(".flash.error")).to_be_visible()
    expect(page.get_by_test_id("line-1")).to_be_checked()
    expect(page.get_by_test_id("line-2")).not_to_be_checked()
    expect(page.get_by_test_id("id_number")).to_have_value("")
    assert make.CARRIER_ID not in page.content()
