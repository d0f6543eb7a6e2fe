"""Guard accounts in the supervisor console: who is locked out or on shift, new PINs,
disabling and enabling, lifting a lockout.

Only guard accounts of the supervisor's own estate can be changed here; supervisors and
admins are managed by an administrator. A new PIN exists in clear only in the return value
of reset_pin: it is never stored, logged or written to the shift book.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Post, Role, Shift, User
from gate.models.types import utcnow
from gate.services import ActionError, auth, journal, shiftbook, transaction, visitors

MAX_REASON = 200
PIN_DIGITS = 6
_MANAGERS = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass
class GuardRow:
    """One guard account as the console lists it."""

    user: User
    locked: bool
    shift: Shift | None  # open shift, if on duty now
    post: Post | None  # where that open shift is
    last_end: datetime | None  # end of the latest handed-over shift


@dataclass
class Disabled:
    """A disabled account and, when the guard was on duty, the shift still waiting for a handover."""

    user: User
    open_shift: Shift | None
    post: Post | None


def is_locked(user: User) -> bool:
    """True while the account is locked out after repeated wrong PINs."""
    return user.locked_until is not None and user.locked_until > utcnow()


def guards(site_id: int) -> list[GuardRow]:
    """The estate's guards by staff number, with lock state, open shift and last shift end."""
    users = list(db.session.scalars(select(User).where(User.site_id == site_id, User.role == Role.GUARD)
                                    .order_by(User.staff_no, User.id)))
    ids = [u.id for u in users]
    if not ids:
        return []
    open_shifts = {s.guard_id: s for s in db.session.scalars(
        select(Shift).where(Shift.guard_id.in_(ids), Shift.ended_at.is_(None)))}
    last_end = dict(db.session.execute(
        select(Shift.guard_id, func.max(Shift.ended_at)).where(Shift.guard_id.in_(ids))
        .group_by(Shift.guard_id)).all())
    post_ids = {s.post_id for s in open_shifts.values()}
    posts = ({p.id: p for p in db.session.scalars(select(Post).where(Post.id.in_(post_ids)))}
             if post_ids else {})
    rows = []
    for user in users:
        shift = open_shifts.get(user.id)
        rows.append(GuardRow(user=user, locked=is_locked(user), shift=shift,
                             post=posts.get(shift.post_id) if shift else None,
                             last_end=last_end.get(user.id)))
    return rows


def is_weak_pin(pin: str, staff_no: str | None = None) -> bool:
    """True for PINs a stranger would try first: few distinct digits, straight runs, repeats."""
    digits = [int(c) for c in pin]
    steps = {(b - a) % 10 for a, b in zip(digits, digits[1:], strict=False)}
    return (len(set(pin)) <= 2  # 000000, 111222, 121212
            or steps in ({1}, {9})  # 123456, 654321, 890123
            or pin[:3] == pin[3:]  # 123123
            or pin == staff_no)


def new_pin(staff_no: str | None = None) -> str:
    """A random 6-digit PIN from the system's CSPRNG that is not trivially guessable."""
    while True:
        pin = f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
        if not is_weak_pin(pin, staff_no):
            return pin


def _guard(supervisor: User, guard_id: int) -> User:
    """The guard account, row-locked for this transaction (PostgreSQL), or ActionError."""
    if supervisor.role not in _MANAGERS:
        raise ActionError("forbidden", _("Only a supervisor can change guard accounts."))
    user = db.session.get(User, guard_id, with_for_update=True, populate_existing=True)
    if user is None or user.site_id != supervisor.site_id:
        raise ActionError("not_found", _("That account does not exist at this estate."))
    if user.role != Role.GUARD:
        raise ActionError("not_guard", _("Only guard accounts can be changed here. Ask an "
                                         "administrator about other accounts."))
    return user


def _data(user: User) -> dict:
    return {"user_id": user.id, "staff_no": user.staff_no}


def reset_pin(supervisor: User, guard_id: int) -> str:
    """Give the guard a new random PIN and end their sessions; returns the PIN once, in clear."""
    with transaction():
        user = _guard(supervisor, guard_id)
        pin = new_pin(user.staff_no)
        user.pin_hash = auth.hash_secret(pin)
        user.failed_logins = 0
        user.locked_until = None
        user.session_epoch += 1  # whoever is signed in with the old PIN is signed out
        shiftbook.append("user.pin_reset", _data(user), actor_id=supervisor.id)
    return pin


def disable(supervisor: User, guard_id: int, reason: str) -> Disabled:
    """Disable a guard account at once (even on duty) and end its sessions; reason required.

    The reason stays outside the chain as a note (it may say why someone was dismissed, so
    retention can erase it); the entry carries its digest. An open shift does not stop it:
    locking out a dismissed guard cannot wait for the handover, so that shift is closed unsigned
    (`shift.closed`) and the post is free for the next guard.
    """
    with transaction():
        user = _guard(supervisor, guard_id)
        if not user.active:
            raise ActionError("already_disabled", _("That account is already disabled."))
        text = visitors.clean_text(reason, MAX_REASON, fold=False)
        if not text:
            raise ActionError("reason_required", _("Write why the account is being disabled."))
        shift = db.session.scalars(select(Shift).where(Shift.guard_id == user.id,
                                                       Shift.ended_at.is_(None))).first()
        user.active = False
        # is_active already refuses the session; the bump keeps it dead after enable().
        user.session_epoch += 1
        journal.note_with_entry(supervisor, "user.disabled", text, utcnow(), **_data(user),
                                open_shift_id=shift.id if shift else None)
        if shift is not None:
            # A disabled guard can never sign the handover: the shift is closed here, unsigned,
            # so the next guard can start one (and count the equipment) at that post.
            shift.ended_at = utcnow()
            shift.end_seq = shiftbook.append("shift.closed", {
                "shift_id": shift.id, "guard_id": user.id, "reason": "account_disabled"},
                actor_id=supervisor.id, post_id=shift.post_id, shift_id=shift.id).seq
    return Disabled(user=user, open_shift=shift,
                    post=db.session.get(Post, shift.post_id) if shift else None)


def enable(supervisor: User, guard_id: int) -> User:
    """Let a disabled guard sign in again (with the PIN they had, or reset it first)."""
    with transaction():
        user = _guard(supervisor, guard_id)
        if user.active:
            raise ActionError("already_active", _("That account is already enabled."))
        user.active = True
        shiftbook.append("user.enabled", _data(user), actor_id=supervisor.id)
    return user


def unlock(supervisor: User, guard_id: int) -> User:
    """Lift a lockout after too many wrong PINs, so the guard can sign in now."""
    with transaction():
        user = _guard(supervisor, guard_id)
        if not is_locked(user):
            raise ActionError("not_locked", _("That account is not locked."))
        user.locked_until = None
        user.failed_logins = 0
        shiftbook.append("user.unlocked", _data(user), actor_id=supervisor.id)
    return user
