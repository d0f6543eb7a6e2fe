"""Webhook subscriptions: a supervisor key subscribes a URL to its site's shift-book events.

Supervisor scope only: a subscription streams the site's whole activity (references, not
personal data, but still who did what and when at the gate) to a system outside Gatehouse,
which is the supervisor's decision, as exports are. See docs/WEBHOOKS.md.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from gate.services import webhooks
from kiosk_ui.api.registry import Caller, endpoint
from kiosk_ui.api.schemas import Body, Out, text

SCOPES = ("supervisor",)


class WebhookIn(Body):
    """Where to deliver, and which entry kinds (none: every kind)."""

    url: text(500, 1) = Field(description="http:// or https:// address that receives POSTs; "
                                           "redirects are not followed.")
    kinds: list[text(60, 1)] = Field(default_factory=list, max_length=20,
                                     description="Entry kinds, exact (vehicle.read) or a prefix "
                                                 "(visit.*); empty: all.")


class WebhookOut(Out):
    """A subscription and its delivery state (never its secret)."""

    id: int
    url: str
    kinds: list[str]
    state: str = Field(description="active, or failing (paused after failing too long; resume it).")
    last_seq: int = Field(description="Every entry of the site up to this seq has been delivered.")
    failures: int = Field(description="Consecutive failed attempts; 0 after a success.")
    next_attempt_at: datetime | None
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    """The new subscription with its signing secret, shown this once only."""

    secret: str = Field(description="HMAC-SHA256 key of X-Gatehouse-Signature; keep it, it is "
                                    "not shown again.")


class WebhookList(Out):
    """The site's subscriptions (removed ones are not listed)."""

    items: list[WebhookOut]


def _via(caller: Caller) -> dict:
    return {"api_key_id": caller.key.id}


@endpoint("POST", "/webhooks", summary="Subscribe a URL to the site's events", scopes=SCOPES,
          body=WebhookIn, response=WebhookCreated, status=201, errors=("bad_url", "bad_kinds"))
def create_webhook(caller: Caller, body: WebhookIn) -> WebhookCreated:
    """Deliveries start with the entries written after this call; the secret is in this answer only."""
    sub, secret = webhooks.subscribe(caller.site, body.url, body.kinds, caller.user, via=_via(caller))
    return WebhookCreated.model_validate({**WebhookOut.model_validate(sub).model_dump(), "secret": secret})


@endpoint("GET", "/webhooks", summary="List the site's webhook subscriptions", scopes=SCOPES,
          response=WebhookList)
def list_webhooks(caller: Caller) -> WebhookList:
    """Every subscription of the key's site with its delivery state."""
    return WebhookList(items=[WebhookOut.model_validate(s) for s in webhooks.subscriptions(caller.site)])


@endpoint("DELETE", "/webhooks/<int:webhook_id>", summary="Remove a webhook subscription",
          scopes=SCOPES, status=204)
def delete_webhook(caller: Caller, webhook_id: int) -> None:
    """Nothing more is delivered and the secret is destroyed; another site's id is not found."""
    webhooks.unsubscribe(caller.site, webhook_id, caller.user, via=_via(caller))


@endpoint("POST", "/webhooks/<int:webhook_id>/resume", summary="Resume a paused webhook",
          scopes=SCOPES, response=WebhookOut, errors=("not_paused",))
def resume_webhook(caller: Caller, webhook_id: int) -> WebhookOut:
    """Deliver again from where it stopped, at once."""
    return WebhookOut.model_validate(webhooks.resume(caller.site, webhook_id, caller.user, via=_via(caller)))
