"""Logging in: PINs and passwords, lockout, idle expiry, CSRF, rate limits."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gate.app import create_app
from gate.extensions import db
from gate.models import ShiftBookEntry, User
from tests.support.kiosk import GUARD, KioskActions


def _flash(response) -> str:
    match = re.search(r'class="flash error"[^>]*>([^<]+)<', response.get_data(True))
    return match.group(1).strip() if match else ""


def test_wrong_pin_says_what_to_do(kiosk):
    """Protects guards from a silent failure: a wrong PIN gets a clear Chinese message, no session."""
    response = kiosk.login(GUARD[0], "000000")
    assert response.status_code == 401
    assert "PIN" in _flash(response) and "6" in _flash(response)
    assert kiosk.client.get("/kiosk/").status_code == 302


def test_unknown_staff_number(kiosk):
    """Protects against guessing: an unknown staff number is refused with a hint, in Chinese."""
    response = kiosk.login("9999", "123456")
    assert response.status_code == 401
    assert "工号" in _flash(response)


def test_lockout_after_five_failures(app, kiosk):
    """Protects PINs from brute force: 5 failures lock the account for 15 minutes, logged in the book."""
    for _ in range(5):
        kiosk.login(GUARD[0], "000000")
    response = kiosk.login(*GUARD)  # the right PIN no longer works
    assert response.status_code == 401
    assert "15" in _flash(response)
    with app.app_context():
        guard = db.session.scalars(select(User).where(User.staff_no == GUARD[0])).one()
        assert guard.locked_until is not None
        locked = db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.kind == "auth.locked", ShiftBookEntry.actor_id == guard.id)).all()
        assert len(locked) == 1


def test_success_resets_failure_count(app, kiosk):
    """Protects honest guards: a typo or two does not carry over after a good login."""
    for _ in range(4):
        kiosk.login(GUARD[0], "000000")
    assert kiosk.login(*GUARD).status_code == 302
    with app.app_context():
        guard = db.session.scalars(select(User).where(User.staff_no == GUARD[0])).one()
        assert guard.failed_logins == 0


def test_password_login_lands_on_role_home(kiosk):
    """Protects each role's landing page after login."""
    response = kiosk.login_staff("supervisor", "supervisor-demo")
    assert response.headers["Location"].endswith("/console/")
    response = kiosk.login_staff("13800000001", "resident-demo")
    assert response.headers["Location"].endswith("/portal/")


def test_guard_cannot_use_password_page(kiosk):
    """Protects the kiosk rule: guards sign in with staff number and PIN only."""
    response = kiosk.login_staff("guard1001", "123456")
    assert response.status_code == 401


def test_idle_kiosk_session_expires(app, kiosk, monkeypatch):
    """Protects an unattended kiosk: after the idle limit the next tap needs a login again."""
    kiosk.login(*GUARD)
    page = kiosk.client.get("/kiosk/shift/start")
    assert page.status_code == 200
    # The screen reloads itself after the idle limit, so it shows the keypad, not stale data.
    refresh = app.config["GATE_KIOSK_IDLE_MINUTES"] * 60 + 5
    assert f'http-equiv="refresh" content="{refresh}"' in page.get_data(True)
    with kiosk.client.session_transaction() as session:
        session["seen"] -= app.config["GATE_KIOSK_IDLE_MINUTES"] * 60 + 1
    response = kiosk.client.get("/kiosk/shift/start")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/kiosk/login")


def test_background_polls_leave_the_session_cookie_alone(kiosk):
    """Protects a scan's verdict kept in the session: a page's own poll (X-Gate-Background) sends
    no session cookie back, so a poll answered just after the scan's POST cannot put the older
    session (without the verdict) back; and polls do not keep an untouched kiosk signed in."""
    kiosk.login(*GUARD)
    kiosk.start_shift()
    poll = kiosk.client.get("/kiosk/passes/recent", headers={"Accept": "application/json",
                                                             "X-Gate-Background": "1"})
    assert poll.status_code == 200 and "Set-Cookie" not in poll.headers
    page = kiosk.client.get("/kiosk/passes/recent", headers={"Accept": "application/json"})
    assert "Set-Cookie" in page.headers  # a request the guard made: the idle clock restarts


def test_logout_ends_old_cookie(app, kiosk):
    """Protects against a copied session cookie: after logout it no longer works."""
    kiosk.login(*GUARD)
    cookie = kiosk.client.get_cookie("session").value
    kiosk.logout()
    other = app.test_client()
    other.set_cookie("session", cookie)
    assert other.get("/kiosk/shift/start").status_code == 302


@pytest.fixture
def csrf_client(app_config):
    """A client for an app with CSRF protection on, as in production."""
    config = dict(app_config, WTF_CSRF_ENABLED=True)
    application = create_app(config)
    yield application.test_client()
    with application.app_context():
        db.engine.dispose()


def _token(client, path: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(True)).group(1)


def test_post_without_csrf_token_is_refused(csrf_client):
    """Protects every form from cross-site posting: without the token, nothing happens."""
    kiosk = KioskActions(csrf_client)
    refused = kiosk.login(*GUARD)  # login form without its token
    assert refused.headers["Location"].endswith("/kiosk/login")
    assert csrf_client.get("/kiosk/").headers["Location"].startswith("/kiosk/login")
    token = _token(csrf_client, "/kiosk/login")
    response = csrf_client.post("/kiosk/login", data={"staff_no": GUARD[0], "pin": GUARD[1],
                                                      "csrf_token": token})
    assert response.headers["Location"].endswith("/kiosk/")
    csrf_client.post("/kiosk/shift/start", data={"ack": ["1", "2"]})  # no token
    assert csrf_client.get("/kiosk/").headers["Location"].endswith("/kiosk/shift/start")
    csrf_client.post("/logout")  # no token: still signed in
    assert csrf_client.get("/kiosk/shift/start").status_code == 200


def test_login_rate_limited(app_config):
    """Protects against password spraying from one address: too many login posts get 429."""
    config = dict(app_config, RATELIMIT_ENABLED=True, GATE_LOGIN_RATE_LIMIT="3 per minute")
    application = create_app(config)
    client = application.test_client()
    codes = [client.post("/login", data={"login": "x", "password": "y"}).status_code
             for _ in range(4)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429
    with application.app_context():
        db.engine.dispose()


def test_demo_logins_only_work_in_the_demo_site(app_config):
    """Protects real estates: an account (the demo's included) cannot sign in at another site."""
    with create_app(app_config).app_context():
        from gate.services import sites, transaction

        with transaction():
            sites.create_site("riverside", "Riverside")
        db.engine.dispose()
    other = create_app(dict(app_config, GATE_SITE="riverside"))
    kiosk = KioskActions(other.test_client())
    assert kiosk.login(*GUARD).status_code == 401
    assert kiosk.login_staff("supervisor", "supervisor-demo").status_code == 401
    with other.app_context():
        db.engine.dispose()
