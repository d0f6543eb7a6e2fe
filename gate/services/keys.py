"""Secrets kept in files beside the database (HMAC keys), each for one purpose only."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from flask import current_app


def instance_secret(config_key: str, filename: str) -> bytes:
    """The configured secret, else one generated once into a 0600 file in the instance folder.

    One key per purpose (ID hashes, pass tokens, slip tokens), so rotating one voids only
    what it signed.
    """
    configured = current_app.config.get(config_key)
    if configured:
        return configured.encode()
    path = Path(current_app.instance_path) / filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: a worker starting at the
        # same moment sees no file or the whole key, never an empty file it would hash with.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{filename}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            os.chmod(temp, 0o600)
            with contextlib.suppress(FileExistsError):  # another worker won: use its key
                os.link(temp, path)
        finally:
            os.unlink(temp)
    key = path.read_text().strip().encode()
    if not key:
        raise RuntimeError(f"the key file {path} is empty: restore it from the backup (a new "
                           f"key voids what the old one signed) or set {config_key}")
    return key
