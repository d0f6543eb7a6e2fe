"""Administration: accounts of this site."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from gate.extensions import db
from gate.models import Role, User
from gate.services import auth
from gate.services.sites import current_site

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@auth.roles_required(Role.ADMIN)
def users():
    """Every account of the site with its role and lock state."""
    rows = db.session.scalars(select(User).where(User.site_id == current_site().id)
                              .order_by(User.role, User.username)).all()
    return render_template("admin/users.html", users=rows)
