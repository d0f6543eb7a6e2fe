"""Entries guards write during a shift: phone calls (5W1H), inspections, complaints, patrols, notes."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.domain.chain import record_digest
from gate.extensions import db
from gate.models import FollowUp, JournalRecord, Shift, Unit, User
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, sites, transaction

# kind -> (required fields, optional fields). 5W1H: when, who, where, what, why, how.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "phone_call": (("who", "what"), ("when", "where", "why", "how", "pass_on_to", "due_minutes")),
    "inspection": (("unit", "purpose", "outcome"), ()),
    "complaint": (("topic", "summary"), ("unit", "forwarded")),
    "patrol": (("area",), ("findings",)),
    "note": (("text",), ()),
}
LABELS = {
    "phone_call": _("Phone call"),
    "inspection": _("Unit inspection visit"),
    "complaint": _("Complaint or enquiry"),
    "patrol": _("Patrol round"),
    "note": _("Note"),
}
MAX_FIELD = 1000


def _clean(kind: str, raw: dict[str, str]) -> dict[str, str]:
    if kind not in KINDS:
        raise ActionError("unknown_kind", _("Choose what kind of entry to write."))
    required, optional = KINDS[kind]
    fields = {k: (raw.get(k) or "").strip() for k in required + optional}
    missing = [k for k in required if not fields[k]]
    if missing:
        raise ActionError("missing_fields", _("Fill in the marked fields before saving."))
    if any(len(v) > MAX_FIELD for v in fields.values()):
        raise ActionError("too_long", _("A field is too long; keep each under 1000 characters."))
    return {k: v for k, v in fields.items() if v}


def _unit(site_id: int, code: str | None) -> Unit | None:
    return sites.unit_by_code(site_id, code) if code else None

def write(author: User, shift: Shift | None, kind: str, raw: dict[str, str]) -> JournalRecord:
    """Save one guard-written entry; complaints forwarded and messages to pass on stay open."""
    fields = _clean(kind, raw)
    unit = _unit(author.site_id, fields.get("unit"))
    due = None
    if "due_minutes" in fields:
        try:
            minutes = int(fields["due_minutes"])
        except ValueError:
            raise ActionError("bad_due", _("Enter the promised time in whole minutes.")) from None
        if not 0 < minutes <= 7 * 24 * 60:
            raise ActionError("bad_due", _("Enter the promised time in whole minutes."))
        due = utcnow() + timedelta(minutes=minutes)
    with transaction():
        record = JournalRecord(site_id=author.site_id, shift_id=shift.id if shift else None,
                               author_id=author.id, kind=kind, unit_id=unit.id if unit else None,
                               fields=fields, created_at=utcnow())
        db.session.add(record)
        db.session.flush()
        follow = _follow_up_for(kind, fields, record, shift, due)
        entry = shiftbook.append(f"journal.{kind}", {
            "record_id": record.id, "digest": record_digest(fields),
            "unit_id": record.unit_id, "follow_up_id": follow.id if follow else None,
        }, actor_id=author.id, post_id=shift.post_id if shift else None,
            shift_id=shift.id if shift else None)
        record.seq = entry.seq
    return record


def _follow_up_for(kind: str, fields: dict[str, str], record: JournalRecord,
                   shift: Shift | None, due: datetime | None) -> FollowUp | None:
    if kind == "phone_call" and fields.get("pass_on_to"):
        title = gettext("Pass on message to %(to)s: %(what)s", to=fields["pass_on_to"],
                        what=fields["what"][:60])
    elif kind == "complaint" and fields.get("forwarded"):
        title = gettext("Awaiting service centre: %(topic)s", topic=fields["topic"][:60])
    else:
        return None
    follow = FollowUp(site_id=record.site_id, post_id=shift.post_id if shift else None,
                      record_id=record.id, title=title, due_at=due)
    db.session.add(follow)
    db.session.flush()
    return follow


def close_follow_up(user: User, follow_id: int, outcome: str) -> FollowUp:
    """Mark a promise kept (or dropped) with what happened; referenced to the original entry."""
    follow = db.session.get(FollowUp, follow_id)
    if follow is None or follow.site_id != user.site_id:
        raise ActionError("not_found", _("That open item no longer exists."))
    if follow.closed_at is not None:
        raise ActionError("already_closed", _("That item was already closed."))
    outcome = (outcome or "").strip()
    if not outcome:
        raise ActionError("missing_fields", _("Write what was done before closing the item."))
    record = db.session.get(JournalRecord, follow.record_id) if follow.record_id else None
    with transaction():
        follow.closed_at = utcnow()
        follow.outcome = outcome
        entry = shiftbook.append("follow_up.closed", {
            "follow_up_id": follow.id, "outcome_digest": record_digest({"outcome": outcome}),
            "late": bool(follow.due_at and follow.due_at < follow.closed_at)},
            actor_id=user.id, ref_seq=record.seq if record else None)
        follow.closed_seq = entry.seq
    return follow


def recent(site_id: int, shift_id: int | None, limit: int = 20) -> list[JournalRecord]:
    """The latest records of a shift (or the site), newest first."""
    stmt = select(JournalRecord).where(JournalRecord.site_id == site_id)
    if shift_id is not None:
        stmt = stmt.where(JournalRecord.shift_id == shift_id)
    return list(db.session.scalars(stmt.order_by(JournalRecord.id.desc()).limit(limit)))


def open_follow_ups(site_id: int, post_id: int | None, *, site_wide: bool = False) -> list[FollowUp]:
    """Promises still open at this post (and unassigned ones), or at every post; soonest due first."""
    stmt = select(FollowUp).where(FollowUp.site_id == site_id, FollowUp.closed_at.is_(None))
    if not site_wide:
        stmt = stmt.where(or_(FollowUp.post_id == post_id, FollowUp.post_id.is_(None)))
    return list(db.session.scalars(stmt.order_by(FollowUp.due_at, FollowUp.id)))


def note_with_entry(user: User, kind: str, text: str, at, **data) -> JournalRecord:
    """Inside the caller's transaction: keep `text` as a note outside the chain (retention can
    erase it) and append entry `kind` carrying the note's id and digest plus `data`."""
    fields = {"text": text}
    record = JournalRecord(site_id=user.site_id, shift_id=None, author_id=user.id, kind="note",
                           fields=fields, created_at=at)
    db.session.add(record)
    db.session.flush()
    record.seq = shiftbook.append(kind, {**data, "record_id": record.id,
                                         "digest": record_digest(fields)}, actor_id=user.id).seq
    return record
