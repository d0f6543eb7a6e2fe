"""Webhook delivery: tail each subscription's shift book and POST new entries, signed.

Delivery tails the shift book (every action already writes an entry there), so nothing is
added to the plate or visit hot paths, events arrive in seq order, and a crash between the
receiver's 2xx and the cursor update redelivers the same event with the same id
(at-least-once; receivers deduplicate on `id`). See docs/WEBHOOKS.md.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select, update

from gate.domain import webhook_signing
from gate.extensions import db
from gate.models import ShiftBookEntry, ShiftBookHead, Site
from gate.models.types import utcnow
from gate.models.webhooks import WebhookSubscription
from gate.services import like, shiftbook, transaction
from gate.services.webhooks import decrypt_secret, forbidden_address

log = logging.getLogger(__name__)

BATCH = 50  # entries read per claim; the lease covers a whole batch of timeouts
_SUB = WebhookSubscription


# --- delivery --------------------------------------------------------------------------------

def backoff_seconds(failures: int, base: float, cap: float, rand: float | None = None) -> float:
    """Delay before the next attempt after `failures` consecutive failures: doubling, capped, jittered.

    The jitter takes up to a quarter off, so retries of many subscriptions spread out while
    each delay stays longer than the one before (until the cap).
    """
    delay = min(cap, base * 2 ** max(0, failures - 1))
    return delay * (1 - 0.25 * (random.random() if rand is None else rand))


@dataclass
class DeliveryCounts:
    """What one deliver_due() pass did."""

    delivered: int = 0
    failed: int = 0
    paused: int = 0
    busy: int = 0  # claimed by another worker
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """The counts, for logs and the CLI."""
        return {"delivered": self.delivered, "failed": self.failed, "paused": self.paused,
                "busy": self.busy}


@dataclass
class _Claim:
    id: int
    token: str
    site: str
    url: str
    kinds: list[str]
    secret: str
    last_seq: int
    failures: int
    failing_since: datetime | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None  # a 3xx is then an HTTPError: a failure, never followed


# Direct connections only: no redirects, and no proxy from the environment.
_OPENER = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def _lease_seconds() -> float:
    return current_app.config["GATE_WEBHOOK_TIMEOUT_SECONDS"] * (BATCH + 1) + 60


def deliver_due(now: datetime | None = None) -> DeliveryCounts:
    """Deliver new entries to every subscription that is due; returns what happened.

    `now` is the clock for due times, backoff and leases (tests pass it to move time). No
    database transaction is open during an HTTP call.
    """
    start, t0 = now or utcnow(), time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - t0)

    counts = DeliveryCounts()
    due = db.session.execute(
        select(_SUB.id, _SUB.last_seq, Site.code).join(Site, Site.id == _SUB.site_id)
        .where(_SUB.state == "active",
               or_(_SUB.next_attempt_at.is_(None), _SUB.next_attempt_at <= start))
        .order_by(_SUB.id)).all()
    heads = {site: seq for site, seq in db.session.execute(select(ShiftBookHead.site, ShiftBookHead.seq))}
    db.session.rollback()
    for sub_id, last_seq, site in due:
        if heads.get(site, 0) <= last_seq:
            continue  # nothing new: no claim, no write
        try:
            claim = _claim(sub_id, clock())
            if claim is None:
                counts.busy += 1
                continue
            try:
                _deliver(claim, clock, counts)
            finally:
                _release(claim)
        except Exception as exc:  # one broken subscription (or a DB blip) must not stop the others
            db.session.rollback()
            log.warning("webhook %s: delivery stopped", sub_id, exc_info=True)
            counts.errors.append(f"webhook {sub_id}: {exc}")
    return counts


def _claim(sub_id: int, now: datetime) -> _Claim | None:
    """Take the subscription's lease with one conditional UPDATE; None if someone holds it."""
    token = uuid.uuid4().hex
    result = db.session.execute(
        update(_SUB).where(_SUB.id == sub_id, _SUB.state == "active",
                           or_(_SUB.lease_until.is_(None), _SUB.lease_until < now),
                           or_(_SUB.next_attempt_at.is_(None), _SUB.next_attempt_at <= now))
        .values(lease_token=token, lease_until=now + timedelta(seconds=_lease_seconds()))
        .execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount != 1:
        return None
    row = db.session.execute(select(_SUB, Site.code).join(Site, Site.id == _SUB.site_id)
                             .where(_SUB.id == sub_id)).one()
    sub, site = row
    claim = _Claim(sub.id, token, site, sub.url, list(sub.kinds or []), sub.secret_enc, sub.last_seq,
                   sub.failures, sub.failing_since)
    db.session.rollback()
    try:
        claim.secret = decrypt_secret(sub_id, claim.secret)
    except (RuntimeError, ValueError):
        _release(claim)
        raise
    return claim


def _release(claim: _Claim) -> None:
    db.session.rollback()
    db.session.execute(update(_SUB).where(_SUB.id == claim.id, _SUB.lease_token == claim.token)
                       .values(lease_token=None, lease_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _kind_filter(kinds: list[str]):
    if not kinds:
        return None
    conditions = []
    for pattern in kinds:
        if pattern.endswith(".*"):
            conditions.append(like.starts_with(ShiftBookEntry.kind, pattern[:-1]))
        else:
            conditions.append(ShiftBookEntry.kind == pattern)
    return or_(*conditions)


def _batch(claim: _Claim) -> tuple[list[tuple], int]:
    """The next matching entries after the cursor, and the seq up to which the batch saw all."""
    head = db.session.scalar(select(ShiftBookHead.seq).where(ShiftBookHead.site == claim.site)) or 0
    stmt = (select(ShiftBookEntry.seq, ShiftBookEntry.kind, ShiftBookEntry.at, ShiftBookEntry.data)
            .where(ShiftBookEntry.site == claim.site, ShiftBookEntry.seq > claim.last_seq,
                   ShiftBookEntry.seq <= head)
            .order_by(ShiftBookEntry.seq).limit(BATCH))
    kinds = _kind_filter(claim.kinds)
    if kinds is not None:
        stmt = stmt.where(kinds)
    rows = [tuple(r) for r in db.session.execute(stmt)]
    db.session.rollback()  # end the read before any HTTP call
    # A short batch saw every entry up to the head: the cursor may jump past the rest.
    seen_to = head if len(rows) < BATCH else rows[-1][0]
    return rows, seen_to


def event_body(site: str, seq: int, kind: str, at: str, data: str) -> bytes:
    """The JSON body of one event, as signed and sent."""
    event = {"id": f"{site}:{seq}", "kind": kind, "at": at, "site": site, "seq": seq,
             "data": json.loads(data)}
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def post_event(url: str, secret: str, kind: str, body: bytes, timeout: float) -> str | None:
    """POST one signed event; None on a 2xx, else a short reason (never the URL or secret)."""
    host = urlsplit(url).hostname or ""
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        return f"cannot resolve host: {exc.strerror or exc}"[:200]
    if any(forbidden_address(a.split("%")[0]) for a in resolved):
        return "host resolves to a link-local address; not called"
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "Gatehouse-Webhooks/1",
        "X-Gatehouse-Event": kind,
        "X-Gatehouse-Delivery": uuid.uuid4().hex,
        webhook_signing.HEADER: webhook_signing.signature_header(secret, body),
    })
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code}" + (" (redirects are not followed)" if 300 <= exc.code < 400 else "")
    except TimeoutError:
        return "timeout"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"connection failed: {reason}"[:200]
    return None if 200 <= status < 300 else f"HTTP {status}"


