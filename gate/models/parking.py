"""Cars on the estate (parking sessions) and the violations guards record (seed §十二)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow

# resident | visitor_pass | visitor | vip | manual | unknown (an exit read with no entry)
SESSION_KINDS = ("resident", "visitor_pass", "visitor", "vip", "manual", "unknown")


class ParkingSession(db.Model):
    """One stay of one car: entry and exit times, and until when a visitor car may stay.

    `entered_at` is None when the exit was seen without an entry (camera missed it, or the car
    was inside before the system started); `expected_until` is set for visitor cars only.
    """

    __tablename__ = "parking_session"
    __table_args__ = (Index("ix_parking_session_site_plate_open", "site_id", "plate", "left_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    plate: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(20))
    entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expected_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_event_id: Mapped[int | None] = mapped_column(ForeignKey("device_event.id"))
    exit_event_id: Mapped[int | None] = mapped_column(ForeignKey("device_event.id"))
    pass_id: Mapped[int | None] = mapped_column(ForeignKey("visitor_pass.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    # How the exit was decided: camera | manual | closed (supervisor closed a stale session)
    closed_by: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ViolationType(db.Model):
    """A site-defined violation type with its script; the four of §十二 are built in (code)."""

    __tablename__ = "violation_type"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    script: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# open: recorded, waiting for a supervisor; confirmed | dismissed: reviewed.
VIOLATION_STATES = ("open", "confirmed", "dismissed")


class Violation(db.Model):
    """A vehicle violation recorded by a guard (违章行车, 违章停车, …) and its review."""

    __tablename__ = "violation"
    __table_args__ = (Index("ix_violation_site_plate_at", "site_id", "plate", "occurred_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    type_code: Mapped[str] = mapped_column(String(40))
    plate: Mapped[str | None] = mapped_column(String(12))  # 车场闲杂人员 has no plate
    place: Mapped[str] = mapped_column(String(120))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shift.id"))
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(String(500))
    photos: Mapped[list[ViolationPhoto]] = relationship(back_populates="violation",
                                                        order_by="ViolationPhoto.id")


class ViolationPhoto(db.Model):
    """A JPEG/PNG attached to a violation: a camera snapshot or a kiosk upload (retention: photos)."""

    __tablename__ = "violation_photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violation.id"), index=True)
    source: Mapped[str] = mapped_column(String(60))  # upload | camera:<device id>
    mime: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    violation: Mapped[Violation] = relationship(back_populates="photos")
