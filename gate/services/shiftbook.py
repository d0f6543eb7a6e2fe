"""Append to, verify and checkpoint the shift book."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app, g
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session

from gate.domain.chain import (
    CHAIN_VERSION,
    GENESIS_HASH,
    ChainFault,
    body_from_columns,
    canonical_json,
    check_link,
    entry_body,
    row_hash,
)
from gate.extensions import db
from gate.models import Checkpoint, ShiftBookEntry, ShiftBookHead
from gate.services import chainscan, signing


def rfc3339_now() -> str:
    """Current UTC time as RFC 3339 text with microseconds, the form the chain hashes."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def site_code() -> str:
    """The site this request or message serves: an API key's site (g.site_code), else GATE_SITE."""
    return g.get("site_code") or current_app.config["GATE_SITE"]


def rfc3339(moment: datetime) -> str:
    """A timestamp in the chain's text form."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Built once: the shift book is appended to on every action (twice per plate decision), and
# building ORM statements each time cost more than the database work itself (profiled).
_HEAD = ShiftBookHead.__table__
_BUMP = (update(_HEAD).where(_HEAD.c.site == bindparam("head_site"))
         .values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.row_hash))
_INSERT = insert(ShiftBookEntry.__table__).returning(ShiftBookEntry.__table__.c.id)
_SET_HASH = (update(_HEAD).where(_HEAD.c.site == bindparam("head_site"))
             .values(row_hash=bindparam("head_hash")))


def ensure_head(site: str) -> None:
    """Create the site's chain head (genesis) if it does not exist yet; call within a transaction."""
    if db.session.get(ShiftBookHead, site) is None:
        db.session.add(ShiftBookHead(site=site, seq=0, row_hash=GENESIS_HASH))
        db.session.flush()


def append(kind: str, data: dict[str, Any] | None = None, *, actor_id: int | None = None,
           post_id: int | None = None, gate_id: int | None = None, shift_id: int | None = None,
           ref_seq: int | None = None, site: str | None = None,
           at: str | None = None) -> ShiftBookEntry:
    """Add an entry inside the caller's transaction; the caller commits action and entry together.

    `at` is only for importing history (the demo day, a paper log); live actions use now.

    Taking the head row with an UPDATE first makes concurrent appenders queue on its lock
    (PostgreSQL row lock, SQLite write lock), so the chain stays gap-free and unforked.
    """
    site = site or site_code()
    if actor_id is None:
        actor_id = getattr(g, "actor_id", None)
    conn = db.session.connection()  # Core on the session's connection: see _BUMP
    bumped = conn.execute(_BUMP, {"head_site": site}).one_or_none()
    if bumped is None:
        raise RuntimeError(f"site {site!r} has no shift book yet; load it with 'gate demo' "
                           "or create the site first")
    seq, prev = bumped
    payload = dict(data or {})
    fields = {"actor_id": actor_id, "at": at or rfc3339_now(), "data": payload, "gate_id": gate_id,
              "kind": kind, "post_id": post_id, "ref_seq": ref_seq, "shift_id": shift_id,
              "site": site}
    digest = row_hash(CHAIN_VERSION, seq, prev, entry_body(fields))
    values = dict(fields, data=canonical_json(payload), seq=seq, version=CHAIN_VERSION,
                  prev_hash=prev, row_hash=digest)
    entry_id = conn.execute(_INSERT, values).scalar_one()
    conn.execute(_SET_HASH, {"head_site": site, "head_hash": digest})
    # The caller reads seq (and id) of its entry: a plain object, not a second SELECT.
    return ShiftBookEntry(id=entry_id, **values)


def body_of(entry: ShiftBookEntry) -> str:
    """Rebuild the canonical body from the stored columns (so any edited column shows)."""
    return body_from_columns(entry.actor_id, entry.at, entry.data, entry.gate_id, entry.kind,
                             entry.post_id, entry.ref_seq, entry.shift_id, entry.site)


