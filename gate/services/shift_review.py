"""Supervisor review of a shift's daily activity report, and notes on its entries (SPEC §2.5–2.6).

A shift's report goes new → reviewed → approved. Each step is a new shift-book entry
(`shift.reviewed`, `shift.approved`) carrying the supervisor's comment; nothing a guard wrote
is ever changed. Notes and corrections are `shift.note` entries whose `ref_seq` names the
original entry. The state is derived from the book, never stored beside it.

The comment is the supervisor's own words about the shift (not personal data of visitors), so
it stays in the chained payload, capped at 500 characters.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Post, Role, Shift, ShiftBookEntry, ShiftBookHead, Site, User
from gate.services import ActionError, shiftbook, transaction
from gate.services.visitors import clean_text

REVIEWED, APPROVED, NOTE = "shift.reviewed", "shift.approved", "shift.note"
STATE_KINDS = {REVIEWED: "reviewed", APPROVED: "approved"}
REVIEW_KINDS = frozenset({REVIEWED, APPROVED, NOTE})
STATES = ("new", "reviewed", "approved")
# state now -> (state next, entry kind)
NEXT = {"new": ("reviewed", REVIEWED), "reviewed": ("approved", APPROVED)}
MAX_COMMENT = 500
REVIEWERS = (Role.SUPERVISOR, Role.ADMIN)


def data_of(entry: ShiftBookEntry) -> dict:
    """An entry's payload as a dict (stored as canonical JSON text)."""
    try:
        value = json.loads(entry.data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _reviewer(user: User) -> None:
    if user is None or user.role not in REVIEWERS:
        raise ActionError("forbidden", _("Only a supervisor can review shifts or add notes."))


def _site_code(site_id: int) -> str:
    site = db.session.get(Site, site_id)
    return site.code if site else ""


def get_shift(site_id: int, shift_id: int) -> Shift:
    """A shift at one of this site's posts, or ActionError not_found."""
    shift = db.session.get(Shift, shift_id)
    post = db.session.get(Post, shift.post_id) if shift else None
    if shift is None or post is None or post.site_id != site_id:
        raise ActionError("not_found", _("That shift does not exist."))
    return shift


def _comment(text: str | None) -> str:
    """One-line text, at most MAX_COMMENT characters."""
    flat = " ".join((text or "").replace("\r", " ").replace("\n", " ").split())
    if len(flat) > MAX_COMMENT:
        raise ActionError("too_long", _("Keep the comment to %(n)d characters or fewer.", n=MAX_COMMENT))
    return clean_text(flat, MAX_COMMENT, fold=False)


def _state_entries(shift_id: int) -> list[ShiftBookEntry]:
    return list(db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.shift_id == shift_id, ShiftBookEntry.kind.in_(tuple(STATE_KINDS)))
        .order_by(ShiftBookEntry.seq)))


def history(shift: Shift) -> list[ShiftBookEntry]:
    """The review transitions of a shift, oldest first."""
    return _state_entries(shift.id)


def state_of(shift: Shift) -> str:
    """new, reviewed or approved: the last transition written for this shift."""
    rows = _state_entries(shift.id)
    return STATE_KINDS[rows[-1].kind] if rows else "new"


def states(shift_ids: Iterable[int]) -> dict[int, str]:
    """The review state of many shifts in one query (for lists); unknown ids are "new"."""
    ids = list(shift_ids)
    result = dict.fromkeys(ids, "new")
    if not ids:
        return result
    rows = db.session.execute(select(ShiftBookEntry.shift_id, ShiftBookEntry.kind).where(
        ShiftBookEntry.shift_id.in_(ids), ShiftBookEntry.kind.in_(tuple(STATE_KINDS)))
        .order_by(ShiftBookEntry.seq))
    for shift_id, kind in rows:
        result[shift_id] = STATE_KINDS[kind]
    return result


