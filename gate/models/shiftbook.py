"""The shift book (值班日志): append-only, hash-chained entries and signed checkpoints."""

from __future__ import annotations

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gate.extensions import db


class ShiftBookEntry(db.Model):
    """One recorded action. Never updated or deleted: corrections are new entries (`ref_seq`).

    `at` is kept as RFC 3339 text so the hashed bytes are identical on every database.
    Personal data never goes in `data`: entries reference records by id.
    """

    __tablename__ = "shift_book_entry"
    __table_args__ = (
        UniqueConstraint("site", "seq"),
        Index("ix_shift_book_entry_site_kind_at", "site", "kind", "at"),
        Index("ix_shift_book_entry_site_at", "site", "at"),
        # The console's search pages newest first on seq within one filter (keyset pagination).
        Index("ix_shift_book_entry_site_kind_seq", "site", "kind", "seq"),
        Index("ix_shift_book_entry_site_actor_seq", "site", "actor_id", "seq"),
        Index("ix_shift_book_entry_site_post_seq", "site", "post_id", "seq"),
        Index("ix_shift_book_entry_site_gate_seq", "site", "gate_id", "seq"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(index=True)
    post_id: Mapped[int | None]
    gate_id: Mapped[int | None]
    shift_id: Mapped[int | None] = mapped_column(index=True)
    ref_seq: Mapped[int | None]
    data: Mapped[str] = mapped_column(Text)  # canonical JSON


class ShiftBookHead(db.Model):
    """Each site's last seq and hash; locking the row serialises that site's appends."""

    __tablename__ = "shift_book_head"
    site: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int]
    row_hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(db.Model):
    """An Ed25519 signature over (seq, head hash), made at shift end or on demand."""

    __tablename__ = "shift_book_checkpoint"
    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(40), index=True)
    seq: Mapped[int]
    row_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(40))
