"""The watchlist (SPEC §2.1): people or cars not to be admitted, with who/why/when.

An ID number never reaches this module in clear: the caller passes the checked Identity
(`visitors.check_identity`), and only its keyed hash and masked form are stored.
Reasons and removal reasons are free text that may name people, so the shift book gets
their digest; the text itself stays in a record that retention can erase.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.domain.chain import record_digest
from gate.extensions import db
from gate.models import User, WatchlistEntry
from gate.models.types import utcnow
from gate.services import ActionError, journal, shiftbook, transaction, visitors
from gate.services.visitors import Identity

KINDS = ("id", "name_phone", "plate")
MAX_REASON = 200


def _free_text(value: str | None, limit: int) -> str:
    """Free text kept as typed (no full-width folding), checked like every other field."""
    return visitors.clean_text(value, limit, fold=False)

def parse_expiry(text: str | None) -> datetime | None:
    """An optional expiry date (YYYY-MM-DD, site time zone): the entry holds through that whole day."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ActionError("bad_expiry", _("Write the expiry date as year-month-day, e.g. 2030-12-31, "
                                          "or leave it empty.")) from None
    zone = ZoneInfo(current_app.config["GATE_TIMEZONE"])
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def _active(site_id: int, now: datetime | None = None):
    now = now or utcnow()
    return select(WatchlistEntry).where(
        WatchlistEntry.site_id == site_id, WatchlistEntry.removed_at.is_(None),
        or_(WatchlistEntry.expires_at.is_(None), WatchlistEntry.expires_at > now))


def active(site_id: int, now: datetime | None = None) -> list[WatchlistEntry]:
    """Entries that still match at the gate, newest first."""
    return list(db.session.scalars(_active(site_id, now).order_by(WatchlistEntry.added_at.desc(),
                                                                  WatchlistEntry.id.desc())))


def _reason(text: str | None, missing: object) -> str:
    reason = _free_text(text, MAX_REASON)
    if not reason:
        raise ActionError("reason_required", missing)
    return reason


def add(user: User, kind: str, reason: str, *, identity: Identity | None = None,
        plate: str | None = None, expires_at: datetime | None = None) -> WatchlistEntry:
    """Put a person (by ID, or name + phone) or a plate on the watchlist; one transaction."""
    if kind not in KINDS:
        raise ActionError("bad_kind", _("Choose what to list: an ID number, a name with a phone, "
                                        "or a plate."))
    if kind == "id" and (identity is None or identity.id_hash is None):
        raise ActionError("id_required", _("Enter the ID number and choose the kind of document."))
    if kind == "name_phone" and (identity is None or not identity.phone):
        raise ActionError("phone_required", _("Enter both the name and the 11-digit mobile number."))
    if kind == "plate" and not (plate or "").strip():
        raise ActionError("plate_required", _("Enter the plate number."))
    value, display = visitors.watchlist_key(kind, identity=identity, plate=plate)
    text = _reason(reason, _("Write why this entry is on the watchlist."))
    if expires_at is not None and expires_at <= utcnow():
        raise ActionError("expiry_past", _("The expiry date has already passed. Choose a later date, or "
                                           "leave it empty for no expiry."))
    clash = db.session.scalars(_active(user.site_id).where(WatchlistEntry.kind == kind,
                                                           WatchlistEntry.value == value)).first()
    if clash is not None:
        raise ActionError("duplicate", _("%(who)s is already on the watchlist.", who=clash.display))
    with transaction():
        entry = WatchlistEntry(site_id=user.site_id, kind=kind, value=value, display=display,
                               reason=text, added_by=user.id, added_at=utcnow(), expires_at=expires_at)
        db.session.add(entry)
        db.session.flush()
        shiftbook.append("watchlist.added", {
            "watchlist_id": entry.id, "kind": kind, "reason_digest": record_digest({"reason": text}),
            "expires_at": shiftbook.rfc3339(expires_at) if expires_at else None}, actor_id=user.id)
    return entry


def get(site_id: int, entry_id: int) -> WatchlistEntry:
    """An entry of this site, or ActionError not_found."""
    entry = db.session.get(WatchlistEntry, entry_id)
    if entry is None or entry.site_id != site_id:
        raise ActionError("not_found", _("That watchlist entry no longer exists."))
    return entry


def remove(user: User, entry_id: int, reason: str) -> WatchlistEntry:
    """Take an entry off the watchlist, saying why; the entry row stays for the record."""
    entry = get(user.site_id, entry_id)
    if entry.removed_at is not None:
        raise ActionError("already_removed", _("That entry was already removed."))
    text = _reason(reason, _("Write why the entry is removed."))
    with transaction():
        entry.removed_at = utcnow()
        # No column for the removal reason yet: it is a note outside the chain, digest in the entry.
        journal.note_with_entry(user, "watchlist.removed", text, entry.removed_at, watchlist_id=entry.id)
    return entry
