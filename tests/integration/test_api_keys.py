"""API keys: authentication, hashing at rest, revocation, scopes, rate limit and the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from gate.extensions import db
from gate.models import ApiKey, ShiftBookEntry, User
from gate.services import ActionError, auth
from tests.support.api import ApiClient, error_code, make_key
from tests.support.kiosk import KioskActions


def test_key_works_until_revoked(app, client):
    """Protects revocation: a revoked key is refused (401 key_revoked) from the next request on."""
    key_id, clear = make_key(app, "desk")
    api = ApiClient(client, clear)
    assert api.get("/visits").status_code == 200
    with app.app_context():
        from gate.services import api_keys
        from gate.services.sites import current_site
        api_keys.revoke(current_site(), key_id)
    response = api.get("/visits")
    assert response.status_code == 401
    assert error_code(response) == "key_revoked"


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer gh_00000000_" + "a" * 43,
                                    "Basic Z2g6eA=="])
def test_missing_or_unknown_key_is_refused(client, header):
    """Protects the API from callers without a valid key: 401 invalid_key, JSON, no data."""
    response = client.get("/api/v1/visits", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert error_code(response) == "invalid_key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_secret_with_a_real_prefix_is_refused(app, client):
    """Protects against keys forged from a known prefix: the secret must match the stored hash."""
    _key_id, clear = make_key(app, "supervisor")
    forged = clear[:-4] + ("AAAA" if not clear.endswith("AAAA") else "BBBB")
    response = ApiClient(client, forged).get("/visits")
    assert response.status_code == 401
    assert error_code(response) == "invalid_key"


def test_session_cookie_is_not_a_key(app, client):
    """Protects against cross-site use: a signed-in supervisor's browser gets 401 without a key."""
    KioskActions(client).login_staff("supervisor", "supervisor-demo")
    response = client.get("/api/v1/book")
    assert response.status_code == 401
    assert error_code(response) == "invalid_key"


def test_only_a_hash_of_the_key_is_stored(app):
    """Protects keys at rest: the clear key (and its secret part) is in no column of api_key,
    nor in the shift book."""
    key_id, clear = make_key(app, "supervisor")
    secret = clear.rsplit("_", 1)[1]
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM api_key")).all()
        dumped = repr(rows)
        assert clear not in dumped and secret not in dumped
        key = db.session.get(ApiKey, key_id)
        assert len(key.secret_hash) == 64
        book = " ".join(db.session.scalars(select(ShiftBookEntry.data)))
        assert secret not in book
        assert db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.kind == "api_key.created")).first() is not None


def test_service_account_cannot_log_in(app, client):
    """Protects the web from keys' service accounts: no password, no PIN, disabled."""
    make_key(app, "supervisor")
    with app.app_context():
        account = db.session.scalars(select(User).where(User.username.like("api-%"))).one()
        assert account.password_hash is None and account.pin_hash is None and not account.active
        username = account.username
    for password in ("", "x", username):
        with app.app_context(), app.test_request_context():
            with pytest.raises(ActionError):
                auth.authenticate_password(username, password)
    response = KioskActions(client).login_staff(username, "anything-at-all")
    assert response.status_code != 302


def test_entries_name_the_integration(app, client):
    """Protects accountability: what a key does is written under its own service account."""
    _key_id, clear = make_key(app, "resident", unit="1-1-101", name="smart lock app")
    response = ApiClient(client, clear).post("/units/1-1-101/passes", json={"name": "王访客"})
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        entry = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "pass.created")
                                   .order_by(ShiftBookEntry.seq.desc())).first()
        actor = db.session.get(User, entry.actor_id)
        assert actor.display_name == "API: smart lock app"


@pytest.mark.parametrize("role,path,allowed", [
    ("resident", "/visits", False), ("resident", "/book", False), ("desk", "/book", False),
    ("desk", "/visits", True), ("supervisor", "/book", True), ("supervisor", "/visits", True),
    ("resident", "/vehicles", True)])
def test_scopes(app, client, role, path, allowed):
    """Protects scopes: residents reach no visits or book, the desk no book (403 forbidden_scope)."""
    _key_id, clear = make_key(app, role, unit="1-1-101" if role == "resident" else None)
    response = ApiClient(client, clear).get(path)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert error_code(response) == "forbidden_scope"


