"""Parking sessions (SPEC §2.4): which cars are on the estate, since when, and who overstays.

An entry read that opens the barrier starts a session; an exit read closes the plate's open
session. Cameras miss cars and MQTT delivers late, so both ends are forgiving:
- an exit with no open session is recorded as an exit-only session (entered_at None), and an
  entry read that arrives afterwards but happened before that exit completes it instead of
  starting a new stay (events out of order);
- an entry while the plate already has an open session closes the old one as "missed_exit".
Visitor cars carry `expected_until` (the pass's end, or the end of the local day for a visitor
the guard registered); past it with the car still inside, the session is an overstay, shown on
the kiosk and in the handover's open items.

The functions here run inside the caller's transaction (the plate decision or the visit
admission) and write no shift-book entries of their own: the caller's entry names the event.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from sqlalchemy import select, update

from gate.extensions import db
from gate.models import ParkingSession, Post, Site
from gate.models.types import utcnow
from gate.services import open_items

log = logging.getLogger(__name__)

VISITOR_KINDS = ("visitor_pass", "visitor")
# An exit-only session this recent can still be completed by a late entry read.
LATE_ENTRY_WINDOW = timedelta(hours=24)


def open_session(site_id: int, plate: str) -> ParkingSession | None:
    """The plate's current stay on the estate, if any."""
    return db.session.scalars(select(ParkingSession).where(
        ParkingSession.site_id == site_id, ParkingSession.plate == plate,
        ParkingSession.left_at.is_(None), ParkingSession.entered_at.is_not(None))
        .order_by(ParkingSession.entered_at.desc(), ParkingSession.id.desc())).first()


def exit_only_before(site_id: int, plate: str, at: datetime) -> ParkingSession | None:
    """An exit-only session of this plate that an entry read made at `at` belongs to."""
    return db.session.scalars(select(ParkingSession).where(
        ParkingSession.site_id == site_id, ParkingSession.plate == plate,
        ParkingSession.entered_at.is_(None), ParkingSession.left_at >= at,
        ParkingSession.left_at <= at + LATE_ENTRY_WINDOW)
        .order_by(ParkingSession.left_at, ParkingSession.id)).first()


def enter(site_id: int, plate: str, kind: str, at: datetime, *, event_id: int | None = None,
          pass_id: int | None = None, visit_id: int | None = None, unit_id: int | None = None,
          expected_until: datetime | None = None, late_checked: bool = False) -> ParkingSession:
    """Record a car coming in (inside the caller's transaction); returns its session.

    `late_checked`: the caller has just looked for an exit-only stay this read belongs to.
    """
    late = None if late_checked else exit_only_before(site_id, plate, at)
    if late is not None:
        log.info("entry read of a car already seen leaving (session %s): completed, not reopened",
                 late.id)
        late.entered_at, late.entry_event_id = at, event_id
        late.pass_id = late.pass_id or pass_id
        late.visit_id = late.visit_id or visit_id
        return late
    previous = open_session(site_id, plate)
    if previous is not None:
        # The camera missed its exit; the old stay ends unseen rather than lasting for ever.
        log.info("car of session %s entered again without an exit read: closed as missed_exit",
                 previous.id)
        previous.left_at, previous.closed_by = max(at, previous.entered_at), "missed_exit"
    session = ParkingSession(site_id=site_id, plate=plate, kind=kind, entered_at=at,
                             entry_event_id=event_id, pass_id=pass_id, visit_id=visit_id,
                             unit_id=unit_id, expected_until=expected_until)
    db.session.add(session)
    db.session.flush()
    return session


