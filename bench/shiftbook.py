"""Benchmark the shift book: append rate through the service, and full verification rate.

    python bench/shiftbook.py --entries 1000000                        # SQLite in a temp folder
    python bench/shiftbook.py --entries 1000000 --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Filling uses the same hash functions as append() but inserts in bulk (a million single
transactions would measure the disk, not the code); the append rate is measured separately
with real append() calls, one transaction each. SPEC §6 target: verify ≥ 500 000 entries/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text, update

from gate.app import create_app
from gate.domain.chain import CHAIN_VERSION, body_from_columns, canonical_json, row_hash
from gate.extensions import db
from gate.models import ShiftBookEntry, ShiftBookHead
from gate.services import shiftbook, sites, transaction

SITE = "bench"


def fill(count: int, batch: int = 20_000) -> None:
    """Insert `count` valid chained entries after the current head."""
    head = db.session.get(ShiftBookHead, SITE)
    seq, prev = head.seq, head.row_hash
    at = shiftbook.rfc3339_now()
    rows = []
    for i in range(count):
        seq += 1
        data = canonical_json({"record_id": i, "digest": "ab" * 32, "unit_id": i % 500})
        kind = ("journal.note", "auth.login", "shift.start")[i % 3]
        body = body_from_columns(1001, at, data, None, kind, 1, None, i // 200, SITE)
        digest = row_hash(CHAIN_VERSION, seq, prev, body)
        rows.append({"seq": seq, "version": CHAIN_VERSION, "prev_hash": prev, "row_hash": digest,
                     "at": at, "site": SITE, "kind": kind, "actor_id": 1001, "post_id": 1,
                     "gate_id": None, "shift_id": i // 200, "ref_seq": None, "data": data})
        prev = digest
        if len(rows) == batch:
            db.session.execute(insert(ShiftBookEntry), rows)
            rows.clear()
    if rows:
        db.session.execute(insert(ShiftBookEntry), rows)
    db.session.execute(update(ShiftBookHead).where(ShiftBookHead.site == SITE)
                       .values(seq=seq, row_hash=prev))
    db.session.commit()


def main() -> None:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--appends", type=int, default=2_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"GATE_DATABASE_URL": url, "GATE_INSTANCE_PATH": tmp, "GATE_SITE": SITE,
                          "GATE_ENV": "testing"})
        with app.app_context():
            from flask_migrate import upgrade

            if url.startswith("postgresql"):
                db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                db.session.commit()
            upgrade()
            with transaction():
                sites.create_site(SITE, "Benchmark estate")
            started = time.perf_counter()
            for i in range(args.appends):
                with transaction():
                    shiftbook.append("bench.append", {"i": i})
            elapsed = time.perf_counter() - started
            print(f"append: {args.appends} entries, one transaction each: "
                  f"{args.appends / elapsed:,.0f}/s ({elapsed / args.appends * 1e3:.2f} ms each)")
            started = time.perf_counter()
            fill(args.entries)
            print(f"fill: {args.entries:,} entries in {time.perf_counter() - started:.1f} s")
            best = None
            for _ in range(args.repeat):
                db.session.rollback()
                started = time.perf_counter()
                result = shiftbook.verify(SITE)
                elapsed = time.perf_counter() - started
                assert result.ok, result.line()
                best = elapsed if best is None else min(best, elapsed)
            print(f"verify: {result.count:,} entries, best of {args.repeat}: {best:.2f} s = "
                  f"{result.count / best:,.0f} entries/s ({db.engine.dialect.name})")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
