"""The shift book's integrity for the console: chain head, checkpoint signatures and the last check.

The result of the last verification is kept in the instance folder as JSON
(`chain-status-<site>.json`), not in the database: whoever can rewrite the shift book can rewrite
its tables too, and the file is written atomically (temp file, then os.replace).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from gate.extensions import db
from gate.models import Checkpoint, ShiftBookHead
from gate.services import shiftbook, signing

VALID, INVALID, NO_KEY = "valid", "invalid", "no_key"


@dataclass
class CheckpointStatus:
    """One signed checkpoint and whether its signature holds for the site's public key."""

    seq: int
    row_hash: str
    signed_at: str
    reason: str
    key_id: str
    signature: str  # VALID, INVALID or NO_KEY


@dataclass
class ChainStatus:
    """What the integrity page shows."""

    site: str
    head_seq: int
    head_hash: str
    checkpoints: list[CheckpointStatus]
    last: dict[str, Any] | None


def _site(site: str | None) -> str:
    return site or shiftbook.site_code()


def result_path(site: str | None = None) -> Path:
    """Where the last verification result of a site is kept."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", _site(site))
    return Path(current_app.instance_path) / f"chain-status-{safe}.json"


def _key_path() -> Path:
    return Path(current_app.config["GATE_SIGNING_KEY_PATH"])


def checkpoint_statuses(site: str | None = None) -> list[CheckpointStatus]:
    """The site's checkpoints, newest first, each with its signature checked."""
    site = _site(site)
    public = signing.load_public_key(_key_path())
    rows = db.session.scalars(select(Checkpoint).where(Checkpoint.site == site)
                              .order_by(Checkpoint.seq.desc(), Checkpoint.id.desc())).all()
    out = []
    for cp in rows:
        if public is None:
            state = NO_KEY
        else:
            message = signing.checkpoint_message(site, cp.seq, cp.row_hash, cp.signed_at)
            ok = cp.key_id == signing.key_id(public) and signing.verify_signature(
                public, cp.signature, message)
            state = VALID if ok else INVALID
        out.append(CheckpointStatus(cp.seq, cp.row_hash, cp.signed_at, cp.reason, cp.key_id, state))
    return out


def last_result(site: str | None = None) -> dict[str, Any] | None:
    """The stored result of the last verification, or None if none was run (or it is unreadable)."""
    path = result_path(site)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "ok" in data else None


def _store(site: str, data: dict[str, Any]) -> None:
    path = result_path(site)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_verification(site: str | None = None) -> dict[str, Any]:
    """Recompute the whole chain and its checkpoints now; store and return the outcome."""
    site = _site(site)
    return record(site, shiftbook.verify(site))


def record(site: str | None, result: shiftbook.VerifyResult) -> dict[str, Any]:
    """Keep a verification's outcome for the console (also after `gate audit verify`)."""
    site = _site(site)
    data = {"site": site, "ok": result.ok, "count": result.count, "head": result.head,
            "bad_seq": result.fault.seq if result.fault else None,
            "bad_code": result.fault.code if result.fault else None,
            "at": shiftbook.rfc3339_now()}
    _store(site, data)
    return data


def alarm(site: str | None = None) -> dict[str, Any] | None:
    """The last stored result if it found tampering, else None."""
    last = last_result(site)
    return last if last is not None and not last["ok"] else None


def status(site: str | None = None) -> ChainStatus:
    """Head seq and hash, checkpoints (newest first) with signature status, and the last check."""
    site = _site(site)
    head = db.session.get(ShiftBookHead, site)
    return ChainStatus(site=site, head_seq=head.seq if head else 0,
                       head_hash=head.row_hash if head else "",
                       checkpoints=checkpoint_statuses(site), last=last_result(site))
