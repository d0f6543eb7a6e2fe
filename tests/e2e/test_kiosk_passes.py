"""The pass screen in Chromium: a keyboard-wedge scanner types a pass into the focused field, the
guard sees who was admitted and the walk-in barrier's answer; the same pass again is used up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask_babel import force_locale
from playwright.sync_api import Page, expect

from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics
from gate.extensions import db
from gate.services import pass_gate
from kiosk_ui.scripts import script
from tests.e2e.helpers import GUARD, quick_login, start_shift
from tests.support import passes as make

pytestmark = [pytest.mark.e2e, pytest.mark.mqtt]

PASSES_URL = re.compile(r"/kiosk/passes/$")
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
    page.screenshot(path=str(screens / f"passes-{name}.png"), full_page=True)


def big_enough(page: Page) -> None:
    """Every visible kiosk button and key is tall enough for gloved fingers."""
    page.wait_for_load_state("load")  # measure after the stylesheet applies
    for target in page.locator(":is(a, button):is(.btn, .tile, .key)").all():
        if target.is_visible():
            box = target.bounding_box()
            assert box and box["height"] >= MIN_TARGET_PX, target.evaluate("el => el.outerHTML.slice(0, 120)")


def wedge_scan(page: Page, text: str) -> None:
    """What a keyboard-wedge scanner does: type into whatever has focus, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_scanner_wedge_admits_then_used_up(page: Page, app, live_server: str, screens_dir: Path, walk_in):
    """Protects the scanner at the kiosk: the field has focus on arrival (no tap needed), a scanned
    pass admits with name, unit and the barrier's 'done'; the same pass again is refused as used up
    with its script; focus is back in the field after each result; a scan at the camera shows up
    in the recent list without touching the screen."""
    with app.app_context():
        visitor_pass = make.visitor_pass(name="王访客")
        text = make.token(visitor_pass)
        db.session.remove()
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.get_by_test_id("tile-passes").tap()
    expect(page).to_have_url(PASSES_URL)
    field = page.get_by_test_id("pass-input")
    expect(field).to_be_focused()
    big_enough(page)
    shot(page, screens_dir, "00-waiting")

    wedge_scan(page, text)
    result = page.get_by_test_id("pass-result")
    expect(result).to_have_class(re.compile(r"\bpass-result\b.*\badmitted\b"))
    expect(result.get_by_test_id("pass-name")).to_have_text("王访客")
    expect(result.get_by_test_id("pass-unit")).to_have_text("1-1-101")
    expect(result.get_by_test_id("pass-uses-left")).to_have_text("0")
    expect(result.get_by_test_id("pass-barrier")).to_have_attribute("data-barrier", "done")
    assert walk_in.state == "open"
    expect(field).to_be_focused()
    expect(page.get_by_test_id("pass-event")).to_have_count(1)
    shot(page, screens_dir, "01-admitted")

    page.get_by_test_id("pass-recent").click()  # a tap on empty screen: the field keeps the focus
    expect(field).to_be_focused()
    wedge_scan(page, text)
    expect(result).to_have_class(re.compile(r"\brejected\b"))
    expect(result).to_have_attribute("data-reason", "used_up")
    with app.test_request_context(), force_locale("zh_CN"):
        used_up_script = script("pass_used_up")
    expect(page.get_by_test_id("script").locator(".text")).to_have_text(used_up_script)
    expect(field).to_be_focused()
    big_enough(page)
    shot(page, screens_dir, "02-used-up")

    # The kiosk camera reads another pass (through the bridge, here the same service call).
    page.evaluate("window.__notReloaded = true")
    with app.app_context():
        other = make.token(make.visitor_pass(name="赵来客"))
        outcome = pass_gate.at_gate(make.site(), other, source="scanner",
                                    event_key=("demo", "kiosk-cam", "e2e-1"))
        assert outcome.outcome == "admitted"
        db.session.remove()
    rows = page.get_by_test_id("pass-event")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("赵来客")
    assert page.evaluate("window.__notReloaded === true"), "the list should update without a reload"
    shot(page, screens_dir, "03-camera-scan-listed")


def test_typed_code_with_the_letter_keyboard(page: Page, app, live_server: str, walk_in):
    """Protects manual entry on the touchscreen: the code typed on the on-screen letter keys."""
    with app.app_context():
        visitor_pass = make.visitor_pass(name="钱客人")
        code = visitor_pass.code
        db.session.remove()
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.goto(f"{live_server}/kiosk/passes/")
    page.get_by_test_id("code-keys").locator("summary").tap()
    for key in code:
        page.locator(f'.code-keypad .key[data-key="{key}"]').tap()
    expect(page.get_by_test_id("pass-input")).to_have_value(f"{code[:4]}-{code[4:]}")
    big_enough(page)
    page.get_by_test_id("pass-check").tap()
    expect(page.get_by_test_id("pass-result")).to_have_attribute("data-outcome", "admitted")
    expect(page.get_by_test_id("pass-name")).to_have_text("钱客人")


def test_recent_list_stops_polling_when_the_kiosk_is_idle(page: Page, live_server: str):
    """Protects the idle sign-out: the recent list's poll (a request every 2 s) stops once nobody
    has touched the kiosk for GATE_KIOSK_IDLE_MINUTES, and the page reloads after that so the
    sign-in page can take over; an unattended kiosk is not kept signed in by its own polling."""
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.clock.install()
    page.goto(f"{live_server}/kiosk/passes/")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/kiosk/passes/recent") else None)
    with page.expect_request("**/kiosk/passes/recent"):
        page.clock.run_for(2_500)
    page.wait_for_timeout(500)  # real time: the poll's answer arrives, the next poll is scheduled
    page.clock.run_for(10 * 60 * 1000)  # ten idle minutes, no touch
    page.wait_for_timeout(500)
    asked = len(polls)
    with page.expect_navigation():
        page.clock.run_for(11 * 60 * 1000)  # the reload, once the session has expired
    assert len(polls) == asked, "the page kept polling while idle"
