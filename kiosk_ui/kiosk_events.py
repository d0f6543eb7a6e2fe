"""Live events for the kiosk and console (server-sent events): prompts, approvals and alerts without reload.

Each stream reads the site's new shift-book entries once a second and sends one event per
relevant entry, its `id:` the entry's seq, so the browser's EventSource resumes after the last
one it saw (Last-Event-ID) when it reconnects. A stream ends by itself after
GATE_EVENTS_STREAM_SECONDS and the browser reconnects: no request lives long enough to meet a
worker timeout, and the session is re-checked at every reconnect. Each poll takes a database
session and gives it back at once, so a waiting stream holds no connection.

Event data carries ids and codes only: the shift book holds no personal data, and nothing is
looked up to add any (a page that needs names or plates fetches its own endpoint).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, session
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Role, ShiftBookEntry, ShiftBookHead, User
from gate.services import auth
from gate.services.sites import current_site

bp = Blueprint("kiosk_events", __name__, url_prefix="/events")

POLL_SECONDS = 1.0  # how often a stream reads the book (module-level so tests can shorten it)
KEEPALIVE_SECONDS = 10.0  # a comment this often keeps proxies from closing a quiet stream
BATCH = 200  # entries read per poll; a client far behind catches up over several polls
RETRY_MS = 500  # the browser's reconnect delay after a stream ends (events wait, never lost)

Event = tuple[str, dict[str, Any]] | None


def _vehicle_read(data: dict) -> Event:
    salute = (data.get("decision"), data.get("reason")) == ("open", "vip")
    if data.get("decision") != "prompt" and not salute:
        return None
    # No plate: it stays in the device event; the panel fetches its cards.
    return "vehicle_prompt", {"device_event_id": data.get("device_event_id"), "device": data.get("device"),
                              "direction": data.get("direction"), "reason": data.get("reason"),
                              "salute": salute}


def _pass(name: str) -> Callable[[dict], Event]:
    def event(data: dict) -> Event:
        return name, {key: data.get(key) for key in ("pass_id", "direction", "source", "device", "reason")
                      if key in data}
    return event


def _approval(data: dict) -> Event:
    return "approval", {"approval_id": data.get("approval_id"), "kind": data.get("kind"),
                        "state": "requested"}


def _decided(data: dict) -> Event:
    return "approval", {"approval_id": data.get("approval_id"), "decision": data.get("decision"),
                        "state": "decided"}


def _handled(data: dict) -> Event:
    return "vehicle_handled", {"device_event_id": data.get("device_event_id"), "action": data.get("action")}


def _incident(data: dict) -> Event:
    return "incident", {"incident_id": data.get("incident_id"), "kind": "forced_entry"}


def _overdue(data: dict) -> Event:
    # "detail" is left out: for a follow-up it would be its title, which a guard wrote.
    return "alert", {"kind": data.get("kind"), "ref_id": data.get("ref_id")}


# Shift-book kind → the event it becomes, per stream.
KIOSK_EVENTS: dict[str, Callable[[dict], Event]] = {
    "vehicle.read": _vehicle_read,
    "vehicle.prompt_handled": _handled,
    "pass.used": _pass("pass_used"),
    "pass.rejected": _pass("pass_rejected"),
    "approval.decided": _decided,
}
CONSOLE_EVENTS: dict[str, Callable[[dict], Event]] = {
    "approval.requested": _approval,
    "approval.decided": _decided,
    "incident.forced_entry": _incident,
    "deadline.overdue": _overdue,
}


@bp.after_request
def _no_redirects(response: Response) -> Response:
    # An EventSource cannot follow a sign-in redirect; 401 tells live.js to stop and fall back.
    if 300 <= response.status_code < 400:
        return Response(status=401, headers={"Cache-Control": "no-store"})
    return response


@bp.get("/kiosk")
@auth.roles_required(Role.GUARD)
def kiosk() -> Response:
    """The guard's stream: car prompts, prompts handled, pass decisions, approvals decided."""
    return _respond(KIOSK_EVENTS)


