"""The violation screens in Chromium at 1280×800: the guard records 违章停车 with a photo from the
tablet, reads the script off the banner, sees the plate is a repeat offender, and prints the notice."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale
from playwright.sync_api import Page, expect
from sqlalchemy import select

from device_adapters.simulator import SNAPSHOT_JPEG
from gate.extensions import db
from gate.models import User
from gate.models.types import utcnow
from gate.services import sites, violations
from tests.e2e.helpers import GUARD, quick_login, start_shift

pytestmark = pytest.mark.e2e

SHOW_URL = re.compile(r"/kiosk/violations/(\d+)$")
NOTICE_URL = re.compile(r"/kiosk/violations/\d+/notice$")
MIN_TARGET_PX = 44


def shot(page: Page, screens: Path, name: str) -> None:
    page.screenshot(path=str(screens / f"violations-{name}.png"), full_page=True)


def test_record_parking_with_upload_and_print_notice(page: Page, app, live_server: str, screens_dir: Path):
    """Protects the guard's violation flow on the touchscreen: the type is one big button, its
    script (对不起，此处禁止停车…) shows in the banner, the typed plate shows last week's violation
    highlighted, the uploaded photo is saved and shown, and the notice page prints with the estate,
    plate, place and script while the buttons and the top bar are hidden on paper."""
    with app.test_request_context():
        site = sites.current_site()
        guard = db.session.scalars(select(User).where(User.staff_no == GUARD[0])).one()
        violations.record(site.id, guard, "parking", "粤B12345", "地面停车场", "",
                          occurred_at=utcnow() - timedelta(days=7))
        estate = site.name
        with force_locale("zh_CN"):
            say = str(violations.BUILT_IN["parking"][1])
        db.session.remove()
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.goto(f"{live_server}/kiosk/violations/")
    page.get_by_test_id("record").tap()
    button = page.get_by_test_id("type-parking")
    box = button.bounding_box()
    assert box and box["height"] >= MIN_TARGET_PX
    button.tap()
    expect(page.get_by_test_id("script").locator(".text")).to_have_text(say)
    expect(page.get_by_test_id("type-parking")).to_have_attribute("aria-current", "true")

    page.get_by_test_id("plate").fill("粤b12345")
    hint = page.get_by_test_id("repeat")
    expect(hint).to_be_visible()
    expect(hint).to_have_attribute("data-count", "1")
    expect(hint).to_have_class(re.compile(r"\brepeat\b"))
    page.get_by_test_id("place").fill("B2车库36号")
    page.get_by_test_id("photo").set_input_files(
        {"name": "car.jpg", "mimeType": "image/jpeg", "buffer": SNAPSHOT_JPEG})
    shot(page, screens_dir, "00-form")
    page.get_by_test_id("save").tap()

    expect(page).to_have_url(SHOW_URL)
    expect(page.get_by_test_id("v-plate")).to_have_text("粤B12345")
    expect(page.get_by_test_id("repeat-count")).to_have_attribute("data-count", "1")
    photo = page.get_by_test_id("photos").locator("img")
    expect(photo).to_have_count(1)
    assert photo.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.get_by_test_id("script").locator(".text")).to_have_text(say)
    shot(page, screens_dir, "01-saved")

    page.get_by_test_id("print-notice").tap()
    expect(page).to_have_url(NOTICE_URL)
    notice = page.get_by_test_id("notice")
    expect(notice.get_by_test_id("notice-estate")).to_have_text(estate)
    expect(notice.get_by_test_id("notice-script")).to_have_text(say)
    expect(notice.get_by_test_id("notice-plate")).to_have_text("粤B12345")
    expect(notice.get_by_test_id("notice-place")).to_have_text("B2车库36号")
    expect(notice.get_by_test_id("notice-guard")).to_have_text(GUARD[0])
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_test_id("print")).to_be_hidden()
    expect(notice).to_be_visible()
    shot(page, screens_dir, "02-notice-print")
    page.emulate_media(media="screen")
