"""Vehicle violations guards record in the car park (seed §十二, SPEC §2.4), and their review.

Four types are built in, each with the rules' script; a supervisor may add more per site.
Shift-book entries hold ids and codes only: plates, places, notes and photos stay in the
violation rows (personal data is kept out of the chained payload).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import Role, Shift, User
from gate.models.parking import VIOLATION_STATES, Violation, ViolationPhoto, ViolationType
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction
from gate.services.visitors import clean_text

# code: (name, script). English source strings; the zh_CN catalogue holds the rules' wording.
BUILT_IN = {
    "driving": (_("Unsafe driving"),
                _("Sorry, for your safety, please drive according to the rules.")),
    "parking": (_("Illegal parking"),
                _("Sorry, no parking here; would you please park your car in a parking space.")),
    "loitering": (_("Loitering in the car park"),
                  _("Sorry, for your safety, please do not linger in the car park.")),
    "lock_reminder": (_("Lock reminder"),
                      _("Please lock your car and take your valuables with you; do not leave them "
                        "in the car.")),
}
PLATE_OPTIONAL = frozenset({"loitering"})  # 车场闲杂人员: a person, not a car
REPEAT_DAYS = 90
MAX_PHOTO_BYTES = 2 * 1024 * 1024
MAX_PHOTOS = 4
MAX_NOTE = 500
MAX_PLACE = 120
MAX_TYPE_NAME = 80
MAX_SCRIPT = 300
DECISIONS = ("confirmed", "dismissed")
REVIEWERS = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Kind:
    """A violation type as the kiosk shows it; built-in names and scripts are lazy translations."""

    code: str
    name: Any
    script: Any
    built_in: bool
    plate_required: bool
    type_id: int | None = None
    active: bool = True


def _builtin(code: str) -> Kind:
    name, script = BUILT_IN[code]
    return Kind(code, name, script, True, code not in PLATE_OPTIONAL)


def _custom(row: ViolationType) -> Kind:
    return Kind(row.code, row.name, row.script, False, True, row.id, row.active)


def types_for(site_id: int) -> list[Kind]:
    """The built-in types in the rules' order, then the site's active types by name."""
    rows = db.session.scalars(select(ViolationType).where(
        ViolationType.site_id == site_id, ViolationType.active.is_(True))
        .order_by(ViolationType.name, ViolationType.id))
    return [_builtin(code) for code in BUILT_IN] + [_custom(row) for row in rows]


def kind_of(site_id: int, code: str) -> Kind | None:
    """Any type of this site by code, retired ones included (for showing old records)."""
    if code in BUILT_IN:
        return _builtin(code)
    row = db.session.scalars(select(ViolationType).where(
        ViolationType.site_id == site_id, ViolationType.code == code)).first()
    return _custom(row) if row else None


def _reviewer(actor: User) -> None:
    if actor.role not in REVIEWERS:
        raise ActionError("not_allowed", _("Only a supervisor can do this."))


def add_type(supervisor: User, name: str, script: str) -> ViolationType:
    """A supervisor adds a site-defined type with the script the guard says."""
    _reviewer(supervisor)
    name = clean_text(name, MAX_TYPE_NAME, fold=False)
    script = clean_text(script, MAX_SCRIPT, fold=False)
    if not name or not script:
        raise ActionError("type_incomplete", _("Give the type a name and the script the guard says."))
    taken = {str(k.name).casefold() for k in types_for(supervisor.site_id)}
    if name.casefold() in taken:
        raise ActionError("type_exists", _("A type with this name already exists."))
    with transaction():
        row = ViolationType(site_id=supervisor.site_id, code=f"site-{secrets.token_hex(4)}", name=name,
                            script=script, active=True, created_by=supervisor.id, created_at=utcnow())
        db.session.add(row)
        db.session.flush()
        shiftbook.append("violation_type.added", {"type_id": row.id, "code": row.code},
                         actor_id=supervisor.id)
    return row


def retire_type(supervisor: User, type_id: int) -> ViolationType:
    """Stop offering a site-defined type; violations already recorded keep it."""
    _reviewer(supervisor)
    row = db.session.get(ViolationType, type_id)
    if row is None or row.site_id != supervisor.site_id:
        raise ActionError("not_found", _("That violation type no longer exists."))
    if not row.active:
        raise ActionError("already_retired", _("This type was already retired."))
    with transaction():
        row.active = False
        shiftbook.append("violation_type.retired", {"type_id": row.id, "code": row.code},
                         actor_id=supervisor.id)
    return row


def clean_plate(plate: str | None) -> str | None:
    """The normalised plate, None when empty; ActionError bad_plate when it is not a plate."""
    if not plate or not plate.strip():
        return None
    try:
        return normalize_plate(plate)
    except ValueError:
        raise ActionError("bad_plate", _("That is not a valid plate (e.g. 粤B12345). Check it.")) from None


def photo_mime(data: bytes) -> str:
    """image/jpeg or image/png by the file's first bytes; ActionError for anything else or too big."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ActionError("photo_too_big", _("The photo is larger than 2 MB. Take it again at a lower "
                                             "resolution."))
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    raise ActionError("not_a_photo", _("Only JPEG or PNG photos can be attached."))


