"""Visitors, their visits, supervisor approvals, incidents and the watchlist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.extensions import db
from gate.models.estate import Unit
from gate.models.types import UTCDateTime, utcnow

# What a visit can be; the kiosk shows one next step for each.
VISIT_STATES = (
    "waiting_host",        # asked the host (portal and/or phone)
    "waiting_supervisor",  # forgot ID / refused ID: a supervisor decides
    "admitted",            # inside
    "checked_out",
    "declined",            # host declined or not home (message may be left)
    "refused",             # refused by the guard (no ID, watchlist, supervisor denied)
    "forced",              # forced entry: incident recorded
)
ON_SITE = ("admitted",)


class Visitor(db.Model):
    """A person who visits; the ID number is kept only masked and as a keyed hash."""

    __tablename__ = "visitor"
    __table_args__ = (UniqueConstraint("site_id", "id_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(20))
    id_type: Mapped[str | None] = mapped_column(String(20))  # resident_id | passport | other
    id_masked: Mapped[str | None] = mapped_column(String(40))
    id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Visit(db.Model):
    """One visit: whom to, what the host said, when in and out."""

    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitor.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shift.id"))
    guard_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    purpose: Mapped[str | None] = mapped_column(String(200))
    plate: Mapped[str | None] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(20), default="waiting_host", index=True)
    host_answer: Mapped[str | None] = mapped_column(String(20))  # approved | declined | not_home
    host_answered_by: Mapped[str | None] = mapped_column(String(20))  # portal | phone
    message: Mapped[str | None] = mapped_column(Text)  # left for the host (口讯/卡片)
    outcome_reason: Mapped[str | None] = mapped_column(String(200))
    slip_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_reason: Mapped[str | None] = mapped_column(String(40))  # slip | list | auto
    version: Mapped[int] = mapped_column(default=1)  # optimistic lock: two guards, one visitor
    visitor: Mapped[Visitor] = relationship()
    unit: Mapped[Unit] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Approval(db.Model):
    """A question for a supervisor with a promised deadline (时效制)."""

    __tablename__ = "approval"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # forgot_id | refused_id | manual_open
    # manual_open: the barrier order that went over the daily threshold of openings by hand
    command_id: Mapped[str | None] = mapped_column(String(36))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"))
    requested_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision: Mapped[str | None] = mapped_column(String(10))  # approved | denied
    note: Mapped[str | None] = mapped_column(String(200))


class Incident(db.Model):
    """Something that went wrong at the gate (forced entry…), with the guard's account."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # forced_entry
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"))
    account: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WatchlistEntry(db.Model):
    """Someone (or a car) not to be admitted: by ID hash, name + phone, or plate."""

    __tablename__ = "watchlist_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # id | name_phone | plate
    value: Mapped[str] = mapped_column(String(100), index=True)  # hash, "name|phone" or plate
    display: Mapped[str] = mapped_column(String(100))  # masked, for screens
    reason: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
