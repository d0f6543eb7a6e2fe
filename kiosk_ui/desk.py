"""Service desk: units, their residents and vehicles."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gate.extensions import db
from gate.models import Resident, Role, Unit
from gate.services import auth
from gate.services.sites import current_site

bp = Blueprint("desk", __name__, url_prefix="/desk")


@bp.get("/")
@auth.roles_required(Role.SERVICE_DESK, Role.ADMIN)
def home():
    """Find a unit by number (prefix match; never a list of every resident)."""
    q = (request.args.get("unit") or "").strip()
    units: list[Unit] = []
    if q:
        units = list(db.session.scalars(
            select(Unit).where(Unit.site_id == current_site().id, Unit.code.startswith(q))
            .options(selectinload(Unit.residents).selectinload(Resident.vehicles))
            .order_by(Unit.code).limit(20)))
    return render_template("desk/home.html", q=q, units=units)
