"""Shared fixtures: app, client and runner on SQLite and PostgreSQL, and the demo estate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from gate.app import create_app
from gate.extensions import db
from gate.services import auth
from tests.support.databases import TemplateBuilder, test_config
from tests.support.kiosk import KioskActions

pytest_plugins = ["tests.plugins.mosquitto"]
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", autouse=True)
def _cheap_hashing():
    """Argon2 at minimum cost so hundreds of logins stay fast; production keeps the default."""
    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory) -> Path:
    """One checkpoint signing key for the session (the template's checkpoints use it)."""
    return tmp_path_factory.mktemp("keys") / "shiftbook-signing.key"


@pytest.fixture(scope="session")
def templates(tmp_path_factory, signing_key, _cheap_hashing):
    """Per-backend template databases, migrated with the demo loaded."""
    builder = TemplateBuilder(tmp_path_factory.mktemp("templates"), signing_key)
    yield builder
    builder.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def database_url(backend, templates, tmp_path):
    """A fresh demo database for one test."""
    url, cleanup = templates.fresh(backend, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def app_config(database_url, tmp_path, signing_key) -> dict:
    """Config for the test app; tests may tweak it before `app` is built."""
    config = test_config(database_url, tmp_path / "instance", signing_key)
    config.update({"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    return config


@pytest.fixture
def app(app_config):
    """The Flask app on a fresh demo database."""
    application = create_app(app_config)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner bound to the app."""
    return app.test_cli_runner()


@pytest.fixture
def kiosk(client) -> KioskActions:
    """Walk kiosk flows as a guard."""
    return KioskActions(client)


@pytest.fixture
def ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield app


def pytest_report_header(config):
    """Say which databases the run covers."""
    pg = os.environ.get("GATE_TEST_DATABASE_URL")
    return f"databases: sqlite{' + postgresql' if pg else ' (PostgreSQL not configured)'}"
