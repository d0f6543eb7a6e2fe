"""Secrets kept in files beside the database (HMAC keys), each for one purpose only."""

from __future__ import annotations

import os
import secrets
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
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it a moment ago
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
