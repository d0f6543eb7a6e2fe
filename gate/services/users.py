"""Creating accounts (CLI and admin pages share this)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models import ROLES, Role, Site, User
from gate.services import ActionError, auth, shiftbook

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")


def add_user(site: Site, *, role: str, username: str, display_name: str,
             password: str | None = None, pin: str | None = None,
             staff_no: str | None = None, phone: str | None = None) -> User:
    """Validate and add an account inside the caller's transaction; raises ActionError."""
    if role not in {r.value for r in Role}:
        raise ActionError("bad_role", _("role must be one of %(roles)s", roles=", ".join(ROLES)))
    if not USERNAME_RE.match(username or ""):
        raise ActionError("bad_username", _("username must be 2-40 letters, digits, '.', '_' or '-'"))
    if phone is not None:
        try:
            phone = normalize_phone(phone)
        except ValueError:
            raise ActionError("bad_phone", _("phone must be an 11-digit mainland mobile number")) from None
    if role == Role.GUARD:
        if not staff_no or not (staff_no.isascii() and staff_no.isdigit()):
            raise ActionError("bad_staff_no", _("a guard needs a numeric staff number"))
        if not pin or not auth.PIN_RE.match(pin):
            raise ActionError("bad_pin", _("a guard needs a 6-digit PIN"))
    elif not password or len(password) < 8:
        raise ActionError("bad_password", _("the password must be at least 8 characters"))
    clash = db.session.scalars(select(User).where(or_(
        User.username == username,
        User.staff_no == staff_no if staff_no else False,
        User.phone == phone if phone else False))).first()
    if clash is not None:
        raise ActionError("duplicate", _("an account with that username, staff number or phone "
                                         "already exists (%(user)s)", user=clash.username))
    user = User(site_id=site.id, role=role, username=username, display_name=display_name,
                staff_no=staff_no, phone=phone,
                password_hash=auth.hash_secret(password) if password else None,
                pin_hash=auth.hash_secret(pin) if pin else None)
    db.session.add(user)
    db.session.flush()
    shiftbook.append("user.created", {"user_id": user.id, "role": role}, site=site.code)
    return user
