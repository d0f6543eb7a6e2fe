"""Idle behaviour of the kiosk (issue 9, item 4): back home when untouched, never dropping a flow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import GUARD, HOME_URL, quick_login, start_shift

HOME_SECONDS = 2
NOTE_URL = re.compile(r"/kiosk/journal/note$")
IDLE_SCRIPT = "script[src*='idle.js']"


@pytest.fixture
def app_config(app_config):
    """A kiosk that goes home after two untouched seconds."""
    return {**app_config, "GATE_KIOSK_HOME_SECONDS": HOME_SECONDS}


def test_untouched_page_goes_home_and_an_open_form_warns_first(page: Page, live_server: str,
                                                               screens_dir: Path):
    """Protects item 4 of issue 9: an untouched kiosk page returns to the home tiles, but a form
    the guard has typed into is never dropped silently — a warning comes first, "Continue" keeps
    the text, and only a warning nobody answers goes home. Home and sign-in pages stay put."""
    page.goto(f"{live_server}/kiosk/login")
    expect(page.locator(IDLE_SCRIPT)).to_have_count(0)
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    expect(page.locator(IDLE_SCRIPT)).to_have_count(0)
    page.clock.install()

    # Nothing typed: home after the idle seconds, without a warning.
    page.goto(f"{live_server}/kiosk/journal/note")
    page.clock.run_for(HOME_SECONDS * 1000 - 500)
    expect(page).to_have_url(NOTE_URL)
    with page.expect_navigation():
        page.clock.run_for(1000)
    expect(page).to_have_url(HOME_URL)

    # Typed text: the warning, and "Continue" keeps the page and the text.
    page.goto(f"{live_server}/kiosk/journal/note")
    text = page.get_by_test_id("text")
    text.fill("东门路灯不亮")
    page.clock.run_for(HOME_SECONDS * 1000 + 100)
    warning = page.get_by_test_id("idle-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("15")
    page.screenshot(path=str(screens_dir / "kiosk-idle-warning.png"))
    page.clock.run_for(5000)
    page.get_by_test_id("idle-continue").tap()
    expect(warning).to_be_hidden()
    expect(page).to_have_url(NOTE_URL)
    expect(text).to_have_value("东门路灯不亮")

    # Left alone again: a fresh warning with the full 15 s, then home.
    page.clock.run_for(HOME_SECONDS * 1000 + 100)
    expect(warning).to_be_visible()
    page.clock.run_for(14_000)
    expect(page).to_have_url(NOTE_URL)
    with page.expect_navigation():
        page.clock.run_for(2000)
    expect(page).to_have_url(HOME_URL)
