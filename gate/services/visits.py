"""The walk-in visitor procedure (篇3 §四, SPEC §2.1): one function per step, each one transaction.

States: waiting_host → admitted → checked_out, or declined / refused / forced, with
waiting_supervisor in between when a visitor forgot or will not show ID.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask_babel import gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import Approval, Device, Incident, Lane, Resident, Shift, Unit, User, Visit, Visitor
from gate.models.types import utcnow
from gate.services import ActionError, barriers, parking, passes, shiftbook, sites, transaction, visitors
from gate.services.visitors import Identity

APPROVAL_MINUTES = 5  # 时效制: the supervisor's promised answer time for a forgotten ID
HOST_ANSWERS = ("approved", "declined", "not_home")


def find_unit(site_id: int, code: str) -> Unit:
    """The unit a visitor asks for, which someone must live in; ActionError says what to do."""
    unit = sites.unit_by_code(site_id, code)
    if not db.session.scalars(select(Resident.id).where(Resident.unit_id == unit.id)).first():
        raise ActionError("no_host", _("Nobody lives in unit %(code)s now. Ask the visitor whom they "
                                       "are visiting.", code=unit.code))
    return unit


def _entry(kind: str, visit: Visit, actor: User | None, /, **data) -> int:
    return shiftbook.append(kind, {"visit_id": visit.id, **data}, actor_id=actor.id if actor else None,
                            shift_id=visit.shift_id).seq


def start(guard: User, shift: Shift | None, unit_code: str, identity: Identity, *,
          purpose: str = "", plate: str = "") -> Visit:
    """Register a walk-in and ask the host; a watchlist hit is refused at once (and recorded)."""
    unit = find_unit(guard.site_id, unit_code)
    purpose = visitors.clean_text(purpose, 200, fold=False)
    clean_plate = None
    if plate and plate.strip():
        try:
            clean_plate = normalize_plate(plate)
        except ValueError:
            raise ActionError("bad_plate", _("The plate is not a valid Chinese plate; check it or leave "
                                             "it empty.")) from None
    hit = visitors.watchlist_hit(guard.site_id, identity, clean_plate)
    with transaction():
        visitor = visitors.visitor_for(guard.site_id, identity)
        visit = Visit(site_id=guard.site_id, visitor_id=visitor.id, unit_id=unit.id,
                      shift_id=shift.id if shift else None, guard_id=guard.id, purpose=purpose or None,
                      plate=clean_plate, state="waiting_host", created_at=utcnow())
        db.session.add(visit)
        db.session.flush()
        _entry("visit.started", visit, guard, unit_id=unit.id, visitor_id=visitor.id,
               id_checked=identity.id_hash is not None)
        if hit is not None:
            visit.state, visit.outcome_reason = "refused", "watchlist"
            _entry("visit.watchlist_hit", visit, guard, watchlist_id=hit.id)
    return visit


def get(site_id: int, visit_id: int) -> Visit:
    """A visit of this site, or ActionError not_found."""
    visit = db.session.get(Visit, visit_id)
    if visit is None or visit.site_id != site_id:
        raise ActionError("not_found", _("That visit no longer exists."))
    return visit


def _require(visit: Visit, *states: str) -> None:
    if visit.state not in states:
        raise ActionError("wrong_state", _("This visit has already moved on (now: %(state)s). Reload "
                                           "the page.", state=visit.state))


def host_answer(visit: Visit, answer: str, *, by: str, actor: User) -> Visit:
    """The host approves, declines or is not home (portal tap or the guard's phone call)."""
    if answer not in HOST_ANSWERS or by not in ("portal", "phone"):
        raise ActionError("bad_answer", _("Choose what the host said."))
    _require(visit, "waiting_host")
    with transaction():  # the visit's version column turns a race into ActionError "conflict"
        visit.host_answer, visit.host_answered_by = answer, by
        if answer != "approved":
            visit.state, visit.outcome_reason = "declined", answer
        _entry("visit.host_answer", visit, actor, answer=answer, by=by)
    return visit


def leave_message(visit: Visit, message: str, actor: User) -> Visit:
    """Store the visitor's message or card for the host (对不起，他现在不在…)."""
    _require(visit, "declined")
    text = visitors.clean_text(message, 500, fold=False)
    if not text:
        raise ActionError("empty_message", _("Write the message before saving it."))
    with transaction():
        visit.message = text
        _entry("visit.message_left", visit, actor)
    return visit


def admit(visit: Visit, guard: User, port: barriers.BarrierPort | None) -> str | None:
    """Let an approved visitor in: slip token, pedestrian barrier opened; returns its outcome."""
    if visit.state == "waiting_host" and visit.host_answer != "approved":
        raise ActionError("not_approved", _("The host has not confirmed yet."))
    _require(visit, "waiting_host", "waiting_supervisor")
    if visit.state == "waiting_supervisor":
        raise ActionError("not_approved", _("Wait for the supervisor's answer."))
    car_barrier = _car_lane(visit)
    with transaction():
        visit.state, visit.admitted_at = "admitted", utcnow()
        visit.slip_token = secrets.token_urlsafe(24)
        session_id = None
        if car_barrier is not None:
            session_id = parking.enter(visit.site_id, visit.plate, "visitor", visit.admitted_at,
                                       visit_id=visit.id, unit_id=visit.unit_id,
                                       expected_until=parking.end_of_local_day(
                                           visit.admitted_at, passes.site_zone())).id
        _entry("visit.admitted", visit, guard, **({"session_id": session_id} if session_id else {}))
    barrier = car_barrier or pedestrian_barrier(visit.site_id)
    if barrier is None or port is None:
        return None
    return barriers.operate(barrier, "open", "visitor confirmed by the host", port, source="kiosk",
                            actor_id=guard.id, shift_id=visit.shift_id)


def _car_lane(visit: Visit) -> Device | None:
    """The barrier where the visitor's car was prompted on its way in, if it was."""
    from gate.models import Site
    from gate.services import vehicle_prompts

    if not visit.plate:
        return None
    site = db.session.get(Site, visit.site_id)
    return vehicle_prompts.registering_lane(site, visit.plate)


def pedestrian_barrier(site_id: int) -> Device | None:
    """The barrier of the estate's (first) pedestrian gate, which admitted visitors walk through."""
    from gate.models import Gate

    return db.session.scalars(select(Device).join(Lane, Device.lane_id == Lane.id)
                              .join(Gate, Lane.gate_id == Gate.id)
                              .where(Device.site_id == site_id, Device.kind == "barrier",
                                     Gate.kind == "pedestrian").order_by(Device.id)).first()


def refuse(visit: Visit, reason: str, guard: User) -> Visit:
    """The guard refuses entry (visitor will not show ID…); the outcome is recorded.

    A supervisor request still open for the visit is withdrawn, so it leaves the open items.
    """
    _require(visit, "waiting_host", "waiting_supervisor")
    with transaction():
        visit.state, visit.outcome_reason = "refused", reason[:200]
        for approval in db.session.scalars(select(Approval).where(Approval.visit_id == visit.id,
                                                                  Approval.decided_at.is_(None))):
            approval.decision, approval.decided_at, approval.decided_by = "withdrawn", utcnow(), guard.id
        _entry("visit.refused", visit, guard, reason=reason[:40])
    return visit


def escalate(visit: Visit, kind: str, guard: User, minutes: int = APPROVAL_MINUTES) -> Approval:
    """Ask a supervisor (forgot ID / refuses ID), promising an answer within `minutes`."""
    if kind not in ("forgot_id", "refused_id"):
        raise ActionError("bad_kind", _("Choose why a supervisor is needed."))
    _require(visit, "waiting_host")
    with transaction():
        approval = Approval(site_id=visit.site_id, kind=kind, visit_id=visit.id, requested_by=guard.id,
                            requested_at=utcnow(), due_at=utcnow() + timedelta(minutes=minutes))
        db.session.add(approval)
        db.session.flush()
        visit.state = "waiting_supervisor"
        _entry("approval.requested", visit, guard, approval_id=approval.id, kind=kind)
    return approval


def decide(approval: Approval, decision: str, supervisor: User, note: str = "") -> Approval:
    """A supervisor approves or denies; a denied visit is refused, an approved one may be admitted."""
    if decision not in ("approved", "denied"):
        raise ActionError("bad_decision", _("Approve or deny."))
    if approval.decided_at is not None:
        raise ActionError("already_decided", _("This request was already decided."))
    with transaction():
        approval.decision, approval.decided_by, approval.decided_at = decision, supervisor.id, utcnow()
        approval.note = visitors.clean_text(note, 200, fold=False) or None
        visit = db.session.get(Visit, approval.visit_id) if approval.visit_id else None
        if visit is not None and visit.state == "waiting_supervisor":
            if decision == "approved":
                visit.state, visit.host_answer = "waiting_host", visit.host_answer
            else:
                visit.state, visit.outcome_reason = "refused", f"supervisor denied ({approval.kind})"
        shiftbook.append("approval.decided", {"approval_id": approval.id, "decision": decision,
                                              "late": approval.decided_at > approval.due_at},
                         actor_id=supervisor.id)
    return approval


def forced_entry(visit: Visit | None, account: str, guard: User, shift: Shift | None) -> Incident:
    """Record a forced entry (硬闯) with the guard's account; the caller raises the alert."""
    text = visitors.clean_text(account, 2000, fold=False)
    if not text:
        raise ActionError("account_required", _("Write briefly what happened; it protects you."))
    with transaction():
        incident = Incident(site_id=guard.site_id, kind="forced_entry", visit_id=visit.id if visit else None,
                            account=text, created_by=guard.id, created_at=utcnow())
        db.session.add(incident)
        db.session.flush()
        if visit is not None and visit.state in ("waiting_host", "waiting_supervisor", "declined", "refused"):
            visit.state, visit.outcome_reason = "forced", "forced entry"
        shiftbook.append("incident.forced_entry", {"incident_id": incident.id,
                                                   "visit_id": visit.id if visit else None},
                         actor_id=guard.id, shift_id=shift.id if shift else None)
    return incident


def check_out(visit: Visit, guard: User | None, how: str) -> Visit:
    """Record that a visitor left (slip scan, on-site list, or the automatic end-of-day)."""
    _require(visit, "admitted")
    with transaction():
        visit.state, visit.left_at, visit.left_reason = "checked_out", utcnow(), how
        _entry("visit.checked_out", visit, guard, how=how)
    return visit


def by_slip(site_id: int, token: str) -> Visit:
    """The visit a scanned visitor slip belongs to."""
    visit = db.session.scalars(select(Visit).where(Visit.site_id == site_id,
                                                   Visit.slip_token == (token or "").strip())).first()
    if visit is None:
        raise ActionError("unknown_slip", _("This slip is not known here. Pick the visitor from the "
                                            "on-site list instead."))
    return visit


def on_site(site_id: int) -> list[Visit]:
    """Who is inside now, longest first (the evacuation list)."""
    # Every caller shows the visitor's name and unit: load them in the same query, not one
    # query per row (200 visitors inside made the kiosk home 220 queries, bench/web.py).
    return list(db.session.scalars(select(Visit).where(Visit.site_id == site_id, Visit.state == "admitted")
                                   .options(joinedload(Visit.visitor), joinedload(Visit.unit))
                                   .order_by(Visit.admitted_at)))


def auto_check_out(site_id: int, older_than: timedelta) -> int:
    """Close visits still open after `older_than`, marked as automatic; returns how many."""
    cutoff = utcnow() - older_than
    stale = [v for v in on_site(site_id) if v.admitted_at and v.admitted_at < cutoff]
    for visit in stale:
        check_out(visit, None, "auto")
    return len(stale)


def pending_approvals(site_id: int) -> list[Approval]:
    """Undecided supervisor requests, soonest due first."""
    return list(db.session.scalars(select(Approval).where(Approval.site_id == site_id,
                                                          Approval.decided_at.is_(None))
                                   .order_by(Approval.due_at)))


def _open_items(post) -> list:
    """Handover items: visitors still inside, supervisor requests, open incidents."""
    from gate.services.open_items import OpenItem

    now = utcnow()
    # Three columns, not on_site()'s objects: the kiosk home builds this on every visit, and with
    # a few hundred visitors inside loading whole rows was most of its time (bench/web.py).
    inside = db.session.execute(select(Visitor.name, Unit.code, Visit.admitted_at)
                                .join(Visitor, Visit.visitor_id == Visitor.id)
                                .join(Unit, Visit.unit_id == Unit.id)
                                .where(Visit.site_id == post.site_id, Visit.state == "admitted")
                                .order_by(Visit.admitted_at))
    line = gettext("Visitor %(name)s still inside (unit %(unit)s)")  # looked up once, not per row
    items = [OpenItem("visitor", line % {"name": name, "unit": code}, admitted_at)
             for name, code, admitted_at in inside]
    items += [OpenItem("approval", str(_("Supervisor request waiting (visit %(id)s)", id=a.visit_id)),
                       a.due_at, a.due_at < now) for a in pending_approvals(post.site_id)]
    incidents = db.session.scalars(select(Incident).where(Incident.site_id == post.site_id,
                                                          Incident.closed_at.is_(None)))
    items += [OpenItem("incident", str(_("Open incident: forced entry at %(t)s",
                                         t=i.created_at.strftime("%H:%M"))), None, True)
              for i in incidents]
    return items


def _register() -> None:
    from gate.services import open_items

    open_items.register("visits", _open_items)


_register()
