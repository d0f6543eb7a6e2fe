"""Every kiosk screen, reached in one browser session the way a guard gets there.

The pages of test_touch_layout.PAGES are opened with its own steps (`open_from_home`); the
screens after them need data (a slip, a pass, a violation, a car prompt), which the walk makes
through the services of the served app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Flask
from playwright.sync_api import Page, expect

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models.types import utcnow
from gate.services import sites, vehicles, violations
from tests.e2e.helpers import GUARD, HOME_URL, quick_login, start_shift
from tests.e2e.test_touch_layout import PAGES, open_from_home
from tests.support import passes, slips

HOME = re.compile(r"/kiosk/$")  # the tiles

VISIT_URL = re.compile(r"/kiosk/visitors/\d+$")
PROMPT_PLATE = "京A88888"
# Screens after the touch-layout pages, in walking order.
MORE = ["car-prompt", "cars-onsite", "gates", "visitor-unit", "visitor-id", "visitor-waiting",
        "visitor-forced", "visitors-onsite", "pass-result", "slip-check", "violations", "violation-new",
        "violation-show", "violation-notice"]
SCREENS = [*PAGES, *MORE]


@dataclass
class Seeded:
    """What the walk needs to reach the screens behind a scan or a record."""

    slip_token: str
    pass_token: str
    violation_id: int


def seed(app: Flask) -> Seeded:
    """An approved slip, a pass and a violation, made through the services."""
    with app.test_request_context():
        slip_token = slips.token(slips.approved())
        pass_token = passes.token(passes.visitor_pass())
        guard = passes.user(GUARD[0])
        violation = violations.record(sites.current_site().id, guard, "parking", "粤B12345", "地面停车场", "")
        seeded = Seeded(slip_token, pass_token, violation.id)
        db.session.remove()
    return seeded


def car_at_camera(app: Flask) -> None:
    """An unknown car read by the entry camera: a prompt on the kiosk for the next two minutes."""
    with app.app_context():
        vehicles.handle_plate(PlateRead("demo", "anpr-in", f"evt-{uuid.uuid4().hex}", PROMPT_PLATE, 0.96,
                                        "in", utcnow()))
        db.session.remove()


def _scan(page: Page, text: str) -> None:
    """What a keyboard-wedge scanner does: type into the focused field, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def walk_kiosk(page: Page, app: Flask, base_url: str) -> Iterator[str]:
    """Open every kiosk screen in turn (`app` is the served app); yields each name once it is shown."""
    seeded = seed(app)
    page.goto(f"{base_url}/kiosk/login")
    yield "login"
    quick_login(page, base_url)
    page.wait_for_load_state()  # start_shift ticks the boxes present: all of them, not the first few
    yield "start"
    start_shift(page)
    yield "home"
    for name in (name for name in PAGES if name not in ("login", "start", "home")):
        page.goto(f"{base_url}/kiosk/")
        open_from_home(page, base_url, name)
        yield name
    yield from _more(page, app, base_url, seeded)


def _more(page: Page, app: Flask, base_url: str, seeded: Seeded) -> Iterator[str]:
    kiosk = f"{base_url}/kiosk"
    page.goto(f"{kiosk}/")
    expect(page).to_have_url(HOME_URL)
    car_at_camera(app)  # while the home is open: the live events bring the card
    # Within a second or two by the event stream; 20 s covers its fallback, the slow poll.
    expect(page.get_by_test_id("vehicle-prompt")).to_be_visible(timeout=20_000)
    yield "car-prompt"
    page.get_by_test_id("tile-cars").tap()
    expect(page).not_to_have_url(HOME)  # left home before the next goto (no interrupted navigation)
    yield "cars-onsite"
    page.goto(f"{kiosk}/")
    page.get_by_test_id("tile-gates").tap()
    expect(page).not_to_have_url(HOME)
    yield "gates"

    page.goto(f"{kiosk}/")
    page.get_by_test_id("tile-visitors").tap()
    page.get_by_test_id("unit").fill("1-1-101")
    yield "visitor-unit"
    page.get_by_test_id("next").tap()
    expect(page.get_by_test_id("privacy-notice")).to_be_visible()
    page.get_by_test_id("id_number").fill("11010519491231002x")
    page.get_by_test_id("name").fill("王五")
    page.get_by_test_id("phone").fill("13900000002")
    page.get_by_test_id("purpose").fill("探亲")
    yield "visitor-id"
    page.get_by_test_id("start").tap()
    expect(page).to_have_url(VISIT_URL)
    expect(page.get_by_test_id("panel-waiting_host")).to_be_visible()
    yield "visitor-waiting"
    page.goto(f"{kiosk}/visitors/forced")
    yield "visitor-forced"
    page.goto(f"{kiosk}/visitors/onsite")
    yield "visitors-onsite"

    page.goto(f"{kiosk}/passes/")
    _scan(page, seeded.pass_token)
    expect(page.get_by_test_id("pass-result")).to_be_visible()
    yield "pass-result"
    page.goto(f"{kiosk}/slips/")
    _scan(page, seeded.slip_token)
    expect(page).to_have_url(re.compile(r"/kiosk/slips/\d+/check$"))
    yield "slip-check"

    page.goto(f"{kiosk}/")
    page.get_by_test_id("tile-violations").tap()
    expect(page).not_to_have_url(HOME)
    yield "violations"
    page.get_by_test_id("record").tap()
    page.get_by_test_id("type-parking").tap()
    expect(page).to_have_url(re.compile(r"/kiosk/violations/new\?type=parking"))
    yield "violation-new"
    page.goto(f"{kiosk}/violations/{seeded.violation_id}")
    yield "violation-show"
    page.get_by_test_id("print-notice").tap()
    expect(page.get_by_test_id("notice")).to_be_visible()
    yield "violation-notice"
