"""Supervisor console: alerts and approvals first, then shifts, the shift book and its chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import Approval, BarrierCommandRecord, Incident, Role, ShiftBookEntry, User, Visit
from gate.models.types import utcnow
from gate.services import ActionError, auth, incidents, shiftbook, shifts, visits
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import KINDS, fault_text

bp = Blueprint("console", __name__, url_prefix="/console")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)


APPROVAL_KINDS = {
    "forgot_id": _l("Forgot ID"),
    "refused_id": _l("Refuses to show ID"),
    "manual_open": _l("Opening by hand above the daily limit"),
}
INCIDENT_KINDS = {"forced_entry": _l("Forced entry")}
WATCHLIST_HITS_HOURS = 24
_DECIDED = {  # (review of an opening by hand?, approved?) → what the supervisor is told
    (False, True): _l("Approved: the guard may now contact the host."),
    (False, False): _l("Denied: the guard will refuse entry."),
    (True, True): _l("Reviewed: the opening by hand is accepted."),
    (True, False): _l("Reviewed: the opening by hand is marked as not justified."),
}


def _users(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _visits(ids: set[int]) -> dict[int, Visit]:
    if not ids:
        return {}
    return {v.id: v for v in db.session.scalars(select(Visit).where(Visit.id.in_(ids)).options(
        selectinload(Visit.visitor), selectinload(Visit.unit)))}


def _watchlist_hits(site_id: int) -> list[Visit]:
    since = utcnow() - timedelta(hours=WATCHLIST_HITS_HOURS)
    return list(db.session.scalars(select(Visit).where(
        Visit.site_id == site_id, Visit.outcome_reason == "watchlist", Visit.created_at > since)
        .options(selectinload(Visit.visitor), selectinload(Visit.unit))
        .order_by(Visit.created_at.desc()).limit(20)))


def countdown(due: datetime, now: datetime) -> str:
    """Time left before a promised answer (m:ss), or how late it is, for a supervisor."""
    seconds = int((due - now).total_seconds())
    text = f"{abs(seconds) // 60}:{abs(seconds) % 60:02d}"
    return _("%(t)s left", t=text) if seconds >= 0 else _("overdue %(t)s", t=text)


def _alerts(site_id: int) -> tuple[list[Incident], list[Approval]]:
    return incidents.open_incidents(site_id), visits.pending_approvals(site_id)


def _banner(open_incidents: int, overdue: int) -> str:
    parts = []
    if open_incidents:
        parts.append(ngettext("%(num)d open incident", "%(num)d open incidents", open_incidents))
    if overdue:
        parts.append(ngettext("%(num)d overdue approval", "%(num)d overdue approvals", overdue))
    return " · ".join(parts)


@bp.get("/")
@supervisors
def home():
    """Open incidents and pending approvals first; then recent shifts and the shift book."""
    site = current_site()
    now = datetime.now(UTC)
    open_incidents, pending = _alerts(site.id)
    overdue = sum(1 for a in pending if a.due_at < now)
    related = _visits({a.visit_id for a in pending if a.visit_id}
                      | {i.visit_id for i in open_incidents if i.visit_id})
    commands = {c.id: c for c in db.session.scalars(select(BarrierCommandRecord).where(
        BarrierCommandRecord.id.in_({a.command_id for a in pending if a.command_id})))}
    recent = shifts.shifts_between(site.id, now - timedelta(days=7), now + timedelta(minutes=1))
    kind = request.args.get("kind") or None
    actor = parse_id(request.args.get("actor"))
    stmt = select(ShiftBookEntry).where(ShiftBookEntry.site == site.code)
    if kind:
        stmt = stmt.where(ShiftBookEntry.kind == kind)
    if actor:
        stmt = stmt.where(ShiftBookEntry.actor_id == actor)
    entries = list(db.session.scalars(stmt.order_by(ShiftBookEntry.seq.desc()).limit(100)))
    people = _users({e.actor_id for e in entries if e.actor_id} | {s.guard_id for s in recent}
                    | {a.requested_by for a in pending} | {i.created_by for i in open_incidents})
    guards = db.session.scalars(select(User).where(User.site_id == site.id,
                                                   User.role == Role.GUARD)).all()
    return render_template("console/home.html", shifts=recent, entries=entries, people=people,
                           guards=guards, kind=kind, actor=actor, kinds=list(KINDS),
                           form=PlainForm(), incidents=open_incidents, approvals=pending,
                           related=related, commands=commands, current=now, countdown=countdown,
                           approval_kinds=APPROVAL_KINDS, incident_kinds=INCIDENT_KINDS,
                           hits=_watchlist_hits(site.id), banner=_banner(len(open_incidents), overdue))


@bp.get("/alerts")
@supervisors
def alerts():
    """Open incidents and overdue approvals as JSON; console.js polls it to raise the banner."""
    site = current_site()
    now = utcnow()
    open_incidents, pending = _alerts(site.id)
    overdue = [a for a in pending if a.due_at < now]
    response = jsonify(now=shiftbook.rfc3339(now), open_incidents=len(open_incidents),
                       overdue_approvals=len(overdue), pending_approvals=len(pending),
                       incident_ids=[i.id for i in open_incidents], approval_ids=[a.id for a in pending],
                       message=_banner(len(open_incidents), len(overdue)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/approvals/<int:approval_id>")
@supervisors
def decide(approval_id: int):
    """Approve or deny a guard's request (forgot ID, refuses ID), with an optional note."""
    approval = db.session.get(Approval, approval_id)
    if approval is None or approval.site_id != current_site().id:
        abort(404)
    if PlainForm().validate():
        decision = request.form.get("decision", "")
        try:
            visits.decide(approval, decision, current_user, request.form.get("note", ""))
        except ActionError as exc:
            flash(exc.message, "error")
        else:
            flash(_DECIDED[(approval.kind == "manual_open", decision == "approved")], "success")
    return redirect(url_for("console.home"))


@bp.post("/incidents/<int:incident_id>/close")
@supervisors
def close_incident(incident_id: int):
    """Close an incident with a note saying what was done."""
    if PlainForm().validate():
        try:
            incidents.close(current_user, incident_id, request.form.get("note", ""))
        except ActionError as exc:
            if exc.code == "not_found":
                abort(404)
            flash(exc.message, "error")
        else:
            flash(_("Incident closed."), "success")
    return redirect(url_for("console.home"))


@bp.post("/verify")
@supervisors
def verify():
    """Recompute the chain now and show the result."""
    form = PlainForm()
    if form.validate():
        result = shiftbook.verify()
        if result.ok:
            flash(_("Shift book intact: %(n)d entries, head %(head)s.", n=result.count,
                    head=result.head[:16]), "success")
        else:
            flash(_("Shift book damaged at entry %(seq)d: %(why)s", seq=result.fault.seq,
                    why=fault_text(result.fault.code)), "error")
    return home()
