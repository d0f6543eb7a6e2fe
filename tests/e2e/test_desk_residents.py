"""Registering a resident in Chromium: the service desk finds an empty unit, opens "Register a
resident" from the unit's card (unit filled in), registers a tenant, and sees them listed under
the unit with the activation-code and move-out buttons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from gate.extensions import db
from gate.models import Resident

pytestmark = pytest.mark.e2e

DESK = ("desk", "desk-demo")


def test_desk_registers_a_resident_and_sees_them_in_the_unit(page: Page, app, live_server: str,
                                                             screens_dir: Path):
    """Protects the desk's register workflow with CSRF on: the unit card's button opens the form
    with the unit prefilled, the form registers the resident, and the unit view lists them with
    a masked phone and the buttons that need a registered resident."""
    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(DESK[0])
    page.get_by_test_id("password").fill(DESK[1])
    page.get_by_test_id("submit").click()
    page.get_by_test_id("unit").fill("1-2-301")
    page.get_by_role("button", name=re.compile("查找|Find")).click()
    card = page.get_by_test_id("unit-card")
    expect(card).to_have_count(1)
    expect(card.locator(".resident-row")).to_have_count(0)

    card.get_by_test_id("register-resident-1-2-301").click()
    expect(page).to_have_url(re.compile(r"/desk/residents/new\?unit=1-2-301$"))
    expect(page.get_by_test_id("unit")).to_have_value("1-2-301")
    page.get_by_test_id("name").fill("孙女士")
    page.get_by_test_id("phone").fill("139 0000 1234")
    page.get_by_test_id("tenant").check()
    page.screenshot(path=str(screens_dir / "desk-residents-00-form.png"), full_page=True)
    page.get_by_test_id("register").click()

    expect(page).to_have_url(re.compile(r"/desk/\?unit=1-2-301$"))
    expect(page.locator(".flash.success")).to_contain_text("孙女士")
    with app.app_context():
        resident = db.session.scalars(select(Resident).where(Resident.phone == "13900001234")).one()
        resident_id, is_owner = resident.id, resident.is_owner
        db.session.remove()
    assert is_owner is False
    row = page.get_by_test_id(f"resident-{resident_id}")
    expect(row).to_contain_text("孙女士")
    expect(row).to_contain_text("139****1234")
    expect(page.get_by_test_id(f"issue-code-{resident_id}")).to_be_visible()
    expect(page.get_by_test_id(f"move-out-{resident_id}")).to_be_visible()
    page.screenshot(path=str(screens_dir / "desk-residents-01-listed.png"), full_page=True)
