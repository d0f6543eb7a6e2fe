"""Benchmark the shift book: append rate (one writer, and several at once) and full verification.

    python bench/shiftbook.py                                   # 1 000 000 entries, SQLite in a temp folder
    python bench/shiftbook.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_book
    python bench/shiftbook.py --quick                           # 100 000 entries, fewer appends (make bench)

Appends are real `shiftbook.append()` calls, one committed transaction each (SQLite in WAL mode
with synchronous=FULL, PostgreSQL with its defaults), first from one writer, then from
--writers threads with an app context (session) each; the chain is verified after them, so
a fork or a gap would show. Beside them, the commit floor: one tiny insert per transaction.
The book is then filled in bulk (same hash functions as append(), a million single
transactions would measure the disk) and verified as `gate audit verify` does
(`shiftbook.verify`), best of --repeat, beside the same scan in one process and the
entry-by-entry reference walk. A PostgreSQL database given here has its public schema replaced.
SPEC §6 target: verify >= 500 000 entries/s.
"""

from __future__ import annotations

import argparse
import threading
import time

import benchlib
from sqlalchemy import insert, text, update

from gate.domain.chain import CHAIN_VERSION, body_from_columns, canonical_json, row_hash
from gate.extensions import db
from gate.models import ShiftBookEntry, ShiftBookHead
from gate.services import shiftbook, sites, transaction

SITE = "bench"
TARGET = 500_000


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


def append_rate(app, writers: int, total: int) -> float:
    """Appends per second from `writers` threads, each with its own app context and session."""
    per_writer = total // writers
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                for i in range(per_writer):
                    with transaction():
                        shiftbook.append("bench.append", {"writer": n, "i": i})
            except BaseException as exc:  # reported below: a lost append is a failed run
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} writer(s) failed: {errors[0]!r}")
    return per_writer * writers / elapsed


def commit_floor(total: int) -> float:
    """Transactions per second that insert one small row: what a durable commit alone costs."""
    db.session.execute(text("CREATE TABLE IF NOT EXISTS bench_floor (n INTEGER)"))
    db.session.commit()
    started = time.perf_counter()
    for i in range(total):
        with transaction():
            db.session.execute(text("INSERT INTO bench_floor (n) VALUES (:n)"), {"n": i})
    return total / (time.perf_counter() - started)


def best_rate(repeat: int, run) -> tuple[float, shiftbook.VerifyResult]:
    """Entries per second of the best of `repeat` verifications (each must find the chain sound)."""
    best, result = None, None
    for _ in range(repeat):
        db.session.rollback()
        started = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - started
        assert result.ok, result.line()
        best = elapsed if best is None else min(best, elapsed)
    return result.count / best, result


def main() -> None:
    """Run the benchmark, print the Markdown table and write bench/results/shiftbook*.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2_000, help="per append measurement")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 000 entries, 400 appends")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.appends, args.repeat = 100_000, 400, 2
    with benchlib.tempdir() as tmp:
        url = benchlib.database_url(args.database_url, tmp)
        if url.startswith("postgresql"):
            benchlib.ensure_pg_database(url)
        app = benchlib.fresh_app(url, tmp, demo=False, GATE_SITE=SITE)
        with app.app_context():
            dialect = db.engine.dialect.name
            with transaction():
                sites.create_site(SITE, "Benchmark estate")
            floor = commit_floor(args.appends)
            before = db.session.get(ShiftBookHead, SITE).seq
            db.session.rollback()  # SQLite: this session's BEGIN IMMEDIATE would hold the lock
            single = append_rate(app, 1, args.appends)
            several = append_rate(app, args.writers, args.appends)
            db.session.rollback()
            after = shiftbook.verify(SITE)
            appended = args.appends + args.appends // args.writers * args.writers
            # No fork and no gap: the whole chain holds and every append is in it.
            assert after.ok and after.count == before + appended, after.line()
            started = time.perf_counter()
            fill(args.entries)
            filled = time.perf_counter() - started
            fast, result = best_rate(args.repeat, lambda: shiftbook.verify(SITE))
            one, _ = best_rate(1, lambda: shiftbook.verify(SITE, workers=1))
            db.session.rollback()
            started = time.perf_counter()
            count, _, _, fault = shiftbook._reference_walk(SITE, set())
            reference = count / (time.perf_counter() - started)
            assert fault is None
            db.session.remove()
            db.engine.dispose()
    label = {"sqlite": "SQLite (file, WAL, synchronous=FULL)", "postgresql": "PostgreSQL (local)"}[dialect]
    results = {
        "database": dialect, "entries": result.count, "fill_s": round(filled, 1),
        "append_one_writer_per_s": round(single), "append_writers": args.writers,
        "append_several_writers_per_s": round(several), "commit_floor_per_s": round(floor),
        "chain_after_concurrent_appends": after.line(),
        "verify_per_s": round(fast), "verify_one_process_per_s": round(one),
        "verify_reference_walk_per_s": round(reference), "verify_target_per_s": TARGET,
        "verify_target_met": fast >= TARGET,
    }
    print(f"\n{label}, {result.count:,} entries (fill {filled:.0f} s)\n")
    benchlib.print_table(["measurement", "result", "floor / alternative"], [
        ["append, 1 writer, one transaction each", f"{single:,.0f}/s ({1e3 / single:.2f} ms)",
         f"commit floor (1 insert per transaction): {floor:,.0f}/s"],
        [f"append, {args.writers} writers at once", f"{several:,.0f}/s in total",
         f"chain after them: {after.line()[:40]}…"],
        ["`gate audit verify` (shiftbook.verify)", f"**{fast:,.0f} entries/s**",
         f"same scan in one process: {one:,.0f}/s; entry-by-entry walk: {reference:,.0f}/s"],
    ])
    print(f"\ntarget: verify >= {TARGET:,} entries/s: {'met' if fast >= TARGET else 'NOT met'}")
    benchlib.write_result(f"shiftbook-{dialect}" + ("-quick" if args.quick else ""), results, args)


if __name__ == "__main__":
    main()