def test_staff_only_writes_on_vehicles(app, client):
    """Protects the car register: a resident key cannot add, change or end cars."""
    _key_id, clear = make_key(app, "resident", unit="1-1-101")
    api = ApiClient(client, clear)
    assert error_code(api.post("/vehicles", json={"unit": "1-1-101", "plate": "粤B54321"})) == \
        "forbidden_scope"
    assert api.patch("/vehicles/1", json={}).status_code == 403
    assert api.post("/vehicles/1/end", json={}).status_code == 403


@pytest.fixture
def limited_config(app_config):
    """Rate limiting on, at 3 requests a minute."""
    app_config.update({"RATELIMIT_ENABLED": True, "GATE_API_RATE_LIMIT": "3 per minute"})
    return app_config


def test_rate_limit_per_key(limited_config, app, client):
    """Protects the server from one runaway integration: beyond the limit 429 rate_limited with
    Retry-After; another key is not affected."""
    _a, first = make_key(app, "desk", name="first")
    _b, second = make_key(app, "desk", name="second")
    api = ApiClient(client, first)
    for _ in range(3):
        assert api.get("/visits").status_code == 200
    response = api.get("/visits")
    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert ApiClient(client, second).get("/visits").status_code == 200


def test_bad_keys_are_rate_limited(limited_config, app, client):
    """Protects keys from guessing: an address sending bad keys is throttled too."""
    api = ApiClient(client, "gh_00000000_" + "a" * 43)
    codes = [api.get("/visits").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_rate_limit_setting_is_validated(app_config):
    """Protects operators from a typo that would fail every API request: refused at start."""
    from gate.app import create_app
    from gate.config import ConfigError

    app_config["GATE_API_RATE_LIMIT"] = "lots"
    with pytest.raises(ConfigError, match="GATE_API_RATE_LIMIT"):
        create_app(app_config)


def test_cli_create_list_revoke(app, runner, client):
    """Protects key management from the terminal: the key is printed once, listed without the
    secret, and revoked by id; mistakes are one sentence and exit 1."""
    result = runner.invoke(args=["api-key", "create", "--name", "gate display", "--role", "desk"])
    assert result.exit_code == 0, result.output
    clear = result.output.strip().splitlines()[-1]
    assert clear.startswith("gh_")
    assert ApiClient(client, clear).get("/visits").status_code == 200
    listed = runner.invoke(args=["api-key", "list"])
    assert "gate display" in listed.output and clear not in listed.output
    key_id = listed.output.split("\t", 1)[0]
    revoked = runner.invoke(args=["api-key", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert ApiClient(client, clear).get("/visits").status_code == 401
    again = runner.invoke(args=["api-key", "revoke", key_id])
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert "already revoked" in again.output
    no_unit = runner.invoke(args=["api-key", "create", "--name", "x", "--role", "resident"])
    assert no_unit.exit_code == 1 and "unit" in no_unit.output
    bad_unit = runner.invoke(args=["api-key", "create", "--name", "x", "--role", "resident",
                                   "--unit", "9-9-999"])
    assert bad_unit.exit_code == 1 and "9-9-999" in bad_unit.output


@pytest.fixture
def csrf_config(app_config):
    """CSRF protection on, as in production."""
    app_config["WTF_CSRF_ENABLED"] = True
    return app_config


def test_api_needs_no_csrf_token(csrf_config, app, client):
    """Protects integrations from the web forms' CSRF check: keys, not cookies, authenticate."""
    _key_id, clear = make_key(app, "resident", unit="1-1-101")
    response = ApiClient(client, clear).post("/units/1-1-101/passes", json={"name": "王访客"})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_messages_follow_accept_language(app, client):
    """Protects the message language: English by default (the codes never change), Chinese
    when the client prefers it."""
    _key_id, clear = make_key(app, "resident", unit="1-1-101")
    api = ApiClient(client, clear)
    body = {"name": "王访客", "starts_on": "2001-01-01"}
    english = api.post("/units/1-1-101/passes", json=body).get_json()["error"]
    chinese = api.post("/units/1-1-101/passes", json=body,
                       headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_json()["error"]
    assert english["code"] == chinese["code"] == "past_window"
    assert english["message"].startswith("That time has already passed")
    assert english["message"] != chinese["message"]
