"""Security headers on every response (kiosk_ui/security_headers.py), for every area and role.

The real app on the test databases: each role signs in through its own page, then representative
pages of its area, the API, static files, the live event stream and the error pages are checked.
"""

from __future__ import annotations

import datetime
import http.client
import secrets
import socket
import threading

import pytest
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import make_server

from gate.app import create_app
from gate.extensions import db
from gate.services.auth import public
from tests.support.api import make_key
from tests.support.http_session import Client
from tests.support.kiosk import GUARD, KioskActions
from tests.support.nginx_site import site_config, start_nginx
from tests.support.waiting import wait_for

SIGN_IN = {  # role: how, login, secret (the demo accounts of README.md)
    "guard": ("kiosk", *GUARD),
    "supervisor": ("staff", "supervisor", "supervisor-demo"),
    "service_desk": ("staff", "desk", "desk-demo"),
    "resident": ("staff", "13800000001", "resident-demo"),
    "admin": ("staff", "admin", "admin-demo"),
}
TODAY = datetime.date.today().isoformat()
ROUTES = [  # (role or None for anonymous, path)
    (None, "/kiosk/login"), (None, "/login"), (None, "/static/gate.css"), (None, "/static/live.js"),
    (None, "/healthz"), (None, "/no-such-page"), (None, "/p/GP1AAAA"), (None, "/api/v1/openapi.json"),
    (None, "/api/v1/visits"), (None, "/portal/"),
    ("guard", "/kiosk/"), ("guard", "/kiosk/shift/start"), ("guard", "/kiosk/visitors/new"),
    ("guard", "/kiosk/passes/"), ("guard", "/kiosk/visitors/999999"), ("guard", "/console/"),
    ("supervisor", "/console/"), ("supervisor", "/console/book/"), ("supervisor", "/console/shifts/"),
    ("supervisor", f"/console/charts/traffic.svg?day={TODAY}"), ("supervisor", "/console/book/export.csv"),
    ("service_desk", "/desk/"), ("service_desk", "/desk/slips/new"),
    ("resident", "/portal/"), ("resident", "/portal/passes/new"),
    ("admin", "/admin/users"), ("admin", "/watchlist/"),
]
PAGE_DIRECTIVES = {"default-src": "'self'", "script-src": "'self'", "object-src": "'none'",
                   "frame-ancestors": "'none'", "base-uri": "'self'", "form-action": "'self'"}


@pytest.fixture
def build(app_config):
    """create_app with overrides, for tests that need their own app; its pool is closed after."""
    apps = []

    def make(**overrides):
        apps.append(create_app(dict(app_config, **overrides)))
        return apps[-1]

    yield make
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request.path}"
    parts = (p.split() for p in header.split(";") if p.strip())
    return {words[0]: words[1:] for words in parts}


