"""The blocklist and the leadership/VIP list of plates (SPEC §2.4, seed §十四)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import User, VehicleListEntry
from gate.models.estate import VEHICLE_LISTS
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction
from gate.services.visitors import clean_text


def match(site_id: int, which: str, plate: str, at: datetime) -> VehicleListEntry | None:
    """The current entry of a list for this plate at this moment, or None."""
    return db.session.scalars(select(VehicleListEntry).where(
        VehicleListEntry.site_id == site_id, VehicleListEntry.list == which,
        VehicleListEntry.plate == plate, VehicleListEntry.removed_at.is_(None),
        or_(VehicleListEntry.valid_from.is_(None), VehicleListEntry.valid_from <= at),
        or_(VehicleListEntry.valid_until.is_(None), VehicleListEntry.valid_until > at))).first()


def _checked(site_id: int, which: str, plate: str, reason: str, valid_from: datetime | None,
             valid_until: datetime | None) -> tuple[str, str]:
    """The normalised plate and reason of a new entry, or ActionError saying what is wrong."""
    if which not in VEHICLE_LISTS:
        raise ActionError("bad_list", _("Choose the blocklist or the VIP list."))
    try:
        clean = normalize_plate(plate)
    except ValueError:
        raise ActionError("bad_plate", _("That is not a valid plate (e.g. 粤B12345). Check it or "
                                         "leave it empty.")) from None
    why = clean_text(reason, 200, fold=False)
    if not why:
        raise ActionError("reason_required", _("Say why the plate is on the list."))
    if valid_from and valid_until and valid_until <= valid_from:
        raise ActionError("bad_window", _("The end must come after the start."))
    if match(site_id, which, clean, utcnow()) is not None:
        raise ActionError("already_listed", _("This plate is already on that list."))
    return clean, why


def _entry(actor: User, which: str, plate: str, reason: str, color: str,
           valid_from: datetime | None, valid_until: datetime | None) -> VehicleListEntry:
    entry = VehicleListEntry(site_id=actor.site_id, list=which, plate=plate,
                             color=clean_text(color, 20) or None, valid_from=valid_from,
                             valid_until=valid_until, reason=reason, added_by=actor.id,
                             added_at=utcnow())
    db.session.add(entry)
    return entry


def add(actor: User, which: str, plate: str, reason: str, *, color: str = "",
        valid_from: datetime | None = None, valid_until: datetime | None = None) -> VehicleListEntry:
    """Put a plate on the blocklist or the VIP list, with why; one transaction with its entry."""
    clean, why = _checked(actor.site_id, which, plate, reason, valid_from, valid_until)
    with transaction():
        entry = _entry(actor, which, clean, why, color, valid_from, valid_until)
        db.session.flush()
        shiftbook.append("vehicle_list.added", {"entry_id": entry.id, "list": which},
                         actor_id=actor.id)
    return entry


MAX_IMPORT_ROWS = 2000


@dataclass(frozen=True)
class ImportRow:
    """One line of an uploaded list: `line` is its line number in the file, for messages."""

    line: int
    which: str
    plate: str
    reason: str
    color: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class ImportRefused(ActionError):
    """An upload with bad rows: `problems` holds (line number, message) for each; nothing added."""

    def __init__(self, problems: list[tuple[int, str]]):
        super().__init__("bad_rows", _("Nothing was imported: fix the rows below and upload again."))
        self.problems = problems


def check_rows(actor: User, rows: Sequence[ImportRow]) -> list[tuple[int, str]]:
    """What is wrong with each row, as add() would say, plus a plate listed twice in the file."""
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        try:
            clean, _why = _checked(actor.site_id, row.which, row.plate, row.reason, row.valid_from,
                                   row.valid_until)
        except ActionError as exc:
            problems.append((row.line, exc.message))
            continue
        if (row.which, clean) in seen:
            problems.append((row.line, str(_("The same plate is on line %(line)s for that list.",
                                             line=seen[(row.which, clean)]))))
        seen.setdefault((row.which, clean), row.line)
    return problems


def import_rows(actor: User, rows: Sequence[ImportRow]) -> int:
    """Add every row in one transaction with one shift-book entry, or none if any row is bad."""
    if len(rows) > MAX_IMPORT_ROWS:
        raise ActionError("too_many_rows", _("A file may hold at most %(n)s rows.", n=MAX_IMPORT_ROWS))
    if not rows:
        raise ActionError("no_rows", _("The file has no rows under the header."))
    problems = check_rows(actor, rows)
    if problems:
        raise ImportRefused(problems)
    counts = dict.fromkeys(VEHICLE_LISTS, 0)
    with transaction():
        for row in rows:
            _entry(actor, row.which, normalize_plate(row.plate), clean_text(row.reason, 200, fold=False),
                   row.color, row.valid_from, row.valid_until)
            counts[row.which] += 1
        shiftbook.append("vehicle_list.imported", {"count": len(rows), "lists": counts},
                         actor_id=actor.id)
    return len(rows)


def remove(actor: User, entry: VehicleListEntry) -> VehicleListEntry:
    """Take a plate off its list; the row stays with who removed it and when."""
    if entry.removed_at is not None:
        raise ActionError("already_removed", _("This entry was already removed."))
    with transaction():
        entry.removed_at, entry.removed_by = utcnow(), actor.id
        shiftbook.append("vehicle_list.removed", {"entry_id": entry.id, "list": entry.list},
                         actor_id=actor.id)
    return entry
