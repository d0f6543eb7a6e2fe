"""Visitor and worker passes, their uses at the gate, portal notices and activation codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.extensions import db
from gate.models.estate import Resident, Unit
from gate.models.types import UTCDateTime, utcnow

PASS_KINDS = ("visitor", "worker")  # worker: 装修出入证, issued by the service desk


class VisitorPass(db.Model):
    """A pre-registered visitor (or renovation worker) allowed in during a window.

    The token is not stored: it is recomputed from `pid`, the window and the site key.
    """

    __tablename__ = "visitor_pass"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    # The resident who invited; None for passes the service desk issues (workers).
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    kind: Mapped[str] = mapped_column(String(10), default="visitor")
    pid: Mapped[str] = mapped_column(String(24), unique=True)
    code: Mapped[str] = mapped_column(String(8))
    visitor_name: Mapped[str] = mapped_column(String(80))
    visitor_phone: Mapped[str | None] = mapped_column(String(20))
    plate: Mapped[str | None] = mapped_column(String(12), index=True)
    purpose: Mapped[str | None] = mapped_column(String(200))
    employer: Mapped[str | None] = mapped_column(String(120))
    id_masked: Mapped[str | None] = mapped_column(String(40))
    id_hash: Mapped[str | None] = mapped_column(String(64))
    daily_from: Mapped[str | None] = mapped_column(String(5))  # "08:00", site time
    daily_until: Mapped[str | None] = mapped_column(String(5))  # "18:00"
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    max_uses: Mapped[int | None] = mapped_column()  # None: unlimited within the window
    uses: Mapped[int] = mapped_column(default=0)
    inside: Mapped[bool] = mapped_column(default=False)  # workers: entered and not yet left
    visitor_id: Mapped[int | None] = mapped_column(ForeignKey("visitor.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    unit: Mapped[Unit] = relationship()
    resident: Mapped[Resident | None] = relationship()

    @property
    def uses_left(self) -> int | None:
        """How many more admissions the pass allows; None when unlimited."""
        return None if self.max_uses is None else max(self.max_uses - self.uses, 0)


class PassUse(db.Model):
    """One admission (or a worker's exit) on a pass: when, where, how it was read, by whom."""

    __tablename__ = "pass_use"
    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("visitor_pass.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    source: Mapped[str] = mapped_column(String(10))  # scanner | camera | manual | anpr
    device: Mapped[str | None] = mapped_column(String(40))
    guard_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"))


class PortalNotice(db.Model):
    """Something the household should know (a pass was used, a worker came in…).

    `kind` picks the sentence shown; `params` fills it. No ID numbers here.
    """

    __tablename__ = "portal_notice"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActivationCode(db.Model):
    """A one-time code the service desk gives a resident to set their first portal password."""

    __tablename__ = "activation_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    issued_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    resident: Mapped[Resident] = relationship()
