"""Ordering barriers to open or close, and recording how each order ended.

MQTT stays outside: the caller passes a `BarrierPort` (the bridge's or the web process's
commander). Each order and each outcome is its own transaction with its shift-book entry, so
the book says "ordered" even if the process dies before the barrier answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import bindparam, func, select, update

from gate.domain.events import BARRIER_ACTIONS, OUTCOMES, BarrierCommand
from gate.extensions import db
from gate.models import Approval, BarrierCommandRecord, Device
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction
from gate.services.camera_lanes import BarrierRef

MANUAL = "manual"  # source of an opening a guard ordered by hand (gate panel, car prompt)


def command_ttl() -> timedelta:
    """How long a command stays valid (GATE_COMMAND_TTL_SECONDS): a late open is worse than none."""
    return timedelta(seconds=current_app.config["GATE_COMMAND_TTL_SECONDS"])


class BarrierPort(Protocol):
    """Sends commands to barriers and reports outcomes (implemented in device_adapters)."""

    def send(self, cmd: BarrierCommand, on_outcome: Callable[[str, str | None], None]) -> None:
        """Publish the command; call on_outcome(outcome, state) once, from any thread."""

    def send_and_wait(self, cmd: BarrierCommand) -> tuple[str, str | None]:
        """Publish the command and block until its outcome (web requests, not the MQTT thread)."""


def operate(device: Device, action: str, reason: str, port: BarrierPort, *, source: str = "kiosk",
            actor_id: int | None = None, shift_id: int | None = None) -> str:
    """Order a barrier, wait for its answer and record it: done, rejected, expired or no_answer."""
    cmd = order(device, action, reason, source=source, actor_id=actor_id, shift_id=shift_id)
    outcome, state = port.send_and_wait(cmd)
    record_outcome(cmd.id, outcome, state)
    return outcome


def order(device: Device, action: str, reason: str, *, source: str, actor_id: int | None = None,
          gate_id: int | None = None, shift_id: int | None = None,
          ttl: timedelta | None = None) -> BarrierCommand:
    """Record an open/close order (one transaction with its entry) and return the command to send."""
    with transaction():
        return order_within(device, action, reason, source=source, actor_id=actor_id,
                            gate_id=gate_id, shift_id=shift_id, ttl=ttl)


_CMD = BarrierCommandRecord.__table__


def order_within(device: Device | BarrierRef, action: str, reason: str, *, source: str,
                 actor_id: int | None = None, gate_id: int | None = None,
                 shift_id: int | None = None, ttl: timedelta | None = None) -> BarrierCommand:
    """Like order(), inside the caller's transaction (a plate decision and its order commit together)."""
    if action not in BARRIER_ACTIONS:
        raise ActionError("bad_action", _("A barrier can only be opened or closed."))
    if device.kind != "barrier":
        raise ActionError("not_a_barrier", _("That device is not a barrier."))
    reason = (reason or "").strip()
    if not reason:
        raise ActionError("reason_required", _("Say why the barrier is being operated."))
    if gate_id is None and isinstance(device, Device) and device.lane is not None:
        gate_id = device.lane.gate_id
    now = utcnow()
    cmd = BarrierCommand(id=str(uuid.uuid4()), site=shiftbook.site_code(),
                         device=device.code, action=action, reason=reason[:200], issued_at=now,
                         expires_at=now + (ttl or command_ttl()))
    # The entry first, so the command row is inserted once with its seq (no UPDATE after).
    entry = shiftbook.append("barrier.command", {
        "command_id": cmd.id, "device": cmd.device, "action": action, "source": source,
        "reason": cmd.reason}, actor_id=actor_id, gate_id=gate_id, shift_id=shift_id)
    # Core, not an ORM object: the plate path orders an opening per car (see plate_queries).
    db.session.connection().execute(_CMD.insert(), {
        "id": cmd.id, "site": cmd.site, "device": cmd.device, "action": action, "reason": cmd.reason,
        "source": source, "actor_id": actor_id, "issued_at": now, "expires_at": cmd.expires_at,
        "request_seq": entry.seq})
    if source == MANUAL and action == "open" and actor_id is not None:
        _review_if_over_threshold(device, cmd, actor_id, gate_id, shift_id)
    return cmd


def manual_opens_today(site: str, now: datetime) -> int:
    """Openings by hand at this site since local midnight (the daily threshold counts these)."""
    zone = ZoneInfo(current_app.config["GATE_TIMEZONE"])
    midnight = datetime.combine(now.astimezone(zone).date(), time(0, 0), zone)
    return db.session.scalar(select(func.count()).select_from(BarrierCommandRecord).where(
        BarrierCommandRecord.site == site, BarrierCommandRecord.source == MANUAL,
        BarrierCommandRecord.action == "open", BarrierCommandRecord.issued_at >= midnight)) or 0


def _review_if_over_threshold(device: Device | BarrierRef, cmd: BarrierCommand, actor_id: int,
                              gate_id: int | None, shift_id: int | None) -> None:
    """Past the daily number of openings by hand, each one more waits for a supervisor's review."""
    limit = current_app.config["GATE_MANUAL_OPEN_DAILY_LIMIT"]
    if manual_opens_today(cmd.site, cmd.issued_at) <= limit:
        return
    minutes = current_app.config["GATE_MANUAL_OPEN_REVIEW_MINUTES"]
    approval = Approval(site_id=device.site_id, kind="manual_open", command_id=cmd.id,
                        requested_by=actor_id, requested_at=cmd.issued_at,
                        due_at=cmd.issued_at + timedelta(minutes=minutes))
    db.session.add(approval)
    db.session.flush()
    shiftbook.append("approval.requested", {"approval_id": approval.id, "kind": "manual_open",
                                            "command_id": cmd.id},
                     actor_id=actor_id, gate_id=gate_id, shift_id=shift_id)


_SET_OUTCOME = (update(_CMD).where(_CMD.c.id == bindparam("b_id"), _CMD.c.outcome.is_(None))
                .values(outcome=bindparam("b_outcome"), state=bindparam("b_state"),
                        outcome_at=bindparam("b_at"))
                .returning(_CMD.c.device, _CMD.c.actor_id, _CMD.c.request_seq))
_SET_OUTCOME_SEQ = update(_CMD).where(_CMD.c.id == bindparam("b_id")).values(outcome_seq=bindparam("b_seq"))


def record_outcome(command_id: str, outcome: str, state: str | None = None) -> bool:
    """Store how an order ended, once; False if it was already recorded (a repeated ack)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    with transaction():
        # Conditional UPDATE: of two acks for one command (or an ack racing the no-answer timer)
        # only the first finds outcome still empty; Core statements, as one runs per opening.
        row = db.session.connection().execute(_SET_OUTCOME, {
            "b_id": command_id, "b_outcome": outcome, "b_state": state, "b_at": utcnow()}).first()
        if row is None:
            return False
        device, actor_id, request_seq = row
        entry = shiftbook.append("barrier.outcome", {
            "command_id": command_id, "device": device, "outcome": outcome, "state": state},
            actor_id=actor_id, ref_seq=request_seq)
        db.session.connection().execute(_SET_OUTCOME_SEQ, {"b_id": command_id, "b_seq": entry.seq})
    return True