def is_photo(data: bytes) -> bool:
    """True for a JPEG or PNG the size limit allows (what photo_mime accepts)."""
    try:
        photo_mime(data)
    except ActionError:
        return False
    return True


def _source(source: str) -> str:
    if source == "upload" or (source.startswith("camera:") and 7 < len(source) <= 60):
        return source
    raise ValueError(f"bad photo source {source!r}")


def _add_photo(violation: Violation, data: bytes, mime: str, source: str) -> ViolationPhoto:
    photo = ViolationPhoto(violation=violation, source=source, mime=mime, data=data, taken_at=utcnow())
    db.session.add(photo)
    return photo


def record(site_id: int, guard: User, type_code: str, plate: str | None, place: str, note: str = "",
           occurred_at: datetime | None = None, photos: Sequence[tuple[bytes, str]] = (),
           shift: Shift | None = None) -> Violation:
    """Record a violation (photos as (bytes, source) pairs); all of it is checked before writing."""
    kind = kind_of(site_id, type_code)
    if kind is None or not kind.active:
        raise ActionError("bad_type", _("Choose the type of violation."))
    clean = clean_plate(plate)
    if clean is None and kind.plate_required:
        raise ActionError("plate_required", _("Enter the car's plate (e.g. 粤B12345)."))
    where = clean_text(place, MAX_PLACE, fold=False)
    if not where:
        raise ActionError("place_required", _("Say where it happened (e.g. B2 car park, space 36)."))
    text = clean_text((note or "").replace("\r\n", " ").replace("\n", " "), MAX_NOTE, fold=False)
    if len(photos) > MAX_PHOTOS:
        raise ActionError("too_many_photos", _("Attach at most %(n)s photos.", n=MAX_PHOTOS))
    checked = [(data, photo_mime(data), _source(source)) for data, source in photos]
    at = occurred_at or utcnow()
    if at > utcnow() + timedelta(minutes=5):
        raise ActionError("in_future", _("The time cannot be in the future."))
    with transaction():
        violation = Violation(site_id=site_id, type_code=kind.code, plate=clean, place=where,
                              occurred_at=at, note=text or None, recorded_by=guard.id,
                              shift_id=shift.id if shift else None, state="open")
        db.session.add(violation)
        for data, mime, source in checked:
            _add_photo(violation, data, mime, source)
        db.session.flush()
        shiftbook.append("violation.recorded", {"violation_id": violation.id, "type": kind.code,
                                                "photos": len(checked)},
                         actor_id=guard.id, shift_id=violation.shift_id)
    return violation


def attach_photo(violation: Violation, data: bytes, mime: str | None, source: str,
                 actor: User | None = None) -> ViolationPhoto:
    """Add one JPEG/PNG (checked by its bytes, ≤ 2 MB; the claimed `mime` is not trusted)."""
    del mime  # browsers and cameras label files loosely: the first bytes decide
    found = photo_mime(data)
    if len(violation.photos) >= MAX_PHOTOS:
        raise ActionError("too_many_photos", _("Attach at most %(n)s photos.", n=MAX_PHOTOS))
    with transaction():
        photo = _add_photo(violation, data, found, _source(source))
        db.session.flush()
        shiftbook.append("violation.photo_added", {"violation_id": violation.id, "photo_id": photo.id,
                                                   "source": photo.source},
                         actor_id=actor.id if actor else None)
    return photo


