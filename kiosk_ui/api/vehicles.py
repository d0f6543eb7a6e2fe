"""Residents' registered cars: desk and supervisor keys list, add, change and end them;
a resident key reads its own unit's."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask_babel import gettext as _
from pydantic import Field

from gate.extensions import db
from gate.models import Vehicle
from gate.services import resident_vehicles as cars
from kiosk_ui.api.registry import ApiError, Caller, endpoint
from kiosk_ui.api.schemas import Body, Day, Id, Out, Query, text
from kiosk_ui.helpers import typed_day

STAFF = ("desk", "supervisor")
CHECK_ERRORS = ("bad_plate", "bad_unit", "unknown_unit", "no_resident", "unknown_resident", "moved_out",
                "bad_window", "already_over", "blocklisted", "plate_taken", "too_long", "bad_text")


class VehicleQuery(Query):
    """Which cars: part of a plate or the start of a unit number; current, ended or all."""

    q: text(40) = ""
    status: Literal["current", "ended", "all"] = "current"


class VehicleIn(Body):
    """A car to register to a resident of a unit; days are site-time, the last one inclusive."""

    unit: text(20, 1) = Field(description="building-entrance-room, e.g. 1-1-101")
    plate: text(12, 1)
    resident_id: Id | None = Field(default=None, description="Default: the unit's owner, else its "
                                   "first resident living there.")
    color: text(20) = ""
    valid_from: Day | None = None
    valid_until: Day | None = None
    reason: text(200) = ""


class VehicleChange(Body):
    """Fields to change; those left out keep their value (null clears a day)."""

    valid_from: Day | None = None
    valid_until: Day | None = None
    color: text(20) | None = None
    reason: text(200) = Field(default="", description="Why it changed (kept if empty).")


class VehicleEnd(Body):
    """Why the registration ends (optional)."""

    reason: text(200) = ""


class VehicleOut(Out):
    """A registered car; valid_until is the first moment it no longer opens the barrier."""

    id: int
    plate: str
    unit: str
    resident_id: int
    color: str | None
    reason: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    current: bool
    created_at: datetime
    changed_at: datetime | None


class VehicleList(Out):
    """Cars matching the filters, by unit."""

    items: list[VehicleOut]


def vehicle_out(vehicle: Vehicle) -> VehicleOut:
    """What the API says about a car (the resident's phone stays at the desk)."""
    return VehicleOut(id=vehicle.id, plate=vehicle.plate, unit=vehicle.resident.unit.code,
                      resident_id=vehicle.resident_id, color=vehicle.color, reason=vehicle.reason,
                      valid_from=vehicle.valid_from, valid_until=vehicle.valid_until,
                      current=cars.is_current(vehicle), created_at=vehicle.created_at,
                      changed_at=vehicle.changed_at)


def _day(value, *, end: bool) -> datetime | None:
    return typed_day(value.isoformat(), end=end) if value else None


def _vehicle(caller: Caller, vehicle_id: int) -> Vehicle:
    vehicle = db.session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.site_id != caller.site.id:
        raise ApiError(404, "not_found", _("No such vehicle."))
    return vehicle


@endpoint("GET", "/vehicles", summary="List residents' cars", query=VehicleQuery, response=VehicleList)
def list_vehicles(caller: Caller, query: VehicleQuery) -> VehicleList:
    """The estate's registered cars (a resident key: its unit's), current ones by default."""
    if caller.scope == "resident":
        rows = cars.list_for(caller.site.id, cars.Filters(q=caller.unit.code, status=query.status))
        rows = [v for v in rows if v.resident.unit_id == caller.unit.id]
    else:
        rows = cars.list_for(caller.site.id, cars.Filters(q=query.q, status=query.status))
    return VehicleList(items=[vehicle_out(v) for v in rows])


@endpoint("POST", "/vehicles", summary="Register a resident's car", scopes=STAFF, body=VehicleIn,
          response=VehicleOut, status=201, errors=CHECK_ERRORS)
def add_vehicle(caller: Caller, body: VehicleIn) -> VehicleOut:
    """Register a car to a resident; an ended registration of the plate is taken over."""
    vehicle = cars.add(caller.site.id, body.unit, body.resident_id, body.plate, body.color,
                       _day(body.valid_from, end=False), _day(body.valid_until, end=True),
                       body.reason, caller.user)
    return vehicle_out(vehicle)


@endpoint("PATCH", "/vehicles/<int:vehicle_id>", summary="Change a car's validity, colour or reason",
          scopes=STAFF, body=VehicleChange, response=VehicleOut,
          errors=("ended", "bad_window", "too_long", "bad_text"))
def change_vehicle(caller: Caller, vehicle_id: int, body: VehicleChange) -> VehicleOut:
    """Change a current registration; an ended one is registered again instead."""
    vehicle = _vehicle(caller, vehicle_id)
    given = body.model_fields_set
    starts = _day(body.valid_from, end=False) if "valid_from" in given else vehicle.valid_from
    ends = _day(body.valid_until, end=True) if "valid_until" in given else vehicle.valid_until
    color = (body.color or "") if "color" in given else (vehicle.color or "")
    return vehicle_out(cars.change(vehicle, starts, ends, color, body.reason, caller.user))


@endpoint("POST", "/vehicles/<int:vehicle_id>/end", summary="End a car's registration now",
          scopes=STAFF, body=VehicleEnd, response=VehicleOut, errors=("ended", "too_long", "bad_text"))
def end_vehicle(caller: Caller, vehicle_id: int, body: VehicleEnd) -> VehicleOut:
    """End the registration: the row stays for history, the barrier no longer opens for it."""
    return vehicle_out(cars.end(_vehicle(caller, vehicle_id), caller.user, body.reason))
