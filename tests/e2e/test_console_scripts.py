"""The script library in Chromium: a supervisor words the shift-start script (话术) the estate's own
way in Chinese, and the guard's kiosk shows it in the banner on the next page load."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import GUARD, START_URL, SUPERVISOR

pytestmark = pytest.mark.e2e

ORDERS_ZH = "开始值班前，请阅读全部岗位须知。"
SITE_ZH = "接班前请逐条阅读岗位须知，有疑问请问领班。"


def test_supervisor_words_a_script_and_the_kiosk_shows_it(page: Page, new_context, live_server: str):
    """Protects the library end to end with CSRF on: the edit form saves the Chinese wording, the
    list marks it as the site's, and the guard's banner shows it after a reload (English untouched)."""
    page.goto(f"{live_server}/kiosk/login")
    page.get_by_test_id("staff_no").fill(GUARD[0])
    page.get_by_test_id("pin").fill(GUARD[1])
    page.get_by_test_id("login").tap()
    expect(page).to_have_url(START_URL)
    banner = page.get_by_test_id("script").locator(".text")
    expect(banner).to_have_text(ORDERS_ZH)

    console = new_context().new_page()
    console.goto(f"{live_server}/login")
    console.get_by_test_id("login").fill(SUPERVISOR[0])
    console.get_by_test_id("password").fill(SUPERVISOR[1])
    console.get_by_test_id("submit").click()
    console.goto(f"{live_server}/console/scripts/")
    expect(console.get_by_test_id("text-orders-zh_CN")).to_contain_text(ORDERS_ZH)
    expect(console.get_by_test_id("site-orders-zh_CN")).to_have_count(0)
    console.get_by_test_id("edit-orders-zh_CN").click()
    expect(console.get_by_test_id("built-in")).to_have_text(ORDERS_ZH)
    console.get_by_test_id("text").fill(SITE_ZH)
    console.get_by_test_id("save").click()
    expect(console.locator(".flash.success")).to_be_visible()
    expect(console.get_by_test_id("text-orders-zh_CN")).to_contain_text(SITE_ZH)
    expect(console.get_by_test_id("site-orders-zh_CN")).to_be_visible()
    expect(console.get_by_test_id("site-orders-en")).to_have_count(0)

    page.reload()
    expect(banner).to_have_text(SITE_ZH)
    page.goto(f"{live_server}/kiosk/shift/start?lang=en")
    expect(banner).to_have_text(re.compile(r"^Read every post order"))
