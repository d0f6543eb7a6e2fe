"""Fast check that a site's whole shift book holds: database-built hash material, C-level batch
checks, and segments verified in parallel processes.

It only answers "the chain holds" (a Scan) or "ask the reference walk" (None): shiftbook.verify()
then walks entry by entry to name the first fault, so fault reporting never depends on this code.
Any doubt (an odd row, a segment seam that does not join, an unknown driver) gives None.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from gate.domain.chain import GENESIS_HASH, MATERIAL_FORMAT, batch_holds
from gate.extensions import db

BATCH = 5000
PARALLEL_MIN = 100_000  # below this, starting processes costs more than it saves
MAX_WORKERS = 8

# Each entry's hashed text, filled in by the database: one value to fetch instead of nine.
# SQLite's json_quote() and PostgreSQL's to_json(text) write JSON strings; where one writes a
# byte differently from Python's encoder the hash fails and the reference walk decides.
_MATERIAL = {
    "sqlite": (f"CAST(format('{MATERIAL_FORMAT}', version, seq, prev_hash, coalesce(actor_id, 'null'), "
               "json_quote(at), data, coalesce(gate_id, 'null'), json_quote(kind), "
               "coalesce(post_id, 'null'), coalesce(ref_seq, 'null'), coalesce(shift_id, 'null'), "
               "json_quote(site)) AS BLOB)"),
    # PostgreSQL: || is cheaper there than format() (3.2 against 4.4 us a row on the server);
    # text, not bytea, as the driver decodes text faster than hex-escaped bytea.
    "postgresql": ("version || '|' || seq || '|' || prev_hash || '|{\"actor_id\":' "
                   "|| coalesce(actor_id::text, 'null') || ',\"at\":' || to_json(at)::text "
                   "|| ',\"data\":' || data || ',\"gate_id\":' || coalesce(gate_id::text, 'null') "
                   "|| ',\"kind\":' || to_json(kind)::text "
                   "|| ',\"post_id\":' || coalesce(post_id::text, 'null') "
                   "|| ',\"ref_seq\":' || coalesce(ref_seq::text, 'null') "
                   "|| ',\"shift_id\":' || coalesce(shift_id::text, 'null') "
                   "|| ',\"site\":' || to_json(site)::text || '}'"),
}
_PARAM = {"sqlite": "?", "postgresql": "%s"}


@dataclass
class Scan:
    """A chain that holds: entries counted, the last hash, and the hashes at the kept seqs."""

    count: int
    last: str
    hashes: dict[int, str]


@dataclass(frozen=True)
class _Segment:
    """Entries with lo < seq <= hi (hi None: to the end); lo's stored hash is the starting link."""

    dialect: str
    site: str
    lo: int
    hi: int | None
    keep: tuple[int, ...]


@dataclass(frozen=True)
class _Result:
    """What one segment saw: its starting link, its last seq and hash, the kept hashes."""

    holds: bool
    start: str | None = None
    last_seq: int = 0
    last: str = ""
    hashes: dict[int, str] | None = None


