"""The webhook signature receivers check (gate.domain.webhook_signing) and the retry backoff."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gate.domain.webhook_signing import parse_header, sign, signature_header, verify_signature
from gate.services.webhook_delivery import backoff_seconds

SECRET = "whsec_test-secret"
BODY = b'{"id":"demo:7","kind":"visit.admitted","seq":7}'
T = 1_800_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    """Protects the documented construction, so a receiver written from docs/WEBHOOKS.md matches."""
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == expected
    assert signature_header(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_a_good_signature_verifies():
    """Protects acceptance of genuine deliveries within the tolerance, either side of the clock."""
    header = signature_header(SECRET, BODY, T)
    assert verify_signature(SECRET, header, BODY, now=T)
    assert verify_signature(SECRET, header, BODY, now=T + 300)
    assert verify_signature(SECRET, header, BODY, now=T - 300)


@pytest.mark.parametrize("case", ["tampered_body", "wrong_secret", "too_old", "from_the_future"])
def test_forgeries_and_replays_fail(case):
    """Protects receivers: a changed body, another secret, or a timestamp outside the tolerance
    (a replay, or a forged future one) is rejected."""
    header = signature_header(SECRET, BODY, T)
    body, secret, now = BODY, SECRET, T
    if case == "tampered_body":
        body = BODY.replace(b"admitted", b"declined")
    elif case == "wrong_secret":
        secret = "whsec_other"
    elif case == "too_old":
        now = T + 301
    else:
        now = T - 301
    assert not verify_signature(secret, header, body, now=now)


@pytest.mark.parametrize("header", ["", "garbage", f"t={T}", "v1=abc", f"t=soon,v1={'0' * 64}",
                                    f"t={T};v1=abc"])
def test_malformed_headers_fail(header):
    """Protects the parser: a header without a timestamp and a v1 value never verifies."""
    assert parse_header(header) is None
    assert not verify_signature(SECRET, header, BODY, now=T)


def test_any_of_several_signatures_is_enough():
    """Protects secret rotation: a header may carry several v1 values; one matching suffices."""
    good = sign(SECRET, BODY, T)
    assert verify_signature(SECRET, f"t={T},v1={'0' * 64},v1={good}", BODY, now=T)


def test_backoff_doubles_with_jitter_up_to_the_cap():
    """Protects the retry schedule: doubling from the base, at most a quarter taken off by jitter,
    each delay longer than the previous until the cap, never above the cap."""
    assert backoff_seconds(1, 10, 3600, rand=0) == 10
    assert backoff_seconds(1, 10, 3600, rand=1) == 7.5
    assert backoff_seconds(3, 10, 3600, rand=0) == 40
    assert backoff_seconds(30, 10, 3600, rand=0) == 3600
    for n in range(1, 8):
        assert backoff_seconds(n + 1, 10, 3600, rand=1) > backoff_seconds(n, 10, 3600, rand=0)
