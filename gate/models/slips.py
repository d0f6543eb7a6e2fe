"""Goods release slips (放行条, seed §五.14): application, decision, release at the gate."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.extensions import db
from gate.models.estate import Resident, Unit
from gate.models.types import UTCDateTime, utcnow

# pending_consent: a tenant's application waiting for the owner; expired is derived from the date.
SLIP_STATES = ("pending_consent", "pending", "approved", "refused", "released")
SLIP_REASONS = ("moving_out", "renovation_waste", "sale", "other")


class ReleaseSlip(db.Model):
    """One application to take goods out, and what became of it."""

    __tablename__ = "release_slip"
    __table_args__ = (UniqueConstraint("site_id", "serial"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))  # the applicant
    applied_by: Mapped[int] = mapped_column(ForeignKey("user.id"))  # resident or desk account
    applied_via: Mapped[str] = mapped_column(String(10))  # portal | desk
    state: Mapped[str] = mapped_column(String(20), index=True)
    on_date: Mapped[date] = mapped_column(Date, index=True)  # the day the goods leave (site time)
    reason: Mapped[str] = mapped_column(String(20))
    carrier_name: Mapped[str] = mapped_column(String(80))
    carrier_phone: Mapped[str] = mapped_column(String(20))
    plate: Mapped[str | None] = mapped_column(String(12))
    # A tenant's application needs the owner's consent: on the portal, or taken by the desk.
    consent_needed: Mapped[bool] = mapped_column(default=False)
    consent_by_resident: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    consent_note: Mapped[str | None] = mapped_column(String(200))  # "owner 陈先生 by phone"
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refusal_reason: Mapped[str | None] = mapped_column(String(200))
    serial: Mapped[str | None] = mapped_column(String(20))  # FX-2026-000123, on approval
    pid: Mapped[str | None] = mapped_column(String(24), unique=True)  # signed into the QR
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    carrier_id_masked: Mapped[str | None] = mapped_column(String(40))
    carrier_id_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    unit: Mapped[Unit] = relationship()
    resident: Mapped[Resident | None] = relationship(foreign_keys=[resident_id])
    items: Mapped[list[ReleaseSlipItem]] = relationship(
        back_populates="slip", order_by="ReleaseSlipItem.line", cascade="all, delete-orphan")


class ReleaseSlipItem(db.Model):
    """One line of goods: what, and how many."""

    __tablename__ = "release_slip_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    slip_id: Mapped[int] = mapped_column(ForeignKey("release_slip.id"), index=True)
    line: Mapped[int] = mapped_column()
    description: Mapped[str] = mapped_column(String(120))
    count: Mapped[int] = mapped_column()
    slip: Mapped[ReleaseSlip] = relationship(back_populates="items")


class SerialCounter(db.Model):
    """The last serial number used per site and year (FX-<year>-<number>)."""

    __tablename__ = "serial_counter"
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "FX"
    year: Mapped[int] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class UnitFlag(db.Model):
    """The desk's per-unit "outstanding fees" flag (no billing system: the desk keeps it)."""

    __tablename__ = "unit_flag"
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    fees_outstanding: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
