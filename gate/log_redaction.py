"""Secrets masked out of log lines: URL passwords, API keys, webhook secrets, bearer values, ID numbers.

The code logs none of these on purpose (tests/integration/test_secrets_in_logs.py walks the
flows and checks); this is the net under it, for the line nobody thought about: a library's
exception text that quotes a database URL, a payload echoed in a warning. It works on the
record's final message, so it catches secrets passed as arguments as well as written in.
"""

from __future__ import annotations

import logging
import re

from gate.domain.idcard import mask_id, parse_resident_id

MASK = "***"
# scheme://user:password@host — the password up to the last '@' before the host.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)([^\s/]*)(@)")
_API_KEY = re.compile(r"\b(gh_[0-9a-f]{8}_)[A-Za-z0-9_-]{8,}")  # gate/services/api_keys.py
_WEBHOOK_SECRET = re.compile(r"\bwhsec_[A-Za-z0-9_-]{8,}")  # gate/services/webhooks.py
_AUTHORIZATION = re.compile(r"(\b(?:Bearer|Basic|Token)\s+)[\w.~+/=*-]{8,}", re.IGNORECASE)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")


def _id_number(match: re.Match[str]) -> str:
    try:
        return mask_id(parse_resident_id(match.group(0)))
    except ValueError:  # 18 digits that are no valid ID number (an order number): left alone
        return match.group(0)


def redact(text: str) -> str:
    """The text with every secret this module knows masked."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _API_KEY.sub(lambda m: m.group(1) + MASK, text)
    text = _WEBHOOK_SECRET.sub("whsec_" + MASK, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    return _ID_NUMBER.sub(_id_number, text)


def hide_password(url: str) -> str:
    """A URL fit for a message: its password, if any, replaced by *** (malformed URLs too)."""
    head, at, host = url.rpartition("@")
    if not at:
        return url
    scheme, sep, credentials = head.rpartition("://")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}{sep}{user}{colon and ':' + MASK}@{host}"


class RedactingFilter(logging.Filter):
    """Rewrite each record's message (and exception text) with its secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: logging reports it later
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Mask secrets on every handler the root logger has now and in every record made later.

    A filter on a handler only sees what that handler writes, and a test runner or gunicorn
    adds handlers of its own; the record factory masks each record as it is made, whoever
    writes it out. Installing twice is harmless.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_gate_redacting", False):
        return

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _FILTER.filter(record)
        return record

    make_record._gate_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
