"""Guard accounts: reset a PIN, disable and enable, see who is locked out.

A new PIN is rendered straight into the POST response with no-store: it never goes through
a redirect or a flash message (those live in the session cookie). Another estate's account
is a plain 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gate.extensions import db
from gate.models import Role, User
from gate.services import ActionError, auth, guard_accounts
from kiosk_ui.forms import PlainForm, require_token

bp = Blueprint("console_guards", __name__, url_prefix="/console/guards")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)


def _refused(exc: ActionError):
    """Flash why an action was refused and go back to the list; unknown accounts are 404."""
    db.session.rollback()
    if exc.code == "not_found":
        abort(404)
    flash(exc.message, "error")
    return redirect(url_for("console_guards.listing"))


@bp.get("/")
@supervisors
def listing():
    """The estate's guards with their state (active, locked, on duty) and the account actions."""
    return render_template("console/guards.html", rows=guard_accounts.guards(current_user.site_id),
                           form=PlainForm(), max_reason=guard_accounts.MAX_REASON)


@bp.post("/<int:guard_id>/reset-pin")
@supervisors
def reset_pin(guard_id: int):
    """Give the guard a new PIN and show it once, on this response only."""
    require_token()
    try:
        pin = guard_accounts.reset_pin(current_user, guard_id)
    except ActionError as exc:
        return _refused(exc)
    guard = db.session.get(User, guard_id)
    response = make_response(render_template("console/guard_pin.html", guard=guard, pin=pin))
    response.headers["Cache-Control"] = "no-store"  # the clear PIN is shown once, never cached
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/<int:guard_id>/disable")
@supervisors
def disable(guard_id: int):
    """Disable a guard account now, with a reason; warn when their shift is still open."""
    require_token()
    reason = request.form.get("reason", "")[:guard_accounts.MAX_REASON + 1]
    try:
        done = guard_accounts.disable(current_user, guard_id, reason)
    except ActionError as exc:
        return _refused(exc)
    flash(_("%(name)s (%(no)s) can no longer sign in and has been signed out.",
            name=done.user.display_name, no=done.user.staff_no), "success")
    if done.open_shift is not None:
        flash(_("%(name)s was on shift at %(post)s: that shift is now closed without a handover. Send the "
                "next guard to start a shift there and count the equipment.",
                name=done.user.display_name, post=done.post.name if done.post else ""), "warning")
    return redirect(url_for("console_guards.listing"))


@bp.post("/<int:guard_id>/enable")
@supervisors
def enable(guard_id: int):
    """Let a disabled guard sign in again."""
    require_token()
    try:
        user = guard_accounts.enable(current_user, guard_id)
    except ActionError as exc:
        return _refused(exc)
    flash(_("%(name)s (%(no)s) can sign in again.", name=user.display_name, no=user.staff_no), "success")
    return redirect(url_for("console_guards.listing"))


@bp.post("/<int:guard_id>/unlock")
@supervisors
def unlock(guard_id: int):
    """Lift a lockout so the guard can sign in with their PIN now."""
    require_token()
    try:
        user = guard_accounts.unlock(current_user, guard_id)
    except ActionError as exc:
        return _refused(exc)
    flash(_("%(name)s (%(no)s) is unlocked and can sign in now.", name=user.display_name,
            no=user.staff_no), "success")
    return redirect(url_for("console_guards.listing"))
