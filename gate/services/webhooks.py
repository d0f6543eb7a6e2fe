"""Webhook subscriptions: add, list, remove and resume them; their secrets encrypted at rest.

Delivering the shift book's entries to them is gate/services/webhook_delivery.py; see
docs/WEBHOOKS.md.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from gate.extensions import db
from gate.models import Site, User
from gate.models.types import utcnow
from gate.models.webhooks import WebhookSubscription
from gate.services import ActionError, keys, shiftbook, transaction

log = logging.getLogger(__name__)

MAX_KINDS = 20
_KIND = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")
_SUB = WebhookSubscription


# --- secrets at rest -------------------------------------------------------------------------

def _cipher() -> AESGCM:
    # A key of its own, derived from the instance's webhook secret, used for nothing else.
    master = keys.instance_secret("GATE_WEBHOOK_KEY", "webhook.key")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"gatehouse webhook secrets v1").derive(master)
    return AESGCM(key)


def _aad(subscription_id: int) -> bytes:
    # Bound to the row: a ciphertext copied onto another subscription does not decrypt.
    return f"webhook_subscription:{subscription_id}".encode()


def encrypt_secret(subscription_id: int, secret: str) -> str:
    """The secret encrypted (AES-GCM) for storage in `secret_enc`."""
    nonce = os.urandom(12)
    sealed = _cipher().encrypt(nonce, secret.encode(), _aad(subscription_id))
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(subscription_id: int, stored: str) -> str:
    """The clear secret of a stored `secret_enc`; RuntimeError if the key does not fit."""
    raw = base64.urlsafe_b64decode(stored.encode())
    try:
        return _cipher().decrypt(raw[:12], raw[12:], _aad(subscription_id)).decode()
    except InvalidTag:
        raise RuntimeError(f"webhook {subscription_id}: its secret does not decrypt with this "
                           "instance's webhook key (GATE_WEBHOOK_KEY or instance/webhook.key "
                           "changed); remove and recreate the subscription") from None


# --- management ------------------------------------------------------------------------------

def _actor_id(actor: User | None) -> int | None:
    return actor.id if actor is not None else None


def _check_url(url: str) -> str:
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        host = None
    if len(url) > 500 or parts.scheme not in {"http", "https"} or not host:
        raise ActionError("bad_url", _("The webhook URL must be an http:// or https:// address."))
    if parts.username or parts.password:
        raise ActionError("bad_url", _("Put no user name or password in the webhook URL; "
                                       "receivers check the signature instead."))
    if forbidden_address(host):
        raise ActionError("bad_url", _("The webhook URL points at a link-local or metadata "
                                       "address, which Gatehouse does not call."))
    return url


def forbidden_address(host: str) -> bool:
    """Link-local (169.254.0.0/16, fe80::/10: cloud metadata services) and unspecified addresses."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_link_local or address.is_unspecified


def _check_kinds(kinds: list[str] | None) -> list[str]:
    clean = sorted({k.strip() for k in (kinds or []) if k and k.strip()})
    if len(clean) > MAX_KINDS or any(not _KIND.match(k) for k in clean):
        raise ActionError("bad_kinds", _("Kinds are entry kinds such as vehicle.read, or a prefix "
                                         "such as visit.* (at most 20)."))
    return clean


def subscribe(site: Site, url: str, kinds: list[str] | None, actor: User | None = None, *,
              via: dict[str, Any] | None = None) -> tuple[WebhookSubscription, str]:
    """Create a subscription of entries after this moment; returns it and its secret (shown once)."""
    url, kinds = _check_url(url), _check_kinds(kinds)
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction():
        sub = _SUB(site_id=site.id, url=url, kinds=kinds, state="active", last_seq=0,
                   created_by_id=_actor_id(actor))
        db.session.add(sub)
        db.session.flush()
        sub.secret_enc = encrypt_secret(sub.id, secret)
        # References only: the host (no path or query, which may carry a receiver's token).
        entry = shiftbook.append("webhook.subscribed", dict(via or {}, webhook_id=sub.id, kinds=kinds,
                                                             host=urlsplit(url).hostname),
                                 actor_id=_actor_id(actor), site=site.code)
        sub.last_seq = entry.seq  # deliveries start with what happens after the subscription
    return sub, secret


def subscriptions(site: Site) -> list[WebhookSubscription]:
    """The site's subscriptions that are not removed, oldest first."""
    return list(db.session.scalars(select(_SUB).where(_SUB.site_id == site.id, _SUB.state != "removed")
                                   .order_by(_SUB.id)))


def get(site: Site, subscription_id: int) -> WebhookSubscription:
    """One of this site's live subscriptions; another site's id is "not found" like a missing one."""
    sub = db.session.get(_SUB, subscription_id)
    if sub is None or sub.site_id != site.id or sub.state == "removed":
        raise ActionError("not_found", _("No such webhook."))
    return sub


def unsubscribe(site: Site, subscription_id: int, actor: User | None = None, *,
                via: dict[str, Any] | None = None) -> None:
    """Remove a subscription: nothing more is delivered and its secret is destroyed."""
    with transaction():
        sub = get(site, subscription_id)
        sub.state, sub.removed_at, sub.secret_enc = "removed", utcnow(), ""
        sub.lease_token = sub.lease_until = None
        shiftbook.append("webhook.removed", dict(via or {}, webhook_id=sub.id),
                         actor_id=_actor_id(actor), site=site.code)


def resume(site: Site, subscription_id: int, actor: User | None = None, *,
           via: dict[str, Any] | None = None) -> WebhookSubscription:
    """Deliver a paused (failing) subscription again from its cursor, at once."""
    with transaction():
        sub = get(site, subscription_id)
        if sub.state != "failing":
            raise ActionError("not_paused", _("This webhook is not paused."))
        sub.state, sub.failures, sub.failing_since, sub.next_attempt_at = "active", 0, None, None
        shiftbook.append("webhook.resumed", dict(via or {}, webhook_id=sub.id),
                         actor_id=_actor_id(actor), site=site.code)
    return sub
