"""Shifts, post orders (岗位须知) and the records guards write during a shift."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow
from gate.models.users import User


class Shift(db.Model):
    """A guard's time at a post, from start to a handover both guards confirmed."""

    __tablename__ = "shift"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"), index=True)
    guard_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    relieved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    handover_notes: Mapped[str | None] = mapped_column(Text)
    equipment: Mapped[dict | None] = mapped_column(JSON)
    start_seq: Mapped[int | None]
    end_seq: Mapped[int | None]
    guard: Mapped[User] = relationship(foreign_keys=[guard_id])
    relieved_by: Mapped[User | None] = relationship(foreign_keys=[relieved_by_id])

    @property
    def is_open(self) -> bool:
        """True until the handover is confirmed."""
        return self.ended_at is None


class PostOrder(db.Model):
    """A standing or pass-down order guards must acknowledge before starting a shift."""

    __tablename__ = "post_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id"))  # None: every post
    kind: Mapped[str] = mapped_column(String(20))  # standing | pass_down
    category: Mapped[str] = mapped_column(String(20), default="security")  # safety | security
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(default=1)
    # Who changed the text last; each change bumps `revision`, so every guard acknowledges again.
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PostOrderAck(db.Model):
    """That a guard read and acknowledged one revision of a post order."""

    __tablename__ = "post_order_ack"
    __table_args__ = (UniqueConstraint("order_id", "user_id", "revision"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("post_order.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    revision: Mapped[int]
    acked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JournalRecord(db.Model):
    """What a guard wrote (phone call, inspection, complaint, patrol, note).

    Kept outside the chained entry so retention can erase personal data; the shift-book
    entry carries the digest of `fields`, which proves the record was not edited.
    """

    __tablename__ = "journal_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shift.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    fields: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    seq: Mapped[int | None]


class FollowUp(db.Model):
    """A promise still open (时效制): a message to pass on, a complaint awaiting the centre."""

    __tablename__ = "follow_up"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id"))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("journal_record.id"))
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)
    closed_seq: Mapped[int | None]


class ScriptText(db.Model):
    """A site's own wording of one kiosk script (话术) in one language; absent: the built-in text."""

    __tablename__ = "script_text"
    __table_args__ = (UniqueConstraint("site_id", "key", "locale"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    key: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(10))  # zh_CN | en
    text: Mapped[str] = mapped_column(String(500))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeadlineAlert(db.Model):
    """That an overdue promise (时效制) was announced on the alerts topic: once per item."""

    __tablename__ = "deadline_alert"
    __table_args__ = (UniqueConstraint("site_id", "kind", "ref_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    kind: Mapped[str] = mapped_column(String(20))  # approval | incident | follow_up
    ref_id: Mapped[int]
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    alerted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seq: Mapped[int | None]
