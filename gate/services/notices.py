"""Portal notices: what the gate tells a household (a visitor arrived on their pass…)."""

from __future__ import annotations

from sqlalchemy import select, update

from gate.extensions import db
from gate.models import PortalNotice
from gate.models.types import utcnow

KINDS = ("pass_admitted", "pass_vehicle", "worker_in", "worker_out", "slip_approved",
         "slip_refused", "slip_released", "slip_gate_refused")
SHOWN = 20


def add(site_id: int, unit_id: int, kind: str, **params: str) -> PortalNotice:
    """Queue a notice inside the caller's transaction (the action and its notice commit together)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    notice = PortalNotice(site_id=site_id, unit_id=unit_id, kind=kind, params=params,
                          created_at=utcnow())
    db.session.add(notice)
    return notice


def unread(unit_id: int) -> list[PortalNotice]:
    """The household's unread notices, newest first."""
    return list(db.session.scalars(
        select(PortalNotice).where(PortalNotice.unit_id == unit_id, PortalNotice.read_at.is_(None))
        .order_by(PortalNotice.created_at.desc(), PortalNotice.id.desc()).limit(SHOWN)))


def mark_read(unit_id: int, up_to_id: int) -> int:
    """Mark the household's notices up to an id as read; returns how many changed."""
    result = db.session.execute(
        update(PortalNotice).where(PortalNotice.unit_id == unit_id, PortalNotice.id <= up_to_id,
                                   PortalNotice.read_at.is_(None)).values(read_at=utcnow()))
    db.session.commit()
    return result.rowcount or 0
