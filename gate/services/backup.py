"""One archive holds what a site needs to come back: the database, the instance keys, a manifest.

Backup is safe while the web and the bridge write: SQLite is copied with the online backup
API, PostgreSQL with pg_dump (one consistent snapshot). The keys matter as much as the data:
without the signing key's public half old checkpoints cannot be verified, and without the HMAC
keys old ID hashes, passes and slips no longer match.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from gate.extensions import db
from gate.services import ActionError
from gate.services.signing import public_path

FORMAT = 1
MANIFEST = "manifest.json"
DB_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# Instance secrets made by gate.services.keys (role -> (setting that replaces the file, file name)).
HMAC_KEYS = {"id_hmac": ("GATE_ID_HMAC_KEY", "id-hmac.key"), "pass": ("GATE_PASS_KEY", "pass.key"),
             "slip": ("GATE_SLIP_KEY", "slip.key"), "webhook": ("GATE_WEBHOOK_KEY", "webhook.key")}


@dataclass
class BackupResult:
    """What `gate backup` wrote."""

    path: Path
    backend: str
    revision: str | None
    keys: list[str]
    keys_in_settings: list[str] = field(default_factory=list)


@dataclass
class RestoreResult:
    """What `gate restore` did, and the shift book's verification afterwards."""

    backend: str
    revision: str | None
    keys_written: list[str]
    keys_unchanged: list[str]
    verify_line: str
    verify_ok: bool
    keys_in_settings: list[str] = field(default_factory=list)


def _backend() -> str:
    name = db.engine.dialect.name
    if name not in DB_MEMBER:
        raise ActionError("backup_backend", _l("Backups support SQLite and PostgreSQL, not %(name)s.",
                                               name=name))
    return name


def key_paths() -> dict[str, Path]:
    """Every key file this instance uses, by role (present or not)."""
    signing = Path(current_app.config["GATE_SIGNING_KEY_PATH"])
    paths = {"signing_key": signing, "signing_pub": public_path(signing)}
    instance = Path(current_app.instance_path)
    for role, (_setting, filename) in HMAC_KEYS.items():
        paths[role] = instance / filename
    return paths


