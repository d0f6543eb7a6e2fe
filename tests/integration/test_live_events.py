"""Live events (server-sent events, /events/kiosk and /events/console): framing, resuming, access."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import ShiftBookHead, User
from gate.models.types import utcnow
from gate.services import guard_accounts, shiftbook, sites, transaction, vehicles, visitors, visits
from kiosk_ui import kiosk_events
from tests.support.kiosk import GUARD

PLATE = "京A88888"
VISIT_PLATE = "京B12345"
NAME, ID_NUMBER = "王五", "11010519491231002X"


@pytest.fixture
def app_config(app_config):
    """Streams of one second, so each request ends quickly."""
    return dict(app_config, GATE_EVENTS_STREAM_SECONDS=1.0)


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch):
    monkeypatch.setattr(kiosk_events, "POLL_SECONDS", 0.2)


def _head(app) -> int:
    with app.app_context():
        seq = db.session.scalar(select(ShiftBookHead.seq).where(ShiftBookHead.site == "demo"))
        db.session.remove()
        return seq


def _user(username: str | None = None, staff_no: str | None = None) -> User:
    column, value = (User.username, username) if username else (User.staff_no, staff_no)
    return db.session.scalars(select(User).where(column == value)).one()


def _plate(app, plate: str = PLATE) -> None:
    """The entry camera reads an unknown plate: a car prompt."""
    with app.app_context():
        vehicles.handle_plate(PlateRead("demo", "anpr-in", f"evt-{uuid.uuid4().hex}", plate, 0.95, "in",
                                        utcnow()))
        db.session.remove()


def _frames(text: str) -> list[dict]:
    """Parse text/event-stream into events ({id, event, data}); comments and bare ids dropped."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                      and not line.startswith(":"))
        if "event" in fields:
            found.append({"id": int(fields["id"]), "event": fields["event"],
                          "data": json.loads(fields["data"])})
    return found


def _read(client, path: str, last: int | None = None):
    headers = {"Accept": "text/event-stream"}  # what a browser's EventSource sends
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    response = client.get(path, headers=headers)
    return response, response.get_data(as_text=True)


def test_kiosk_stream_frames_events_and_resumes_without_repeating(app, client, kiosk):
    """Protects the stream's contract with EventSource: each car prompt is one event with `id:`
    its seq, `event:` and JSON `data:`; a first connect starts at the head (no old events);
    Last-Event-ID resumes after that seq and never sends an event twice; the stream ends by itself."""
    kiosk.login(*GUARD)
    _plate(app, "京A11111")  # before the first connect: not sent
    head = _head(app)
    started = time.monotonic()
    response, text = _read(client, "/events/kiosk")
    assert time.monotonic() - started < 5, "the stream should end by itself after ~1 s"
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    assert text.startswith(f"retry: {kiosk_events.RETRY_MS}\nid: {head}\n\n")
    assert _frames(text) == []

    _plate(app)
    first = _head(app)
    _plate(app, "京A22222")
    second = _head(app)
    _response, text = _read(client, "/events/kiosk", last=head)
    events = _frames(text)
    assert [(e["id"], e["event"]) for e in events] == [(first, "vehicle_prompt"), (second, "vehicle_prompt")]
    assert f"id: {first}\nevent: vehicle_prompt\ndata: {{" in text
    assert events[0]["data"]["reason"] == "unknown" and events[0]["data"]["device"] == "anpr-in"
    assert isinstance(events[0]["data"]["device_event_id"], int)

    _response, text = _read(client, "/events/kiosk", last=first)
    assert [e["id"] for e in _frames(text)] == [second]
    _response, text = _read(client, "/events/kiosk", last=second)
    assert _frames(text) == []