# Columns read by verify, in body_from_columns() order after the four link columns.
_VERIFY_COLUMNS = (ShiftBookEntry.seq, ShiftBookEntry.version, ShiftBookEntry.prev_hash,
                   ShiftBookEntry.row_hash, ShiftBookEntry.actor_id, ShiftBookEntry.at,
                   ShiftBookEntry.data, ShiftBookEntry.gate_id, ShiftBookEntry.kind,
                   ShiftBookEntry.post_id, ShiftBookEntry.ref_seq, ShiftBookEntry.shift_id,
                   ShiftBookEntry.site)


@dataclass
class VerifyResult:
    """Outcome of a full verification."""

    count: int
    head: str
    fault: ChainFault | None

    @property
    def ok(self) -> bool:
        """True when every entry and checkpoint holds."""
        return self.fault is None

    def line(self) -> str:
        """The one line `gate audit verify` prints."""
        if self.ok:
            return f"OK {self.count} entries, head {self.head}"
        return f"BAD seq {self.fault.seq}: {self.fault.reason}"


def verify(site: str | None = None, key_path: Path | None = None, *,
           workers: int | None = None) -> VerifyResult:
    """Recompute every hash, then check the head row and each signed checkpoint.

    A fast scan (chainscan: the database fills in each entry's hashed text, hashes are compared
    a batch at a time, segments in parallel processes for big books) answers when the chain
    holds; anything else, and the entry-by-entry walk below names the first fault, so faults
    are reported exactly as that walk reports them. `workers` caps the processes (1: none).
    """
    site = site or site_code()
    # Called outside a transaction (the CLI, cron): read in a snapshot of our own, which on
    # SQLite does not hold the write lock for the seconds a big book takes, so plate decisions
    # and check-ins go on. Inside a caller's transaction, read in that one.
    own_snapshot = not db.session().in_transaction()
    if own_snapshot:
        options: dict[str, Any] = {"gate_read_only": True}
        if db.engine.dialect.name == "postgresql":  # one snapshot for every statement below
            options["isolation_level"] = "REPEATABLE READ"
        db.session.connection(execution_options=options)
    try:
        return _verify(site, key_path, workers)
    finally:
        if own_snapshot:
            db.session.rollback()  # nothing was written; ends the read snapshot


def _verify(site: str, key_path: Path | None, workers: int | None) -> VerifyResult:
    checkpoints = db.session.scalars(select(Checkpoint).where(Checkpoint.site == site)
                                     .order_by(Checkpoint.seq)).all()
    keep = {cp.seq for cp in checkpoints}
    head = db.session.get(ShiftBookHead, site)
    fast = chainscan.scan(site, head.seq, keep, workers) if head is not None else None
    if fast is not None and (fast.count, fast.last) == _head_now(site):
        return VerifyResult(fast.count, fast.last,
                            _verify_checkpoints(site, checkpoints, fast.hashes, key_path))
    count, prev, hashes, fault = _reference_walk(site, keep)
    if fault:
        return VerifyResult(count, prev, fault)
    head = db.session.get(ShiftBookHead, site)
    if head is not None and (head.seq != count or head.row_hash != prev):
        return VerifyResult(count, prev, ChainFault(
            count + 1 if head.seq > count else head.seq, "removed",
            f"chain ends at seq {count} but the head says {head.seq}: entries were removed"))
    fault = _verify_checkpoints(site, checkpoints, hashes, key_path)
    return VerifyResult(count, prev, fault)


def _head_now(site: str) -> tuple[int, str] | None:
    """The head as stored now, read past the session's identity map (Core, not ORM)."""
    row = db.session.execute(select(ShiftBookHead.seq, ShiftBookHead.row_hash)
                             .where(ShiftBookHead.site == site)).one_or_none()
    return None if row is None else (row.seq, row.row_hash)


