"""Passes at the gate: read a scan or a typed code, decide, and redeem atomically (SPEC §2.2).

Three inputs reach `at_gate`: the kiosk's scanner field (keyboard wedge), the short code typed
by the guard, and scan events from camera/scanner devices through the bridge. Redemption is one
conditional UPDATE (uses < max_uses, not revoked, inside the window): two scans of a single-use
pass in the same millisecond admit once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import or_, select, update

from gate.domain import passes as tokens
from gate.domain.events import BarrierCommand
from gate.extensions import db
from gate.models import Device, PassUse, Site, Unit, User, Visit, Visitor, VisitorPass
from gate.models.types import utcnow
from gate.services import barriers, device_events, notices, shiftbook, transaction
from gate.services.passes import pass_key, site_zone

# Why a pass is refused; the kiosk shows a message and a script for each.
REJECTIONS = ("malformed", "forged", "other_site", "unknown", "not_yet_valid", "expired",
              "used_up", "revoked", "moved_out", "out_of_hours")


class Rejected(Exception):
    """The text names no usable pass."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GateResult:
    """What happened at the gate, with what the guard needs to see (never an ID number)."""

    outcome: str  # admitted | left | rejected
    reason: str  # rejected: one of REJECTIONS; otherwise the pass kind (visitor | worker)
    pass_id: int | None = None
    name: str | None = None
    unit: str | None = None
    kind: str | None = None
    employer: str | None = None
    uses_left: int | None = None
    valid_until: datetime | None = None
    visit_id: int | None = None
    command: BarrierCommand | None = None

    @property
    def ok(self) -> bool:
        """True when the gate let the person through."""
        return self.outcome != "rejected"


def resolve(site: Site, text: str) -> VisitorPass:
    """The pass a scan or typed code names, or Rejected(malformed | forged | other_site | unknown).

    The window signed into the token is not compared with the row: windows are never edited,
    and the row (with revocation and uses) is what `problem` judges.
    """
    if tokens.is_code(text):
        code = tokens.normalize_code(text)
        found = db.session.scalars(select(VisitorPass).where(VisitorPass.site_id == site.id,
                                                             VisitorPass.code == code)).first()
        if found is None:
            raise Rejected("unknown")
        return found
    token = tokens.extract(text)
    if token is None:
        raise Rejected("malformed")
    try:
        claims = tokens.read(pass_key(), site.code, token)
    except tokens.TokenRejected as exc:
        raise Rejected(exc.reason) from None
    found = db.session.scalars(select(VisitorPass).where(
        VisitorPass.pid == tokens.pid_text(claims.pid))).first()
    if found is None or found.site_id != site.id:
        raise Rejected("unknown")
    return found


def _local_midnight(now: datetime) -> datetime:
    local = now.astimezone(site_zone())
    return datetime.combine(local.date(), time(0, 0), site_zone())


def direction_for(visitor_pass: VisitorPass, now: datetime) -> str:
    """Visitors come in; a worker who came in today and scans again is leaving."""
    if visitor_pass.kind != "worker":
        return "in"
    last = db.session.scalars(select(PassUse).where(PassUse.pass_id == visitor_pass.id)
                              .order_by(PassUse.at.desc(), PassUse.id.desc())).first()
    if last is not None and last.direction == "in" and last.at >= _local_midnight(now):
        return "out"
    return "in"


def problem(visitor_pass: VisitorPass, now: datetime, direction: str = "in") -> str | None:
    """Why this pass may not be used now, or None. Leaving is never refused: nobody is trapped."""
    if direction == "out":
        return None
    if visitor_pass.revoked_at is not None:
        return "revoked"
    resident = visitor_pass.resident
    if resident is not None and resident.moved_out_at is not None:
        return "moved_out"
    if now < visitor_pass.valid_from:
        return "not_yet_valid"
    if now >= visitor_pass.valid_until:
        return "expired"
    if visitor_pass.max_uses is not None and visitor_pass.uses >= visitor_pass.max_uses:
        return "used_up"
    if visitor_pass.daily_from and visitor_pass.daily_until:
        clock = now.astimezone(site_zone()).strftime("%H:%M")
        # Inclusive to the minute, as windows are: "until 18:00" admits at 18:00.
        if not visitor_pass.daily_from <= clock <= visitor_pass.daily_until:
            return "out_of_hours"
    return None


def _consume(visitor_pass: VisitorPass, now: datetime) -> bool:
    """Take one use, only if still allowed at this instant; the database settles races."""
    result = db.session.execute(
        update(VisitorPass).where(
            VisitorPass.id == visitor_pass.id, VisitorPass.revoked_at.is_(None),
            VisitorPass.valid_from <= now, VisitorPass.valid_until > now,
            or_(VisitorPass.max_uses.is_(None), VisitorPass.uses < VisitorPass.max_uses))
        .values(uses=VisitorPass.uses + 1)
        .execution_options(synchronize_session=False))
    db.session.refresh(visitor_pass)
    return result.rowcount == 1


def _visit(visitor_pass: VisitorPass, now: datetime, guard: User | None,
           shift_id: int | None) -> Visit:
    """The visit a pass admission opens, so the visitor is on the on-site (evacuation) list."""
    visitor = db.session.get(Visitor, visitor_pass.visitor_id) if visitor_pass.visitor_id else None
    if visitor is None:
        visitor = Visitor(site_id=visitor_pass.site_id, name=visitor_pass.visitor_name,
                          phone=visitor_pass.visitor_phone, created_at=now)
        db.session.add(visitor)
        db.session.flush()
        visitor_pass.visitor_id = visitor.id
    visitor.last_visit_at = now
    visit = Visit(site_id=visitor_pass.site_id, visitor_id=visitor.id, unit_id=visitor_pass.unit_id,
                  shift_id=shift_id, guard_id=guard.id if guard else None,
                  purpose=visitor_pass.purpose, plate=visitor_pass.plate, state="admitted",
                  host_answer="approved", host_answered_by="pass", created_at=now, admitted_at=now,
                  slip_token=secrets.token_urlsafe(24))
    db.session.add(visit)
    db.session.flush()
    return visit


