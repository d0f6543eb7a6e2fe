"""Opening a barrier by hand from the kiosk: a reason, a real command, and the exact outcome shown."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from device_adapters import web_link
from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import BarrierCommandRecord, ShiftBookEntry
from tests.support.kiosk import GUARD

pytestmark = pytest.mark.mqtt


@pytest.fixture(params=["sqlite"])
def backend(request):
    """The command path is the same on both databases; the bridge tests cover PostgreSQL."""
    return request.param


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The kiosk's web process talks to this test's broker; commands expire after 1 s."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=1.0)


@pytest.fixture(autouse=True)
def _close_link(app):
    yield
    web_link.close(app)


@pytest.fixture
def barrier(fresh_mosquitto, request):
    """The demo's walk-in barrier as a simulator; fail_mode via indirect parametrisation."""
    sim = SimulatedBarrier(fresh_mosquitto.url, Topics("gatehouse", "demo"), "walk-in",
                           travel_seconds=0.05, fail_mode=getattr(request, "param", None))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def guard(kiosk):
    """Guard 1001 on shift."""
    kiosk.login(*GUARD)
    kiosk.start_shift()
    kiosk.client.get("/kiosk/")  # shows (and so clears) the "shift started" message
    return kiosk


def _flash(response) -> str:
    """The page's last flash message as 'category: text'."""
    found = re.findall(r'class="flash (\w+)"[^>]*>([^<]+)<', response.get_data(True))
    return f"{found[-1][0]}: {found[-1][1].strip()}" if found else ""


def _open(guard, reason="visitor", other=""):
    return guard.client.post("/kiosk/gates/walk-in/open", data={"reason": reason, "other": other},
                             follow_redirects=True)


def test_open_with_reason_done(app, guard, barrier):
    """Protects manual opening: the barrier opens, the guard sees 'done', the book has order and answer."""
    message = _flash(_open(guard))
    assert message.startswith("success:"), message
    assert barrier.state == "open"
    with app.app_context():
        record = db.session.scalars(select(BarrierCommandRecord)).one()
        assert (record.outcome, record.source, record.reason) == ("done", "manual", "访客已获业主确认")
        kinds = [e.kind for e in db.session.scalars(select(ShiftBookEntry).order_by(ShiftBookEntry.seq))]
        assert kinds[-2:] == ["barrier.command", "barrier.outcome"]


@pytest.mark.parametrize("barrier", ["silent"], indirect=True)
def test_silent_barrier_told_as_no_answer(app, guard, barrier):
    """Protects the guard from a false 'opened': silence is reported as 'did not answer'."""
    message = _flash(_open(guard))
    assert message.startswith("error:") and "没有响应" in message, message
    with app.app_context():
        assert db.session.scalars(select(BarrierCommandRecord)).one().outcome == "no_answer"


@pytest.mark.parametrize("barrier", ["reject"], indirect=True)
def test_rejecting_barrier_told_as_refused(app, guard, barrier):
    """Protects the distinction between refused and silent, all the way to the kiosk message."""
    message = _flash(_open(guard))
    with app.app_context():
        assert db.session.scalars(select(BarrierCommandRecord)).one().outcome == "rejected"
    assert message.startswith("error:")


def test_reason_required(app, guard, barrier):
    """Protects SPEC §2.4: a manual opening without a reason is refused and sends nothing."""
    message = _flash(_open(guard, reason="other", other=""))
    assert message.startswith("error:")
    with app.app_context():
        assert db.session.scalars(select(BarrierCommandRecord)).all() == []
    assert barrier.state == "closed"


def test_other_reason_is_recorded(app, guard, barrier):
    """Protects the record: a written reason is stored as written."""
    _open(guard, reason="other", other="业主搬家，货车出入")
    with app.app_context():
        assert db.session.scalars(select(BarrierCommandRecord)).one().reason == "业主搬家，货车出入"


def test_broker_down_tells_guard_what_to_do(app_config, guard, app):
    """Protects the guard when the broker is down: one clear message, no order recorded."""
    app.config["GATE_MQTT_URL"] = "mqtt://127.0.0.1:1"
    message = _flash(_open(guard))
    assert message.startswith("error:"), message
    with app.app_context():
        assert db.session.scalars(select(BarrierCommandRecord)).all() == []
