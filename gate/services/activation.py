"""Residents' first portal password from a one-time activation code, and moving out."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models import ActivationCode, Resident, Role, Unit, User
from gate.models.types import utcnow
from gate.services import ActionError, auth, journal, shiftbook, transaction
from gate.services.sites import current_site

log = logging.getLogger(__name__)
CODE_DIGITS = 8
MAX_ATTEMPTS = 5  # wrong codes before the code is void
MIN_PASSWORD = 8
MAX_PASSWORD = 200
MAX_NOTE = 1000
# One message for an unknown phone, a wrong, expired, used or void code: it must not tell
# whether a phone number is registered.
NO_MATCH = _("The phone number and code do not match a valid code. Check both and try again; "
             "if the code has expired or was entered wrong 5 times, ask the service desk for a "
             "new code.")


def _site_id(resident: Resident) -> int:
    return resident.unit.site_id


def _void_open_codes(resident_id: int, now: datetime) -> None:
    """End every unused code of the resident that is still running (inside a transaction)."""
    for code in db.session.scalars(select(ActivationCode).where(
            ActivationCode.resident_id == resident_id, ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > now)):
        code.expires_at = now


def latest_code(resident_id: int) -> ActivationCode | None:
    """The resident's most recently issued activation code (the desk shows its expiry)."""
    return db.session.scalars(select(ActivationCode).where(ActivationCode.resident_id == resident_id)
                              .order_by(ActivationCode.id.desc())).first()


def issue_code(desk_user: User, resident: Resident) -> str:
    """Issue a new 8-digit code (earlier unused ones stop working); returns the clear code once."""
    if _site_id(resident) != desk_user.site_id:
        raise ActionError("other_site", _("This resident belongs to another estate."))
    if resident.moved_out_at is not None:
        raise ActionError("moved_out", _("This resident has moved out. No code can be issued."))
    if not resident.phone:
        raise ActionError("no_phone", _("This resident has no mobile number on file. Add it first: "
                                        "the code only works together with that number."))
    clear = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    hours = current_app.config["GATE_ACTIVATION_CODE_HOURS"]
    with transaction():
        now = utcnow()
        _void_open_codes(resident.id, now)
        db.session.add(ActivationCode(resident_id=resident.id, code_hash=auth.hash_secret(clear),
                                      issued_by=desk_user.id, created_at=now,
                                      expires_at=now + timedelta(hours=hours)))
        shiftbook.append("resident.activation_issued", {"resident_id": resident.id},
                         actor_id=desk_user.id)
    return clear


def _check_password(password: str, password2: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ActionError("bad_password", _("Choose a password of at least 8 characters."))
    if len(password) > MAX_PASSWORD:
        raise ActionError("bad_password", _("The password is too long. Use at most 200 characters."))
    if password != password2:
        raise ActionError("password_mismatch", _("The two passwords are not the same. "
                                                 "Type the same password twice."))


def _open_code(phone: str) -> ActivationCode | None:
    """The latest unused code of a resident of this site (not moved out) with this phone."""
    site = current_site()
    if site is None:
        return None
    return db.session.scalars(
        select(ActivationCode).join(Resident, ActivationCode.resident_id == Resident.id)
        .join(Unit, Resident.unit_id == Unit.id)
        .where(Unit.site_id == site.id, Resident.phone == phone, Resident.moved_out_at.is_(None),
               ActivationCode.used_at.is_(None))
        .order_by(ActivationCode.id.desc()).limit(1).with_for_update(of=ActivationCode)).first()


def _account_for(resident: Resident, site_id: int) -> User:
    """The resident's linked user, or a new resident account; refuses a clash with another account."""
    phone = resident.phone
    if resident.user_id is not None:
        user = db.session.get(User, resident.user_id)
        if not user.active or user.site_id != site_id or user.role != Role.RESIDENT:
            raise ActionError("account_closed", _("This account cannot be set up with a code. "
                                                  "Ask the service desk."))
        user.session_epoch += 1  # a new password ends sessions started with the old one
        return user
    clash = db.session.scalars(select(User).where(
        or_(User.username == phone, User.phone == phone))).first()
    if clash is not None:
        raise ActionError("account_exists", _("An account with this phone number already exists. "
                                              "Ask the service desk to link it to your home."))
    user = User(site_id=site_id, role=Role.RESIDENT.value, username=phone, phone=phone,
                display_name=resident.name)
    db.session.add(user)
    return user


def activate(phone: str, code: str, password: str, password2: str) -> User:
    """Set a resident's first portal password with their code; ActionError says what to do."""
    _check_password(password, password2)
    try:
        phone = normalize_phone(phone)
    except ValueError:
        raise ActionError("bad_phone", _("Enter your 11-digit mobile number.")) from None
    typed = re.sub(r"[\s-]", "", code or "")
    wrong = False
    with transaction():
        now = utcnow()
        row = _open_code(phone)
        if row is None or row.expires_at <= now or row.attempts >= MAX_ATTEMPTS:
            auth.check_secret(None, typed)  # same work as a real check: timing tells nothing
            raise ActionError("bad_code", NO_MATCH)
        if not auth.check_secret(row.code_hash, typed):
            row.attempts = ActivationCode.attempts + 1
            db.session.flush()
            wrong = True
            if row.attempts >= MAX_ATTEMPTS:
                log.warning("activation code %s void after %s wrong attempts", row.id, MAX_ATTEMPTS)
        else:
            resident = row.resident
            site_id = _site_id(resident)
            user = _account_for(resident, site_id)
            user.password_hash = auth.hash_secret(password)
            user.failed_logins = 0
            user.locked_until = None
            db.session.flush()
            resident.user_id = user.id
            row.used_at = now
            _void_open_codes(resident.id, now)
            shiftbook.append("resident.activated", {"resident_id": resident.id, "user_id": user.id},
                             actor_id=user.id)
    if wrong:  # the attempt is counted (committed above), then refused
        raise ActionError("bad_code", NO_MATCH)
    return user


def move_out(desk_user: User, resident: Resident, note: str = "") -> Resident:
    """Mark a resident as moved out: the portal account closes and open codes stop working."""
    if _site_id(resident) != desk_user.site_id:
        raise ActionError("other_site", _("This resident belongs to another estate."))
    if resident.moved_out_at is not None:
        raise ActionError("already_moved_out", _("This resident is already marked as moved out."))
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise ActionError("too_long", _("A field is too long; keep each under 1000 characters."))
    with transaction():
        now = utcnow()
        resident.moved_out_at = now
        if resident.user_id is not None:
            user = db.session.get(User, resident.user_id)
            user.active = False
            user.session_epoch += 1  # every session of the account ends now
        _void_open_codes(resident.id, now)
        if text:
            # No column for the note: it is kept outside the chain, its digest in the entry.
            journal.note_with_entry(desk_user, "resident.moved_out", text, now,
                                    resident_id=resident.id)
        else:
            shiftbook.append("resident.moved_out", {"resident_id": resident.id},
                             actor_id=desk_user.id)
    return resident
