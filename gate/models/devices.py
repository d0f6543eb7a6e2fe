"""What devices reported and what we ordered barriers to do."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow


class DeviceEvent(db.Model):
    """One device event, kept so a redelivered event (same event_id) changes nothing."""

    __tablename__ = "device_event"
    __table_args__ = (UniqueConstraint("site", "device", "event_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(40))
    device: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # plate | scan | card
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # Never a clear ID number: card reads keep the masked form and a keyed hash only.
    summary: Mapped[dict | None] = mapped_column(JSON)


class BarrierCommandRecord(db.Model):
    """An open/close order sent to a barrier, and how it ended."""

    __tablename__ = "barrier_command"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site: Mapped[str] = mapped_column(String(40))
    device: Mapped[str] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # kiosk | manual | plate | home_assistant | api
    actor_id: Mapped[int | None]
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(20))  # done|rejected|expired|no_answer
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str | None] = mapped_column(String(20))
    request_seq: Mapped[int | None]
    outcome_seq: Mapped[int | None]


class DeviceStatus(db.Model):
    """Last known availability, state and message time of a device (for /healthz and the kiosk)."""

    __tablename__ = "device_status"
    site: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    device: Mapped[str] = mapped_column(String(40), primary_key=True)
    online: Mapped[bool | None]
    state: Mapped[str | None] = mapped_column(String(20))
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BridgeStatus(db.Model):
    """A bridge worker's connection and counters, written every few seconds."""

    __tablename__ = "bridge_status"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    site: Mapped[str] = mapped_column(String(40))
    connected: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    messages: Mapped[int] = mapped_column(default=0)
    dropped: Mapped[dict | None] = mapped_column(JSON)  # reason -> count
