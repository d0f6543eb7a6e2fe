"""Spooled events into the database once it answers again, exactly once.

Each plate record is written the way the live path writes a read (gate.services.vehicles:
the device event claimed by its unique key, the parking session, the barrier order and the
"vehicle.read" shift-book entry, in one transaction), with the decision taken offline instead of
a new one: the barrier has long acted on it. The claim makes a rerun harmless: a record whose
event is already in the database (replayed before a crash, or committed just as the database
went away) is skipped whole. Barrier outcomes go through barriers.record_outcome, which records
each command's outcome once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from device_adapters import contract, spool
from device_adapters.topics import Topics
from gate.domain.events import BarrierCommand
from gate.extensions import db
from gate.services import (
    ActionError,
    barriers,
    camera_lanes,
    plate_queries,
    shiftbook,
    transaction,
    vehicles,
)

log = logging.getLogger(__name__)


def command_record(cmd: BarrierCommand) -> dict[str, Any]:
    """A barrier command as a spool record keeps it."""
    return {"id": cmd.id, "device": cmd.device, "action": cmd.action, "reason": cmd.reason,
            "issued_at": cmd.issued_at.isoformat(), "expires_at": cmd.expires_at.isoformat()}


def _order(cmd: dict[str, Any], gate_id: int | None) -> None:
    """Record a command the bridge sent offline, under its own id (barriers.order_within's rows)."""
    entry = shiftbook.append("barrier.command", {
        "command_id": cmd["id"], "device": cmd["device"], "action": cmd["action"], "source": "plate",
        "reason": cmd["reason"], "offline": True}, gate_id=gate_id)
    db.session.connection().execute(barriers._CMD.insert(), {
        "id": cmd["id"], "site": shiftbook.site_code(), "device": cmd["device"],
        "action": cmd["action"], "reason": cmd["reason"], "source": "plate", "actor_id": None,
        "issued_at": datetime.fromisoformat(cmd["issued_at"]),
        "expires_at": datetime.fromisoformat(cmd["expires_at"]), "request_seq": entry.seq})


def plate(record: dict[str, Any], topics: Topics) -> bool:
    """Write one spooled plate read; False if its event was in the database already."""
    parsed = topics.parse(record["topic"])
    if parsed is None or parsed[0] != "camera":
        raise ValueError(f"not a camera topic: {record['topic']!r}")
    read = contract.parse_plate(topics.site, parsed[1], record["payload"].encode())
    place = camera_lanes.camera_lane(read.site, read.device)
    if place is None:
        raise ValueError(f"camera {read.device!r} is not configured for site {read.site!r}")
    taken = record["decision"]
    decision = vehicles.PlateDecision(taken["action"], taken["reason"], taken["plate"])
    at = datetime.fromisoformat(taken["at"])
    cmd = taken.get("command")
    with transaction():
        summary = {"plate": decision.plate,
                   "raw": "".join(c for c in read.plate[:20] if c.isprintable()),
                   "confidence": read.confidence, "direction": read.direction,
                   "decision": decision.action, "reason": decision.reason, "offline": True}
        event_id = plate_queries.claim(read.site, read.device, read.event_id,
                                       datetime.fromisoformat(record["received_at"]), summary)
        if event_id is None:
            return False
        if decision.reason == "repeat":
            return True  # recorded as a device event, as online
        found = tuple(taken["found"]) if taken.get("found") else None
        session_id = vehicles.record_stay(place.site_id, read, decision, at, event_id, found, None)
        if cmd is not None:
            _order(cmd, place.gate_id)
        if session_id is not None or cmd is not None:
            plate_queries.set_summary(event_id, dict(summary, session_id=session_id,
                                                     command_id=cmd["id"] if cmd else None))
        shiftbook.append("vehicle.read", {
            "device_event_id": event_id, "device": read.device, "direction": read.direction,
            "decision": decision.action, "reason": decision.reason, "session_id": session_id,
            "offline": True, "decided_at": record["received_at"]}, gate_id=place.gate_id)
    return True


def replay_file(path: Path, topics: Topics) -> tuple[int, int]:
    """Write every record of one spool file (inside an app context); (written, already there).

    A record the services or the database refuse (its camera was removed meanwhile, a damaged
    line) is logged and skipped, so one bad record cannot keep the bridge offline; a connection
    error stops the replay, to be run again, whole, when the database answers.
    """
    written = skipped = 0
    for record in spool.read(path):
        try:
            if record.get("type") == "plate":
                done = plate(record, topics)
            elif record.get("type") == "outcome":
                done = barriers.record_outcome(record["command_id"], record["outcome"], record["state"])
            else:
                raise ValueError(f"unknown record type {record.get('type')!r}")
        except (ValueError, KeyError, TypeError, ActionError, IntegrityError) as exc:
            # The type only: a refused statement's text would put the plate in the log.
            log.error("spooled record %s could not be replayed: %s", record.get("key"), type(exc).__name__)
            skipped += 1
            continue
        written, skipped = written + done, skipped + (not done)
    log.info("replayed spool %s: %d written, %d already there or refused", path.name, written, skipped)
    return written, skipped