def _keys_in_settings() -> list[str]:
    """Keys given as settings (environment, gate.cfg) rather than files: not in the archive."""
    return [setting for setting, _ in HMAC_KEYS.values() if current_app.config.get(setting)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def libpq_url(sqlalchemy_url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore, and the environment carrying the password.

    The password goes in PGPASSWORD, not on the command line, where `ps` would show it.
    """
    url = make_url(sqlalchemy_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ActionError(f"{name.replace('_', '')}_missing",
                          _l("%(tool)s is not installed; install the PostgreSQL client of the server's "
                             "major version (apt-get install postgresql-client).", tool=name))
    return path


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ActionError(f"{what}_failed", _l("%(tool)s failed: %(reason)s", tool=what,
                                                 reason=lines[0] if lines else done.returncode))


def _revision() -> str | None:
    try:
        return db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic_version table: a database never migrated
        db.session.rollback()
        return None
    finally:
        db.session.rollback()


def _dump_database(backend: str, target: Path) -> None:
    if backend == "sqlite":
        source_path = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).database
        # The online backup API copies a consistent snapshot while other connections write.
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
        return
    url, env = libpq_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    _run([_pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={target}", f"--dbname={url}"],
         env, "pg_dump")


def _archive_path(dest: Path, site: str) -> Path:
    if dest.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return dest / f"gatehouse-{site}-{stamp}.tar.gz"
    if dest.exists():
        raise ActionError("backup_exists", _l("%(path)s exists already; name a new file or a folder.",
                                              path=dest))
    if not dest.parent.is_dir():
        raise ActionError("backup_no_folder", _l("The folder %(path)s does not exist.", path=dest.parent))
    return dest


def create(dest: Path) -> BackupResult:
    """Write the database, the instance keys and a manifest to one new 0600 tar.gz archive."""
    site = current_app.config["GATE_SITE"]
    backend = _backend()
    path = _archive_path(dest, site)
    revision = _revision()
    with tempfile.TemporaryDirectory(prefix=".gatehouse-backup-", dir=path.parent) as staging:
        stage = Path(staging)
        members: dict[str, Path] = {DB_MEMBER[backend]: stage / DB_MEMBER[backend]}
        _dump_database(backend, members[DB_MEMBER[backend]])
        keys = []
        for role, key_path in key_paths().items():
            if key_path.is_file():
                members[f"keys/{role}"] = key_path
                keys.append(role)
        manifest = {
            "format": FORMAT, "site": site, "created_at": datetime.now(UTC).isoformat(),
            "gatehouse_version": metadata.version("gatehouse"),
            "database": {"backend": backend, "member": DB_MEMBER[backend], "alembic_revision": revision},
            "keys": {role: f"keys/{role}" for role in keys},
            "keys_in_settings": _keys_in_settings(),
            "sha256": {name: _sha256(member) for name, member in members.items()},
        }
        fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                    _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
                    for name, member in members.items():
                        _add_file(tar, name, member)
                raw.flush()
                os.fsync(raw.fileno())
            os.chmod(partial, 0o600)
            os.replace(partial, path)  # readers see no archive or a whole one
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
    return BackupResult(path, backend, revision, keys, manifest["keys_in_settings"])


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tar.gettarinfo(str(path), arcname=name)
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    with path.open("rb") as fh:
        tar.addfile(info, fh)


def _migrations():
    from alembic.script import ScriptDirectory

    from gate.app import MIGRATIONS

    return ScriptDirectory(MIGRATIONS)


def read_archive(src: Path, stage: Path) -> dict:
    """Unpack into `stage` after checking the manifest and every member's checksum; the manifest."""
    try:
        tar = tarfile.open(src, mode="r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise ActionError("backup_unreadable", _l("%(path)s is not a readable Gatehouse backup (%(reason)s).",
                                                   path=src, reason=exc)) from None
    with tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
            sums = dict(manifest["sha256"])
        except (KeyError, TypeError, ValueError, tarfile.TarError):
            raise ActionError("backup_unreadable", _l("%(path)s has no valid manifest; it is not a "
                                                      "Gatehouse backup.", path=src)) from None
        if manifest.get("format") != FORMAT:
            raise ActionError("backup_format", _l("%(path)s is backup format %(found)s; this Gatehouse "
                                                  "reads format %(known)s.", path=src,
                                                  found=manifest.get("format"), known=FORMAT))
        seen = set()
        for info in tar:
            if info.name == MANIFEST:
                continue
            # Only members the manifest names, as plain files written by us: no paths from the archive.
            if info.name not in sums or not info.isfile():
                raise ActionError("backup_tampered", _l("%(path)s holds %(member)s, which its manifest "
                                                        "does not list; the archive was altered.",
                                                        path=src, member=info.name))
            digest = hashlib.sha256()
            target = stage / hashlib.sha256(info.name.encode()).hexdigest()
            with tar.extractfile(info) as data, target.open("wb") as out:
                for block in iter(lambda data=data: data.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != sums[info.name]:
                raise ActionError("backup_tampered", _l("%(member)s in %(path)s does not match its "
                                                        "checksum; the archive is damaged or was altered.",
                                                        path=src, member=info.name))
            seen.add(info.name)
        missing = set(sums) - seen
        if missing:
            raise ActionError("backup_tampered", _l("%(path)s lacks %(members)s; the archive is "
                                                    "incomplete.", path=src,
                                                    members=", ".join(sorted(missing))))
    return manifest


def staged(stage: Path, name: str) -> Path:
    """Where read_archive() put a member."""
    return stage / hashlib.sha256(name.encode()).hexdigest()


def is_empty() -> bool:
    """True when no table of the target database holds a row (never migrated, or just migrated)."""
    names = [n for n in inspect(db.engine).get_table_names() if n != "alembic_version"]
    try:
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            if db.session.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first() is not None:
                return False
        return True
    finally:
        db.session.rollback()


def _write_private(target: Path, source: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as data:
            shutil.copyfileobj(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _restore_database(backend: str, dump: Path) -> None:
    uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.remove()
    db.engine.dispose()  # our own connections must not hold the old database open
    if backend == "sqlite":
        target = Path(make_url(uri).database)
        _write_private(target, dump)
        for suffix in ("-wal", "-shm", "-journal"):  # the old file's logs would corrupt the new one
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{target}{suffix}")
        return
    url, env = libpq_url(uri)
    # One transaction: the target ends up wholly restored or as it was.
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", "--no-password", f"--dbname={url}", str(dump)],
         env, "pg_restore")


def restore(src: Path, *, force: bool = False) -> RestoreResult:
    """Check the archive, restore database and keys, then verify the shift book's chain."""
    from gate.services import integrity, shiftbook

    backend = _backend()
    site = current_app.config["GATE_SITE"]
    with tempfile.TemporaryDirectory(prefix=".gatehouse-restore-") as staging:
        stage = Path(staging)
        manifest = read_archive(src, stage)
        database = manifest["database"]
        if database["backend"] != backend:
            raise ActionError("restore_backend", _l("The backup holds a %(found)s database and "
                                                    "GATE_DATABASE_URL is %(backend)s.",
                                                    found=database["backend"], backend=backend))
        if manifest["site"] != site and not force:
            raise ActionError("restore_other_site", _l("The backup is of site %(found)s, not %(site)s; "
                                                       "add --force to restore it anyway.",
                                                       found=manifest["site"], site=site))
        revision = database.get("alembic_revision")
        if revision is not None:
            try:
                _migrations().get_revision(revision)
            except Exception:  # alembic's errors for an unknown id vary by version
                raise ActionError("restore_newer", _l("The backup's schema %(revision)s is unknown to "
                                                      "this Gatehouse; install the release that made it.",
                                                      revision=revision)) from None
        if not force and not is_empty():
            raise ActionError("restore_not_empty", _l("The target database holds data; add --force to "
                                                      "replace it."))
        paths = key_paths()
        written, unchanged = [], []
        for role, member in manifest["keys"].items():
            target, source = paths[role], staged(stage, member)
            if target.exists() and target.read_bytes() == source.read_bytes():
                unchanged.append(role)
            elif target.exists() and not force:
                raise ActionError("restore_key_differs", _l("%(path)s holds a different key; add --force "
                                                            "to replace it (keep a copy first).",
                                                            path=target))
            else:
                written.append(role)
        _restore_database(backend, staged(stage, database["member"]))
        for role in written:
            _write_private(paths[role], staged(stage, manifest["keys"][role]))
    result = shiftbook.verify(manifest["site"])
    with contextlib.suppress(OSError):  # the console's banner follows the last verification
        integrity.record(manifest["site"], result)
    return RestoreResult(backend, revision, written, unchanged, result.line(), result.ok,
                         list(manifest.get("keys_in_settings") or []))


def schema_head() -> str | None:
    """The newest migration this code has (to tell whether `gate db upgrade` is due)."""
    return _migrations().get_current_head()
