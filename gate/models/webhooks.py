"""Webhook subscriptions: an outside system tails one site's shift book over HTTP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gate.extensions import db
from gate.models.types import UTCDateTime, utcnow

STATES = ("active", "failing", "removed")


class WebhookSubscription(db.Model):
    """A URL that receives the site's shift-book entries of some kinds, in seq order.

    `last_seq` is the cursor: every entry of the site up to it has been delivered (or did not
    match `kinds`). `secret_enc` is the signing secret encrypted with the instance's webhook
    key (it must be usable for signing, so it cannot be hashed); removed subscriptions keep
    their row for history but lose the secret. `lease_token`/`lease_until` let one worker at a
    time deliver a subscription.
    """

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_state_next", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    kinds: Mapped[list] = mapped_column(JSON, default=list)  # patterns: "visit.*", "vehicle.read"
    secret_enc: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="active")  # active | failing | removed
    last_seq: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive, reset by a success
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