def leave(site_id: int, plate: str, at: datetime, *, kind: str = "unknown",
          event_id: int | None = None, closed_by: str = "camera") -> ParkingSession:
    """Record a car going out: closes its open session, or records an exit without entry."""
    session = open_session(site_id, plate)
    if session is None:
        log.info("exit of a car with no recorded entry at site %s: recorded as exit-only", site_id)
        session = ParkingSession(site_id=site_id, plate=plate, kind=kind, entered_at=None)
        db.session.add(session)
    session.left_at = max(at, session.entered_at) if session.entered_at else at
    session.exit_event_id, session.closed_by = event_id, closed_by
    if session.visit_id is not None:
        visit_left(session.visit_id, session.left_at)
    db.session.flush()
    return session


def mark_left(session_id: int, site_id: int, guard, shift_id: int | None = None) -> ParkingSession:
    """The guard knows a car has gone (the camera missed it): its stay ends now, by hand."""
    from flask_babel import lazy_gettext as _l

    from gate.services import ActionError, shiftbook, transaction

    session = db.session.get(ParkingSession, session_id)
    if session is None or session.site_id != site_id:
        raise ActionError("not_found", _l("This car is not on the list of cars inside; reload the list."))
    if session.left_at is not None:
        raise ActionError("already_left", _l("This car has already been recorded as gone."))
    with transaction():
        # Conditional: two guards tapping at once record one departure.
        done = db.session.execute(update(ParkingSession).where(
            ParkingSession.id == session.id, ParkingSession.left_at.is_(None))
            .values(left_at=max(utcnow(), session.entered_at), closed_by="guard")).rowcount
        if not done:
            raise ActionError("already_left", _l("This car has already been recorded as gone."))
        db.session.refresh(session)
        if session.visit_id is not None:
            visit_left(session.visit_id, session.left_at)
        shiftbook.append("parking.marked_left", {"session_id": session.id},
                         actor_id=guard.id, shift_id=shift_id)
    return session


def visit_left(visit_id: int, at: datetime) -> None:
    """The visit of a car that left by the camera is checked out (if still admitted)."""
    from gate.models import Visit

    visit = db.session.get(Visit, visit_id)
    if visit is not None and visit.state == "admitted":
        visit.state, visit.left_at, visit.left_reason = "checked_out", at, "car"


def on_site(site_id: int) -> list[ParkingSession]:
    """Cars inside now, longest stay first (the on-site vehicle list)."""
    return list(db.session.scalars(select(ParkingSession).where(
        ParkingSession.site_id == site_id, ParkingSession.left_at.is_(None),
        ParkingSession.entered_at.is_not(None)).order_by(ParkingSession.entered_at)))


def is_overstay(session: ParkingSession, now: datetime | None = None) -> bool:
    """True for a visitor car still inside after the time it was allowed until."""
    now = now or utcnow()
    return (session.kind in VISITOR_KINDS and session.left_at is None
            and session.expected_until is not None and session.expected_until < now)


def overstaying(site_id: int, now: datetime | None = None) -> list[ParkingSession]:
    """Visitor cars still inside past their pass (or day), most overdue first."""
    now = now or utcnow()
    return list(db.session.scalars(select(ParkingSession).where(
        ParkingSession.site_id == site_id, ParkingSession.left_at.is_(None),
        ParkingSession.entered_at.is_not(None), ParkingSession.kind.in_(VISITOR_KINDS),
        ParkingSession.expected_until < now).order_by(ParkingSession.expected_until)))


def end_of_local_day(at: datetime, zone) -> datetime:
    """23:59:59 of `at`'s day in the estate's time zone: how long a registered visitor car stays."""
    local = at.astimezone(zone)
    return datetime.combine(local.date(), time(23, 59, 59), zone)


def _overstay_items(post: Post) -> list[open_items.OpenItem]:
    from flask_babel import lazy_gettext as _l

    site = db.session.get(Site, post.site_id)
    if site is None:
        return []
    return [open_items.OpenItem("overstay", str(_l("Visitor car %(plate)s is still inside after its "
                                                    "time", plate=s.plate)), s.expected_until, True)
            for s in overstaying(site.id)]


open_items.register("overstay", _overstay_items)
