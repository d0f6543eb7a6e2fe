"""The blocklist and the leadership/VIP list of plates (SPEC §2.4, seed §十四)."""

from __future__ import annotations

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


def add(actor: User, which: str, plate: str, reason: str, *, color: str = "",
        valid_from: datetime | None = None, valid_until: datetime | None = None) -> VehicleListEntry:
    """Put a plate on the blocklist or the VIP list, with why; one transaction with its entry."""
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
    if match(actor.site_id, which, clean, utcnow()) is not None:
        raise ActionError("already_listed", _("This plate is already on that list."))
    with transaction():
        entry = VehicleListEntry(site_id=actor.site_id, list=which, plate=clean,
                                 color=clean_text(color, 20) or None, valid_from=valid_from,
                                 valid_until=valid_until, reason=why, added_by=actor.id,
                                 added_at=utcnow())
        db.session.add(entry)
        db.session.flush()
        shiftbook.append("vehicle_list.added", {"entry_id": entry.id, "list": which},
                         actor_id=actor.id)
    return entry


def remove(actor: User, entry: VehicleListEntry) -> VehicleListEntry:
    """Take a plate off its list; the row stays with who removed it and when."""
    if entry.removed_at is not None:
        raise ActionError("already_removed", _("This entry was already removed."))
    with transaction():
        entry.removed_at, entry.removed_by = utcnow(), actor.id
        shiftbook.append("vehicle_list.removed", {"entry_id": entry.id, "list": entry.list},
                         actor_id=actor.id)
    return entry
