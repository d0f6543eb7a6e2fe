"""Hash chain of the shift book: canonical JSON and row hashes (pure Python).

row_hash = SHA-256(version ‖ seq ‖ prev_hash ‖ canonical JSON of the entry), with "|" as the
separator so no two field combinations give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64
CHAIN_VERSION = 1

# The fields of an entry that the hash covers, besides version, seq and prev_hash.
ENTRY_FIELDS = ("actor_id", "at", "data", "gate_id", "kind", "post_id", "ref_seq", "shift_id", "site")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, UTF-8 characters kept (not \\u-escaped)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def entry_body(fields: dict[str, Any]) -> str:
    """Canonical JSON of an entry's hashed fields; `data` must already be a dict."""
    missing = [name for name in ENTRY_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"entry is missing {', '.join(missing)}")
    return canonical_json({name: fields[name] for name in ENTRY_FIELDS})


# The C string encoder json.dumps(ensure_ascii=False) itself uses: same bytes, no dispatch.
_quote = json.encoder.encode_basestring


def body_from_columns(actor_id: int | None, at: str, data_json: str, gate_id: int | None,
                      kind: str, post_id: int | None, ref_seq: int | None, shift_id: int | None,
                      site: str) -> str:
    """The same bytes as entry_body(), built from stored columns without re-parsing `data`.

    `data_json` is used verbatim, so stored data that is not in canonical form fails the hash:
    verification is stricter, and several times faster, than parsing and re-serialising.
    """
    return "".join((
        '{"actor_id":', "null" if actor_id is None else str(actor_id),
        ',"at":', _quote(at), ',"data":', data_json,
        ',"gate_id":', "null" if gate_id is None else str(gate_id),
        ',"kind":', _quote(kind),
        ',"post_id":', "null" if post_id is None else str(post_id),
        ',"ref_seq":', "null" if ref_seq is None else str(ref_seq),
        ',"shift_id":', "null" if shift_id is None else str(shift_id),
        ',"site":', _quote(site), "}"))


# The hashed material of one entry as a printf-style template over its columns, in the order
# version, seq, prev_hash, actor_id, at (JSON-quoted), data, gate_id, kind (JSON-quoted), post_id,
# ref_seq, shift_id, site (JSON-quoted), with NULL integers written as `null`. The database fills
# it in (SQLite's format(); PostgreSQL spells the same bytes with ||), so verification fetches one
# value per entry instead of nine columns; the bytes are those of row_hash()'s material.
MATERIAL_FORMAT = ('%s|%s|%s|{"actor_id":%s,"at":%s,"data":%s,"gate_id":%s,"kind":%s,"post_id":%s,'
                   '"ref_seq":%s,"shift_id":%s,"site":%s}')
_HEXDIGEST = operator.methodcaller("hexdigest")


def batch_holds(rows: Sequence[tuple[int, str, str, bytes | str]], expected_seq: int, prev: str, *,
                text: bool = False) -> bool:
    """True when a run of (seq, prev_hash, row_hash, material) rows continues the chain unbroken.

    The loops run in C (zip, map, tuple comparison): no Python code per entry. It only says yes
    or no; a caller that gets no walks the same rows with check_link() to name the first fault.
    """
    seqs, prevs, stored, materials = zip(*rows, strict=True)
    if text:  # the material came as str: UTF-8, as row_hash() encodes it
        materials = map(str.encode, materials)
    return (seqs == tuple(range(expected_seq, expected_seq + len(seqs)))
            and prevs[0] == prev and prevs[1:] == stored[:-1]
            and tuple(map(_HEXDIGEST, map(hashlib.sha256, materials))) == stored)


def row_hash(version: int, seq: int, prev_hash: str, body: str) -> str:
    """The hex SHA-256 that links an entry to the one before it."""
    material = f"{version}|{seq}|{prev_hash}|{body}".encode()
    return hashlib.sha256(material).hexdigest()


def record_digest(fields: dict[str, Any]) -> str:
    """Digest of a record kept outside the chain, so the chain proves it unedited."""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


@dataclass(frozen=True)
class ChainFault:
    """The first entry where the chain does not hold: a stable code and an English reason."""

    seq: int
    code: str
    reason: str


def check_link(expected_seq: int, expected_prev: str, seq: int, version: int, prev_hash: str,
               stored_hash: str, body: str) -> ChainFault | None:
    """Check one stored entry against the running chain state; None when it holds."""
    if seq != expected_seq:
        return ChainFault(expected_seq, "missing", f"entry {expected_seq} is missing (next stored is {seq})")
    if prev_hash != expected_prev:
        return ChainFault(seq, "broken_link", "prev_hash does not match the previous entry's hash")
    if row_hash(version, seq, prev_hash, body) != stored_hash:
        return ChainFault(seq, "edited", "content does not match its row_hash (entry was edited)")
    return None
