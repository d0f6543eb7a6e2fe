"""Post orders in Chromium: a supervisor issues a pass-down order for the gate post, the guard
starting a shift must tick it, and the order page then shows that guard's acknowledgement."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from gate.extensions import db
from gate.models import Post, PostOrder
from gate.models.types import utcnow
from tests.e2e.helpers import GUARD, HOME_URL, START_URL, SUPERVISOR, quick_login

pytestmark = pytest.mark.e2e

ORDER_URL = re.compile(r"/console/orders/(\d+)$")
TITLE = "东门道闸维修，今晚人工放行"
BODY = "东门车行道道闸今晚维修，车辆一律人工核对后放行。\n维修完成后恢复自动。"


def _gate_post(app) -> tuple[int, str]:
    with app.app_context():
        post = db.session.scalars(select(Post).where(Post.code == "east")).one()
        result = post.id, post.name
        db.session.remove()
        return result


def _order(app, order_id: int) -> PostOrder:
    with app.app_context():
        order = db.session.get(PostOrder, order_id)
        db.session.expunge(order)
        db.session.remove()
        return order


def test_guard_must_acknowledge_a_new_pass_down_order(page: Page, browser: Browser, app,
                                                      live_server: str, browser_context_args,
                                                      screens_dir: Path):
    """Protects the post-order loop with CSRF on: the order issued in the console (expiry typed
    in site time) blocks the guard's shift start until ticked, and the ack shows in the console."""
    post_id, post_name = _gate_post(app)
    zone = ZoneInfo(app.config["GATE_TIMEZONE"])
    typed = (utcnow() + timedelta(days=1)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")

    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(SUPERVISOR[0])
    page.get_by_test_id("password").fill(SUPERVISOR[1])
    page.get_by_test_id("submit").click()
    page.goto(f"{live_server}/console/orders/")
    form = page.get_by_test_id("new-order")
    form.get_by_test_id("kind").select_option("pass_down")
    form.get_by_test_id("category").select_option("safety")
    form.get_by_test_id("post").select_option(str(post_id))
    form.get_by_test_id("expires").fill(typed)
    form.get_by_test_id("title").fill(TITLE)
    form.get_by_test_id("body").fill(BODY)
    form.get_by_test_id("create").click()
    expect(page).to_have_url(ORDER_URL)
    expect(page.locator(".flash.success")).to_be_visible()
    order_id = int(ORDER_URL.search(page.url).group(1))
    order = _order(app, order_id)
    assert (order.kind, order.post_id, order.revision) == ("pass_down", post_id, 1)
    assert order.expires_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M") == typed
    expect(page.get_by_test_id("ack-1001").get_by_test_id("unread")).to_be_visible()

    guard_context = browser.new_context(**browser_context_args)
    try:
        kiosk = guard_context.new_page()
        quick_login(kiosk, live_server, *GUARD)
        mine = kiosk.locator("label.order", has_text=TITLE)
        expect(mine).to_have_count(1)
        expect(mine).to_contain_text("维修完成后恢复自动")
        for box in kiosk.get_by_test_id("ack").all():
            box.check()
        mine.get_by_test_id("ack").uncheck()
        kiosk.get_by_test_id("start").tap()
        expect(kiosk.locator(".flash.error")).to_be_visible()
        expect(kiosk).to_have_url(START_URL)
        for box in kiosk.get_by_test_id("ack").all():
            box.check()
        kiosk.get_by_test_id("start").tap()
        expect(kiosk).to_have_url(HOME_URL)
        expect(kiosk.get_by_test_id("tile-handover")).to_be_visible()
    finally:
        guard_context.close()

    page.reload()
    row = page.get_by_test_id("ack-1001")
    expect(row.get_by_test_id("current")).to_be_visible()
    expect(row.locator("td").nth(2)).to_have_text("1")
    expect(page.get_by_test_id("ack-1002").get_by_test_id("unread")).to_be_visible()
    page.screenshot(path=str(screens_dir / "console-order.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("retire").click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.get_by_test_id("retire")).to_have_count(0)
    assert _order(app, order_id).expires_at <= utcnow()
    page.goto(f"{live_server}/console/orders/?state=expired")
    expect(page.get_by_test_id(f"order-{order_id}")).to_be_visible()
    expect(page.get_by_test_id(f"acked-{order_id}")).to_contain_text("1")
