"""Staff and resident accounts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow


class Role(StrEnum):
    """What a user is allowed to do; every route names the roles it admits."""

    GUARD = "guard"
    SUPERVISOR = "supervisor"
    SERVICE_DESK = "service_desk"
    RESIDENT = "resident"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Role)


class User(UserMixin, db.Model):
    """An account. Guards sign in with staff number + PIN, everyone else with a password."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    role: Mapped[str] = mapped_column(String(20))
    username: Mapped[str] = mapped_column(String(40), unique=True)
    staff_no: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped on logout and handover so every older session cookie stops working.
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @validates("phone")
    def _normal_phone(self, _key: str, value: str | None) -> str | None:
        return normalize_phone(value) if value else None

    def get_id(self) -> str:
        """Session id: user id plus epoch, so bumping the epoch ends old sessions."""
        return f"{self.id}:{self.session_epoch}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Disabled accounts cannot log in or keep a session."""
        return self.active
