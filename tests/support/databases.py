"""Fresh, migrated databases for tests: SQLite always, PostgreSQL when configured.

Each backend is migrated and loaded with the demo estate once per session into a template;
every test then gets its own copy (a file copy for SQLite, CREATE DATABASE … TEMPLATE for
PostgreSQL), so tests are isolated without paying for migrations each time.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "GATE_TEST_DATABASE_URL"


def postgres_url_or_skip() -> str:
    """The PostgreSQL URL for tests; missing on CI is a failure, locally a skip."""
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set on CI: PostgreSQL tests cannot be skipped")
        pytest.skip(f"{PG_ENV} not set; PostgreSQL tests skipped on this machine")
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_ENV} is unreachable on CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return url


def _admin_engine(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT")


def pg_create_database(base_url: str, name: str, template: str | None = None) -> str:
    """Create (replacing) a database on the same server; returns its URL."""
    engine = _admin_engine(base_url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    engine.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def pg_drop_database(base_url: str, name: str) -> None:
    """Drop a test database."""
    engine = _admin_engine(base_url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


class TemplateBuilder:
    """Builds the per-session template of one backend (migrated, demo loaded)."""

    def __init__(self, workdir: Path, signing_key: Path):
        self.workdir = workdir
        self.signing_key = signing_key
        self._templates: dict[str, str] = {}

    def _prepare(self, url: str) -> None:
        from gate.app import create_app
        from gate.extensions import db
        from gate.services import demo

        app = create_app(_test_config(url, self.workdir / "template-instance", self.signing_key))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            demo.load()
            db.engine.dispose()

    def template(self, backend: str) -> str:
        """The template's location: a file path (sqlite) or a database name (postgresql)."""
        if backend not in self._templates:
            if backend == "sqlite":
                path = self.workdir / "template.db"
                self._prepare(f"sqlite:///{path}")
                self._templates[backend] = str(path)
            else:
                base = postgres_url_or_skip()
                name = f"gatehouse_tpl_{os.getpid()}"
                self._prepare(pg_create_database(base, name))
                self._templates[backend] = name
        return self._templates[backend]

    def fresh(self, backend: str, dest_dir: Path) -> tuple[str, callable]:
        """A new database copied from the template, and a cleanup function."""
        tpl = self.template(backend)
        if backend == "sqlite":
            target = dest_dir / "gate.db"
            shutil.copyfile(tpl, target)
            return f"sqlite:///{target}", lambda: None
        base = postgres_url_or_skip()
        name = f"gatehouse_t_{uuid.uuid4().hex[:10]}"
        url = pg_create_database(base, name, template=tpl)
        return url, lambda: pg_drop_database(base, name)

    def cleanup(self) -> None:
        """Drop the PostgreSQL template."""
        if "postgresql" in self._templates:
            pg_drop_database(os.environ[PG_ENV], self._templates["postgresql"])


def _test_config(url: str, instance: Path, signing_key: Path) -> dict:
    return {
        "GATE_ENV": "testing",
        "GATE_DATABASE_URL": url,
        "GATE_INSTANCE_PATH": str(instance),
        "GATE_SECRET_KEY": "test-secret-key",
        "GATE_SIGNING_KEY_PATH": str(signing_key),
        "GATE_SITE": "demo",
    }


def test_config(url: str, instance: Path, signing_key: Path) -> dict:
    """The app config every test app starts from."""
    return _test_config(url, instance, signing_key)
