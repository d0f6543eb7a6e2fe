"""A walk-in visitor in Chromium: the guard checks them in, the resident approves on the portal from
another browser, the guard's page follows live, admits (the gate opens), prints the slip, and
checks the visitor out from the on-site list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import Approval, User
from gate.services import visits
from tests.e2e.helpers import GUARD, quick_login, start_shift

pytestmark = [pytest.mark.e2e, pytest.mark.mqtt]

RESIDENT = ("13800000001", "resident-demo")
VISIT_URL = re.compile(r"/kiosk/visitors/(\d+)$")
MIN_TARGET_PX = 44


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The served app opens the pedestrian barrier through this test's broker."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=2.0)


@pytest.fixture
def walk_in(fresh_mosquitto):
    """The demo's pedestrian barrier, simulated."""
    sim = SimulatedBarrier(fresh_mosquitto.url, Topics("gatehouse", "demo"), "walk-in", travel_seconds=0.05)
    sim.start()
    yield sim
    sim.stop()


def shot(page: Page, screens: Path, name: str) -> None:
    page.screenshot(path=str(screens / f"visitor-{name}.png"), full_page=True)


def banner_shown(page: Page) -> None:
    expect(page.get_by_test_id("script").locator(".text")).to_have_text(re.compile(r"\S"))


def big_enough(page: Page) -> None:
    """Every visible kiosk button is tall enough for gloved fingers."""
    page.wait_for_load_state("load")  # measure after the stylesheet applies
    for target in page.locator(":is(a, button):is(.btn, .tile)").all():
        if target.is_visible():
            box = target.bounding_box()
            assert box and box["height"] >= MIN_TARGET_PX, target.evaluate("el => el.outerHTML.slice(0, 120)")


