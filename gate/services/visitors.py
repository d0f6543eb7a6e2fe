"""Who a visitor is: checked ID numbers, masked and hashed, returning visitors, the watchlist."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.domain.idcard import mask_id, parse_resident_id
from gate.domain.plates import normalize_plate
from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models import Visitor, WatchlistEntry
from gate.models.types import utcnow
from gate.services import ActionError
from gate.services.privacy import document_hash

ID_TYPES = ("resident_id", "passport", "other")
MAX_NAME = 40

# parse_resident_id's English reasons → what the guard reads, saying which check failed.
_ID_REASONS = (
    ("18 characters", _("The ID number must have 18 characters. Check it and type it again.")),
    ("17 digits", _("The ID number may only hold digits, with X at the end. Check it again.")),
    ("region", _("The ID number's first six digits are not a real region. Check it again.")),
    ("birth date", _("The ID number's birth date is impossible. Check digits 7 to 14.")),
    ("check character", _("The ID number's last character does not match (a digit is mistyped). "
                          "Check it again.")),
)


@dataclass(frozen=True)
class Identity:
    """A checked identity: never the clear number, only its masked form and keyed hash."""

    name: str
    phone: str | None
    id_type: str | None
    id_masked: str | None
    id_hash: str | None


def clean_text(value: str | None, limit: int, *, fold: bool = True) -> str:
    """Trim, refuse control characters and over-long text; `fold` turns full-width into ASCII.

    Fold names and numbers (a guard types "１２３" as often as "123"), not free text: folding
    would turn Chinese punctuation such as ，：（） into ASCII in a guard's account.
    """
    text = (unicodedata.normalize("NFKC", value or "") if fold else (value or "")).strip()
    if len(text) > limit:
        raise ActionError("too_long", _("A field is too long (at most %(n)d characters).", n=limit))
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise ActionError("bad_text", _("A field contains characters that cannot be stored."))
    return text


def check_identity(name: str, id_type: str | None, id_text: str | None,
                   phone: str | None = None) -> Identity:
    """Validate what the guard typed or the reader sent; ActionError says what to fix."""
    name = clean_text(name, MAX_NAME)
    if not name:
        raise ActionError("name_required", _("Enter the visitor's name."))
    clean_phone = None
    if phone and phone.strip():
        try:
            clean_phone = normalize_phone(phone)
        except ValueError:
            raise ActionError("bad_phone",
                              _("The phone number must be an 11-digit mobile number.")) from None
    number = clean_text(id_text, 40).replace(" ", "")
    if not number:
        return Identity(name, clean_phone, None, None, None)
    if id_type not in ID_TYPES:
        raise ActionError("bad_id_type", _("Choose the kind of document."))
    if id_type == "resident_id":
        try:
            number = parse_resident_id(number)
        except ValueError as exc:
            reason = str(exc)
            for needle, message in _ID_REASONS:
                if needle in reason:
                    raise ActionError("bad_id", message) from None
            raise ActionError("bad_id", _("The ID number is not valid. Check it again.")) from None
    else:
        number = number.upper()
    return Identity(name, clean_phone, id_type, mask_id(number), document_hash(id_type, number))


def returning(site_id: int, identity: Identity) -> Visitor | None:
    """The visitor seen before with this ID (keyed hash), if any."""
    if identity.id_hash is None:
        return None
    return db.session.scalars(select(Visitor).where(Visitor.site_id == site_id,
                                                    Visitor.id_hash == identity.id_hash)).first()


def visitor_for(site_id: int, identity: Identity) -> Visitor:
    """Find the returning visitor (updating name/phone) or add a new one; inside a transaction."""
    visitor = returning(site_id, identity)
    if visitor is None:
        visitor = Visitor(site_id=site_id, name=identity.name, phone=identity.phone,
                          id_type=identity.id_type, id_masked=identity.id_masked,
                          id_hash=identity.id_hash)
        db.session.add(visitor)
    else:
        visitor.name = identity.name
        visitor.phone = identity.phone or visitor.phone
    visitor.last_visit_at = utcnow()
    db.session.flush()
    return visitor


def _name_phone_key(name: str, phone: str) -> str:
    return f"{unicodedata.normalize('NFKC', name).strip().lower()}|{phone}"


def watchlist_hit(site_id: int, identity: Identity, plate: str | None,
                  now: datetime | None = None) -> WatchlistEntry | None:
    """The active watchlist entry matching this ID hash, name + phone, or plate, if any."""
    now = now or utcnow()
    keys = []
    if identity.id_hash:
        keys.append(("id", identity.id_hash))
    if identity.phone:
        keys.append(("name_phone", _name_phone_key(identity.name, identity.phone)))
    if plate:
        keys.append(("plate", plate))
    if not keys:
        return None
    return db.session.scalars(select(WatchlistEntry).where(
        WatchlistEntry.site_id == site_id, WatchlistEntry.removed_at.is_(None),
        or_(WatchlistEntry.expires_at.is_(None), WatchlistEntry.expires_at > now),
        or_(*[(WatchlistEntry.kind == k) & (WatchlistEntry.value == v) for k, v in keys]))).first()


def watchlist_key(kind: str, *, identity: Identity | None = None,
                  plate: str | None = None) -> tuple[str, str]:
    """(value, display) stored for a watchlist entry of this kind; ActionError if incomplete."""
    if kind == "id" and identity and identity.id_hash:
        return identity.id_hash, identity.id_masked or ""
    if kind == "name_phone" and identity and identity.phone:
        masked = f"{identity.name} {identity.phone[:3]}****{identity.phone[-4:]}"
        return _name_phone_key(identity.name, identity.phone), masked
    if kind == "plate" and plate:
        try:
            clean = normalize_plate(plate)
        except ValueError:
            raise ActionError("bad_plate", _("The plate is not a valid Chinese plate.")) from None
        return clean, clean
    raise ActionError("watchlist_incomplete", _("Give an ID number, a name with a phone, or a plate."))
