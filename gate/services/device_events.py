"""Device events: claimed once by event_id, and device status kept for the kiosk and /healthz."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gate.domain.events import Availability, BarrierState, CardRead, Scan
from gate.domain.idcard import parse_resident_id
from gate.extensions import db
from gate.models import DeviceEvent, DeviceStatus
from gate.models.types import utcnow
from gate.services import shiftbook, transaction
from gate.services.privacy import protect_id


def claim(site: str, device: str, event_id: str, kind: str, summary: dict) -> DeviceEvent | None:
    """Record an event inside the caller's transaction; None if that event_id was handled before.

    One INSERT … ON CONFLICT DO NOTHING RETURNING on the unique key (site, device, event_id):
    it settles races between bridges without a read first or a savepoint, and a collision
    leaves the caller's transaction usable.
    """
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[dialect]
    stmt = (insert(DeviceEvent)
            .values(site=site, device=device, event_id=event_id, kind=kind, summary=summary,
                    received_at=utcnow())
            .on_conflict_do_nothing(index_elements=["site", "device", "event_id"])
            .returning(DeviceEvent))
    return db.session.scalars(stmt).one_or_none()


def record_scan(scan: Scan) -> DeviceEvent | None:
    """Keep a scanned code for the kiosk to act on (passes, release slips); None if a repeat."""
    with transaction():
        return claim(scan.site, scan.device, scan.event_id, "scan", {"text": scan.text[:2048]})


def record_card(card: CardRead) -> DeviceEvent | None:
    """Keep an ID-card read masked and hashed for the kiosk's visitor desk; None if a repeat.

    Card readers read resident ID cards: the number is normalised like a typed one, so a card
    read and a typed number give the same keyed hash (watchlist, returning visitors).
    """
    try:
        number = parse_resident_id(card.id_number)
    except ValueError:
        number = card.id_number.strip().upper()  # a foreign or damaged card: keep it comparable
    with transaction():
        return claim(card.site, card.device, card.event_id, "card",
                     {"name": card.name, **protect_id(number)})


def _status(site: str, kind: str, device: str) -> DeviceStatus:
    status = db.session.get(DeviceStatus, (site, kind, device))
    if status is None:
        status = DeviceStatus(site=site, kind=kind, device=device)
        db.session.add(status)
    return status


def record_availability(event: Availability) -> bool:
    """Store a device's availability; a change is written to the shift book. True if it changed."""
    with transaction():
        status = _status(event.site, event.kind, event.device)
        now = utcnow()
        status.last_message_at = now
        if status.online is event.online:
            return False
        status.online, status.changed_at = event.online, now
        shiftbook.append("device.online" if event.online else "device.offline",
                         {"kind": event.kind, "device": event.device}, site=event.site)
    return True


def record_state(event: BarrierState) -> None:
    """Store a barrier's reported position."""
    with transaction():
        status = _status(event.site, "barrier", event.device)
        status.state, status.last_message_at = event.state, utcnow()


def touch(site: str, kind: str, device: str) -> None:
    """Note that a device was heard from (any message), for /healthz."""
    with transaction():
        _status(site, kind, device).last_message_at = utcnow()
