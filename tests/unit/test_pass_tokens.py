"""Pass tokens: compact, bound to the key and the site, and any change to them is caught."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.domain import passes as tokens

KEY = b"k" * 32
START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
END = START + timedelta(days=1)


def _token(pid: bytes = b"\x01" * 12, site: str = "demo", key: bytes = KEY) -> str:
    return tokens.issue(key, site, pid, START, END)


def test_round_trip_and_size():
    """Protects the QR size budget: a v1 token is 67 characters, QR alphanumeric-safe, ≤ 120."""
    token = _token()
    assert len(token) == tokens.TOKEN_LENGTH == 67 <= 120
    assert set(token) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    claims = tokens.read(KEY, "demo", token)
    assert claims.pid == b"\x01" * 12
    assert (claims.valid_from, claims.valid_until) == (START, END)
    assert claims.code == tokens.short_code(b"\x01" * 12)


@given(st.binary(min_size=12, max_size=12), st.integers(min_value=3, max_value=66),
       st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
def test_any_changed_character_is_refused(pid, position, char):
    """Protects against forgery: changing any one character never yields a valid token."""
    token = _token(pid)
    changed = token[:position] + char + token[position + 1:]
    if changed == token:
        return
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", changed)
    assert err.value.reason in (tokens.FORGED, tokens.MALFORMED)


@given(st.integers(min_value=0, max_value=66))
def test_truncated_tokens_are_malformed(cut):
    """Protects against half-read QR codes being taken for some other pass."""
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", _token()[:cut])
    assert err.value.reason == tokens.MALFORMED


def test_other_key_is_forged_and_other_site_is_named():
    """Protects the key and the estate boundary: another key's token is forged, another site's is refused."""
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", _token(key=b"x" * 32))
    assert err.value.reason == tokens.FORGED
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", _token(site="elsewhere"))
    assert err.value.reason == tokens.OTHER_SITE


def test_tampered_window_is_forged():
    """Protects the validity window: stretching it inside the token breaks the MAC."""
    raw = base64.b32decode(_token()[3:])
    body, mac = raw[:24], raw[24:]
    later = (int(END.timestamp()) // 60 + 7 * 24 * 60).to_bytes(4, "big")
    forged = "GP1" + base64.b32encode(body[:20] + later + mac).decode()
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", forged)
    assert err.value.reason == tokens.FORGED


def test_re_encoded_token_is_malformed():
    """Protects against a token re-encoded (base64, padding) being half-accepted."""
    raw = base64.b32decode(_token()[3:])
    for text in ("GP1" + base64.urlsafe_b64encode(raw).decode(), _token() + "====", "GP2" + _token()[3:]):
        with pytest.raises(tokens.TokenRejected) as err:
            tokens.read(KEY, "demo", tokens.extract(text) or "")
        assert err.value.reason == tokens.MALFORMED


def test_extract_accepts_wedge_noise_and_share_links():
    """Protects the gate from scanner quirks: lower case, trailing newline, or the share-page URL."""
    token = _token()
    assert tokens.extract(token.lower() + "\r\n") == token
    assert tokens.extract(f"https://gate.example.cn/p/{token}") == token
    assert tokens.extract(f"https://gate.example.cn/p/{token}.png?x=1") == token
    assert tokens.extract("hello") is None
    for other in ("GP-2024-000123", "gps:22.5,114.0", "GPT"):  # other codes that start with GP
        assert tokens.extract(other) is None
    assert tokens.extract(tokens.display_code(tokens.short_code(b"\x01" * 12))) is None


def test_short_codes_fold_look_alikes():
    """Protects manual entry: dashes, spaces, lower case and 0/1/8 typed for O/I/B still match."""
    code = tokens.short_code(bytes.fromhex("7a5c3e9b01") + b"\x00" * 7)
    assert tokens.is_code(code) and len(code) == 8
    typed = tokens.display_code(code).lower().replace("o", "0").replace("i", "1").replace("b", "8")
    assert tokens.normalize_code(typed) == code
    assert not tokens.is_code("ABCD-EFG")
    assert not tokens.is_code("ABCD-EFG9")  # 9 is not base32 and no letter looks like it


def test_slip_and_pass_tokens_never_stand_in_for_each_other():
    """Protects both documents: a release slip's QR is no visitor pass, and a pass is no slip."""
    pid = b"\x02" * 12
    slip = tokens.issue(KEY, "demo", pid, START, END, kind="slip")
    assert slip.startswith("GS1") and len(slip) == 67
    assert tokens.read(KEY, "demo", slip, kind="slip").pid == pid
    assert tokens.extract(slip) is None and tokens.extract(_token(pid), kind="slip") is None
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", "GP1" + slip[3:])  # same bytes under the pass prefix
    assert err.value.reason == tokens.FORGED
