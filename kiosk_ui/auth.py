"""Sign-in and sign-out pages."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gate.extensions import limiter
from gate.models import Role
from gate.services import ActionError, auth
from gate.services.sites import current_site
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


def _other_site(user) -> bool:
    site = current_site()
    return site is None or user.site_id != site.id


@bp.route("/kiosk/login", methods=["GET", "POST"])
@auth.public
@limiter.limit(_login_limit, methods=["POST"])
def kiosk_login():
    """Guard sign-in with staff number and PIN on the touchscreen keypad."""
    form = KioskLoginForm()
    if request.method == "POST":
        if not form.validate():
            flash(_("Enter your staff number and your 6-digit PIN."), "error")
        else:
            try:
                user = auth.authenticate_guard(form.staff_no.data, form.pin.data)
                if _other_site(user):
                    raise ActionError("other_site", _("This account belongs to another estate."))
            except ActionError as exc:
                flash(exc.message, "error")
            else:
                auth.log_in(user)
                return redirect(url_for("kiosk.home"))
        form.pin.data = ""
        return render_template("kiosk/login.html", form=form), 401
    return render_template("kiosk/login.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@auth.public
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Sign-in for supervisors, service desk, residents and admins."""
    form = LoginForm()
    if request.method == "POST":
        if not form.validate():
            flash(_("Enter your username or phone and your password."), "error")
        else:
            try:
                user = auth.authenticate_password(form.login.data, form.password.data)
                if _other_site(user):
                    raise ActionError("other_site", _("This account belongs to another estate."))
            except ActionError as exc:
                flash(exc.message, "error")
            else:
                auth.log_in(user)
                return redirect(_safe_next(home_for(user.role)))
        return render_template("auth/login.html", form=form), 401
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    return render_template("auth/login.html", form=form)


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
