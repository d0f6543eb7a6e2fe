"""Every route states who may open it; everyone else is turned away."""

from __future__ import annotations

import re

import pytest

from gate.models import ROLES
from gate.services.auth import allowed_roles
from tests.support.kiosk import GUARD

# Demo logins per role; each signs in through its own page.
LOGINS = {
    "guard": ("kiosk", *GUARD),
    "supervisor": ("staff", "supervisor", "supervisor-demo"),
    "service_desk": ("staff", "desk", "desk-demo"),
    "resident": ("staff", "13800000001", "resident-demo"),
    "admin": ("staff", "admin", "admin-demo"),
}
SAMPLE_ARGS = {"kind": "note", "shift_id": "1", "follow_id": "1", "filename": "gate.css",
               "code": "car-in", "action": "open", "visit_id": "1", "approval_id": "1",
               "incident_id": "1", "entry_id": "1", "visitor_id": "1",
               "resident_id": "1", "script_key": "orders", "script_locale": "zh_CN",
               "pass_id": "1", "token": "GP1AAAA", "slip_id": "1", "unit_id": "1",
               "event_id": "1", "session_id": "1", "order_id": "1",
               "violation_id": "1", "photo_id": "1", "type_id": "1", "guard_id": "1",
               "unit": "1-1-101", "vehicle_id": "1",  # unit, vehicle_id: /api/v1 routes
               "webhook_id": "1"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def _login(kiosk, role):
    how, login, secret = LOGINS[role]
    response = kiosk.login(login, secret) if how == "kiosk" else kiosk.login_staff(login, secret)
    assert response.status_code == 302, f"{role} could not log in"


def test_every_route_declares_roles(app):
    """Protects deny-by-default: a new route without @roles_required or @public is caught here."""
    public = {"auth.kiosk_login", "auth.login", "health.healthz", "index", "residents.activate",
              "share.page", "share.png", "share.svg",
              "metrics.metrics"}  # loopback or bearer token only: kiosk_ui/metrics.py
    for endpoint, _method, _path in _routes(app):
        roles = allowed_roles(app, endpoint)
        # /api/v1 is public to the session layer: the API checks its keys (test_api_keys.py).
        if endpoint in public or endpoint.startswith("api."):
            assert roles is None, endpoint
        else:
            assert roles, f"{endpoint} names no roles: nobody can open it"


@pytest.mark.parametrize("role", ROLES)
def test_route_role_matrix(app, client, kiosk, role):
    """Protects access control: each role reaches exactly the routes that name it; others get 403."""
    _login(kiosk, role)
    checked = 0
    for endpoint, method, path in _routes(app):
        roles = allowed_roles(app, endpoint)
        if roles is None or endpoint == "auth.logout":
            continue
        response = client.open(path, method=method)
        if role in roles:
            assert response.status_code != 403, f"{role} refused at {method} {path}"
        else:
            assert response.status_code == 403, f"{role} got {response.status_code} at {method} {path}"
        checked += 1
    assert checked >= 8


def test_anonymous_is_sent_to_login(app, client):
    """Protects every non-public route from anonymous users: redirect to the right login page."""
    for endpoint, method, path in _routes(app):
        roles = allowed_roles(app, endpoint)
        if roles is None or endpoint.startswith("kiosk_events."):  # 401, see test_live_events.py
            continue
        response = client.open(path, method=method)
        assert response.status_code == 302, f"{method} {path}"
        target = response.headers["Location"]
        expected = "/kiosk/login" if roles == {"guard"} else "/login"
        assert target.startswith(expected), f"{path} -> {target}"
