"""Visitor pass tokens: compact, signed, QR-friendly (pure Python, no Flask).

A version 1 token is ``GP1`` followed by 64 base32 characters (67 in all), which QR codes
carry in alphanumeric mode (version 4 at error correction M): small enough for a phone
screen in sunlight and a cheap scanner. The 40 bytes behind the base32 are

    site tag (4) | pass id (12) | valid from (4) | valid until (4) | MAC (16)

Times are whole minutes since the Unix epoch. The MAC is HMAC-SHA256 truncated to 128 bits
with a key used for nothing but passes: the gate holds the key, so a public-key signature
(64 bytes, twice the token) would buy nothing but a denser QR. The site tag stops a pass of
one estate opening another estate run by the same installation.

The short code printed under the QR (``ABCD-EFGH``) is the first 40 bits of the pass id:
a look-up key for manual entry, not a credential on its own (the gate still checks window,
uses and revocation in the database).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "GP1"
# Goods release slips (放行条) carry the same shape under their own prefix and MAC domain, so
# a slip's QR can never pass for a visitor pass or the other way round.
PREFIXES = {"pass": PREFIX, "slip": "GS1"}
_DOMAINS = {"pass": b"gatehouse-pass|v1|", "slip": b"gatehouse-slip|v1|"}
_STARTS = {"pass": re.compile(r"^GP\d[A-Z2-7]"), "slip": re.compile(r"^GS\d[A-Z2-7]")}
PID_BYTES = 12
_BODY = struct.Struct(">4s12sII")
MAC_BYTES = 16
RAW_BYTES = _BODY.size + MAC_BYTES  # 40: base32 without padding
TOKEN_LENGTH = len(PREFIX) + RAW_BYTES * 8 // 5  # 67
CODE_LENGTH = 8
_CODE_CHARS = re.compile(r"^[A-Z2-7]{8}$")
# Guards type what they read: digits that look like base32 letters mean those letters.
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})

# Why a token is not a pass of this site; the service maps each to a message and a script.
MALFORMED, FORGED, OTHER_SITE = "malformed", "forged", "other_site"


class TokenRejected(ValueError):
    """A scanned text that claims to be a pass but is not a valid one; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PassClaims:
    """What a verified token says: which pass, and the window it was issued for."""

    pid: bytes
    valid_from: datetime
    valid_until: datetime

    @property
    def code(self) -> str:
        """The short code printed under the QR."""
        return short_code(self.pid)


def new_pid() -> bytes:
    """A random pass id (96 bits)."""
    return secrets.token_bytes(PID_BYTES)


def site_tag(site: str) -> bytes:
    """Four bytes naming the estate inside the signed part."""
    return hashlib.sha256(f"site:{site}".encode()).digest()[:4]


def _minutes(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("pass times must be timezone-aware")
    return int(moment.timestamp()) // 60


def _moment(minutes: int) -> datetime:
    return datetime.fromtimestamp(minutes * 60, UTC)


def _mac(key: bytes, body: bytes, kind: str) -> bytes:
    return hmac.new(key, _DOMAINS[kind] + body, hashlib.sha256).digest()[:MAC_BYTES]


def issue(key: bytes, site: str, pid: bytes, valid_from: datetime, valid_until: datetime,
          kind: str = "pass") -> str:
    """The token for a pass (or a slip); the same inputs always give the same token."""
    if len(pid) != PID_BYTES:
        raise ValueError(f"pass id must be {PID_BYTES} bytes")
    body = _BODY.pack(site_tag(site), pid, _minutes(valid_from), _minutes(valid_until))
    return PREFIXES[kind] + base64.b32encode(body + _mac(key, body, kind)).decode("ascii")


def extract(text: str, kind: str = "pass") -> str | None:
    """The token inside a scanned text (bare, or the share-page URL), or None if it is no pass.

    Scanners in keyboard-wedge mode may send lower case (caps lock) and trailing newlines;
    base32 does not care about case, so neither do we.
    """
    candidate = (text or "").strip()
    if "/p/" in candidate:
        candidate = candidate.rsplit("/p/", 1)[1].split("?", 1)[0].split("#", 1)[0]
        candidate = candidate.removesuffix(".png").removesuffix(".svg").rstrip("/")
    candidate = candidate.upper()
    # "GP" and a version digit: other codes that happen to start with GP are not passes.
    if not _STARTS[kind].match(candidate) or _CODE_CHARS.match(normalize_code(text)):
        return None
    return candidate


def read(key: bytes, site: str, token: str, kind: str = "pass") -> PassClaims:
    """Verify a token for this site; raise TokenRejected (malformed, forged, other_site)."""
    prefix = PREFIXES[kind]
    if not token.startswith(prefix) or len(token) != TOKEN_LENGTH:
        raise TokenRejected(MALFORMED)
    try:
        raw = base64.b32decode(token[len(prefix):])
    except (binascii.Error, ValueError):
        raise TokenRejected(MALFORMED) from None
    if len(raw) != RAW_BYTES:
        raise TokenRejected(MALFORMED)
    body, mac = raw[:_BODY.size], raw[_BODY.size:]
    if not hmac.compare_digest(mac, _mac(key, body, kind)):
        raise TokenRejected(FORGED)
    tag, pid, start, end = _BODY.unpack(body)
    if not hmac.compare_digest(tag, site_tag(site)):
        raise TokenRejected(OTHER_SITE)
    return PassClaims(pid, _moment(start), _moment(end))


def short_code(pid: bytes) -> str:
    """Eight base32 characters from the pass id, for typing when a QR will not scan."""
    return base64.b32encode(pid[:5]).decode("ascii")


def display_code(code: str) -> str:
    """The short code as printed: ABCD-EFGH."""
    return f"{code[:4]}-{code[4:]}"


def normalize_code(text: str) -> str:
    """A typed short code in canonical form (case, dashes, spaces and look-alike digits folded)."""
    return re.sub(r"[\s\-－_]", "", (text or "").upper()).translate(_LOOKALIKES)


def is_code(text: str) -> bool:
    """True when the text is a well-formed short code (it may still name no pass)."""
    return bool(_CODE_CHARS.match(normalize_code(text)))


def pid_text(pid: bytes) -> str:
    """The pass id as stored in the database (hex)."""
    return pid.hex()