def entry_counts(shift_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Per shift: (entries the shift wrote, supervisor notes on it)."""
    ids = list(shift_ids)
    if not ids:
        return {}
    result = {i: (0, 0) for i in ids}
    rows = db.session.execute(select(ShiftBookEntry.shift_id, ShiftBookEntry.kind, func.count())
                              .where(ShiftBookEntry.shift_id.in_(ids),
                                     ShiftBookEntry.kind.not_in(tuple(STATE_KINDS)))
                              .group_by(ShiftBookEntry.shift_id, ShiftBookEntry.kind))
    for shift_id, kind, n in rows:
        own, notes = result[shift_id]
        result[shift_id] = (own, notes + n) if kind == NOTE else (own + n, notes)
    return result


def _lock_book(site: str) -> None:
    """Queue behind other writers before reading the state (PostgreSQL row lock)."""
    db.session.execute(select(ShiftBookHead.seq).where(ShiftBookHead.site == site).with_for_update())


def advance(shift: Shift, supervisor: User, to: str, comment: str = "") -> ShiftBookEntry:
    """Move a handed-over shift one step (new → reviewed → approved) with the supervisor's comment.

    Reviewing needs a comment; approving may add one. One transaction, one new entry.
    """
    _reviewer(supervisor)
    shift = get_shift(supervisor.site_id, shift.id)
    if shift.is_open:
        raise ActionError("shift_open", _("This shift is still running. Review it after the handover."))
    if to not in ("reviewed", "approved"):
        raise ActionError("bad_state", _("Choose reviewed or approved."))
    text = _comment(comment)
    if to == "reviewed" and not text:
        raise ActionError("comment_required", _("Write a comment saying what you checked."))
    site = _site_code(supervisor.site_id)
    with transaction():
        _lock_book(site)
        rows = _state_entries(shift.id)
        now = STATE_KINDS[rows[-1].kind] if rows else "new"
        step = NEXT.get(now)
        if step is None or step[0] != to:
            raise ActionError("bad_transition", _("This shift is %(now)s; it cannot be marked %(to)s.",
                                                  now=STATE_LABELS[now], to=STATE_LABELS[to]))
        ref = rows[-1].seq if rows else (shift.end_seq or shift.start_seq)
        entry = shiftbook.append(step[1], {"from": now, "to": to, "comment": text},
                                 actor_id=supervisor.id, post_id=shift.post_id, shift_id=shift.id,
                                 ref_seq=ref, site=site)
    return entry


def note(entry_seq: int, supervisor: User, text: str, *, correction: bool = False) -> ShiftBookEntry:
    """A supervisor's note (or correction) on an entry: a new entry whose ref_seq is the original."""
    _reviewer(supervisor)
    site = _site_code(supervisor.site_id)
    original = db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.site == site, ShiftBookEntry.seq == entry_seq)).first()
    if original is None:
        raise ActionError("not_found", _("That shift-book entry does not exist."))
    body = _comment(text)
    if not body:
        raise ActionError("note_required", _("Write the note before saving it."))
    with transaction():
        entry = shiftbook.append(NOTE, {"comment": body, "correction": bool(correction)},
                                 actor_id=supervisor.id, post_id=original.post_id,
                                 shift_id=original.shift_id, ref_seq=original.seq, site=site)
    return entry


def notes_by_ref(shift: Shift) -> dict[int, list[ShiftBookEntry]]:
    """Supervisor notes on this shift's entries, keyed by the original entry's seq."""
    result: dict[int, list[ShiftBookEntry]] = {}
    for row in db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.shift_id == shift.id, ShiftBookEntry.kind == NOTE)
            .order_by(ShiftBookEntry.seq)):
        result.setdefault(row.ref_seq, []).append(row)
    return result


@dataclass(frozen=True)
class Report:
    """What the daily activity report shows, apart from the shift row itself."""

    timeline: list[ShiftBookEntry]
    counts: list[tuple[str, int]]
    handover: ShiftBookEntry | None
    open_items: list[tuple[str, bool]]
    notes: dict[int, list[ShiftBookEntry]]
    history: list[ShiftBookEntry]
    state: str


def report(shift: Shift) -> Report:
    """The shift's own entries in order, counts per type, handover, notes and review history."""
    rows = list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.shift_id == shift.id)
                                   .order_by(ShiftBookEntry.seq)))
    timeline = [e for e in rows if e.kind not in REVIEW_KINDS]
    counts = Counter(e.kind for e in timeline)
    handover = next((e for e in timeline if e.kind == "shift.handover"), None)
    items = [(str(k), bool(o)) for k, o in data_of(handover).get("open_items", [])] if handover else []
    notes: dict[int, list[ShiftBookEntry]] = {}
    for e in rows:
        if e.kind == NOTE:
            notes.setdefault(e.ref_seq, []).append(e)
    steps = [e for e in rows if e.kind in STATE_KINDS]
    return Report(timeline=timeline, counts=sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
                  handover=handover, open_items=items, notes=notes, history=steps,
                  state=STATE_KINDS[steps[-1].kind] if steps else "new")


STATE_LABELS = {"new": _("new"), "reviewed": _("reviewed"), "approved": _("approved")}
