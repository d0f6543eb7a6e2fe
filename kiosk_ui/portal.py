"""Resident portal: the resident's own unit and vehicles."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Resident, Role
from gate.services import auth

bp = Blueprint("portal", __name__, url_prefix="/portal")


@bp.get("/")
@auth.roles_required(Role.RESIDENT)
def home():
    """What the estate knows about the signed-in resident's household."""
    resident = db.session.scalars(select(Resident).where(Resident.user_id == current_user.id)).first()
    return render_template("portal/home.html", resident=resident)
