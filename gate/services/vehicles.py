"""What to do when an ANPR camera reads a plate.

SPEC §2.4, in this order: a blocklisted plate keeps the barrier closed (and raises an alert);
a resident's car within its validity opens it; a car on a valid visitor pass opens it on the
way in and takes one use of the pass; a leadership/VIP car opens it (the kiosk prompts a
salute). Anything else, and any read below the confidence threshold, prompts the guard.
Reads of the same plate on the same camera within GATE_PLATE_DEBOUNCE_SECONDS (by the
server's clock: camera clocks drift) are one arrival: later ones are recorded as repeats and
decide nothing. On the way out, a car with an open parking session (gate/services/parking.py)
may always leave; one never seen coming in prompts the guard. Reads stamped in the future (camera
clock ahead) take the server's time; reads older than GATE_PLATE_MAX_AGE_SECONDS open nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from gate.domain.events import BarrierCommand, PlateRead
from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import Device
from gate.models.types import utcnow
from gate.services import (
    barriers,
    camera_lanes,
    parking,
    pass_gate,
    plate_queries,
    shiftbook,
    transaction,
)

MIN_CONFIDENCE = 0.8  # below this a guard looks at the car; OCR confuses 8/B, 0/D at night
CLOCK_SKEW = timedelta(seconds=10)  # camera clocks ahead by more than this are not trusted
log = logging.getLogger(__name__)
# Reads that decided nothing: they never make a later read of the same car a repeat.
IGNORED = ("low_confidence", "repeat", "stale", "out_of_order")


@dataclass(frozen=True)
class PlateDecision:
    """What the gate did with one read, and the command to send if it opens."""

    action: str  # open | prompt | ignore
    # open: resident | visitor_pass | vip | exit; prompt: blocked | unknown | unreadable |
    # low_confidence | no_barrier | pass_used_up | no_entry; ignore: repeat | stale | out_of_order
    reason: str
    plate: str | None
    command: BarrierCommand | None = None


def _seen_just_now(read: PlateRead, plate: str) -> bool:
    """True if this camera decided on this plate within the debounce window.

    A low-confidence or repeat read does not count: a clearer read of the same car decides.
    """
    window = timedelta(seconds=current_app.config.get("GATE_PLATE_DEBOUNCE_SECONDS", 15))
    reasons = plate_queries.recent_reasons(read.site, read.device, plate, utcnow() - window)
    return any(reason not in IGNORED for reason in reasons)


def lane_barrier(camera: Device) -> Device | None:
    """The barrier in the same lane as a camera."""
    if camera.lane_id is None:
        return None
    return db.session.scalars(select(Device).where(Device.lane_id == camera.lane_id,
                                                   Device.kind == "barrier")).first()


def read_time(read: PlateRead, now: datetime) -> tuple[datetime, bool]:
    """The time to record for a read, and whether it is too old to act on.

    A camera clock ahead of ours would make a pass look valid early and sessions end before
    they began: such times are replaced by the server's. A read older than
    GATE_PLATE_MAX_AGE_SECONDS (MQTT delivered it late, or the camera replays its queue) opens
    nothing: the car has long gone one way or the other.
    """
    if read.at > now + CLOCK_SKEW:
        log.warning("camera %s/%s clock is %.0f s ahead; the read is taken at the server's time",
                    read.site, read.device, (read.at - now).total_seconds())
        return now, False
    max_age = timedelta(seconds=current_app.config.get("GATE_PLATE_MAX_AGE_SECONDS", 120))
    if read.at < now - max_age:
        log.warning("plate read %s from %s/%s is %.0f s old: recorded, nothing opened",
                    read.event_id[:64], read.site, read.device, (now - read.at).total_seconds())
        return read.at, True
    return read.at, False


def _decide(site_id: int, read: PlateRead, plate: str | None, at: datetime, stale: bool):
    """The decision for a read, and the resident car or visitor pass it rests on."""
    found = None
    if plate is None:
        return PlateDecision("prompt", "unreadable", None), None
    if read.confidence < current_app.config.get("GATE_PLATE_MIN_CONFIDENCE", MIN_CONFIDENCE):
        return PlateDecision("prompt", "low_confidence", plate), None
    if read.direction == "in" and plate_queries.has_exit_only(site_id, plate, at,
                                                             at + parking.LATE_ENTRY_WINDOW):
        return PlateDecision("ignore", "out_of_order", plate), None
    if stale:
        return PlateDecision("ignore", "stale", plate), None
    if _seen_just_now(read, plate):
        return PlateDecision("ignore", "repeat", plate), None
    if plate_queries.listed(site_id, "blocklist", plate, at):
        return PlateDecision("prompt", "blocked", plate), None
    if (found := plate_queries.resident_car(site_id, plate, at)) is not None:
        return PlateDecision("open", "resident", plate), found  # (vehicle id, unit id)
    if read.direction == "in" and (found := pass_gate.vehicle_pass(site_id, plate, at)):
        return PlateDecision("open", "visitor_pass", plate), found
    if read.direction == "out" and plate_queries.has_open_stay(site_id, plate):
        return PlateDecision("open", "exit", plate), None  # a car we let in may always leave
    if plate_queries.listed(site_id, "vip", plate, at):
        return PlateDecision("open", "vip", plate), None
    if read.direction == "out":
        return PlateDecision("prompt", "no_entry", plate), None  # leaving, but never seen coming in
    return PlateDecision("prompt", "unknown", plate), None


def record_stay(site_id: int, read: PlateRead, decision: PlateDecision, at: datetime, event_id: int,
              found, visit) -> int | None:
    """Keep parking sessions in step with a read (inside the decision's transaction)."""
    plate = decision.plate
    if plate is None:
        return None
    if decision.reason == "out_of_order":
        return parking.enter(site_id, plate, "unknown", at, event_id=event_id).id
    if read.direction == "out" and (decision.action == "open" or decision.reason == "stale"):
        kind = decision.reason if decision.reason in ("resident", "vip") else "unknown"
        stay_id, visit_id, left_at = plate_queries.leave_stay(site_id, plate, at, kind, event_id)
        if visit_id is not None:
            parking.visit_left(visit_id, left_at)
        return stay_id
    if read.direction != "in" or decision.action != "open":
        return None
    if decision.reason == "resident":
        return plate_queries.enter_stay(site_id, plate, "resident", at, event_id, found[1])
    if decision.reason == "visitor_pass":
        return parking.enter(site_id, plate, "visitor_pass", at, event_id=event_id, pass_id=found.id,
                             visit_id=visit.id if visit else None, unit_id=found.unit_id,
                             expected_until=found.valid_until, late_checked=True).id
    return parking.enter(site_id, plate, decision.reason, at, event_id=event_id, late_checked=True).id


def handle_plate(read: PlateRead) -> PlateDecision | None:
    """Decide on one plate read, in one transaction with its entries; None if seen before."""
    place = camera_lanes.camera_lane(read.site, read.device)
    if place is None:
        raise ValueError(f"camera {read.device!r} is not configured for site {read.site!r}")
    try:
        plate = normalize_plate(read.plate)
    except ValueError:
        plate = None
    at, stale = read_time(read, utcnow())
    barrier = place.barrier
    decision, found = _decide(place.site_id, read, plate, at, stale)
    if decision.action == "open" and barrier is None:
        decision = PlateDecision("prompt", "no_barrier", plate)
    with transaction():
        summary = {"plate": plate, "raw": "".join(c for c in read.plate[:20] if c.isprintable()),
                   "confidence": read.confidence, "direction": read.direction,
                   "decision": decision.action, "reason": decision.reason}
        event_id = plate_queries.claim(read.site, read.device, read.event_id, utcnow(), summary)
        if event_id is None:
            return None
        if decision.reason == "repeat":
            return decision  # recorded as a device event; the arrival was decided already
        visit = None
        if decision.reason == "visitor_pass":
            visit = pass_gate.admit_vehicle(found, device=read.device, at=at)
            if visit is None:  # another read took the last use
                decision = PlateDecision("prompt", "pass_used_up", plate)
        session_id = record_stay(place.site_id, read, decision, at, event_id, found, visit)
        command = None
        if decision.action == "open":
            why = {"resident": "resident vehicle", "visitor_pass": "visitor pass",
                   "vip": "leadership vehicle", "exit": "car leaving"}[decision.reason]
            command = barriers.order_within(barrier, "open", f"{why} ({read.direction})",
                                            source="plate", gate_id=place.gate_id)
        if session_id is not None or command is not None or decision.reason == "pass_used_up":
            plate_queries.set_summary(event_id, dict(  # one UPDATE of the event, not two
                summary, decision=decision.action, reason=decision.reason, session_id=session_id,
                command_id=command.id if command else None))
        shiftbook.append("vehicle.read", {
            "device_event_id": event_id, "device": read.device, "direction": read.direction,
            "decision": decision.action, "reason": decision.reason, "session_id": session_id},
            gate_id=place.gate_id)
    # The plate itself stays in the device event (purged on schedule), out of the log.
    log.info("plate read %s on %s/%s (%s): %s, %s", read.event_id[:64], read.site, read.device,
             read.direction, decision.action, decision.reason)
    return PlateDecision(decision.action, decision.reason, plate, command)