def _reference_walk(site: str, keep: set[int]) -> tuple[int, str, dict[int, str], ChainFault | None]:
    """Every entry in seq order through check_link(): the definition of where a chain breaks."""
    # Plain rows, not ORM objects: verification must keep up with a million entries.
    stmt = (select(*_VERIFY_COLUMNS).where(ShiftBookEntry.site == site)
            .order_by(ShiftBookEntry.seq).execution_options(yield_per=5000))
    rows = db.session.connection().execute(stmt)  # Core: no ORM row processing
    try:
        return _walk(rows, keep)
    finally:
        rows.close()  # a server-side cursor left open after an early stop would leak


def _walk(rows, keep: set[int]) -> tuple[int, str, dict[int, str], ChainFault | None]:
    """Follow the chain from genesis; stop at the first entry that does not hold.

    Returns the hashes of the seqs in `keep` (the checkpointed ones) for the signature checks.
    """
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    hashes: dict[int, str] = {}
    for seq, version, prev_hash, stored, *columns in rows:
        try:
            body = body_from_columns(*columns)
        except (ValueError, TypeError) as exc:
            return count, prev, hashes, ChainFault(seq, "unreadable", f"unreadable entry: {exc}")
        fault = check_link(expected_seq, prev, seq, version, prev_hash, stored, body)
        if fault:
            return count, prev, hashes, fault
        prev, expected_seq, count = stored, expected_seq + 1, count + 1
        if seq in keep:
            hashes[seq] = stored
    return count, prev, hashes, None


def _verify_checkpoints(site: str, checkpoints: list[Checkpoint], hashes: dict[int, str],
                        key_path: Path | None) -> ChainFault | None:
    if not checkpoints:
        return None
    path = key_path or Path(current_app.config["GATE_SIGNING_KEY_PATH"])
    public = signing.load_public_key(path)
    if public is None:
        return ChainFault(checkpoints[0].seq, "no_key",
                          f"no public key at {signing.public_path(path)} to check checkpoints")
    kid = signing.key_id(public)
    for cp in checkpoints:
        if hashes.get(cp.seq) != cp.row_hash:
            return ChainFault(cp.seq, "rewritten",
                              "entry differs from the signed checkpoint (chain was rewritten)")
        if cp.key_id != kid:
            return ChainFault(cp.seq, "unknown_key", f"checkpoint signed by unknown key {cp.key_id}")
        message = signing.checkpoint_message(site, cp.seq, cp.row_hash, cp.signed_at)
        if not signing.verify_signature(public, cp.signature, message):
            return ChainFault(cp.seq, "bad_signature", "checkpoint signature is invalid")
    return None


def checkpoint(reason: str, site: str | None = None) -> Checkpoint | None:
    """Sign the current head inside the caller's transaction; None if the book is empty."""
    site = site or site_code()
    head = db.session.get(ShiftBookHead, site)
    if head is None or head.seq == 0:
        return None
    key = signing.load_or_create_key(Path(current_app.config["GATE_SIGNING_KEY_PATH"]))
    signed_at = rfc3339_now()
    message = signing.checkpoint_message(site, head.seq, head.row_hash, signed_at)
    cp = Checkpoint(site=site, seq=head.seq, row_hash=head.row_hash, signed_at=signed_at,
                    key_id=signing.key_id(key.public_key()), signature=key.sign(message).hex(),
                    reason=reason)
    db.session.add(cp)
    db.session.flush()
    return cp


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a shift-book entry."""


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, flush_context, instances) -> None:
    """No code path may update or delete an entry: corrections are new entries."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, ShiftBookEntry | Checkpoint) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            raise AppendOnlyError("the shift book is append-only; add a correction entry instead")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state) -> None:
    """Bulk UPDATE/DELETE through the session cannot touch the shift book either."""
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and table.name in {"shift_book_entry", "shift_book_checkpoint"}:
            raise AppendOnlyError("the shift book is append-only; add a correction entry instead")
