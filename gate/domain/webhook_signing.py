"""Signing and verifying Gatehouse webhook deliveries (pure Python, standard library only).

A receiver may copy this file as it is. Each delivery carries the header

    X-Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC is computed with the subscription's secret over the bytes
``f"{t}.".encode() + body`` (the raw request body, exactly as received — do not re-serialise
the JSON before checking). Receivers should reject a delivery whose timestamp is further than
a few minutes from their clock (replays), and deduplicate on the event's ``id``: delivery is
at-least-once.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Gatehouse-Signature"
SCHEME = "v1"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"`` under `secret`."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-Gatehouse-Signature value for `body`, signed now unless a timestamp is given."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SCHEME}={sign(secret, body, t)}"


def parse_header(header: str) -> tuple[int, list[str]] | None:
    """The timestamp and the v1 signatures of a header; None when it is malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            # ASCII and short: isdigit() takes "²", and int() refuses it (or 5000 digits) with ValueError.
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                return None
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: int = 300,
                     now: float | None = None) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance_s`.

    Several v1 values may appear (a secret being rotated); any one matching is enough.
    The comparison is constant-time.
    """
    parsed = parse_header(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