@bp.get("/console")
@auth.roles_required(Role.SUPERVISOR, Role.ADMIN)
def console() -> Response:
    """The supervisor's stream: approvals requested and decided, incidents, overdue deadlines."""
    return _respond(CONSOLE_EVENTS)


def _respond(kinds: dict[str, Callable[[dict], Event]]) -> Response:
    if not _can_stream(request.environ):
        # 204 tells EventSource not to reconnect; the pages keep polling instead.
        return Response(status=204, headers={"Cache-Control": "no-store"})
    site = current_site().code
    after = _start(site, request.headers.get("Last-Event-ID") or request.args.get("last"))
    who = _Who(current_user.id, current_user.session_epoch,
               session.get("seen") if current_user.role == Role.GUARD else None)
    app = current_app._get_current_object()
    db.session.remove()  # the stream runs outside this request's session
    response = Response(_stream(app, site, kinds, after, who), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must pass each event on at once
    return response


def _can_stream(environ: dict) -> bool:
    """False under gunicorn's sync worker: one stream would hold one of its few processes."""
    gunicorn = str(environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn")
    return bool(environ.get("wsgi.multithread")) or not gunicorn


def _start(site: str, last: str | None) -> int:
    """The seq to send after: the client's last one, or the book's head on a first connect."""
    head = db.session.scalar(select(ShiftBookHead.seq).where(ShiftBookHead.site == site)) or 0
    try:
        seq = int(last or "")
    except ValueError:
        return head
    # A number past the head (another database, a restore) starts at the head.
    return seq if 0 <= seq <= head else head


class _Who:
    """The signed-in user a stream serves, re-checked at every poll."""

    def __init__(self, user_id: int, epoch: int, seen: float | None):
        self.user_id, self.epoch, self.seen = user_id, epoch, seen

    def still_signed_in(self, idle_seconds: int) -> bool:
        """False once the account is disabled, signed out everywhere, or (guards) idle too long."""
        user = db.session.get(User, self.user_id)
        if user is None or not user.active or user.session_epoch != self.epoch:
            return False
        return self.seen is None or time.time() - float(self.seen) <= idle_seconds


def frame(seq: int, name: str, data: dict[str, Any]) -> str:
    """One event in text/event-stream framing."""
    return f"id: {seq}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _poll(site: str, kinds: dict[str, Callable[[dict], Event]], after: int) -> list[tuple[int, str, dict]]:
    rows = db.session.execute(
        select(ShiftBookEntry.seq, ShiftBookEntry.kind, ShiftBookEntry.data)
        .where(ShiftBookEntry.site == site, ShiftBookEntry.seq > after,
               ShiftBookEntry.kind.in_(list(kinds)))
        .order_by(ShiftBookEntry.seq).limit(BATCH)).all()
    events = []
    for seq, kind, text in rows:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            data = {}
        made = kinds[kind](data if isinstance(data, dict) else {})
        events.append((seq, *made) if made else (seq, "", {}))
    return events


def _stream(app: Flask, site: str, kinds: dict[str, Callable[[dict], Event]], after: int,
            who: _Who) -> Iterator[str]:
    """Poll the book once a second for the stream's life; yield events, keepalives, the end."""
    started = beat = time.monotonic()
    seconds = app.config["GATE_EVENTS_STREAM_SECONDS"]
    idle = app.config["GATE_KIOSK_IDLE_MINUTES"] * 60
    # The id line alone moves the browser's Last-Event-ID to the head without an event.
    yield f"retry: {RETRY_MS}\nid: {after}\n\n"
    while True:
        with app.app_context():
            try:
                signed_in = who.still_signed_in(idle)
                events = _poll(site, kinds, after) if signed_in else []
            finally:
                db.session.remove()  # back to the pool before the pause
        if not signed_in:
            yield frame(after, "refresh", {"reason": "signed_out"})
            return
        for seq, name, data in events:
            after = seq
            if name:
                yield frame(seq, name, data)
        now = time.monotonic()
        if now - started >= seconds:
            return
        if now - beat >= KEEPALIVE_SECONDS:
            beat = now
            yield ": keepalive\n\n"
        time.sleep(min(POLL_SECONDS, max(0.0, seconds - (now - started))))
