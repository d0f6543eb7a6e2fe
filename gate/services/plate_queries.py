"""The plate → barrier path's database statements, built once and run on the session's
connection.

Profiling the bridge at 50 reads a second showed SQLAlchemy's ORM layer (building each
statement, its cache key, loading whole objects) costing several times the database's own work.
The decision only needs yes/no answers and a few ids, so these are Core statements with bound
parameters: the same SQL, a fraction of the Python. Reads here do not autoflush the ORM
session: call them before adding objects they should see.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gate.extensions import db
from gate.models import DeviceEvent, ParkingSession, Resident, Vehicle, VehicleListEntry
from gate.models.types import utcnow

log = logging.getLogger(__name__)
_V, _R = Vehicle.__table__.c, Resident.__table__.c
_L, _P, _E = VehicleListEntry.__table__.c, ParkingSession.__table__.c, DeviceEvent.__table__.c

# A household that moved out keeps its rows (history) but not its way in.
_RESIDENT_CAR = (
    select(_V.id, _R.unit_id).select_from(Vehicle.__table__.join(Resident.__table__,
                                                                  _V.resident_id == _R.id))
    .where(_V.site_id == bindparam("site_id"), _V.plate == bindparam("plate"),
           _R.moved_out_at.is_(None),
           or_(_V.valid_from.is_(None), _V.valid_from <= bindparam("at")),
           or_(_V.valid_until.is_(None), _V.valid_until > bindparam("at")))
    .limit(1))

_LISTED = select(exists().where(
    _L.site_id == bindparam("site_id"), _L.list == bindparam("which"), _L.plate == bindparam("plate"),
    _L.removed_at.is_(None),
    or_(_L.valid_from.is_(None), _L.valid_from <= bindparam("at")),
    or_(_L.valid_until.is_(None), _L.valid_until > bindparam("at"))))

_OPEN_STAY = select(exists().where(
    _P.site_id == bindparam("site_id"), _P.plate == bindparam("plate"), _P.left_at.is_(None),
    _P.entered_at.is_not(None)))

_EXIT_ONLY = select(exists().where(
    _P.site_id == bindparam("site_id"), _P.plate == bindparam("plate"), _P.entered_at.is_(None),
    and_(_P.left_at >= bindparam("at"), _P.left_at <= bindparam("until"))))

# Only the reasons of this plate's reads: parsing every recent summary cost more than the query.
_RECENT = (select(_E.summary["reason"].as_string()).where(
    _E.site == bindparam("site"), _E.device == bindparam("device"), _E.kind == "plate",
    _E.received_at > bindparam("since"), _E.summary["plate"].as_string() == bindparam("plate"))
    .order_by(_E.id.desc()).limit(50))

_SET_SUMMARY = (update(DeviceEvent.__table__).where(_E.id == bindparam("row_id"))
                .values(summary=bindparam("new_summary")))

_CLAIMS = {dialect.__module__.split(".")[-2]: (
    dialect(DeviceEvent.__table__).on_conflict_do_nothing(index_elements=["site", "device", "event_id"])
    .returning(_E.id)) for dialect in (pg_insert, sqlite_insert)}


_PS = ParkingSession.__table__
# A car entering while recorded inside: the camera missed its exit, the old stay ends unseen.
_CLOSE_MISSED = (update(_PS).where(_P.site_id == bindparam("b_site"), _P.plate == bindparam("b_plate"),
                                   _P.left_at.is_(None), _P.entered_at.is_not(None))
                 .values(left_at=case((_P.entered_at > bindparam("b_at"), _P.entered_at),
                                      else_=bindparam("b_at")),
                         closed_by="missed_exit"))
_NEW_STAY = insert(_PS).returning(_P.id)
_LATEST_OPEN = (select(_P.id).where(_P.site_id == bindparam("b_site"), _P.plate == bindparam("b_plate"),
                                    _P.left_at.is_(None), _P.entered_at.is_not(None))
                .order_by(_P.entered_at.desc(), _P.id.desc()).limit(1).scalar_subquery())
_CLOSE_STAY = (update(_PS).where(_P.id == _LATEST_OPEN)
               .values(left_at=case((_P.entered_at > bindparam("b_at"), _P.entered_at),
                                    else_=bindparam("b_at")),
                       exit_event_id=bindparam("b_event"), closed_by="camera")
               .returning(_P.id, _P.visit_id, _P.left_at))


def _run(stmt, params: dict[str, Any]):
    return db.session.connection().execute(stmt, params)


def resident_car(site_id: int, plate: str, at: datetime) -> tuple[int, int] | None:
    """(vehicle id, unit id) of a resident's car allowed in at `at`, or None."""
    row = _run(_RESIDENT_CAR, {"site_id": site_id, "plate": plate, "at": at}).first()
    return (row[0], row[1]) if row else None


