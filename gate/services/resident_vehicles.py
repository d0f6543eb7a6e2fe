"""Residents' registered cars (SPEC §2.4): the service desk adds, changes and ends them.

A car within its validity, of a resident who has not moved out, opens the barrier
(gate.services.vehicles). Rows are never deleted: ending a car sets valid_until to now, and a
plate registered again later takes its old row over (the plate is unique per site), so the
shift book keeps the whole story by vehicle id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from sqlalchemy import and_, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from gate.domain.plates import normalize_plate
from gate.domain.units import normalize_phone, normalize_unit_code
from gate.extensions import db
from gate.models import Resident, Unit, User, Vehicle
from gate.models.types import utcnow
from gate.services import ActionError, like, shiftbook, sites, transaction, vehicle_lists
from gate.services.visitors import clean_text

MAX_IMPORT_ROWS = 2000
MAX_REASON, MAX_COLOR = 200, 20
STATUSES = ("current", "ended", "all")


def plate_of(text: str) -> str:
    """The normalised plate, or one clear ActionError for anything that is not a plate."""
    try:
        return normalize_plate(text)
    except (ValueError, TypeError):
        raise ActionError("bad_plate", _("That is not a valid plate (e.g. 粤B12345). Check it and "
                                         "try again.")) from None


def is_current(vehicle: Vehicle, at: datetime | None = None) -> bool:
    """True while the registration has not ended (it may start later) and the owner lives here."""
    at = at or utcnow()
    return (vehicle.valid_until is None or vehicle.valid_until > at) and \
        vehicle.resident.moved_out_at is None


def _registered(site_id: int, plate: str) -> Vehicle | None:
    return db.session.scalars(select(Vehicle).where(Vehicle.site_id == site_id,
                                                    Vehicle.plate == plate)).first()


def _same_phone(stored: str | None, typed: str) -> bool:
    """A typed phone matches; a masked one from an export (138****0001) matches by its ends."""
    if not stored:
        return False
    if "*" in typed:
        head, tail = typed.split("*", 1)[0], typed.rsplit("*", 1)[-1]
        return len(head) + len(tail) >= 7 and stored.startswith(head) and stored.endswith(tail)
    try:
        return stored == normalize_phone(typed)
    except ValueError:
        return False


def pick_resident(unit: Unit, who: int | str | None) -> Resident:
    """The unit's resident by id, phone or name; empty means the owner (else the first) living there."""
    living = sorted((r for r in unit.residents if r.moved_out_at is None),
                    key=lambda r: (not r.is_owner, r.id))
    if who is None or (isinstance(who, str) and not who.strip()):
        if not living:
            raise ActionError("no_resident", _("Nobody lives in unit %(unit)s now: register the "
                                               "resident first.", unit=unit.code))
        return living[0]
    if isinstance(who, int):
        found = [r for r in unit.residents if r.id == who]
    else:
        text = who.strip()
        found = [r for r in unit.residents if _same_phone(r.phone, text) or r.name == text]
    if not found:
        raise ActionError("unknown_resident", _("No resident of unit %(unit)s has that phone or "
                                                "name.", unit=unit.code))
    resident = next((r for r in found if r.moved_out_at is None), found[0])
    if resident.moved_out_at is not None:
        raise ActionError("moved_out", _("That resident has moved out: a car cannot be registered "
                                         "to them."))
    return resident


def _window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from and valid_until and valid_until <= valid_from:
        raise ActionError("bad_window", _("The end must come after the start."))


@dataclass(frozen=True)
class Checked:
    """A row that passed every rule: the plate, the resident, and the row it takes over if any."""

    plate: str
    resident: Resident
    existing: Vehicle | None


def check(site_id: int, unit_code: str, who: int | str | None, plate: str,
          valid_from: datetime | None, valid_until: datetime | None, *,
          same_unit_ok: bool = False) -> Checked:
    """Every rule for registering a car; ActionError names the first one broken."""
    clean = plate_of(plate)
    unit = sites.unit_by_code(site_id, unit_code)
    resident = pick_resident(unit, who)
    _window(valid_from, valid_until)
    now = utcnow()
    if valid_until is not None and valid_until <= now:
        raise ActionError("already_over", _("The end date has already passed."))
    if vehicle_lists.match(site_id, "blocklist", clean, now) is not None:
        raise ActionError("blocklisted", _("This plate is on the blocklist. Ask the supervisor: "
                                           "only they can take it off."))
    existing = _registered(site_id, clean)
    if existing is not None and is_current(existing, now):
        if not (same_unit_ok and existing.resident.unit_id == unit.id):
            raise ActionError("plate_taken", _("This plate is already registered to unit %(unit)s. "
                                               "End it there first.",
                                               unit=existing.resident.unit.code))
    return Checked(clean, resident, existing)


