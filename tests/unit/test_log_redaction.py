"""The net under the logs: secrets masked in whatever a log line says (gate/log_redaction.py)."""

from __future__ import annotations

import logging
import sys

import pytest

from gate.log_redaction import RedactingFilter, hide_password, redact

API_KEY = "gh_0a1b2c3d_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd"
ID_NUMBER = "11010519491231002X"


@pytest.mark.parametrize("text, secret, kept", [
    ("connecting to postgresql+psycopg://gate:Pa55-w0rd@db:5432/gatehouse", "Pa55-w0rd",
     "postgresql+psycopg://gate:***@db:5432/gatehouse"),
    ("broker mqtt://gatehouse-bridge:9f8e7d6c5b4a@127.0.0.1:1883 refused", "9f8e7d6c5b4a",
     "mqtt://gatehouse-bridge:***@127.0.0.1:1883"),
    (f"key {API_KEY} rejected", API_KEY[12:], "gh_0a1b2c3d_***"),
    (f"Authorization: Bearer {API_KEY}", API_KEY[12:], "Authorization: Bearer ***"),
    ("secret whsec_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "whsec_***"),
    (f"visitor {ID_NUMBER} at gate", "19491231002X", "110105********002X"),
    (f"visitor {ID_NUMBER.lower()}", "19491231002", "110105********002X"),
])
def test_secrets_are_masked(text, secret, kept):
    """Protects logs from secrets: URL passwords, API keys, bearer values, webhook secrets and
    clear ID numbers are masked, and the rest of the line stays readable."""
    clean = redact(text)
    assert secret not in clean
    assert kept in clean


@pytest.mark.parametrize("text", [
    "sqlite:////var/lib/gatehouse/gate.db", "mqtt://127.0.0.1:1883", "plate 粤B12345 at car-in",
    "order 123456789012345678 (not an ID: wrong check character)", "token expired",
])
def test_ordinary_text_is_left_alone(text):
    """Protects the logs' use: text without secrets is not mangled."""
    assert redact(text) == text


@pytest.mark.parametrize("url, shown", [
    ("postgresql://gate:pw@db/x", "postgresql://gate:***@db/x"),
    ("gate:pw@db", "gate:***@db"),  # no scheme: a typo in the setting still hides the password
    ("mqtt://p@ss:w@rd@host:1883", "mqtt://p@ss:***@host:1883"),
    ("mqtt://host:1883", "mqtt://host:1883"),
])
def test_hide_password(url, shown):
    """Protects configuration messages from printing a password, malformed URLs included."""
    assert hide_password(url) == shown


def test_filter_masks_arguments_and_exceptions():
    """Protects against secrets passed as log arguments or quoted in an exception's text."""
    try:
        raise ConnectionError("could not connect to postgresql://gate:Pa55@db/x")
    except ConnectionError:
        record = logging.LogRecord("sqlalchemy.pool", logging.ERROR, __file__, 1, "visitor %s via %s",
                                   (ID_NUMBER, "mqtt://u:Pa55@h:1883"), exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    assert "Pa55" not in record.getMessage() and ID_NUMBER not in record.getMessage()
    assert "Pa55" not in record.exc_text and "ConnectionError" in record.exc_text
