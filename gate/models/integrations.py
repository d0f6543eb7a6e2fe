"""Integration API keys: one per connected system, scoped to a site and a role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow

KEY_ROLES = ("resident", "desk", "supervisor")


class ApiKey(db.Model):
    """A key for the /api/v1 API. Only a hash of the secret is kept; the clear key is shown once.

    Each key acts through its own service account (`user_id`, an account with no password or
    PIN that cannot log in), so shift-book entries name the integration.
    """

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(20))  # resident | desk | supervisor
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))  # resident keys: their unit
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public part, to find the row
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole key, hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: from the CLI
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
