"""Supervisor console: shifts, the shift book, and whether its chain holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from gate.extensions import db
from gate.models import Role, Shift, ShiftBookEntry, User
from gate.services import auth, shiftbook, shifts
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import KINDS, fault_text

bp = Blueprint("console", __name__, url_prefix="/console")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)


def _users(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


@bp.get("/")
@supervisors
def home():
    """Recent shifts and the latest shift-book entries, filterable by kind and guard."""
    site = current_site()
    now = datetime.now(UTC)
    recent = shifts.shifts_between(site.id, now - timedelta(days=7), now + timedelta(minutes=1))
    kind = request.args.get("kind") or None
    actor = request.args.get("actor", type=int)
    stmt = select(ShiftBookEntry).where(ShiftBookEntry.site == site.code)
    if kind:
        stmt = stmt.where(ShiftBookEntry.kind == kind)
    if actor:
        stmt = stmt.where(ShiftBookEntry.actor_id == actor)
    entries = list(db.session.scalars(stmt.order_by(ShiftBookEntry.seq.desc()).limit(100)))
    people = _users({e.actor_id for e in entries if e.actor_id} | {s.guard_id for s in recent})
    guards = db.session.scalars(select(User).where(User.site_id == site.id,
                                                   User.role == Role.GUARD)).all()
    return render_template("console/home.html", shifts=recent, entries=entries, people=people,
                           guards=guards, kind=kind, actor=actor, kinds=list(KINDS),
                           form=PlainForm())


@bp.get("/shifts/<int:shift_id>")
@supervisors
def shift_report(shift_id: int):
    """A shift's daily activity report: every entry it wrote, in order."""
    shift = db.session.get(Shift, shift_id)
    if shift is None or shift.guard.site_id != current_site().id:
        abort(404)
    entries = list(db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.shift_id == shift.id).order_by(ShiftBookEntry.seq)))
    return render_template("console/shift.html", shift=shift, entries=entries)


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
