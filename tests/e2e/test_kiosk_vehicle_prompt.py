"""A car prompt in Chromium: the ANPR camera reads an unknown plate over MQTT, the bridge decides
"prompt", the kiosk home shows the card without a reload, and the guard opens the lane by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedBarrier, SimulatedCamera
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import User
from gate.services import vehicle_lists
from tests.e2e.helpers import GUARD, quick_login, start_shift
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.mqtt]

PLATE = "京A88888"


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The served app and the bridge use this test's broker."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=2.0)


@pytest.fixture
def lane(fresh_mosquitto):
    """The demo's vehicle entry lane: barrier car-in and camera anpr-in, simulated."""
    topics = Topics("gatehouse", "demo")
    barrier = SimulatedBarrier(fresh_mosquitto.url, topics, "car-in", travel_seconds=0.05)
    camera = SimulatedCamera(fresh_mosquitto.url, topics, "anpr-in")
    barrier.start()
    camera.start()
    yield barrier, camera
    camera.stop()
    barrier.stop()


@pytest.fixture
def bridge(app, live_server):
    """The MQTT bridge for the demo site, on the live server's database."""
    running = Bridge(app).start()
    yield running
    running.stop()


def test_unknown_plate_prompt_then_open_by_hand(page: Page, live_server: str, screens_dir: Path,
                                                lane, bridge):
    """Protects the car gate's guard loop: a camera read of an unknown plate appears on the kiosk
    home within seconds as a prompt card; "Open by hand" with a reason opens the lane's barrier."""
    barrier, camera = lane
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.evaluate("window.__notReloaded = true")

    camera.publish_plate(PLATE, direction="in", confidence=0.96)
    card = page.get_by_test_id("vehicle-prompt")
    expect(card).to_be_visible(timeout=5_000)
    expect(card).to_have_attribute("data-reason", "unknown")
    expect(card.get_by_test_id("prompt-plate")).to_have_text(PLATE)
    assert page.evaluate("window.__notReloaded === true"), "the prompt should appear without a reload"
    page.screenshot(path=str(screens_dir / "vehicles-01-prompt.png"), full_page=True)

    card.get_by_test_id("prompt-open-toggle").tap()
    card.get_by_test_id("prompt-reason-visitor").check()
    card.get_by_test_id("prompt-open-confirm").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/vehicles/$"))
    expect(page.locator(".flash.success")).to_be_visible()
    wait_for(lambda: barrier.state == "open", what="the car-in barrier to open")
    expect(page.get_by_test_id("vehicle-prompt")).to_have_count(0)
    page.screenshot(path=str(screens_dir / "vehicles-02-opened.png"), full_page=True)


def test_vip_salute_banner_goes_by_itself(page: Page, app, live_server: str, screens_dir: Path,
                                          lane, bridge):
    """Protects the salute rule (§十四): a leadership car's arrival shows the salute banner on the
    kiosk home, the barrier opens on its own, and the banner disappears after about 8 s."""
    barrier, camera = lane
    with app.app_context():
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        vehicle_lists.add(supervisor, "vip", "京A00001", "集团总经理")
        db.session.remove()
    quick_login(page, live_server, *GUARD)
    start_shift(page)

    camera.publish_plate("京A00001", direction="in", confidence=0.97)
    salute = page.get_by_test_id("salute-prompt")
    expect(salute).to_be_visible(timeout=5_000)
    expect(salute).to_contain_text("京A00001")
    expect(page.get_by_test_id("vehicle-prompt")).to_have_count(0)
    wait_for(lambda: barrier.state == "open", what="the car-in barrier to open")
    page.screenshot(path=str(screens_dir / "vehicles-03-salute.png"), full_page=True)
    expect(salute).to_have_count(0, timeout=12_000)


def test_unknown_car_admitted_as_visitor_opens_its_lane(page: Page, live_server: str, screens_dir: Path,
                                                         lane, bridge):
    """Protects the "admit as visitor" answer to a car prompt: the plate published to the broker
    shows as a prompt; the guard registers the driver (plate carried over), the host confirms by
    phone, and admitting opens the car's own entry barrier, not the turnstile."""
    barrier, camera = lane
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    camera.publish_plate(PLATE, direction="in", confidence=0.96)
    card = page.get_by_test_id("vehicle-prompt")
    expect(card).to_be_visible(timeout=5_000)
    card.get_by_test_id("prompt-register").tap()

    page.get_by_test_id("unit").fill("1-1-101")
    page.get_by_test_id("next").tap()
    expect(page.get_by_test_id("plate")).to_have_value(PLATE)
    page.get_by_test_id("id_number").fill("11010519491231002x")
    page.get_by_test_id("name").fill("王五")
    page.get_by_test_id("start").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/visitors/\d+$"))
    page.get_by_test_id("host-approved").tap()
    page.get_by_test_id("admit").tap()
    expect(page.locator(".flash.success")).to_be_visible()
    wait_for(lambda: barrier.state == "open", what="the car-in barrier to open")
    page.screenshot(path=str(screens_dir / "vehicles-03-admitted-visitor.png"), full_page=True)

    page.goto(f"{live_server}/kiosk/vehicles/onsite")
    expect(page.locator(f'[data-testid="car-row"][data-plate="{PLATE}"]')).to_be_visible()
    page.screenshot(path=str(screens_dir / "vehicles-04-onsite.png"), full_page=True)
