"""Service desk: units, their residents and vehicles."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gate.extensions import db
from gate.models import Resident, Role, Unit
from gate.services import ActionError, auth, journal, like
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm

bp = Blueprint("desk", __name__, url_prefix="/desk")
desk_staff = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN)


@bp.get("/")
@desk_staff
def home():
    """Find a unit by number (prefix match; never a list of every resident)."""
    q = (request.args.get("unit") or "").strip()
    units: list[Unit] = []
    if q:
        units = list(db.session.scalars(
            select(Unit).where(Unit.site_id == current_site().id, like.starts_with(Unit.code, q))
            .options(selectinload(Unit.residents).selectinload(Resident.vehicles))
            .order_by(Unit.code).limit(20)))
    site = current_site()
    waiting = journal.open_follow_ups(site.id, None, site_wide=True)
    return render_template("desk/home.html", q=q, units=units, waiting=waiting, form=PlainForm())


@bp.post("/follow-ups/<int:follow_id>/close")
@desk_staff
def close_follow_up(follow_id: int):
    """The service centre closes what the gate forwarded, saying what was done."""
    if PlainForm().validate():
        try:
            journal.close_follow_up(current_user, follow_id, request.form.get("outcome", ""))
        except ActionError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Item closed."), "success")
    return redirect(url_for("desk.home"))
