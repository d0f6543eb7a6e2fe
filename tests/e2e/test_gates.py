"""The kiosk's gate panel in Chromium: tap a reason, tap open, read what the barrier said."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics
from tests.e2e.helpers import GUARD, quick_login, start_shift

pytestmark = [pytest.mark.e2e, pytest.mark.mqtt]


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The served app commands barriers through this test's broker."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=1.0)


@pytest.fixture
def barriers(fresh_mosquitto):
    """walk-in answers; car-out is a hung controller that never does."""
    topics = Topics("gatehouse", "demo")
    good = SimulatedBarrier(fresh_mosquitto.url, topics, "walk-in", travel_seconds=0.05).start()
    silent = SimulatedBarrier(fresh_mosquitto.url, topics, "car-out", fail_mode="silent").start()
    yield good, silent
    silent.stop()
    good.stop()


def test_open_barrier_from_the_panel(page: Page, live_server: str, barriers):
    """Protects the manual-opening flow: reason, open, 'done' shown; a silent barrier says so."""
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.get_by_test_id("tile-gates").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/gates/$"))
    card = page.get_by_test_id("barrier-walk-in")
    card.get_by_label(re.compile("访客")).check()
    card.get_by_test_id("open-walk-in").tap()
    expect(page.locator(".flash.success")).to_be_visible()
    assert barriers[0].state == "open"

    card = page.get_by_test_id("barrier-car-out")
    card.get_by_label(re.compile("维修")).check()
    card.get_by_test_id("open-car-out").tap()
    expect(page.locator(".flash.error")).to_contain_text("没有响应")
