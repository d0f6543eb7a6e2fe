"""Guards releasing one slip at the same instant (SPEC §2.3): the goods leave on it once.

Threads, each with its own app context and database connection, are lined up on a barrier and
release the same approved slip through slip_gate.release, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import PortalNotice, ReleaseSlip, ShiftBookEntry
from gate.services import ActionError, shiftbook, slip_gate
from tests.support import slips as make
from tests.support.kiosk import GUARD
from tests.support.passes import user

START_TIMEOUT = 30


def _release(app: Flask, slip_id: int, start: threading.Barrier, outcomes: list, errors: list) -> None:
    """One guard: load the slip, wait for the others, then confirm the release once."""
    with app.app_context():
        try:
            guard = user(GUARD[0])
            slip = db.session.get(ReleaseSlip, slip_id)
            lines = {item.line for item in slip.items}
            db.session.rollback()  # end the read: on SQLite every transaction takes the write lock
            start.wait(START_TIMEOUT)
            try:
                slip_gate.release(guard, None, slip, checked=lines, id_type="resident_id",
                                  id_number=make.CARRIER_ID)
                outcomes.append("ok")
            except ActionError as exc:
                outcomes.append(exc.code)
        except Exception as exc:  # reported by the test, not lost in a thread
            errors.append(repr(exc))
        finally:
            db.session.remove()


def _race(app: Flask, slip_id: int, guards: int) -> Counter:
    start = threading.Barrier(guards)
    outcomes: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=_release, args=(app, slip_id, start, outcomes, errors))
               for _ in range(guards)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return Counter(outcomes)


@pytest.mark.parametrize("guards", [2, 8])
def test_simultaneous_release_lets_goods_out_once(app, guards):
    """Protects the once-only release: guards confirming one approved slip at the same moment
    release it exactly once; every other confirmation is refused as 'released', with one entry,
    one notice, and the shift book's chain intact."""
    with app.app_context():
        slip_id = make.approved().id
        db.session.remove()
    assert _race(app, slip_id, guards) == Counter({"ok": 1, "released": guards - 1})
    with app.app_context():
        assert db.session.get(ReleaseSlip, slip_id).state == "released"
        entries = db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                    .where(ShiftBookEntry.kind == "slip.released"))
        notices = db.session.scalar(select(func.count()).select_from(PortalNotice)
                                    .where(PortalNotice.kind == "slip_released"))
        assert (entries, notices, shiftbook.verify().ok) == (1, 1, True)
        db.session.remove()


def test_conditional_update_settles_the_race(app, backend, monkeypatch):
    """Protects the last line of defence: even when every guard has already found the slip usable
    (forced here: all wait after the check), the conditional UPDATE lets exactly one release it."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises whole transactions: the checks cannot interleave there")
    guards = 8
    checked = threading.Barrier(guards)
    problem = slip_gate.problem

    def after_everyone_checked(slip):
        reason = problem(slip)
        checked.wait(START_TIMEOUT)
        return reason

    monkeypatch.setattr(slip_gate, "problem", after_everyone_checked)
    with app.app_context():
        slip_id = make.approved().id
        db.session.remove()
    assert _race(app, slip_id, guards) == Counter({"ok": 1, "released": guards - 1})
