"""Keyed hashes and masks for ID numbers: a clear number is never stored or logged."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flask import current_app

from gate.domain.idcard import mask_id


def _key() -> bytes:
    configured = current_app.config.get("GATE_ID_HMAC_KEY")
    if configured:
        return configured.encode()
    path = Path(current_app.instance_path) / "id-hmac.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def id_hash(number: str) -> str:
    """HMAC-SHA256 of a normalised ID number, for matching watchlists and repeat visitors."""
    return hmac.new(_key(), number.strip().upper().encode(), hashlib.sha256).hexdigest()


def protect_id(number: str) -> dict[str, str]:
    """What may be stored about an ID number: its masked form and keyed hash."""
    return {"id_masked": mask_id(number.strip().upper()), "id_hash": id_hash(number)}