def listed(site_id: int, which: str, plate: str, at: datetime) -> bool:
    """True if the plate is on the blocklist or VIP list (`which`) at `at`."""
    return bool(_run(_LISTED, {"site_id": site_id, "which": which, "plate": plate, "at": at}).scalar())


def has_open_stay(site_id: int, plate: str) -> bool:
    """True if the car is recorded inside the estate."""
    return bool(_run(_OPEN_STAY, {"site_id": site_id, "plate": plate}).scalar())


def has_exit_only(site_id: int, plate: str, at: datetime, until: datetime) -> bool:
    """True if the car was recorded leaving between `at` and `until` without an entry."""
    return bool(_run(_EXIT_ONLY, {"site_id": site_id, "plate": plate, "at": at, "until": until}).scalar())


def recent_reasons(site: str, device: str, plate: str, since: datetime) -> list[str | None]:
    """Why this camera decided as it did on this plate since `since`, newest first (at most 50)."""
    params = {"site": site, "device": device, "plate": plate, "since": since}
    return list(_run(_RECENT, params).scalars())


def claim(site: str, device: str, event_id: str, received_at: datetime, summary: dict) -> int | None:
    """Record a plate event (one INSERT … ON CONFLICT DO NOTHING); its id, or None if seen before."""
    stmt = _CLAIMS[db.session.get_bind().dialect.name]
    return _run(stmt, {"site": site, "device": device, "event_id": event_id, "kind": "plate",
                       "received_at": received_at, "summary": summary}).scalar()


def set_summary(event_id: int, summary: dict) -> None:
    """Replace a plate event's summary (its decision, session and command)."""
    _run(_SET_SUMMARY, {"row_id": event_id, "new_summary": summary})


def enter_stay(site_id: int, plate: str, kind: str, at: datetime, event_id: int,
               unit_id: int | None) -> int:
    """A car let in by the camera: end a stay it is still recorded in, open a new one; its id.

    The same as parking.enter(late_checked=True) for a resident's or VIP's car, in two statements.
    """
    closed = _run(_CLOSE_MISSED, {"b_site": site_id, "b_plate": plate, "b_at": at}).rowcount
    if closed:
        log.info("car entered again without an exit read: %d stay(s) closed as missed_exit", closed)
    return _run(_NEW_STAY, {"site_id": site_id, "plate": plate, "kind": kind, "entered_at": at,
                            "entry_event_id": event_id, "unit_id": unit_id,
                            "created_at": utcnow()}).scalar_one()


def leave_stay(site_id: int, plate: str, at: datetime, kind: str,
               event_id: int) -> tuple[int, int | None, datetime | None]:
    """A car going out: close its latest open stay, or record an exit without entry.

    Returns (stay id, its visit id, when it left); parking.leave() with the camera closing it.
    """
    row = _run(_CLOSE_STAY, {"b_site": site_id, "b_plate": plate, "b_at": at, "b_event": event_id}).first()
    if row is not None:
        return row[0], row[1], row[2]
    log.info("exit of a car with no recorded entry at site %s: recorded as exit-only", site_id)
    stay_id = _run(_NEW_STAY, {"site_id": site_id, "plate": plate, "kind": kind, "entered_at": None,
                               "left_at": at, "exit_event_id": event_id, "closed_by": "camera",
                               "created_at": utcnow()}).scalar_one()
    return stay_id, None, at