def test_walk_in_approved_on_portal_admitted_slip_checked_out(page: Page, browser: Browser,
                                                              browser_context_args: dict, live_server: str,
                                                              screens_dir: Path, walk_in):
    """Protects the whole §四 road in a browser: unit typeahead, ID, live host approval from the
    resident's own phone (no reload on the kiosk), admission with the gate opening, the printable
    slip, and check-out from the on-site list."""
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    expect(page.get_by_test_id("onsite-count")).to_have_text("0")
    shot(page, screens_dir, "00-home")
    page.get_by_test_id("tile-visitors").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/visitors/new$"))
    banner_shown(page)

    # Step 1: the unit, with typeahead suggestions (unit codes only).
    unit = page.get_by_test_id("unit")
    unit.fill("1-1")
    expect(page.locator("#unit-options option")).to_have_count(3)
    assert page.locator("#unit-options option").first.get_attribute("value") == "1-1-101"
    unit.fill("1-1-101")
    big_enough(page)
    shot(page, screens_dir, "01-unit")
    page.get_by_test_id("next").tap()

    # Step 2: the ID, name, purpose; the privacy notice is on screen.
    expect(page.get_by_test_id("unit-chosen")).to_have_text("1-1-101")
    expect(page.get_by_test_id("privacy-notice")).to_be_visible()
    page.get_by_test_id("id_number").fill("110105194912310021")  # one digit wrong
    page.get_by_test_id("name").tap()
    expect(page.get_by_test_id("id-hint")).to_contain_text("最后一位")
    page.get_by_test_id("id_number").fill("11010519491231002x")
    page.get_by_test_id("name").fill("王五")
    page.get_by_test_id("phone").fill("13900000002")
    page.get_by_test_id("purpose").fill("探亲")
    big_enough(page)
    shot(page, screens_dir, "02-id")
    page.get_by_test_id("start").tap()

    # The visit page waits for the host, polling.
    expect(page).to_have_url(VISIT_URL)
    visit_id = int(VISIT_URL.search(page.url).group(1))
    expect(page.get_by_test_id("panel-waiting_host")).to_be_visible()
    banner_shown(page)
    waiting_banner = page.get_by_test_id("script").locator(".text").inner_text()
    page.evaluate("window.__notReloaded = true")
    shot(page, screens_dir, "03-waiting-host")

    # The resident approves from their own phone.
    resident_context = browser.new_context(**browser_context_args)
    try:
        portal = resident_context.new_page()
        portal.set_default_timeout(10_000)
        portal.goto(f"{live_server}/login")
        portal.get_by_test_id("login").fill(RESIDENT[0])
        portal.get_by_test_id("password").fill(RESIDENT[1])
        portal.get_by_test_id("submit").tap()
        expect(portal).to_have_url(re.compile(r"/portal/$"))
        approve = portal.get_by_test_id(f"approve-{visit_id}")
        expect(approve).to_be_visible()
        shot(portal, screens_dir, "04-portal-request")
        approve.tap()
        expect(portal.get_by_test_id(f"approve-{visit_id}")).to_have_count(0)
    finally:
        resident_context.close()

    # The guard's page changes by itself: admit button, welcome script, same document.
    admit = page.get_by_test_id("admit")
    expect(admit).to_be_visible()
    expect(page.get_by_test_id("script").locator(".text")).not_to_have_text(waiting_banner)
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded instead of updating"
    big_enough(page)
    shot(page, screens_dir, "05-approved")
    admit.tap()
    expect(page.locator(".flash.success")).to_be_visible()
    assert walk_in.state == "open"
    expect(page.get_by_test_id("panel-admitted")).to_be_visible()
    shot(page, screens_dir, "06-admitted")

    # The slip: masked name, unit, QR; as printed on 80 mm paper.
    page.get_by_test_id("print-slip").tap()
    slip = page.get_by_test_id("slip")
    expect(slip.get_by_test_id("slip-name")).to_have_text("王*")
    expect(slip.get_by_test_id("slip-unit")).to_have_text("1-1-101")
    expect(slip.locator(".qr svg")).to_be_visible()
    shot(page, screens_dir, "07-slip")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_test_id("print")).to_be_hidden()
    shot(page, screens_dir, "08-slip-print")
    page.emulate_media(media="screen")

    # Leaving: the on-site list, one tap.
    page.get_by_test_id("back").tap()
    expect(page).to_have_url(VISIT_URL)
    page.get_by_test_id("onsite-link").tap()
    row = page.locator(f'[data-testid="onsite-row"][data-visit-id="{visit_id}"]')
    expect(row).to_contain_text("王五")
    expect(page.get_by_test_id("slip-token")).to_be_focused()
    big_enough(page)
    shot(page, screens_dir, "09-onsite")
    page.get_by_test_id(f"checkout-{visit_id}").tap()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(row).to_have_count(0)
    banner_shown(page)
    shot(page, screens_dir, "10-checked-out")


def test_forgot_id_countdown_and_live_supervisor_answer(page: Page, app, live_server: str, screens_dir: Path):
    """Protects 时效制 on the kiosk: a forgotten ID shows the supervisor's promised time counting down,
    and the supervisor's answer (from the console, here the service) changes the page by itself."""
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.goto(f"{live_server}/kiosk/visitors/new")
    page.get_by_test_id("unit").fill("1-1-101")
    page.get_by_test_id("next").tap()
    page.get_by_test_id("name").fill("孙八")
    page.get_by_test_id("forgot-id").tap()
    expect(page).to_have_url(VISIT_URL)
    visit_id = int(VISIT_URL.search(page.url).group(1))
    countdown = page.get_by_test_id("countdown").locator("[data-seconds]")
    expect(countdown).to_have_text(re.compile(r"0[45]:\d\d"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)  # it ticks
    page.evaluate("window.__notReloaded = true")
    shot(page, screens_dir, "11-waiting-supervisor")

    with app.app_context():
        approval = db.session.scalars(select(Approval).where(Approval.visit_id == visit_id)).one()
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        visits.decide(approval, "denied", supervisor, "no ID, host unreachable")
    expect(page.get_by_test_id("panel-refused")).to_be_visible()
    assert page.evaluate("window.__notReloaded === true")
    shot(page, screens_dir, "12-supervisor-denied")
