"""The daily activity report in Chromium: a supervisor opens yesterday's demo shift from the shift
list, reads its counts and handover, adds a note to an entry, reviews and approves the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from gate.extensions import db
from gate.models import Shift, ShiftBookEntry, User
from tests.e2e.helpers import SUPERVISOR

pytestmark = pytest.mark.e2e

REPORT_URL = re.compile(r"/console/shifts/\d+(#.*)?$")


def _demo_shift(app) -> tuple[int, int]:
    """The demo's handed-over shift by guard 1002, and the seq of its patrol entry."""
    with app.app_context():
        guard = db.session.scalars(select(User).where(User.staff_no == "1002")).one()
        shift = db.session.scalars(select(Shift).where(Shift.guard_id == guard.id)).first()
        seq = db.session.scalars(select(ShiftBookEntry.seq).where(
            ShiftBookEntry.shift_id == shift.id, ShiftBookEntry.kind == "journal.patrol")).one()
        result = shift.id, seq
        db.session.remove()
        return result


def test_review_and_approve_the_demo_shift(page: Page, app, live_server: str, screens_dir: Path):
    """Protects the supervisor's review with CSRF on: the list leads to the report, a note lands
    under its entry, review needs a comment, then approve; the state reads approved and the
    review form is gone (a report is approved once)."""
    shift_id, patrol = _demo_shift(app)
    page.goto(f"{live_server}/login")
    page.get_by_test_id("login").fill(SUPERVISOR[0])
    page.get_by_test_id("password").fill(SUPERVISOR[1])
    page.get_by_test_id("submit").click()
    page.goto(f"{live_server}/console/shifts/")
    row = page.get_by_test_id(f"shift-{shift_id}")
    expect(row).to_contain_text("李保安")
    row.get_by_test_id(f"open-{shift_id}").click()
    expect(page).to_have_url(REPORT_URL)
    expect(page.get_by_test_id("count-journal.patrol")).to_contain_text("1")
    expect(page.get_by_test_id("checkpoint")).to_be_visible()

    page.get_by_test_id(f"add-note-{patrol}").click()
    page.get_by_test_id(f"note-text-{patrol}").fill("B1车库3号灯不亮，请补记")
    page.get_by_test_id(f"note-save-{patrol}").click()
    expect(page.get_by_test_id(f"entry-{patrol}")).to_contain_text("B1车库3号灯不亮")

    page.get_by_test_id("review-comment").fill("巡逻与交接记录已核对")
    page.get_by_test_id("review-submit").click()
    expect(page.locator(".flash.success")).to_be_visible()
    expect(page.get_by_test_id("review-history")).to_contain_text("巡逻与交接记录已核对")
    page.get_by_test_id("review-comment").fill("同意")
    page.get_by_test_id("review-submit").click()
    expect(page.get_by_test_id("review-history").locator("li")).to_have_count(2)
    expect(page.get_by_test_id("review-form")).to_have_count(0)
    page.screenshot(path=str(screens_dir / "console-shift-report.png"), full_page=True)

    page.goto(f"{live_server}/console/shifts/?state=approved")
    expect(page.get_by_test_id(f"shift-{shift_id}")).to_be_visible()
