"""Sign-in and sign-out pages."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gate.extensions import limiter
from gate.models import Role
from gate.services import ActionError, auth
from kiosk_ui.forms import KioskLoginForm, LoginForm, PlainForm

bp = Blueprint("auth", __name__)

HOME = {
    Role.GUARD: "kiosk.home",
    Role.SUPERVISOR: "console.home",
    Role.SERVICE_DESK: "desk.home",
    Role.RESIDENT: "portal.home",
    Role.ADMIN: "admin.users",
}


def home_for(role: str) -> str:
    """Where a user lands after signing in."""
    return url_for(HOME[Role(role)])


def _login_limit() -> str:
    return current_app.config["GATE_LOGIN_RATE_LIMIT"]


def _safe_next(default: str) -> str:
    target = request.args.get("next") or ""
    # Only same-site paths: never bounce a login to another host.
    if target.startswith("/") and not target.startswith("//"):
        return target
    return default


def _sign_in(form, authenticate, hint: str):
    """Validate the form, authenticate and start the session; flash and return None on failure."""
    if not form.validate():
        flash(hint, "error")
        return None
    try:
        user = authenticate()
    except ActionError as exc:
        flash(exc.message, "error")
        return None
    auth.log_in(user)
    return user


@bp.route("/kiosk/login", methods=["GET", "POST"])
@auth.public
@limiter.limit(_login_limit, methods=["POST"])
def kiosk_login():
    """Guard sign-in with staff number and PIN on the touchscreen keypad."""
    form = KioskLoginForm()
    if request.method == "GET":
        return render_template("kiosk/login.html", form=form)
    user = _sign_in(form, lambda: auth.authenticate_guard(form.staff_no.data, form.pin.data),
                    _("Enter your staff number and your 6-digit PIN."))
    if user is not None:
        return redirect(url_for("kiosk.home"))
    form.pin.data = ""
    return render_template("kiosk/login.html", form=form), 401


@bp.route("/login", methods=["GET", "POST"])
@auth.public
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Sign-in for supervisors, service desk, residents and admins."""
    form = LoginForm()
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(home_for(current_user.role))
        return render_template("auth/login.html", form=form)
    user = _sign_in(form, lambda: auth.authenticate_password(form.login.data, form.password.data),
                    _("Enter your username or phone and your password."))
    if user is not None:
        return redirect(_safe_next(home_for(user.role)))
    return render_template("auth/login.html", form=form), 401


@bp.post("/logout")
@auth.roles_required(*[r.value for r in Role])
def logout():
    """Sign out; guards go back to the kiosk keypad."""
    form = PlainForm()
    was_guard = current_user.role == Role.GUARD
    if form.validate():
        auth.log_out(current_user)
        flash(_("You have signed out."), "info")
    return redirect(url_for("auth.kiosk_login" if was_guard else "auth.login"))
