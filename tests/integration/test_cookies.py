"""Session cookie flags (issue 12, item 3 "Access")."""

from __future__ import annotations

from gate.config import flask_config
from tests.support.kiosk import GUARD


def test_session_cookie_is_httponly_and_samesite_lax(client, kiosk):
    """Protects: the login session cookie is HttpOnly (no script can read it) and SameSite=Lax."""
    response = kiosk.login(*GUARD)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_session_cookie_is_secure_in_production(tmp_path):
    """Protects: in production the session cookie is only sent over TLS (Secure)."""
    values = {"GATE_ENV": "production", "GATE_DATABASE_URL": "", "GATE_SIGNING_KEY_PATH": "",
              "GATE_SECRET_KEY": "x", "GATE_DEFAULT_LOCALE": "zh"}
    config = flask_config(values, tmp_path)
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
