"""Pending and overdue (时效制): approvals, incidents and promised follow-ups with their deadlines."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Approval, BarrierCommandRecord, FollowUp, Incident, Role, User, Visit
from gate.models.types import utcnow
from gate.services import ActionError, auth, deadlines, journal
from gate.services.sites import current_site
from kiosk_ui.console import countdown
from kiosk_ui.forms import PlainForm

bp = Blueprint("console_pending", __name__, url_prefix="/console/pending")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

KIND_LABELS = {"approval": _l("Approval"), "incident": _l("Incident"), "follow_up": _l("Follow-up")}


def _by_id(model, ids: set) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)))}


@bp.get("/")
@supervisors
def page():
    """Every open promise soonest due first; overdue ones highlighted, with when they were announced."""
    site = current_site()
    now = utcnow()
    items = deadlines.pending(site)
    ids = {kind: {i.ref_id for i in items if i.kind == kind} for kind in deadlines.KINDS}
    approvals = _by_id(Approval, ids["approval"])
    incident_rows = _by_id(Incident, ids["incident"])
    follow_ups = _by_id(FollowUp, ids["follow_up"])
    visits = _by_id(Visit, {a.visit_id for a in approvals.values() if a.visit_id}
                    | {i.visit_id for i in incident_rows.values() if i.visit_id})
    commands = _by_id(BarrierCommandRecord, {a.command_id for a in approvals.values() if a.command_id})
    people = _by_id(User, {i.requested_by for i in items if i.requested_by})
    late = sum(1 for i in items if i.overdue(now))
    return render_template("console/pending.html", items=items, now=now, late=late, approvals=approvals,
                           incidents=incident_rows, follow_ups=follow_ups, visits=visits,
                           commands=commands, people=people, countdown=countdown,
                           kind_labels=KIND_LABELS, label=deadlines.label, form=PlainForm())


@bp.post("/follow-ups/<int:follow_id>/close")
@supervisors
def close_follow_up(follow_id: int):
    """Close a promised follow-up with what was done (late ones are marked late in the entry)."""
    if not PlainForm().validate():
        abort(400)
    try:
        journal.close_follow_up(current_user, follow_id, request.form.get("outcome", ""))
    except ActionError as exc:
        if exc.code == "not_found":
            abort(404)
        flash(exc.message, "error")
    else:
        flash(_("Follow-up closed."), "success")
    return redirect(url_for("console_pending.page"))
