"""deploy/postgres/setup.sh against the machine's PostgreSQL (GATE_TEST_DATABASE_URL's server).

The script runs twice with a scratch role and database (it must be idempotent), then
`gate db upgrade` runs as that role with the printed GATE_DATABASE_URL; role and database are
dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.support.databases import postgres_url_or_skip

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "postgres" / "setup.sh"


@pytest.fixture
def server():
    """libpq settings for the test server's superuser, and an admin engine; drops what the test made."""
    base = make_url(postgres_url_or_skip())
    if shutil.which("psql") is None:
        pytest.fail("psql is not installed; it comes with Debian's postgresql-client", pytrace=False)
    name = f"gate_setup_{uuid.uuid4().hex[:8]}"
    pg = {"PGHOST": base.host or "127.0.0.1", "PGPORT": str(base.port or 5432),
          "PGUSER": base.username or "postgres", "GATE_DB_NAME": name, "GATE_DB_USER": name}
    if base.password:
        pg["PGPASSWORD"] = base.password
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    yield pg, admin
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()


def _setup(pg: dict, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "GATE_DB_"))}
    return subprocess.run(["bash", str(SCRIPT)], env={**env, **pg, **extra}, capture_output=True,
                          text=True, timeout=60)


def test_setup_script_is_idempotent_and_gate_migrates_as_the_role(server, tmp_path):
    """Protects the install guide's database step: the script makes a login role without
    privileges and a UTF8 database it owns, where no other role may connect or create objects;
    a second run changes nothing and keeps the password; and the printed URL is enough for
    `gate db upgrade` as that role."""
    pg, admin = server
    name = pg["GATE_DB_NAME"]
    first = _setup(pg)
    assert first.returncode == 0, first.stderr
    url_line = first.stdout.strip()
    assert url_line.startswith("GATE_DATABASE_URL=postgresql+psycopg://"), first.stdout
    url = make_url(url_line.partition("=")[2])
    assert (url.username, url.database) == (name, name) and len(url.password) == 32

    second = _setup(pg)
    assert second.returncode == 0, second.stderr
    assert "<its password>" in second.stdout and url.password not in second.stdout

    with admin.connect() as conn:
        role = conn.execute(text("SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole "
                                 "FROM pg_roles WHERE rolname = :n"), {"n": name}).one()
        assert tuple(role) == (True, False, False, False)
        db = conn.execute(text("SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
                               "has_database_privilege('public', datname, 'CONNECT') "
                               "FROM pg_database WHERE datname = :n"), {"n": name}).one()
        assert tuple(db) == (name, "UTF8", False)

    env = {**os.environ, "GATE_DATABASE_URL": url.render_as_string(hide_password=False),
           "GATE_INSTANCE_PATH": str(tmp_path)}
    upgrade = subprocess.run([sys.executable, "-c", "from gate.cli import main; main()", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]

    owned = create_engine(url.set(database=name).set(username=pg["PGUSER"], password=None))
    try:
        with owned.connect() as conn:
            # The schema is there, owned by the role, and PUBLIC may not create in it.
            tables = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = "
                                       "'shift_book_entry'")).scalars().all()
            assert tables == [name]
            assert conn.execute(text("SELECT has_schema_privilege('public', 'public', 'CREATE')")).scalar() \
                is False
    finally:
        owned.dispose()


def test_setup_script_refuses_a_name_that_is_not_a_plain_word(server):
    """Protects against SQL or URL injection through the names: anything but [a-z_][a-z0-9_]* is
    refused before PostgreSQL is touched."""
    pg, _ = server
    result = _setup(pg, GATE_DB_NAME='gate"; DROP DATABASE postgres; --')
    assert result.returncode != 0 and "not a plain name" in result.stderr
