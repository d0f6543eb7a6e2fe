"""The resident behind a portal request: pass and slip pages need one who still lives here."""

from __future__ import annotations

from flask import Response, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Resident


def require_household() -> Response | None:
    """before_request: set g.household, or send a moved-out or unlinked account to the portal home."""
    resident = db.session.scalars(select(Resident).where(Resident.user_id == current_user.id)).first()
    if resident is not None and resident.moved_out_at is not None:
        flash(_("This account no longer belongs to a household here."), "error")
        return redirect(url_for("portal.home"))
    if resident is None:
        return redirect(url_for("portal.home"))
    g.household = resident
    return None