def _deliver(claim: _Claim, clock, counts: DeliveryCounts) -> None:
    timeout = current_app.config["GATE_WEBHOOK_TIMEOUT_SECONDS"]
    while True:
        rows, seen_to = _batch(claim)
        for seq, kind, at, data in rows:
            error = post_event(claim.url, claim.secret, kind, event_body(claim.site, seq, kind, at, data),
                               timeout)
            if error is not None:
                _record_failure(claim, clock(), error, counts)
                return
            counts.delivered += 1
            if not _advance(claim, seq, clock()):
                return  # removed meanwhile, or the lease was lost
        if seen_to > claim.last_seq and not _advance(claim, seen_to, clock()):
            return
        if len(rows) < BATCH:
            return


def _advance(claim: _Claim, seq: int, now: datetime) -> bool:
    """Move the cursor after a success (and renew the lease); False if the lease is gone."""
    result = db.session.execute(
        update(_SUB).where(_SUB.id == claim.id, _SUB.lease_token == claim.token, _SUB.state == "active")
        .values(last_seq=seq, failures=0, failing_since=None, next_attempt_at=None, last_error=None,
                last_attempt_at=now, last_success_at=now,
                lease_until=now + timedelta(seconds=_lease_seconds()))
        .execution_options(synchronize_session=False))
    db.session.commit()
    claim.last_seq, claim.failures, claim.failing_since = seq, 0, None
    return result.rowcount == 1


def _record_failure(claim: _Claim, now: datetime, error: str, counts: DeliveryCounts) -> None:
    """Count the failure and schedule the retry; pause the subscription after too long failing."""
    cfg = current_app.config
    failures = claim.failures + 1
    since = claim.failing_since or now
    delay = backoff_seconds(failures, cfg["GATE_WEBHOOK_BACKOFF_SECONDS"],
                            cfg["GATE_WEBHOOK_BACKOFF_MAX_SECONDS"])
    pause = now - since >= timedelta(hours=cfg["GATE_WEBHOOK_PAUSE_AFTER_HOURS"])
    with transaction():
        result = db.session.execute(
            update(_SUB).where(_SUB.id == claim.id, _SUB.lease_token == claim.token,
                               _SUB.state == "active")
            .values(failures=failures, failing_since=since, last_error=error, last_attempt_at=now,
                    next_attempt_at=now + timedelta(seconds=delay),
                    state="failing" if pause else "active")
            .execution_options(synchronize_session=False))
        if pause and result.rowcount == 1:
            shiftbook.append("webhook.paused", {"webhook_id": claim.id, "failures": failures},
                             site=claim.site)
    log.warning("webhook %s: delivery failed (%s), attempt %s", claim.id, error, failures)
    counts.failed += 1
    if pause:
        counts.paused += 1