def _write(actor: User, checked: Checked, color: str, valid_from: datetime | None,
           valid_until: datetime | None, reason: str) -> tuple[Vehicle, bool]:
    """Create the row, or take over the plate's ended row; True if registered anew (not updated)."""
    vehicle, now = checked.existing, utcnow()
    new = vehicle is None or not is_current(vehicle, now)
    if vehicle is None:
        vehicle = Vehicle(site_id=actor.site_id, plate=checked.plate, created_at=now)
        db.session.add(vehicle)
    else:
        vehicle.changed_by, vehicle.changed_at = actor.id, now
    if new:
        vehicle.added_by = actor.id
    vehicle.resident = checked.resident
    vehicle.valid_from, vehicle.valid_until = valid_from, valid_until
    vehicle.color = clean_text(color, MAX_COLOR) or None
    vehicle.reason = clean_text(reason, MAX_REASON, fold=False) or None
    db.session.flush()
    return vehicle, new


def _taken() -> ActionError:
    return ActionError("plate_taken", _("Someone registered this plate just now. Reload the page."))


def add(site_id: int, unit_code: str, resident: int | str | None, plate: str, color: str,
        valid_from: datetime | None, valid_until: datetime | None, reason: str,
        actor: User) -> Vehicle:
    """Register a resident's car, in one transaction with its shift-book entry."""
    clean_text(color, MAX_COLOR)
    clean_text(reason, MAX_REASON, fold=False)
    checked = check(site_id, unit_code, resident, plate, valid_from, valid_until)
    try:
        with transaction():
            vehicle, _new = _write(actor, checked, color, valid_from, valid_until, reason)
            shiftbook.append("resident_vehicle.added", {
                "vehicle_id": vehicle.id, "unit_id": checked.resident.unit_id}, actor_id=actor.id)
    except IntegrityError:
        raise _taken() from None
    return vehicle


def change(vehicle: Vehicle, valid_from: datetime | None, valid_until: datetime | None,
           color: str, reason: str, actor: User) -> Vehicle:
    """Change a current car's validity, colour or reason; an ended car is added again instead."""
    if not is_current(vehicle):
        raise ActionError("ended", _("This car's registration has ended. Add it again instead."))
    _window(valid_from, valid_until)
    color, why = clean_text(color, MAX_COLOR) or None, clean_text(reason, MAX_REASON, fold=False)
    with transaction():
        vehicle.valid_from, vehicle.valid_until, vehicle.color = valid_from, valid_until, color
        vehicle.reason = why or vehicle.reason
        vehicle.changed_by, vehicle.changed_at = actor.id, utcnow()
        shiftbook.append("resident_vehicle.changed", {
            "vehicle_id": vehicle.id, "unit_id": vehicle.resident.unit_id}, actor_id=actor.id)
    return vehicle


def end(vehicle: Vehicle, actor: User, reason: str = "") -> Vehicle:
    """End a car's registration now; the row stays for history and the barrier no longer opens."""
    if not is_current(vehicle):
        raise ActionError("ended", _("This car's registration has already ended."))
    why = clean_text(reason, MAX_REASON, fold=False)
    with transaction():
        now = utcnow()
        vehicle.valid_until = now
        if vehicle.valid_from is not None and vehicle.valid_from > now:
            vehicle.valid_from = now  # ended before it began: keep the window well-formed
        vehicle.reason = why or vehicle.reason
        vehicle.changed_by, vehicle.changed_at = actor.id, now
        shiftbook.append("resident_vehicle.ended", {
            "vehicle_id": vehicle.id, "unit_id": vehicle.resident.unit_id}, actor_id=actor.id)
    return vehicle


@dataclass(frozen=True)
class Filters:
    """What the desk searches for: part of a plate or the start of a unit number; which cars."""

    q: str = ""
    status: str = "current"


