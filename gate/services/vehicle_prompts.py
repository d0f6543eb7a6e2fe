"""The guard's answer to a plate prompt (SPEC §2.4): refuse the car, or open its lane by hand.

A prompt is a plate DeviceEvent whose decision is "prompt". It is handled once a shift-book entry
"vehicle.prompt_handled" names it ({"device_event_id": id, "action": ...}); the entry is written
in the same transaction as the action (and, for opening, as the barrier order), after the head
row lock that shiftbook.append takes, so two guards tapping at once cannot both handle it.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from gate.domain.events import BarrierCommand
from gate.extensions import db
from gate.models import Device, DeviceEvent, Lane, ShiftBookEntry, Site, User
from gate.models.types import utcnow
from gate.services import ActionError, barriers, parking, shiftbook, transaction, vehicles

KIND = "vehicle.prompt_handled"
PROMPT_FOR = timedelta(minutes=2)  # a prompt older than this is gone from the kiosk
RECENT_HANDLED = 200  # handled entries looked at; far more than two minutes of prompts
# A host may take a while to answer; the car waits at the barrier meanwhile.
REGISTER_WITHIN = timedelta(minutes=30)


def handled_ids(site: str, before_seq: int | None = None) -> set[int]:
    """Device event ids of the site's recently handled prompts (entries before `before_seq`)."""
    query = select(ShiftBookEntry.data).where(ShiftBookEntry.site == site, ShiftBookEntry.kind == KIND)
    if before_seq is not None:
        query = query.where(ShiftBookEntry.seq < before_seq)
    ids: set[int] = set()
    for data in db.session.scalars(query.order_by(ShiftBookEntry.seq.desc()).limit(RECENT_HANDLED)):
        try:
            value = json.loads(data or "{}").get("device_event_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int):
            ids.add(value)
    return ids


def open_prompt(site: Site, event_id: int) -> DeviceEvent:
    """A plate prompt of this site still waiting for the guard; ActionError otherwise."""
    event = db.session.get(DeviceEvent, event_id)
    if (event is None or event.site != site.code or event.kind != "plate"
            or (event.summary or {}).get("decision") != "prompt"):
        raise ActionError("not_found", _l("This car prompt does not exist."))
    if event.received_at < utcnow() - PROMPT_FOR or event.id in handled_ids(site.code):
        raise ActionError("handled", _l("This car has already been dealt with, or the prompt has "
                                        "expired."))
    return event


def _camera(site: Site, event: DeviceEvent) -> Device | None:
    return db.session.scalars(select(Device).where(Device.site_id == site.id, Device.kind == "camera",
                                                   Device.code == event.device)).first()


def _gate_id(camera: Device | None) -> int | None:
    lane = db.session.get(Lane, camera.lane_id) if camera is not None and camera.lane_id else None
    return lane.gate_id if lane else None


def _claim(site: Site, event: DeviceEvent, data: dict, guard: User, shift_id: int | None,
           gate_id: int | None) -> ShiftBookEntry:
    """Write the handled entry (taking the book's lock), then make sure nobody handled it first."""
    # The plate stays in the device event (purged with it), out of the chained payload.
    entry = shiftbook.append(KIND, {"device_event_id": event.id, "device": event.device, **data},
                             actor_id=guard.id, shift_id=shift_id, gate_id=gate_id)
    if event.id in handled_ids(site.code, before_seq=entry.seq):
        raise ActionError("handled", _l("Another guard dealt with this car just now."))
    return entry


def refuse(site: Site, event_id: int, guard: User, shift_id: int | None = None) -> ShiftBookEntry:
    """The guard turns the car away: one "vehicle.prompt_handled" entry (action refused)."""
    event = open_prompt(site, event_id)
    gate_id = _gate_id(_camera(site, event))
    with transaction():
        return _claim(site, event, {"action": "refused"}, guard, shift_id, gate_id)


def lane_barrier(site: Site, event: DeviceEvent) -> Device | None:
    """The barrier in the lane of the camera that read the car."""
    camera = _camera(site, event)
    return vehicles.lane_barrier(camera) if camera is not None else None


def order_open(site: Site, event_id: int, reason: str, guard: User, shift_id: int | None = None,
               confirmed: bool = False) -> BarrierCommand:
    """Order the lane's barrier open with a reason; the order and the handled entry commit together."""
    event = open_prompt(site, event_id)
    reason = (reason or "").strip()
    if not reason:
        raise ActionError("reason_required", _l("Choose a reason, or write one, before operating the "
                                                "barrier."))
    if (event.summary or {}).get("reason") == "blocked" and not confirmed:
        raise ActionError("confirm_blocked", _l("This car is on the blocklist: confirm that you open "
                                                "it anyway."))
    barrier = lane_barrier(site, event)
    if barrier is None:
        raise ActionError("no_barrier", _l("No barrier is set up in this lane: open it by hand."))
    with transaction():
        # No plate in the reason: it goes into the chained book and out over MQTT.
        command = barriers.order_within(barrier, "open", reason, source=barriers.MANUAL,
                                        actor_id=guard.id, shift_id=shift_id)
        _claim(site, event, {"action": "opened", "command_id": command.id, "reason": reason},
               guard, shift_id, _gate_id(_camera(site, event)))
        _session_by_hand(site, event)
    return command


def _session_by_hand(site: Site, event: DeviceEvent) -> None:
    """A car let through by hand enters (or leaves) the parking sessions like any other."""
    summary = event.summary or {}
    plate = summary.get("plate")
    if not plate:
        return
    if summary.get("direction") == "out":
        parking.leave(site.id, plate, utcnow(), kind="manual", event_id=event.id, closed_by="manual")
    else:
        parking.enter(site.id, plate, "manual", utcnow(), event_id=event.id)


def registering_lane(site: Site, plate: str, within: timedelta = REGISTER_WITHIN) -> Device | None:
    """The barrier of the lane where this car was last prompted on its way in, if recently.

    A guard answers an unknown car by registering its driver as a visitor; when the host
    confirms, the barrier to open is the car's, not the pedestrian turnstile.
    """
    rows = db.session.scalars(select(DeviceEvent).where(
        DeviceEvent.site == site.code, DeviceEvent.kind == "plate",
        DeviceEvent.received_at >= utcnow() - within)
        .order_by(DeviceEvent.received_at.desc(), DeviceEvent.id.desc()).limit(200))
    for event in rows:
        summary = event.summary or {}
        if (summary.get("plate") == plate and summary.get("direction") == "in"
                and summary.get("decision") == "prompt"):
            return lane_barrier(site, event)
    return None