def assert_secured(response, *, https: bool = False) -> None:
    """Every header the module promises, with the values that make it a protection."""
    where = f"{response.request.path} ({response.status_code})"
    csp = policy(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts is not None and not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(scripts), where
    assert csp.get("frame-ancestors") == ["'none'"], where
    if response.mimetype == "text/html":
        for directive, source in PAGE_DIRECTIVES.items():
            assert csp.get(directive) == [source], (where, directive, csp.get(directive))
        assert "'unsafe-inline'" not in csp["style-src"], where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("Referrer-Policy") in {"same-origin", "no-referrer"}, where
    assert "camera=()" in response.headers.get("Permissions-Policy", ""), where
    hsts = response.headers.get("Strict-Transport-Security")
    if https:
        assert hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 15_552_000, where
    else:
        assert hsts is None, f"HSTS over plain HTTP at {where}"


def signed_in(app, role: str | None):
    """A test client signed in as `role` (None: anonymous)."""
    client = app.test_client()
    if role:
        how, login, secret = SIGN_IN[role]
        actions = KioskActions(client)
        response = actions.login(login, secret) if how == "kiosk" else actions.login_staff(login, secret)
        assert response.status_code == 302, f"{role} could not sign in"
    return client


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_every_area_and_role_gets_the_headers(app, https):
    """Protects against script injection, framing (clickjacking of the open-barrier buttons),
    MIME sniffing and referrer leaks on every page: each area's pages, the API, static files and
    error pages carry the CSP without 'unsafe-inline' scripts, nosniff, DENY, a referrer policy,
    and HSTS exactly when the request came over HTTPS."""
    base = "https://localhost" if https else "http://localhost"
    clients = {}
    for role, path in ROUTES:
        client = clients.get(role) or clients.setdefault(role, signed_in(app, role))
        response = client.get(path, base_url=base)
        response.close()  # static files are sent from an open file
        assert response.status_code != 500, path
        assert_secured(response, https=https)


def test_api_with_a_key_gets_the_headers(app, client):
    """Protects the JSON API the same way: a keyed call and its error reply carry the headers."""
    _key_id, key = make_key(app, "supervisor")
    for path in ("/api/v1/visits", "/api/v1/units/9-9-999/residents"):
        assert_secured(client.get(path, headers={"Authorization": f"Bearer {key}"}))


def test_event_stream_and_server_error_get_the_headers(build):
    """Protects responses made outside the views' templates: the live event stream and an
    unexpected 500 (production mode, no exception propagation) carry the headers too."""
    app = build(PROPAGATE_EXCEPTIONS=False)

    @app.get("/_boom")
    @public
    def boom():
        raise InternalServerError("test")

    assert_secured(app.test_client().get("/_boom"))
    client = signed_in(app, "guard")
    stream = client.get("/events/kiosk", headers={"Accept": "text/event-stream", "X-Gate-Background": "1"})
    try:
        assert stream.mimetype == "text/event-stream"
        assert_secured(stream)
    finally:
        stream.close()


def test_chart_svg_gets_a_policy_without_script(app):
    """Protects the server-drawn SVGs opened on their own: they may use their style attributes
    and nothing else (no script, no request to anywhere)."""
    response = signed_in(app, "supervisor").get(f"/console/charts/traffic.svg?day={TODAY}")
    assert response.mimetype == "image/svg+xml"
    csp = policy(response)
    assert csp["default-src"] == ["'none'"] and "script-src" not in csp


def test_share_page_keeps_its_stricter_referrer_policy(app, client):
    """Protects the pass token in /p/<token>: the app-wide same-origin never replaces the share
    page's no-referrer."""
    assert client.get("/p/GP1AAAA").headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("proxies, hsts", [(1, True), (0, False)], ids=["trusted-proxy", "no-proxy"])
def test_hsts_behind_the_trusted_proxy_only(build, proxies, hsts):
    """Protects HTTPS behind nginx: HSTS follows X-Forwarded-Proto only from the trusted proxy;
    without one, a client's forged header does not make the app claim HTTPS."""
    app = build(GATE_TRUSTED_PROXIES=proxies)
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert ("Strict-Transport-Security" in response.headers) is hsts


@pytest.mark.parametrize("env, secure", [("production", True), ("development", False)])
def test_session_cookie_flags(build, env, secure):
    """Protects the session cookie: never readable by script (HttpOnly), not sent on cross-site
    POSTs (SameSite=Lax), and HTTPS-only in production (Secure)."""
    app = build(GATE_ENV=env, GATE_SECRET_KEY=secrets.token_hex(32))
    response = KioskActions(app.test_client()).login_staff("supervisor", "supervisor-demo")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert "httponly" in flags and flags["samesite"].strip().lower() == "samesite=lax"
    assert ("secure" in flags) is secure


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> http.client.HTTPResponse:
    conn = Client(port, https=True).connect()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.parametrize("backend", ["sqlite"])
def test_shipped_nginx_site_sends_the_headers(build, tmp_path):
    """Protects what nginx answers itself (deploy/nginx/gatehouse.conf): static files carry
    nosniff, a CSP, DENY and HSTS, and a page proxied to the app carries exactly one HSTS header
    and the app's CSP."""
    app = build(GATE_TRUSTED_PROXIES=1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    https_port = _free_port()
    config = site_config(tmp_path, http_port=_free_port(), https_port=https_port,
                         upstream_port=server.server_port)
    nginx = start_nginx(config, tmp_path / "nginx.log")
    try:
        wait_for(lambda: _reachable(https_port), timeout=20, what="nginx on its https port")
        static = _get(https_port, "/static/gate.css")
        assert static.status == 200 and static.getheader("X-Content-Type-Options") == "nosniff"
        assert static.getheader("X-Frame-Options") == "DENY"
        assert "frame-ancestors 'none'" in static.getheader("Content-Security-Policy", "")
        assert len(static.headers.get_all("Strict-Transport-Security") or []) == 1
        page = _get(https_port, "/login")
        assert page.status == 200, page.status
        assert page.headers.get_all("Strict-Transport-Security") == ["max-age=31536000"]
        assert "script-src 'self'" in page.getheader("Content-Security-Policy", "")
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _reachable(port: int) -> bool:
    try:
        return _get(port, "/static/gate.css").status == 200
    except OSError:
        return False