def _search_terms(q: str) -> tuple[str, str]:
    """(plate fragment, unit prefix) from what was typed: 粤b·123 and 1栋1单元 both work."""
    plate = "".join(c.upper() if c.isascii() else c for c in q if c.isalnum())
    unit = q.strip()
    try:
        unit = normalize_unit_code(unit)
    except ValueError:
        unit = unit.replace(" ", "-")
    return plate, unit


def list_for(site_id: int, filters: Filters, limit: int = 500) -> list[Vehicle]:
    """The site's cars matching the filters, newest first, with resident and unit loaded."""
    query = (select(Vehicle).join(Resident, Vehicle.resident_id == Resident.id)
             .join(Unit, Resident.unit_id == Unit.id).where(Vehicle.site_id == site_id)
             .options(joinedload(Vehicle.resident).joinedload(Resident.unit)))
    if filters.q.strip():
        plate, unit = _search_terms(filters.q)
        terms = [like.starts_with(Unit.code, unit)]
        if plate:
            terms.append(like.contains(Vehicle.plate, plate))
        query = query.where(or_(*terms))
    now = utcnow()
    live = and_(or_(Vehicle.valid_until.is_(None), Vehicle.valid_until > now),
                Resident.moved_out_at.is_(None))
    if filters.status == "current":
        query = query.where(live)
    elif filters.status == "ended":
        query = query.where(not_(live))
    return list(db.session.scalars(query.order_by(Unit.code, Vehicle.id).limit(limit)).unique())


@dataclass(frozen=True)
class ImportRow:
    """One line of an uploaded file: `line` is its line number, for messages."""

    line: int
    plate: str
    unit: str
    phone: str = ""
    color: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    reason: str = ""


class ImportRefused(ActionError):
    """An upload with bad rows: `problems` holds (line number, message) for each; nothing written."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__("bad_rows", _("Nothing was imported: fix the rows below and upload again."))
        self.problems = problems


def _check_row(site_id: int, row: ImportRow) -> Checked:
    clean_text(row.color, MAX_COLOR)
    clean_text(row.reason, MAX_REASON, fold=False)
    return check(site_id, row.unit, row.phone or None, row.plate, row.valid_from, row.valid_until,
                 same_unit_ok=True)


def check_rows(site_id: int, rows: Sequence[ImportRow]) -> list[tuple[int, str]]:
    """What is wrong with each row, as add() would say, plus a plate twice in the file."""
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            plate = _check_row(site_id, row).plate
        except ActionError as exc:
            problems.append((row.line, exc.message))
            continue
        if plate in seen:
            problems.append((row.line, str(_("The same plate is on line %(line)s.", line=seen[plate]))))
        seen.setdefault(plate, row.line)
    return problems


def import_rows(actor: User, rows: Sequence[ImportRow]) -> tuple[int, int]:
    """Add or update every row in one transaction with one shift-book entry, or nothing at all.

    A plate already current at the row's unit is updated (export, edit, import back);
    returns (added, changed).
    """
    if len(rows) > MAX_IMPORT_ROWS:
        raise ActionError("too_many_rows", _("A file may hold at most %(n)s rows.", n=MAX_IMPORT_ROWS))
    if not rows:
        raise ActionError("no_rows", _("The file has no rows under the header."))
    problems = check_rows(actor.site_id, rows)
    if problems:
        raise ImportRefused(problems)
    added, changed = [], []
    try:
        with transaction():
            for row in rows:
                vehicle, new = _write(actor, _check_row(actor.site_id, row), row.color,
                                      row.valid_from, row.valid_until, row.reason)
                (added if new else changed).append(vehicle.id)
            shiftbook.append("resident_vehicle.imported", {"added": added, "changed": changed},
                             actor_id=actor.id)
    except IntegrityError:
        raise _taken() from None
    return len(added), len(changed)


def _masked(phone: str | None) -> str:
    return phone[:3] + "****" + phone[-4:] if phone and len(phone) >= 8 else ""


def export_rows(vehicles: Sequence[Vehicle], zone: ZoneInfo) -> list[tuple[str, ...]]:
    """Rows in the import's column order: plate, unit, masked phone, colour, first and last day, reason."""
    def day(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d") if moment else ""

    return [(v.plate, v.resident.unit.code, _masked(v.resident.phone), v.color or "",
             day(v.valid_from),
             day(v.valid_until - timedelta(microseconds=1)) if v.valid_until else "",
             v.reason or "") for v in vehicles]