def repeat_count(site_id: int, plate: str, at: datetime | None = None, days: int = REPEAT_DAYS,
                 exclude_id: int | None = None) -> int:
    """Violations (not dismissed) of this plate at this site in the `days` before `at`."""
    clean = clean_plate(plate)
    if clean is None:
        return 0
    at = at or utcnow()
    query = select(func.count()).select_from(Violation).where(
        Violation.site_id == site_id, Violation.plate == clean, Violation.state != "dismissed",
        Violation.occurred_at > at - timedelta(days=days), Violation.occurred_at <= at)
    if exclude_id is not None:
        query = query.where(Violation.id != exclude_id)
    return db.session.scalar(query) or 0


def review(violation: Violation, supervisor: User, decision: str, note: str = "") -> Violation:
    """A supervisor confirms or dismisses an open violation; dismissing needs a reason."""
    _reviewer(supervisor)
    if violation.site_id != supervisor.site_id:
        raise ActionError("not_found", _("That violation no longer exists."))
    if decision not in DECISIONS:
        raise ActionError("bad_decision", _("Choose confirm or dismiss."))
    if violation.state != "open":
        raise ActionError("already_reviewed", _("This violation was already reviewed."))
    text = clean_text((note or "").replace("\r\n", " ").replace("\n", " "), MAX_NOTE, fold=False)
    if decision == "dismissed" and not text:
        raise ActionError("reason_required", _("Say why the violation is dismissed."))
    with transaction():
        violation.state, violation.reviewed_by, violation.reviewed_at = decision, supervisor.id, utcnow()
        violation.review_note = text or None
        shiftbook.append("violation.reviewed", {"violation_id": violation.id, "decision": decision},
                         actor_id=supervisor.id)
    return violation


def get(site_id: int, violation_id: int) -> Violation:
    """A violation of this site, or ActionError not_found."""
    violation = db.session.get(Violation, violation_id)
    if violation is None or violation.site_id != site_id:
        raise ActionError("not_found", _("That violation no longer exists."))
    return violation


def photo_of(site_id: int, photo_id: int) -> ViolationPhoto:
    """A photo of a violation of this site, or ActionError not_found."""
    photo = db.session.get(ViolationPhoto, photo_id)
    if photo is None or photo.violation.site_id != site_id:
        raise ActionError("not_found", _("That photo no longer exists."))
    return photo


def search(site_id: int, *, state: str = "", type_code: str = "", plate: str = "",
           since: datetime | None = None, until: datetime | None = None,
           limit: int = 500) -> list[Violation]:
    """Violations of this site matching every filter given, newest first."""
    query = select(Violation).where(Violation.site_id == site_id)
    if state in VIOLATION_STATES:
        query = query.where(Violation.state == state)
    if type_code:
        query = query.where(Violation.type_code == type_code)
    if plate and plate.strip():
        query = query.where(Violation.plate == clean_plate(plate))
    if since is not None:
        query = query.where(Violation.occurred_at >= since)
    if until is not None:
        query = query.where(Violation.occurred_at < until)
    return list(db.session.scalars(query.order_by(Violation.occurred_at.desc(), Violation.id.desc())
                                   .limit(limit)))


def counts_by_type(site_id: int, days: int = 30, at: datetime | None = None) -> dict[str, int]:
    """Violations (not dismissed) per type code in the last `days` days."""
    at = at or utcnow()
    rows = db.session.execute(select(Violation.type_code, func.count()).where(
        Violation.site_id == site_id, Violation.state != "dismissed",
        Violation.occurred_at > at - timedelta(days=days), Violation.occurred_at <= at)
        .group_by(Violation.type_code)).all()
    return {code: count for code, count in rows}