def _result(outcome: str, reason: str, visitor_pass: VisitorPass | None, **extra) -> GateResult:
    if visitor_pass is None:
        return GateResult(outcome, reason, **extra)
    unit = db.session.get(Unit, visitor_pass.unit_id)
    return GateResult(outcome, reason, visitor_pass.id, visitor_pass.visitor_name, unit.code,
                      visitor_pass.kind, visitor_pass.employer, visitor_pass.uses_left,
                      visitor_pass.valid_until, **extra)


def at_gate(site: Site, text: str, *, source: str, guard: User | None = None,
            shift_id: int | None = None, barrier: Device | None = None,
            event_key: tuple[str, str, str] | None = None) -> GateResult | None:
    """Check a scanned or typed pass and, if good, admit: one transaction with its entries.

    `event_key` (site, device, event_id) makes a device scan idempotent; None is returned for
    a repeat. A refusal records only the rejection entry. The barrier command, if any, is in
    the result for the caller to send after the commit.
    """
    now = utcnow()
    try:
        visitor_pass = resolve(site, text)
    except Rejected as exc:
        visitor_pass, reason, direction = None, exc.reason, "in"
    else:
        direction = direction_for(visitor_pass, now)
        reason = problem(visitor_pass, now, direction)
    actor_id = guard.id if guard else None
    device = event_key[1] if event_key else None
    gate_id = barrier.lane.gate_id if barrier is not None and barrier.lane is not None else None
    with transaction():
        event = None
        if event_key is not None:
            event = device_events.claim(*event_key, "pass", {"source": source})
            if event is None:
                return None
        if reason is None and direction == "in" and not _consume(visitor_pass, now):
            reason = problem(visitor_pass, now) or "used_up"
        if reason is not None:
            shiftbook.append("pass.rejected", {
                "reason": reason, "source": source, "device": device,
                "pass_id": visitor_pass.id if visitor_pass else None}, actor_id=actor_id,
                shift_id=shift_id, gate_id=gate_id)
            if event is not None:
                event.summary = dict(event.summary, outcome="rejected", reason=reason,
                                     pass_id=visitor_pass.id if visitor_pass else None)
            return _result("rejected", reason, visitor_pass)
        use = PassUse(pass_id=visitor_pass.id, site_id=site.id, at=now, direction=direction,
                      source=source, device=device, guard_id=actor_id)
        db.session.add(use)
        visit = None
        if visitor_pass.kind == "visitor":
            visit = _visit(visitor_pass, now, guard, shift_id)
            use.visit_id = visit.id
            notices.add(site.id, visitor_pass.unit_id, "pass_admitted", name=visitor_pass.visitor_name)
        else:
            visitor_pass.inside = direction == "in"
            notices.add(site.id, visitor_pass.unit_id, f"worker_{direction}",
                        name=visitor_pass.visitor_name)
        db.session.flush()
        command = None
        if barrier is not None:
            why = "visitor pass" if visitor_pass.kind == "visitor" else f"worker pass ({direction})"
            command = barriers.order_within(barrier, "open", why, source=source, actor_id=actor_id,
                                            shift_id=shift_id)
        shiftbook.append("pass.used", {
            "pass_id": visitor_pass.id, "use_id": use.id, "kind": visitor_pass.kind,
            "direction": direction, "source": source, "device": device,
            "visit_id": visit.id if visit else None,
            "command_id": command.id if command else None}, actor_id=actor_id, shift_id=shift_id,
            gate_id=gate_id)
        outcome = "admitted" if direction == "in" else "left"
        if event is not None:
            event.summary = dict(event.summary, outcome=outcome, pass_id=visitor_pass.id)
        return _result(outcome, visitor_pass.kind, visitor_pass, visit_id=visit.id if visit else None,
                       command=command)


def vehicle_pass(site_id: int, plate: str, at: datetime) -> VisitorPass | None:
    """A visitor pass that lets this car in now (SPEC §2.4), for the vehicles decision."""
    candidates = db.session.scalars(select(VisitorPass).where(
        VisitorPass.site_id == site_id, VisitorPass.plate == plate, VisitorPass.kind == "visitor",
        VisitorPass.revoked_at.is_(None), VisitorPass.valid_from <= at, VisitorPass.valid_until > at,
        or_(VisitorPass.max_uses.is_(None), VisitorPass.uses < VisitorPass.max_uses))
        .order_by(VisitorPass.valid_until, VisitorPass.id))
    return next((p for p in candidates if problem(p, at) is None), None)


def admit_vehicle(visitor_pass: VisitorPass, *, device: str, at: datetime) -> Visit | None:
    """Inside the caller's transaction: take a use for a car entering; None if it lost the race."""
    if not _consume(visitor_pass, at):
        return None
    visit = _visit(visitor_pass, at, None, None)
    db.session.add(PassUse(pass_id=visitor_pass.id, site_id=visitor_pass.site_id, at=at,
                           direction="in", source="anpr", device=device, visit_id=visit.id))
    notices.add(visitor_pass.site_id, visitor_pass.unit_id, "pass_vehicle",
                name=visitor_pass.visitor_name, plate=visitor_pass.plate or "")
    shiftbook.append("pass.used", {"pass_id": visitor_pass.id, "kind": "visitor", "direction": "in",
                                   "source": "anpr", "device": device, "visit_id": visit.id})
    return visit
