"""Residents' cars in Chromium: the service desk signs in, opens the cars page from the desk home,
registers a car to a unit, finds it in the list, and ends it; the ended car stays on record."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from gate.extensions import db
from gate.models import Vehicle

pytestmark = pytest.mark.e2e

DESK = ("desk", "desk-demo")
LIST_URL = re.compile(r"/desk/vehicles/(\?.*)?$")
CHANGE_URL = re.compile(r"/desk/vehicles/\d+/change$")


def shot(page: Page, screens: Path, name: str) -> None:
    """A full-page screenshot in test-results/screens/ for humans to look at."""
    page.screenshot(path=str(screens / f"desk-vehicles-{name}.png"), full_page=True)


def test_desk_adds_finds_and_ends_a_car(page: Page, app, live_server: str, screens_dir: Path):
    """Protects the desk's car workflow with CSRF on: the home link leads to the list, a car added
    for 1-1-101 shows with its colour and shows up again when searched by plate, ending it asks
    nothing more than a button and leaves the row marked ended (kept, not deleted)."""
    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(DESK[0])
    page.get_by_test_id("password").fill(DESK[1])
    page.get_by_test_id("submit").click()
    page.get_by_test_id("vehicles-link").click()
    expect(page).to_have_url(LIST_URL)
    expect(page.get_by_test_id("cars")).to_contain_text("粤B12345")

    page.get_by_test_id("plate").fill("粤b 54321")
    page.get_by_test_id("unit").fill("1-1-101")
    page.get_by_test_id("color").fill("白色")
    page.get_by_test_id("reason").fill("第二辆车")
    page.get_by_test_id("add").click()
    expect(page).to_have_url(LIST_URL)
    expect(page.locator(".flash.success")).to_contain_text("粤B54321")
    with app.app_context():
        car_id = db.session.scalars(select(Vehicle.id).where(Vehicle.plate == "粤B54321")).one()
        db.session.remove()
    row = page.get_by_test_id(f"car-{car_id}")
    expect(row).to_contain_text("1-1-101")
    expect(row).to_contain_text("白色")
    shot(page, screens_dir, "00-added")

    page.get_by_test_id("q").fill("54321")
    page.get_by_test_id("find").click()
    expect(page.get_by_test_id(f"car-{car_id}")).to_be_visible()
    expect(page.locator("[data-testid^=car-]")).to_have_count(1)

    page.get_by_test_id(f"change-{car_id}").click()
    expect(page).to_have_url(CHANGE_URL)
    page.get_by_test_id("end-reason").fill("车已卖")
    page.get_by_test_id("end").click()
    expect(page).to_have_url(LIST_URL)
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.get_by_test_id(f"ended-{car_id}")).to_be_visible()
    expect(page.get_by_test_id(f"change-{car_id}")).to_have_count(0)
    shot(page, screens_dir, "01-ended")
    with app.app_context():
        car = db.session.get(Vehicle, car_id)
        assert car is not None and car.valid_until is not None and car.reason == "车已卖"
        db.session.remove()
