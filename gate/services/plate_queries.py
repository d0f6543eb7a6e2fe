"""The plate → barrier path's database statements, built once and run on the session's
connection.

Profiling the bridge at 50 reads a second showed SQLAlchemy's ORM layer (building each
statement, its cache key, loading whole objects) costing several times the database's own work.
The decision only needs yes/no answers and a few ids, so these are Core statements with bound
parameters: the same SQL, a fraction of the Python. Reads here do not autoflush the ORM
session: call them before adding objects they should see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gate.extensions import db
from gate.models import DeviceEvent, ParkingSession, Resident, Vehicle, VehicleListEntry

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
