"""Incidents at the gate (forced entry…): which are open, and a supervisor closing one with a note."""

from __future__ import annotations

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from gate.extensions import db
from gate.models import Incident, User
from gate.models.types import utcnow
from gate.services import ActionError, journal, transaction, visitors

MAX_NOTE = 1000


def _free_text(value: str | None, limit: int) -> str:
    """Free text kept as typed (no full-width folding), checked like every other field."""
    return visitors.clean_text(value, limit, fold=False)

def open_incidents(site_id: int) -> list[Incident]:
    """Incidents nobody has closed yet, newest first."""
    return list(db.session.scalars(select(Incident).where(Incident.site_id == site_id,
                                                          Incident.closed_at.is_(None))
                                   .order_by(Incident.created_at.desc(), Incident.id.desc())))


def close(user: User, incident_id: int, note: str) -> Incident:
    """Close an incident saying what was done; the guard's own account is never changed."""
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.site_id != user.site_id:
        raise ActionError("not_found", _("That incident no longer exists."))
    if incident.closed_at is not None:
        raise ActionError("already_closed", _("That incident was already closed."))
    text = _free_text(note, MAX_NOTE)
    if not text:
        raise ActionError("note_required", _("Write what was done before closing the incident."))
    with transaction():
        incident.closed_at = utcnow()
        # No column for the closing note yet: it is a note outside the chain, digest in the entry.
        journal.note_with_entry(user, "incident.closed", text, incident.closed_at,
                                incident_id=incident.id)
    return incident
