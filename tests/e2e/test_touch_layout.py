"""Touch targets on the kiosk pages are big enough for gloved fingers."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import HANDOVER_URL, quick_login, start_shift

pytestmark = pytest.mark.e2e

MIN_TARGET_PX = 48  # issue 9: touch targets ≥ 48 px
TARGETS = ":is(a, button, input):is(.btn, .tile, .key)"
JOURNAL_KINDS = ("phone_call", "inspection", "complaint", "patrol", "note")
PAGES = ["login", "start", "home", *(f"journal-{kind}" for kind in JOURNAL_KINDS), "handover", "passes",
         "slips", "vehicles"]


def open_kiosk_page(page: Page, base_url: str, name: str) -> None:
    """Walk to a kiosk page the way a guard would get there."""
    if name == "login":
        page.goto(f"{base_url}/kiosk/login")
        return
    quick_login(page, base_url)
    if name == "start":
        return
    page.wait_for_load_state()  # start_shift ticks the boxes present: all of them, not the first few
    start_shift(page)
    open_from_home(page, base_url, name)


def open_from_home(page: Page, base_url: str, name: str) -> None:
    """From the kiosk home, on shift, walk to one of the PAGES after "home"."""
    if name.startswith("journal-"):
        kind = name.removeprefix("journal-")
        page.get_by_test_id(f"tile-{kind}").tap()
        expect(page).to_have_url(re.compile(rf"/kiosk/journal/{kind}$"))
        expect(page.get_by_test_id("save")).to_be_visible()
    elif name == "handover":
        page.get_by_test_id("tile-handover").tap()
        expect(page).to_have_url(HANDOVER_URL)
    elif name == "passes":
        page.get_by_test_id("tile-passes").tap()
        expect(page).to_have_url(re.compile(r"/kiosk/passes/$"))
        page.get_by_test_id("code-keys").locator("summary").tap()  # the letter keys count too
    elif name == "vehicles":
        page.goto(f"{base_url}/kiosk/vehicles/")
    elif name == "slips":
        page.get_by_test_id("tile-slips").tap()
        expect(page).to_have_url(re.compile(r"/kiosk/slips/$"))


@pytest.mark.parametrize("name", PAGES)
def test_touch_targets_and_script_banner(page: Page, live_server: str, name: str):
    """Protects usability with gloves: every kiosk button, tile and key is ≥ 44 px tall; script shown."""
    open_kiosk_page(page, live_server, name)

    banner = page.get_by_test_id("script")
    expect(banner).to_be_visible()
    expect(banner.locator(".text")).to_have_text(re.compile(r"\S"))

    targets = page.locator(TARGETS)
    expect(targets.first).to_be_visible()
    checked, too_small = 0, []
    for target in targets.all():
        if not target.is_visible():
            continue
        box = target.bounding_box()
        assert box is not None
        checked += 1
        if box["height"] < MIN_TARGET_PX:
            html = target.evaluate("el => el.outerHTML.slice(0, 100)")
            too_small.append(f"{box['height']:.0f}px: {html}")
    assert checked >= 2, f"{name}: only {checked} touch targets found"
    assert not too_small, f"{name}: touch targets under {MIN_TARGET_PX}px:\n" + "\n".join(too_small)
