"""Live events in Chromium: a car prompt reaches the kiosk over server-sent events, with a sound cue."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models.types import utcnow
from gate.services import vehicles
from tests.e2e.helpers import GUARD, quick_login, start_shift

pytestmark = pytest.mark.e2e

PLATE = "京A88888"


@pytest.fixture
def app_config(app_config):
    """One-second streams, so the prompt arrives on a reconnected stream (Last-Event-ID)."""
    return dict(app_config, GATE_EVENTS_STREAM_SECONDS=1.0)


def test_car_prompt_arrives_over_the_stream_with_a_sound_cue(page: Page, app, live_server: str,
                                                             screens_dir: Path):
    """Protects issue 9's live events: with the panel's polling slowed to once an hour, a car
    prompt read after the kiosk home has loaded still shows within seconds, without a reload,
    after the stream has ended and reconnected once; and the sound cue was played for it."""
    page.add_init_script("window.GATE_LIVE_POLL_MS = 3600000")  # no safety poll during the test
    quick_login(page, live_server, *GUARD)
    start_shift(page)
    page.evaluate("window.__notReloaded = true")
    page.mouse.click(5, 790)  # the first touch unlocks audio, as on the real kiosk
    # A function, not an expression: Playwright evals expressions, which the CSP refuses.
    page.wait_for_function("() => window.gateLive.live && window.gateLive.opens >= 2", timeout=8_000)
    assert page.evaluate("window.gateLive.beeps") == 0
    expect(page.get_by_test_id("vehicle-prompt")).to_have_count(0)

    with app.app_context():
        vehicles.handle_plate(PlateRead("demo", "anpr-in", f"evt-{uuid.uuid4().hex}", PLATE, 0.96, "in",
                                        utcnow()))
        db.session.remove()
    card = page.get_by_test_id("vehicle-prompt")
    expect(card).to_be_visible(timeout=5_000)
    expect(card.get_by_test_id("prompt-plate")).to_have_text(PLATE)
    assert page.evaluate("window.__notReloaded === true"), "the prompt should appear without a reload"
    assert page.evaluate("window.gateLive.beeps") == 1
    page.screenshot(path=str(screens_dir / "live-01-prompt.png"), full_page=True)
