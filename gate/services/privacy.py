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
    """HMAC-SHA256 of a text, keyed with the site's secret (use document_hash for documents)."""
    return hmac.new(_key(), number.strip().upper().encode(), hashlib.sha256).hexdigest()


def document_hash(id_type: str, number: str) -> str:
    """The one keyed hash of an identity document, however it reached us (typed or card read).

    `number` must already be normalised (parse_resident_id for resident ID cards).
    """
    return id_hash(f"{id_type}:{number}")


def protect_id(number: str, id_type: str = "resident_id") -> dict[str, str]:
    """What may be stored about an ID number: its masked form and keyed hash."""
    clean = number.strip().upper()
    return {"id_masked": mask_id(clean), "id_hash": document_hash(id_type, clean)}
