"""What to do when an ANPR camera reads a plate.

SPEC §2.4, in this order: a blocklisted plate keeps the barrier closed (and raises an alert);
a resident's car within its validity opens it; a car on a valid visitor pass opens it on the
way in and takes one use of the pass; a leadership/VIP car opens it (the kiosk prompts a
salute). Anything else, and any read below the confidence threshold, prompts the guard.
Reads of the same plate on the same camera within GATE_PLATE_DEBOUNCE_SECONDS (by the
server's clock: camera clocks drift) are one arrival: later ones are recorded as repeats and
decide nothing. Parking sessions follow in the vehicles work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from gate.domain.events import BarrierCommand, PlateRead
from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import Device, DeviceEvent, Lane, Resident, Site, Vehicle
from gate.models.types import utcnow
from gate.services import barriers, device_events, pass_gate, shiftbook, transaction, vehicle_lists

MIN_CONFIDENCE = 0.8  # below this a guard looks at the car; OCR confuses 8/B, 0/D at night


@dataclass(frozen=True)
class PlateDecision:
    """What the gate did with one read, and the command to send if it opens."""

    action: str  # open | prompt | ignore
    # open: resident | visitor_pass | vip; prompt: blocked | unknown | unreadable |
    # low_confidence | no_barrier | pass_used_up; ignore: repeat
    reason: str
    plate: str | None
    command: BarrierCommand | None = None


def _resident_vehicle(site_id: int, plate: str, at) -> Vehicle | None:
    # A household that moved out keeps its rows (history) but not its way in.
    return db.session.scalars(select(Vehicle).join(Resident, Vehicle.resident_id == Resident.id).where(
        Vehicle.site_id == site_id, Vehicle.plate == plate, Resident.moved_out_at.is_(None),
        or_(Vehicle.valid_from.is_(None), Vehicle.valid_from <= at),
        or_(Vehicle.valid_until.is_(None), and_(Vehicle.valid_until > at)))).first()


def _seen_just_now(read: PlateRead, plate: str) -> bool:
    """True if this camera decided on this plate within the debounce window.

    A low-confidence or repeat read does not count: a clearer read of the same car decides.
    """
    window = timedelta(seconds=current_app.config.get("GATE_PLATE_DEBOUNCE_SECONDS", 15))
    recent = db.session.scalars(select(DeviceEvent).where(
        DeviceEvent.site == read.site, DeviceEvent.device == read.device, DeviceEvent.kind == "plate",
        DeviceEvent.received_at > utcnow() - window).order_by(DeviceEvent.id.desc()).limit(50))
    return any((e.summary or {}).get("plate") == plate
               and (e.summary or {}).get("reason") not in ("low_confidence", "repeat") for e in recent)


def lane_barrier(camera: Device) -> Device | None:
    """The barrier in the same lane as a camera."""
    if camera.lane_id is None:
        return None
    return db.session.scalars(select(Device).where(Device.lane_id == camera.lane_id,
                                                   Device.kind == "barrier")).first()


def handle_plate(read: PlateRead) -> PlateDecision | None:
    """Decide on one plate read, in one transaction with its entries; None if seen before."""
    site = db.session.scalars(select(Site).where(Site.code == read.site)).one()
    camera = db.session.scalars(select(Device).where(
        Device.site_id == site.id, Device.kind == "camera", Device.code == read.device)).first()
    if camera is None:
        raise ValueError(f"camera {read.device!r} is not configured for site {read.site!r}")
    try:
        plate = normalize_plate(read.plate)
    except ValueError:
        plate = None
    barrier = lane_barrier(camera)
    lane = db.session.get(Lane, camera.lane_id) if camera.lane_id else None
    visitor_pass = None
    if plate is None:
        decision = PlateDecision("prompt", "unreadable", None)
    elif read.confidence < current_app.config.get("GATE_PLATE_MIN_CONFIDENCE", MIN_CONFIDENCE):
        decision = PlateDecision("prompt", "low_confidence", plate)
    elif _seen_just_now(read, plate):
        decision = PlateDecision("ignore", "repeat", plate)
    elif vehicle_lists.match(site.id, "blocklist", plate, read.at) is not None:
        decision = PlateDecision("prompt", "blocked", plate)
    elif _resident_vehicle(site.id, plate, read.at) is not None:
        decision = PlateDecision("open", "resident", plate)
    elif read.direction == "in" and (visitor_pass := pass_gate.vehicle_pass(site.id, plate, read.at)):
        decision = PlateDecision("open", "visitor_pass", plate)
    elif vehicle_lists.match(site.id, "vip", plate, read.at) is not None:
        decision = PlateDecision("open", "vip", plate)
    else:
        decision = PlateDecision("prompt", "unknown", plate)
    if decision.action == "open" and barrier is None:
        decision = PlateDecision("prompt", "no_barrier", plate)
    with transaction():
        event = device_events.claim(read.site, read.device, read.event_id, "plate", {
            "plate": plate, "raw": read.plate[:20], "confidence": read.confidence,
            "direction": read.direction, "decision": decision.action, "reason": decision.reason})
        if event is None:
            return None
        if decision.action == "ignore":
            return decision  # recorded as a device event; the arrival was decided already
        if decision.reason == "visitor_pass" and pass_gate.admit_vehicle(
                visitor_pass, device=read.device, at=read.at) is None:
            decision = PlateDecision("prompt", "pass_used_up", plate)  # another read took the last use
            event.summary = dict(event.summary, decision="prompt", reason=decision.reason)
        command = None
        if decision.action == "open":
            why = {"resident": "resident vehicle", "visitor_pass": "visitor pass",
                   "vip": "leadership vehicle"}[decision.reason]
            command = barriers.order_within(barrier, "open", f"{why} ({read.direction})",
                                            source="plate", gate_id=lane.gate_id if lane else None)
            event.summary = dict(event.summary, command_id=command.id)
        shiftbook.append("vehicle.read", {
            "device_event_id": event.id, "device": read.device, "direction": read.direction,
            "decision": decision.action, "reason": decision.reason},
            gate_id=lane.gate_id if lane else None)
    return PlateDecision(decision.action, decision.reason, plate, command)
