"""Scans of one pass at the same instant (SPEC §2.2): a single-use pass never admits twice.

Threads (and, once, two processes) each with their own app context and database connection are
lined up on a barrier and redeem the same pass through pass_gate.at_gate, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import PassUse, ShiftBookEntry, Visit, VisitorPass
from gate.services import pass_gate, shiftbook
from tests.support import passes as make

START_TIMEOUT = 30


def _redeem(app: Flask, text: str, start: threading.Barrier, outcomes: list, errors: list) -> None:
    """One scanner: wait for the others, then present the pass once."""
    with app.app_context():
        try:
            site = make.site()
            db.session.rollback()  # end the read: on SQLite every transaction takes the write lock
            start.wait(START_TIMEOUT)
            result = pass_gate.at_gate(site, text, source="scanner")
            outcomes.append(result.outcome if result.ok else result.reason)
        except Exception as exc:  # reported by the test, not lost in a thread
            errors.append(repr(exc))
        finally:
            db.session.remove()


def _race(app: Flask, text: str, scanners: int) -> Counter:
    start = threading.Barrier(scanners)
    outcomes: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=_redeem, args=(app, text, start, outcomes, errors))
               for _ in range(scanners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(outcomes) == scanners
    return Counter(outcomes)


def _new_pass(app: Flask, **options) -> tuple[str, int]:
    with app.app_context():
        visitor_pass = make.visitor_pass(**options)
        text, pass_id = make.token(visitor_pass), visitor_pass.id
        db.session.remove()
    return text, pass_id


def _after(app: Flask, pass_id: int) -> tuple[int, int, int, bool]:
    with app.app_context():
        uses = db.session.get(VisitorPass, pass_id).uses
        rows = db.session.scalar(select(func.count()).select_from(PassUse).where(PassUse.pass_id == pass_id))
        visits = db.session.scalar(select(func.count()).select_from(Visit))
        chain = shiftbook.verify().ok
        db.session.remove()
    return uses, rows, visits, chain


@pytest.mark.parametrize("scanners", [2, 8])
def test_single_use_pass_admits_once(app, scanners):
    """Protects SPEC §2.2's promise: scanners presenting one single-use pass at the same moment
    admit exactly once; every other scan is refused as used up, and the shift book stays whole."""
    text, pass_id = _new_pass(app)
    outcomes = _race(app, text, scanners)
    assert outcomes == Counter({"admitted": 1, "used_up": scanners - 1})
    assert _after(app, pass_id) == (1, 1, 1, True)


def test_three_use_pass_admits_three_times(app):
    """Protects 'N uses' under a crowd: 8 simultaneous scans of a 3-use pass admit exactly 3."""
    text, pass_id = _new_pass(app, uses="count", count=3)
    outcomes = _race(app, text, 8)
    assert outcomes == Counter({"admitted": 3, "used_up": 5})
    assert _after(app, pass_id) == (3, 3, 3, True)


def test_conditional_update_settles_the_race(app, backend, monkeypatch):
    """Protects the last line of defence: even when every scanner has already checked the pass
    as usable (forced here: all wait after their checks), the conditional UPDATE lets one win."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises whole transactions: the checks cannot interleave there")
    scanners = 8
    checked = threading.Barrier(scanners)
    consumed: list[bool] = []
    direction_for, consume = pass_gate.direction_for, pass_gate._consume

    def after_everyone_checked(visitor_pass, now):
        direction = direction_for(visitor_pass, now)
        checked.wait(START_TIMEOUT)
        return direction

    def recorded(visitor_pass, now):
        consumed.append(consume(visitor_pass, now))
        return consumed[-1]

    monkeypatch.setattr(pass_gate, "direction_for", after_everyone_checked)
    monkeypatch.setattr(pass_gate, "_consume", recorded)
    text, pass_id = _new_pass(app)
    assert _race(app, text, scanners) == Counter({"admitted": 1, "used_up": scanners - 1})
    assert sorted(consumed) == [False] * (scanners - 1) + [True]
    assert _after(app, pass_id) == (1, 1, 1, True)


def _process_redeem(config: dict, text: str, start, results) -> None:
    """Child process: its own app on the same database; wait for the start, scan once."""
    from argon2 import PasswordHasher

    from gate.app import create_app
    from gate.services import auth

    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    app = create_app(config)
    with app.app_context():
        site = make.site()
        db.session.rollback()
        start.wait(START_TIMEOUT)
        result = pass_gate.at_gate(site, text, source="scanner")
        results.put(result.outcome if result.ok else result.reason)
        db.session.remove()
        db.engine.dispose()


def test_two_processes_admit_once(app, app_config):
    """Protects against two kiosks or bridges on separate machines: two processes redeeming one
    single-use pass at once admit exactly once (the database decides, not process memory)."""
    text, pass_id = _new_pass(app)
    spawn = mp.get_context("spawn")
    start, results = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=_process_redeem, args=(dict(app_config), text, start, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0, f"worker exited with {worker.exitcode}"
    assert sorted(results.get(timeout=5) for _ in workers) == ["admitted", "used_up"]
    assert _after(app, pass_id) == (1, 1, 1, True)
    with app.app_context():
        rejected = db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                     .where(ShiftBookEntry.kind == "pass.rejected"))
        assert rejected == 1
