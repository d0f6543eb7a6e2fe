"""Keyed hashes and masks for ID numbers: a clear number is never stored or logged."""

from __future__ import annotations

import hashlib
import hmac

from gate.domain.idcard import mask_id
from gate.services import keys

# What an erased or purged name reads as (the column stays NOT NULL; screens show this).
ERASED_NAME = "[已清除]"


def _key() -> bytes:
    return keys.instance_secret("GATE_ID_HMAC_KEY", "id-hmac.key")


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
