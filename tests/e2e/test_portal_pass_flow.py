"""A visitor pass in Chromium, end to end: the resident creates it one-handed on a phone, the visitor
opens the share link on their own phone, the guard types the short code at the kiosk and admits,
and the resident's portal shows the admission live."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import VIEWPORT
from tests.e2e.helpers import GUARD, quick_login, start_shift

pytestmark = [pytest.mark.e2e]

RESIDENT = ("13800000001", "resident-demo")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
PASS_URL = re.compile(r"/portal/passes/(\d+)$")
MIN_TARGET_PX = 44


def shot(page: Page, screens: Path, name: str) -> None:
    """A full-page screenshot in test-results/screens/ for humans to look at."""
    page.screenshot(path=str(screens / f"portal-pass-{name}.png"), full_page=True)


def phone(browser: Browser, browser_context_args: dict) -> BrowserContext:
    """A 390×844 touch phone with the repo's locale."""
    context = browser.new_context(**{**browser_context_args, **PHONE})
    context.set_default_timeout(10_000)
    return context


def thumb_reachable(page: Page, test_id: str) -> None:
    """The button sits in the lower part of the screen, big enough for a thumb, without scrolling."""
    # After a form post the URL changes before the stylesheet applies: measure the laid-out page.
    page.wait_for_load_state("load")
    box = page.get_by_test_id(test_id).bounding_box()
    height = PHONE["viewport"]["height"]
    assert box, test_id
    assert box["height"] >= MIN_TARGET_PX and box["width"] >= 200, box
    assert height * 0.6 <= box["y"] and box["y"] + box["height"] <= height, box


def decode_qr(png: bytes) -> str:
    """What OpenCV reads from a screenshot of the QR on screen."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    # The ArUco-based detector: the classic one misses about 2 % of clean version-4 codes.
    text, _points, _straight = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    return text


def test_resident_pass_shared_and_redeemed_at_the_kiosk(browser: Browser, browser_context_args: dict,
                                                         live_server: str, screens_dir: Path):
    """Protects SPEC §2.2 in a browser: a pass made in a few taps on a phone, a share page whose QR
    really scans, the short code admitted at the kiosk, and the host told on the portal at once."""
    resident_context = phone(browser, browser_context_args)
    visitor_context = phone(browser, browser_context_args)
    guard_context = browser.new_context(**{**browser_context_args, "viewport": VIEWPORT})
    guard_context.set_default_timeout(10_000)
    try:
        # The resident: sign in, one tap to the form, a name, one tap to create.
        portal = resident_context.new_page()
        portal.goto(f"{live_server}/login")
        portal.get_by_test_id("login").fill(RESIDENT[0])
        portal.get_by_test_id("password").fill(RESIDENT[1])
        portal.get_by_test_id("submit").tap()
        expect(portal).to_have_url(re.compile(r"/portal/$"))
        thumb_reachable(portal, "new-pass")
        shot(portal, screens_dir, "01-home")
        portal.get_by_test_id("new-pass").tap()
        expect(portal).to_have_url(re.compile(r"/portal/passes/new$"))
        thumb_reachable(portal, "create")
        expect(portal.get_by_test_id("uses-single")).to_be_checked()
        portal.get_by_test_id("name").tap()
        portal.get_by_test_id("name").fill("王小明")
        portal.get_by_test_id("plate").fill("粤b 12345")
        shot(portal, screens_dir, "02-form")
        portal.get_by_test_id("create").tap()

        # The pass page: QR, the printed code, share.
        expect(portal).to_have_url(PASS_URL)
        expect(portal.get_by_test_id("qr").locator("svg")).to_be_visible()
        code = portal.get_by_test_id("code").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}", code), code
        expect(portal.get_by_test_id("plate")).to_have_text("粤B12345")
        share_url = portal.get_by_test_id("share-link").input_value()
        assert re.search(r"/p/GP1[A-Z2-7]{64}$", share_url), share_url
        if not portal.evaluate("() => !!navigator.share"):
            portal.get_by_test_id("share").tap()
            expect(portal.get_by_test_id("share-status")).to_have_text(re.compile(r"\S"))
        shot(portal, screens_dir, "03-pass")

        # The visitor's phone: the share page, whose QR on screen decodes to the token.
        visitor = visitor_context.new_page()
        visitor.goto(share_url)
        qr = visitor.get_by_test_id("qr")
        expect(qr.locator("svg")).to_be_visible()
        expect(visitor.get_by_test_id("code")).to_have_text(code)
        expect(visitor.get_by_test_id("unit")).to_contain_text("1-1-101")
        expect(visitor.get_by_test_id("visitor-name")).to_have_text("王小明")
        assert "陈先生" not in visitor.content()
        assert decode_qr(qr.screenshot()) == share_url.rsplit("/p/", 1)[1]
        shot(visitor, screens_dir, "04-share-page")

        # The resident waits on the portal home (polling).
        portal.goto(f"{live_server}/portal/")
        expect(portal.get_by_test_id("notice-banner")).to_be_hidden()
        portal.evaluate("window.__notReloaded = true")

        # The guard at the kiosk types the short code and presses Enter.
        kiosk = guard_context.new_page()
        quick_login(kiosk, live_server, *GUARD)
        start_shift(kiosk)
        kiosk.goto(f"{live_server}/kiosk/passes/")
        field = kiosk.locator("#pass-input")
        field.fill(code)
        field.press("Enter")
        result = kiosk.locator(".pass-result")
        expect(result).to_have_class(re.compile(r"\badmitted\b"))
        expect(result).to_contain_text("王小明")
        shot(kiosk, screens_dir, "05-kiosk-admitted")

        # The resident's phone shows it by itself, at the top.
        banner = portal.get_by_test_id("notice-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("王小明")
        assert portal.evaluate("window.__notReloaded === true"), "the portal reloaded instead of updating"
        expect(portal.locator("#notices .notice-item")).to_have_count(1)
        shot(portal, screens_dir, "06-portal-notice")

        # A single-use pass is now used up: the visitor's page says so and shows no QR.
        visitor.reload()
        expect(visitor.get_by_test_id("share-pass")).to_have_attribute("data-status", "used_up")
        expect(visitor.get_by_test_id("qr")).to_have_count(0)
        shot(visitor, screens_dir, "07-share-used")

        # A second try at the kiosk is refused.
        kiosk.locator("#pass-input").fill(code)
        kiosk.locator("#pass-input").press("Enter")
        expect(kiosk.locator(".pass-result")).to_have_class(re.compile(r"\brejected\b"))
    finally:
        for context in (resident_context, visitor_context, guard_context):
            context.close()
