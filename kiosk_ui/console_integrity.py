"""Shift-book integrity in the supervisor console: chain head, signed checkpoints, verify now,
and the red tamper banner every supervisor page shows once a check has found a bad entry (SPEC §2.5).
"""

from __future__ import annotations

from flask import Blueprint, flash, has_request_context, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gate.models import Role
from gate.services import auth, integrity
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.helpers import fault_text

bp = Blueprint("console_integrity", __name__, url_prefix="/console/integrity")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)
ALARM_ROLES = {Role.SUPERVISOR.value, Role.ADMIN.value}

SIGNATURE_LABELS = {
    integrity.VALID: _l("valid"),
    integrity.INVALID: _l("invalid"),
    integrity.NO_KEY: _l("no public key"),
}
CHECKPOINT_REASONS = {"shift_end": _l("shift end"), "manual": _l("signed by hand")}


@bp.app_context_processor
def chain_alarm_context() -> dict:
    """`chain_alarm` for every template: the last stored check's fault, for supervisors and admins
    only (guards and residents never see it)."""
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return {"chain_alarm": None}
    if getattr(current_user, "role", None) not in ALARM_ROLES:
        return {"chain_alarm": None}
    last = integrity.alarm()
    if last is None:
        return {"chain_alarm": None}
    return {"chain_alarm": dict(last, why=fault_text(last.get("bad_code") or ""))}


@bp.get("/")
@supervisors
def page():
    """Chain head, checkpoints with their signature status, and the last verification."""
    state = integrity.status()
    last = state.last
    return render_template("integrity/status.html", state=state, last=last,
                           why=fault_text(last["bad_code"]) if last and not last["ok"] else "",
                           labels=SIGNATURE_LABELS, reasons=CHECKPOINT_REASONS,
                           form=PlainForm())


@bp.post("/verify")
@supervisors
def verify_now():
    """Recompute the whole chain now and store the outcome (the banner follows it)."""
    require_token()
    result = integrity.run_verification()
    if result["ok"]:
        flash(_("Shift book intact: %(n)d entries, head %(head)s.", n=result["count"],
                head=result["head"][:16]), "success")
    else:
        flash(_("Shift book damaged at entry %(seq)d: %(why)s", seq=result["bad_seq"],
                why=fault_text(result["bad_code"])), "error")
    return redirect(url_for("console_integrity.page"))
