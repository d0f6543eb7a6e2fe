"""`gate backup` / `gate restore`: database and instance keys out and back, checked and verified."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gate.app import create_app
from gate.extensions import db
from gate.models import Device, ShiftBookEntry, User
from gate.services import backup, keys, shiftbook, transaction
from tests.support import databases
from tests.support.waiting import wait_for


@pytest.fixture
def source(app):
    """The demo estate, with every instance key made (as a site that has run a while has)."""
    with app.app_context():
        for setting, filename in backup.HMAC_KEYS.values():
            keys.instance_secret(setting, filename)
    return app


@pytest.fixture
def target(backend, tmp_path):
    """An app on an empty database (never migrated) with an empty instance folder and key path."""
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path / 'target.db'}", (lambda: None)
    else:
        base, name = databases.postgres_url_or_skip(), f"gatehouse_r_{uuid.uuid4().hex[:10]}"
        url = databases.pg_create_database(base, name)

        def cleanup():
            databases.pg_drop_database(base, name)
    key = tmp_path / "target-keys" / "signing.key"
    app = create_app(databases.test_config(url, tmp_path / "target-instance", key))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    cleanup()


def _counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {model.__name__: db.session.scalar(select(func.count()).select_from(model))
                  for model in (User, Device, ShiftBookEntry)}
        db.session.remove()
    return counts


def _backup(app, dest: Path) -> Path:
    result = app.test_cli_runner().invoke(args=["backup", str(dest)])
    assert result.exit_code == 0, result.output
    return Path(result.output.split("Backup written to ", 1)[1].split(" (", 1)[0])


def _restore(app, archive: Path, *extra: str):
    return app.test_cli_runner().invoke(args=["restore", str(archive), *extra])


EARLY = 5  # entries written before the backup starts


def test_backup_while_writing_restores_and_verifies(source, target, tmp_path):
    """Protects recovery: a backup taken while the app writes restores into an empty database
    with a shift book whose chain and signed checkpoints verify, and the same records."""
    stop, written = threading.Event(), []

    def write():
        with source.app_context():
            while not stop.is_set() and len(written) < 500:
                with transaction():
                    written.append(shiftbook.append("note", {"text": "during backup"}, site="demo").seq)
            db.session.remove()

    writer = threading.Thread(target=write)
    before = _counts(source)
    with source.app_context():
        with transaction():
            shiftbook.checkpoint("test")
    writer.start()
    try:
        # Some entries are committed before the backup starts (the snapshot must hold them);
        # the writer keeps going while it runs.
        wait_for(lambda: len(written) >= EARLY, timeout=30)
        archive = _backup(source, tmp_path)
    finally:
        stop.set()
        writer.join()
    assert written, "the writer wrote nothing while the backup ran"
    assert archive.stat().st_mode & 0o777 == 0o600

    result = _restore(target, archive)
    assert result.exit_code == 0, result.output
    restored = _counts(target)
    assert restored["User"] == before["User"] and restored["Device"] == before["Device"]
    # The snapshot holds every entry written before it and none that was cut in half.
    entries = restored["ShiftBookEntry"]
    assert before["ShiftBookEntry"] + EARLY <= entries <= before["ShiftBookEntry"] + len(written) + 1
    assert f"Shift book: OK {restored['ShiftBookEntry']} entries" in result.output
    with target.app_context():
        assert shiftbook.verify("demo").ok


def test_keys_are_restored_private(source, target, tmp_path):
    """Protects old checkpoints, ID hashes and passes: every instance key comes back, byte for
    byte, readable by the service user only."""
    archive = _backup(source, tmp_path)
    assert _restore(target, archive).exit_code == 0
    with source.app_context():
        originals = backup.key_paths()
    with target.app_context():
        restored = backup.key_paths()
    assert set(originals) == {"signing_key", "signing_pub", "id_hmac", "pass", "slip", "webhook"}
    for role, path in originals.items():
        assert restored[role].read_bytes() == path.read_bytes(), role
        assert restored[role].stat().st_mode & 0o777 == 0o600, role


def test_different_existing_key_is_not_replaced_silently(source, target, tmp_path):
    """Protects a site's own keys: restoring over a different key needs --force, and nothing is
    restored before the refusal."""
    archive = _backup(source, tmp_path)
    other = Path(target.instance_path) / "id-hmac.key"
    other.write_text("a different key of this machine")
    result = _restore(target, archive)
    assert result.exit_code == 1 and "holds a different key" in result.output
    assert other.read_text() == "a different key of this machine"
    with target.app_context():
        assert backup.is_empty()
    forced = _restore(target, archive, "--force")
    assert forced.exit_code == 0, forced.output
    with source.app_context():
        assert other.read_bytes() == backup.key_paths()["id_hmac"].read_bytes()


def test_restore_over_data_needs_force(source, tmp_path):
    """Protects a running site from a mistyped restore: a database holding data is replaced
    only with --force."""
    archive = _backup(source, tmp_path)
    refused = _restore(source, archive)
    assert refused.exit_code == 1 and "The target database holds data; add --force" in refused.output
    forced = _restore(source, archive, "--force")
    assert forced.exit_code == 0, forced.output
    assert "Keys already in place: signing_key, signing_pub" in forced.output and "OK " in forced.output


def _rewrite(archive: Path, dest: Path, change) -> Path:
    """Copy the archive member by member, letting `change(name, data)` alter the bytes."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(dest, "w:gz") as out:
        for info in src:
            data = change(info.name, src.extractfile(info).read())
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


@pytest.mark.parametrize("what", ["database", "key"])
def test_tampered_archive_is_refused(source, target, tmp_path, what):
    """Protects against restoring a damaged or altered archive: a member that does not match the
    manifest's checksum stops the restore before anything is written."""
    archive = _backup(source, tmp_path)
    member = "keys/signing_pub" if what == "key" else None

    def change(name, data):
        if name == member or (member is None and name.startswith("database.")):
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    bad = _rewrite(archive, tmp_path / "bad.tar.gz", change)
    result = _restore(target, bad)
    assert result.exit_code == 1 and "does not match its checksum" in result.output
    with target.app_context():
        assert backup.is_empty() and not backup.key_paths()["signing_pub"].exists()


def test_manifest_describes_the_archive(source, tmp_path):
    """Protects the archive's self-description: format, site, schema revision, version and a
    checksum for every member."""
    archive = _backup(source, tmp_path)
    with tarfile.open(archive, "r:gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = {m.name for m in tar} - {"manifest.json"}
    assert manifest["format"] == 1 and manifest["site"] == "demo" and manifest["gatehouse_version"]
    with source.app_context():
        assert manifest["database"]["alembic_revision"] == backup.schema_head()
    assert set(manifest["sha256"]) == names and len(names) == 7


def test_cli_refuses_clearly(source, tmp_path, monkeypatch, backend):
    """Protects operators from tracebacks: an existing destination, a file that is not a backup
    and (PostgreSQL) a missing pg_dump are each one sentence and exit status 1."""
    taken = tmp_path / "taken.tar.gz"
    taken.write_bytes(b"x")
    result = source.test_cli_runner().invoke(args=["backup", str(taken)])
    assert result.exit_code == 1 and "exists already" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    result = _restore(source, taken)
    assert result.exit_code == 1 and "not a readable Gatehouse backup" in result.output
    if backend == "postgresql":
        monkeypatch.setattr(backup.shutil, "which", lambda name: None)
        result = source.test_cli_runner().invoke(args=["backup", str(tmp_path)])
        assert result.exit_code == 1 and "pg_dump is not installed" in result.output