def test_console_stream_has_this_sites_alerts_and_no_personal_data(app, client, kiosk):
    """Protects privacy and site separation: a visit with a name, an ID number and a plate, its
    supervisor request and a forced entry reach the console as ids only, and another estate's
    entries never reach this one."""
    kiosk.login_staff("supervisor", "supervisor-demo")
    head = _head(app)
    with app.app_context():
        guard = _user(staff_no=GUARD[0])
        identity = visitors.check_identity(NAME, "resident_id", ID_NUMBER)
        visit = visits.start(guard, None, "1-1-101", identity, purpose="探亲", plate=VISIT_PLATE)
        approval_id = visits.escalate(visit, "forgot_id", guard).id
        incident_id = visits.forced_entry(visit, f"{NAME} 硬闯，车牌 {VISIT_PLATE}", guard, None).id
        with transaction():
            sites.create_site("other", "Other estate")
            shiftbook.append("incident.forced_entry", {"incident_id": 987654}, site="other")
        masked = identity.id_masked
        db.session.remove()
    _plate(app)

    _response, text = _read(client, "/events/console", last=head)
    events = _frames(text)
    assert [(e["event"], e["data"]) for e in events] == [
        ("approval", {"approval_id": approval_id, "kind": "forgot_id", "state": "requested"}),
        ("incident", {"incident_id": incident_id, "kind": "forced_entry"}),
    ]
    assert "987654" not in text
    for personal in (NAME, ID_NUMBER, masked, VISIT_PLATE, PLATE, "硬闯"):
        assert personal not in text, personal


def test_kiosk_stream_sends_no_plate(app, client, kiosk):
    """Protects privacy on the kiosk stream: a car prompt's event names the device event, never
    the plate (the panel fetches its cards)."""
    kiosk.login(*GUARD)
    head = _head(app)
    _plate(app)
    _response, text = _read(client, "/events/kiosk", last=head)
    assert [e["event"] for e in _frames(text)] == ["vehicle_prompt"]
    assert PLATE not in text and json.dumps(PLATE) not in text


def test_who_may_open_the_streams(app, client, kiosk):
    """Protects access: anonymous gets 401 (EventSource cannot follow a sign-in redirect), a guard
    gets the kiosk stream but 403 on the console's, and an idle-expired guard session gets 401."""
    for path in ("/events/kiosk", "/events/console"):
        assert client.get(path).status_code == 401
    kiosk.login(*GUARD)
    assert client.get("/events/console").status_code == 403
    response, _text = _read(client, "/events/kiosk")
    assert response.status_code == 200
    with client.session_transaction() as sess:
        sess["seen"] = time.time() - app.config["GATE_KIOSK_IDLE_MINUTES"] * 60 - 5
    assert client.get("/events/kiosk").status_code == 401


def test_the_stream_does_not_keep_an_idle_kiosk_signed_in(app, client, kiosk):
    """Protects the idle sign-out: opening a stream does not count as activity (the browser
    reconnects every 25 s), so an untouched kiosk's session still expires."""
    kiosk.login(*GUARD)
    seen = time.time() - 120
    with client.session_transaction() as sess:
        sess["seen"] = seen
    assert _read(client, "/events/kiosk")[0].status_code == 200
    with client.session_transaction() as sess:
        assert sess["seen"] == seen


def test_a_disabled_guard_stream_ends_at_once(app, client, kiosk, monkeypatch):
    """Protects account disabling: a stream already open ends with a "refresh" event at the next
    poll once the guard is disabled, instead of streaming the gate's events to the rest of its life."""
    app.config["GATE_EVENTS_STREAM_SECONDS"] = 20.0
    kiosk.login(*GUARD)
    response = client.get("/events/kiosk")
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")
    with app.app_context():
        guard_accounts.disable(_user("supervisor"), _user(staff_no=GUARD[0]).id, "test")
        db.session.remove()
    started = time.monotonic()
    rest = b"".join(chunks).decode()
    response.close()
    assert time.monotonic() - started < 5
    assert [e["event"] for e in _frames(rest)] == ["refresh"]


def test_keepalive_and_gunicorn_sync_worker(app, client, kiosk, monkeypatch):
    """Protects long-lived streams: a quiet stream sends `: keepalive` comments; under gunicorn's
    sync worker (one request per process) the stream is declined with 204, so pages keep polling
    instead of starving the workers, while a threaded worker streams."""
    monkeypatch.setattr(kiosk_events, "KEEPALIVE_SECONDS", 0.3)
    kiosk.login(*GUARD)
    _response, text = _read(client, "/events/kiosk")
    assert "\n: keepalive\n\n" in text
    sync = {"SERVER_SOFTWARE": "gunicorn/23.0.0", "wsgi.multithread": False}
    assert client.get("/events/kiosk", environ_overrides=sync).status_code == 204
    threaded = dict(sync, **{"wsgi.multithread": True})
    response = client.get("/events/kiosk", environ_overrides=threaded)
    assert response.status_code == 200
    response.get_data()
