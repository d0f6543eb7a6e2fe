"""End-to-end fixtures: the app served over HTTP with CSRF on, driven by headless Chromium.

E2E runs on SQLite only; the database matrix (SQLite and PostgreSQL) is covered by the
integration tests. The browser is Debian's /usr/bin/chromium (Playwright's own download is
not available on the gatehouse build machines).
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import got_request_exception
from werkzeug.serving import make_server

from device_adapters import web_link
from gate.app import create_app
from gate.extensions import db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The gatehouse touchscreen.
VIEWPORT = {"width": 1280, "height": 800}
# Playwright's 30 s default makes a broken page cost half a minute per step; the app is local.
ACTION_TIMEOUT_MS = 10_000


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def backend() -> str:
    """E2E runs on SQLite only (overrides the SQLite/PostgreSQL matrix of tests/conftest.py)."""
    return "sqlite"


@pytest.fixture
def live_server(app_config) -> Iterator[str]:
    """The app on a fresh demo database, CSRF enabled, served on a free port; yields the base URL.

    An exception inside a request fails the test at teardown with the server's traceback, so a
    500 is not mistaken for a slow page.
    """
    config = {key: value for key, value in app_config.items() if key != "WTF_CSRF_ENABLED"}
    config["RATELIMIT_ENABLED"] = False
    application = create_app(config)
    assert application.config.get("WTF_CSRF_ENABLED", True), "e2e must run with CSRF protection on"
    errors: list[str] = []

    def record(_sender, exception: BaseException, **_extra) -> None:
        errors.append("".join(traceback.format_exception(exception)))

    got_request_exception.connect(record, application)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="gatehouse-e2e", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        got_request_exception.disconnect(record, application)
        web_link.close(application)  # the kiosk's MQTT link, if a test used the gate panel
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
    if errors:
        pytest.fail(f"the server raised during the test ({len(errors)}x):\n" + "\n".join(errors))


@pytest.fixture
def page(page):
    """pytest-playwright's page, failing after 10 s instead of 30 s."""
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    return page


@pytest.fixture(scope="session")
def base_url(pytestconfig) -> str | None:
    """--base-url or the base_url ini value, like pytest-playwright's own fixture.

    pytest-playwright 0.10 provides its fallback `base_url` as a method of a plugin object,
    which pytest 9.2 deprecates with PytestRemovedIn10Warning; the suite turns warnings into
    errors, so this plain function shadows it. Tests use the `live_server` URL instead.
    """
    return pytestconfig.getoption("--base-url", None) or pytestconfig.getini("base_url") or None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_name) -> dict:
    """Launch Debian's Chromium; missing is a failure on CI and a skip elsewhere."""
    if browser_name != "chromium":
        return browser_type_launch_args
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} not found: install Debian's chromium package to run the e2e tests"
        if _on_ci():
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args) -> dict:
    """A 1280x800 touchscreen with a Chinese locale, like the gatehouse kiosk."""
    return {**browser_context_args, "viewport": VIEWPORT, "has_touch": True, "locale": "zh-CN"}


@pytest.fixture
def screens_dir(pytestconfig) -> Path:
    """test-results/screens/ under the repository root (gitignored), for humans to look at."""
    path = Path(pytestconfig.rootpath) / "test-results" / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path