def scan(site: str, head_seq: int, keep: set[int], workers: int | None = None) -> Scan | None:
    """Check every entry of `site` (head_seq sizes the segments); None unless the chain holds."""
    dialect = db.engine.dialect.name
    if dialect not in _MATERIAL:
        return None
    count = _workers(dialect, head_seq, workers)
    bounds = [0, *(head_seq * i // count for i in range(1, count)), None]
    segments = [_Segment(dialect, site, lo, hi, tuple(sorted(s for s in keep if s > lo and
                                                              (hi is None or s <= hi))))
                for lo, hi in zip(bounds, bounds[1:], strict=False)]
    if count == 1:
        raw = db.session.connection().connection.driver_connection
        results = [_scan_segment(raw, segments[0])]
    else:
        target = _connect_target()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(count, mp_context=context) as pool:
            results = list(pool.map(_scan_in_child, [target] * count, segments))
    return _join(segments, results)


def _workers(dialect: str, head_seq: int, wanted: int | None) -> int:
    """How many processes: one for small books, in-memory databases or a threaded caller."""
    auto = wanted is None
    if auto:
        # PostgreSQL: two per core, as each connection alternates between the server building a
        # batch and the client hashing it; SQLite does both in the one process.
        per_core = 2 if dialect == "postgresql" else 1
        wanted = min((os.cpu_count() or 1) * per_core, MAX_WORKERS) if head_seq >= PARALLEL_MIN else 1
    if wanted <= 1 or _connect_target() is None or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    # Forking a process with other threads running (a web server) can copy a held lock into the
    # child; the CLI and the benchmarks are single-threaded. Tests pass workers explicitly.
    if auto and threading.active_count() > 1:
        return 1
    return max(1, min(wanted, head_seq))


def _connect_target() -> tuple[str, str] | None:
    """How a child process opens its own connection: (dialect, path or conninfo), if it can."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        return None if path in ("", ":memory:") or path.startswith("file:") else ("sqlite", path)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        return "postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False)
    return None


def _scan_in_child(target: tuple[str, str], segment: _Segment) -> _Result:
    """Open a private connection (never one inherited from the parent) and scan one segment."""
    dialect, where = target
    if dialect == "sqlite":
        conn = sqlite3.connect(where)
    else:
        import psycopg

        conn = psycopg.connect(where)
    try:
        return _scan_segment(conn, segment)
    finally:
        conn.close()


def _scan_segment(conn, segment: _Segment) -> _Result:
    """Check one segment's links and hashes a batch at a time; stop at the first doubt."""
    p = _PARAM[segment.dialect]
    prev = GENESIS_HASH
    if segment.lo:
        row = conn.execute(f"SELECT row_hash FROM shift_book_entry WHERE site = {p} AND seq = {p}",
                           (segment.site, segment.lo)).fetchone()
        if row is None:
            return _Result(False)
        prev = row[0]
    start, expected = prev, segment.lo + 1
    # The first segment has no lower bound: a stray seq of 0 or less must fail its batch check.
    where, params = [f"site = {p}"], [segment.site]
    if segment.lo:
        where.append(f"seq > {p}")
        params.append(segment.lo)
    if segment.hi is not None:
        where.append(f"seq <= {p}")
        params.append(segment.hi)
    sql = (f"SELECT seq, prev_hash, row_hash, {_MATERIAL[segment.dialect]} FROM shift_book_entry "
           f"WHERE {' AND '.join(where)} ORDER BY seq")
    # PostgreSQL: a named (server-side) cursor, so a million rows never sit in memory at once.
    cur = conn.cursor(name="gate_chainscan") if segment.dialect == "postgresql" else conn.cursor()
    hashes: dict[int, str] = {}
    keep = list(segment.keep)
    # Rows are tuples of strings and ints (no cycles), yet a million of them would wake the
    # cycle collector every few hundred: 17 % of the scan's time in a py-spy profile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        cur.execute(sql, params)
        while rows := cur.fetchmany(BATCH):
            if not batch_holds(rows, expected, prev, text=segment.dialect == "postgresql"):
                return _Result(False)
            while keep and keep[0] < expected + len(rows):
                kept = keep.pop(0)
                hashes[kept] = rows[kept - expected][2]
            expected, prev = expected + len(rows), rows[-1][2]
    except (sqlite3.Error, UnicodeError, ValueError, TypeError):
        return _Result(False)
    finally:
        cur.close()
        if collecting:
            gc.enable()
    return _Result(not keep, start, expected - 1, prev, hashes)


def _join(segments: list[_Segment], results: list[_Result]) -> Scan | None:
    """One chain if every segment holds and each ends exactly where the next one starts."""
    hashes: dict[int, str] = {}
    last_seq, last = 0, GENESIS_HASH
    for segment, result in zip(segments, results, strict=True):
        if not result.holds or result.start != last or last_seq != segment.lo:
            return None
        if segment.hi is not None and result.last_seq != segment.hi:
            return None
        hashes.update(result.hashes or {})
        if result.last_seq > last_seq:
            last_seq, last = result.last_seq, result.last
    return Scan(last_seq, last, hashes)
