"""Logging in and out, lockout after repeated failures, and who may open which route."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import or_, select

from gate.extensions import db, login_manager
from gate.models import Role, User
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction
from gate.services.sites import current_site

log = logging.getLogger(__name__)
# argon2id at the library's defaults (RFC 9106 low-memory profile, above OWASP's minimum).
_hasher = PasswordHasher()
# A real hash to check against when the account does not exist, so timing does not tell.
_DUMMY = _hasher.hash("no-such-account")
PIN_RE = re.compile(r"^\d{6}$")


def use_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (tests use a cheap profile; production keeps the default)."""
    global _hasher, _DUMMY
    _hasher = hasher
    _DUMMY = hasher.hash("no-such-account")


def hash_secret(secret: str) -> str:
    """Hash a password or PIN with argon2id."""
    return _hasher.hash(secret)


def check_secret(stored: str | None, secret: str) -> bool:
    """True when secret matches the stored hash; never raises on a bad hash."""
    try:
        return _hasher.verify(stored or _DUMMY, secret) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def _record_failure(user: User) -> None:
    """Count a failed attempt in its own transaction; lock the account at the limit."""
    limit = current_app.config["GATE_LOGIN_MAX_FAILURES"]
    with transaction():
        user.failed_logins += 1
        if user.failed_logins >= limit:
            minutes = current_app.config["GATE_LOGIN_LOCK_MINUTES"]
            user.locked_until = utcnow() + timedelta(minutes=minutes)
            user.failed_logins = 0
            log.warning("account %s locked for %s min after %s failed logins",
                        user.username, minutes, limit)
            shiftbook.append("auth.locked", {"user_id": user.id, "minutes": minutes},
                             actor_id=user.id)


def authenticate_guard(staff_no: str, pin: str) -> User:
    """Check a guard's staff number and 6-digit PIN; raise ActionError saying what to do."""
    staff_no = (staff_no or "").strip()
    user = db.session.scalars(select(User).where(User.staff_no == staff_no)).first()
    if user is None or user.role != Role.GUARD:
        check_secret(None, pin or "")
        raise ActionError("unknown_staff", _("Staff number not found. Check the number on your badge."))
    return _check(user, pin, "pin_hash")


def authenticate_password(login: str, password: str) -> User:
    """Check a username or phone with a password; raise ActionError saying what to do."""
    login = (login or "").strip()
    user = db.session.scalars(
        select(User).where(or_(User.username == login, User.phone == login))).first()
    if user is None or user.role == Role.GUARD:
        check_secret(None, password or "")
        raise ActionError("bad_credentials",
                          _("Wrong account or password. Check them and try again."))
    return _check(user, password, "password_hash")


def _check(user: User, secret: str, column: str) -> User:
    site = current_site()
    if site is None or user.site_id != site.id:
        # Accounts (the demo's included) only work in their own estate.
        check_secret(None, secret or "")
        raise ActionError("other_site", _("This account belongs to another estate."))
    if not user.active:
        raise ActionError("disabled", _("This account is disabled. Ask your supervisor."))
    if _locked(user):
        raise ActionError("locked", _("Too many failed attempts. The account is locked for "
                                      "%(minutes)d minutes; ask your supervisor if urgent.",
                                      minutes=current_app.config["GATE_LOGIN_LOCK_MINUTES"]))
    if not check_secret(getattr(user, column), secret or ""):
        _record_failure(user)
        if _locked(user):
            raise ActionError("locked", _("Too many failed attempts. The account is locked for "
                                          "%(minutes)d minutes; ask your supervisor if urgent.",
                                          minutes=current_app.config["GATE_LOGIN_LOCK_MINUTES"]))
        if column == "pin_hash":
            raise ActionError("bad_pin", _("Wrong PIN. Enter your 6-digit PIN again."))
        raise ActionError("bad_credentials", _("Wrong account or password. Check them and try again."))
    return user


def log_in(user: User) -> None:
    """Start a session for an authenticated user and record it in the shift book."""
    with transaction():
        user.failed_logins = 0
        user.locked_until = None
        shiftbook.append("auth.login", {"user_id": user.id, "role": user.role}, actor_id=user.id)
    login_user(user)
    session["seen"] = time.time()


def log_out(user: User, reason: str = "logout") -> None:
    """End the user's sessions everywhere (epoch bump) and record it."""
    with transaction():
        user.session_epoch += 1
        shiftbook.append("auth.logout", {"user_id": user.id, "reason": reason}, actor_id=user.id)
    logout_user()
    session.pop("seen", None)


@login_manager.user_loader
def _load_user(token: str) -> User | None:
    try:
        uid, epoch = (int(part) for part in token.split(":"))
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_epoch != epoch:
        return None
    return user


# --- route access -----------------------------------------------------------------------

def roles_required(*roles: str) -> Callable:
    """Mark a view with the roles that may open it; all other signed-in users get 403."""
    for role in roles:
        if role not in {r.value for r in Role}:
            raise ValueError(f"unknown role {role!r}")

    def mark(view: Callable) -> Callable:
        view._gate_roles = frozenset(roles)  # type: ignore[attr-defined]
        return view

    return mark


def public(view: Callable) -> Callable:
    """Mark a view anyone may open (login pages, health check)."""
    view._gate_public = True  # type: ignore[attr-defined]
    return view


def allowed_roles(app: Flask, endpoint: str) -> frozenset[str] | None:
    """The roles a route admits; None for a public route. Unmarked routes admit nobody."""
    view = app.view_functions.get(endpoint)
    if view is None or getattr(view, "_gate_public", False):
        return None
    return getattr(view, "_gate_roles", frozenset())


def install_session_rules(app: Flask) -> None:
    """Deny by default, expire idle guard sessions, and name the actor for the shift book."""

    @app.before_request
    def _guard_routes() -> Any:
        endpoint = request.endpoint
        if endpoint is None or endpoint == "static":
            return None
        roles = allowed_roles(app, endpoint)
        if roles is None:
            return None
        if not current_user.is_authenticated:
            return redirect(url_for(_login_endpoint(roles), next=request.full_path))
        if current_user.role == Role.GUARD and _idle_expired():
            log_out(current_user, reason="idle")
            flash(gettext("Your session expired after inactivity. Please log in again."), "warning")
            return redirect(url_for("auth.kiosk_login"))
        if not _background():
            session["seen"] = time.time()
        g.actor_id = current_user.id
        if current_user.role not in roles:
            abort(403)
        return None


def _background() -> bool:
    """A page's own poll (header X-Gate-Background) or an event stream: not the guard's activity.

    They leave the session cookie untouched: a poll answered while a scan's POST stores its
    verdict in the session would otherwise send the older session back and lose the verdict,
    and an untouched kiosk would never time out.
    """
    return (request.headers.get("X-Gate-Background") == "1"
            or request.accept_mimetypes.best == "text/event-stream")


def _idle_expired() -> bool:
    seen = session.get("seen")
    idle = current_app.config["GATE_KIOSK_IDLE_MINUTES"] * 60
    return seen is None or time.time() - float(seen) > idle


def _login_endpoint(roles: frozenset[str]) -> str:
    return "auth.kiosk_login" if roles == {Role.GUARD} else "auth.login"
