"""Fault (d): the web worker serving a check-in dies (SIGKILL) inside the check-in's transaction.

The worker is a real process serving the app over HTTP (tests/support/stalling_web.py) on the
test's database, SQLite and PostgreSQL. Its first check-in writes the visit row and then stops
before the visit's shift-book entry; the test kills it there.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

from sqlalchemy import func, select

from gate.domain.idcard import check_char
from gate.extensions import db
from gate.models import ShiftBookEntry, Visit
from tests.support.faults import ROOT, book_count, chain_ok
from tests.support.http_session import guard_on_shift
from tests.support.waiting import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _check_in_form(guard) -> dict:
    first17 = "11010519800101" + f"{secrets.randbelow(1000):03d}"
    return {"csrf_token": guard.token("/kiosk/visitors/new"), "action": "start",
            "id_type": "resident_id", "purpose": "探亲", "plate": "", "card_event": "",
            "unit": "1-1-101", "id_number": first17 + check_char(first17), "name": "断电访客",
            "phone": "13900000000"}


def _visits(app) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(Visit))
        finally:
            db.session.remove()


def _orphans(app) -> int:
    """Visits without their visit.started entry in the shift book."""
    with app.app_context():
        try:
            started = {json.loads(e.data).get("visit_id") for e in db.session.scalars(
                select(ShiftBookEntry).where(ShiftBookEntry.kind == "visit.started"))}
            return sum(1 for v in db.session.scalars(select(Visit.id)) if v not in started)
        finally:
            db.session.remove()


def test_worker_killed_mid_check_in_leaves_no_half_visit(app, app_config, tmp_path):
    """Protects 'one transaction per action' (issue 12, 1d): a worker SIGKILLed after writing a
    visit row but before its shift-book entry leaves neither behind (the uncommitted transaction
    is rolled back), every visit keeps its entry, the chain verifies, and the next worker checks
    the visitor in normally (no lock left behind)."""
    port, marker = _free_port(), tmp_path / "stalled"
    config = {k: v for k, v in app_config.items() if k != "WTF_CSRF_ENABLED"}
    env = {**os.environ, "FAULT_APP_CONFIG": json.dumps(config)}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "tests.support.stalling_web", str(port),
                                   str(marker)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _healthy(port) or worker.poll() is not None, timeout=60,
                 what="the worker to serve")
        assert worker.poll() is None, log.read_text()
        guard = guard_on_shift(port)
        visits, started = _visits(app), book_count(app, "visit.started")
        form = _check_in_form(guard)
        outcome: list = []
        request = threading.Thread(target=lambda: outcome.append(
            _try(lambda: guard.request("POST", "/kiosk/visitors/new", form))), daemon=True)
        request.start()
        wait_for(marker.exists, timeout=30, what="the check-in to stall inside its transaction")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        request.join(30)
        assert outcome and isinstance(outcome[0], Exception), "the check-in answered: not killed mid-way"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert _visits(app) == visits
    assert book_count(app, "visit.started") == started
    assert _orphans(app) == 0
    assert chain_ok(app)
    # The next worker works: the same check-in goes through, visit and entry together.
    client = app.test_client()
    client.post("/kiosk/login", data={"staff_no": "1001", "pin": "123456"})
    response = client.post("/kiosk/visitors/new", data={**form, "csrf_token": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert _visits(app) == visits + 1 and _orphans(app) == 0 and chain_ok(app)


def _try(call):
    try:
        return call()
    except Exception as exc:  # the connection dies with the worker
        return exc
