"""Benchmark the console's shift-book search at a million entries: typical filters, every filter
the console offers, deep pages, and what the search indexes cost each append.

    python bench/book_search.py                                 # 1 000 000 entries, SQLite in a temp folder
    python bench/book_search.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_book
    python bench/book_search.py --quick                         # 100 000 entries (make bench)

Loads the demo estate (guards, posts, gates, units), then bulk-inserts entries spread over 90
days, 12 kinds, the demo's guards, posts and gates, a quarter of them referencing a unit or a
visit in their data (hash columns are filler: search never reads them). Each query is the one the
console runs (`book_search.search`), timed best of --repeat, 50 rows per page. The "before"
column times the same query without this issue's changes: without the seq bounds of a short
date range, and without migration 0009's reference indexes (dropped at the end of the run).
Index upkeep: --appends entries inserted in one statement and rolled back, with and without
the 0009 indexes, alternating --repeat times; the difference is what each append pays. A
PostgreSQL database given here has its public schema replaced.
SPEC §6 target: a filtered audit query over 1 M entries <= 50 ms.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import benchlib
from sqlalchemy import insert, select, text, update

from gate.domain.chain import canonical_json
from gate.extensions import db
from gate.models import Gate, Post, ShiftBookEntry, ShiftBookHead, Unit, User
from gate.services import book_search
from gate.services.shiftbook import rfc3339
from gate.services.sites import current_site

TARGET_MS = 50
KINDS = ("visit.started", "visit.admitted", "vehicle.read", "barrier.command", "barrier.outcome",
         "pass.used", "journal.note", "auth.login", "shift.start", "slip.checked", "violation.recorded",
         "incident.forced_entry")
RARE = "incident.forced_entry"  # one entry in a thousand


def fill(count: int, batch: int = 20_000) -> None:
    """Append `count` entries after the head, oldest first, spread over the last 90 days."""
    site = current_site()
    guards = list(db.session.scalars(select(User.id).where(User.site_id == site.id)))
    posts = list(db.session.scalars(select(Post.id).where(Post.site_id == site.id)))
    gates = list(db.session.scalars(select(Gate.id).where(Gate.site_id == site.id)))
    units = list(db.session.scalars(select(Unit.id).where(Unit.site_id == site.id)))
    head = db.session.get(ShiftBookHead, site.code)
    seq = head.seq
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / count
    rows = []
    for i in range(count):
        seq += 1
        kind = RARE if i % 1000 == 999 else KINDS[i % (len(KINDS) - 1)]
        data = {"n": i}
        if i % 4 == 0:
            data["unit_id"] = units[i % len(units)]
        elif i % 4 == 1:
            data["visit_id"] = 10_000_000 + i
        rows.append({"seq": seq, "version": 1, "prev_hash": "0" * 64, "row_hash": f"{seq:064x}",
                     "at": rfc3339(start + step * i), "site": site.code, "kind": kind,
                     "actor_id": guards[i % len(guards)], "post_id": posts[i % len(posts)],
                     "gate_id": gates[i % len(gates)], "shift_id": i // 300, "ref_seq": None,
                     "data": canonical_json(data)})
        if len(rows) == batch:
            db.session.execute(insert(ShiftBookEntry), rows)
            rows.clear()
    if rows:
        db.session.execute(insert(ShiftBookEntry), rows)
    db.session.execute(update(ShiftBookHead).where(ShiftBookHead.site == site.code).values(seq=seq))
    db.session.commit()
    db.session.execute(text("ANALYZE shift_book_entry" if db.engine.dialect.name == "postgresql"
                            else "ANALYZE"))
    db.session.commit()


def best_ms(repeat: int, run) -> tuple[float, int]:
    """Best of `repeat` runs of `run` (returns a list of rows) in ms, and the rows it found."""
    best, rows = None, []
    for _ in range(repeat):
        db.session.rollback()
        started = time.perf_counter()
        rows = run()
        elapsed = (time.perf_counter() - started) * 1e3
        best = elapsed if best is None else min(best, elapsed)
    return best, len(rows)


def insert_us(count: int) -> float:
    """Microseconds per entry to insert `count` entries like fill()'s in one transaction, rolled back.

    Bulk statements, not append() calls: the difference with and without an index is then
    the index upkeep itself, not lost in the noise of a whole append (about 1 ms here).
    """
    site = current_site()
    head = db.session.get(ShiftBookHead, site.code).seq
    at = rfc3339(datetime.now(UTC))
    rows = [{"seq": head + 1 + i, "version": 1, "prev_hash": "0" * 64, "row_hash": f"{head + 1 + i:064x}",
             "at": at, "site": site.code, "kind": KINDS[i % len(KINDS)], "actor_id": 1, "post_id": 1,
             "gate_id": 1, "shift_id": 1, "ref_seq": None,
             "data": canonical_json({"n": i} | ({"unit_id": 1} if i % 4 == 0 else {"visit_id": i}
                                                 if i % 4 == 1 else {}))}
            for i in range(count)]
    db.session.rollback()
    started = time.perf_counter()
    db.session.execute(insert(ShiftBookEntry), rows)
    elapsed = (time.perf_counter() - started) / count * 1e6
    db.session.rollback()
    return elapsed


def reference_indexes(create: bool) -> None:
    """Create or drop migration 0009's indexes (the same SQL the search matches)."""
    dialect = db.engine.dialect.name
    for key in book_search.REFERENCE_KEYS:
        value, holds_key = book_search.reference_sql(dialect, key)
        db.session.execute(text(
            f"CREATE INDEX ix_shift_book_entry_ref_{key} ON shift_book_entry (site, ({value}), seq) "
            f"WHERE {holds_key}" if create else f"DROP INDEX ix_shift_book_entry_ref_{key}"))
    db.session.commit()


def index_upkeep(count: int, repeat: int) -> tuple[float, float]:
    """Best insert cost with and without the 0009 indexes, alternating; ends without them."""
    with_us, without_us = [], []
    for round_ in range(repeat):
        if round_:
            reference_indexes(create=True)
        with_us.append(insert_us(count))
        reference_indexes(create=False)
        without_us.append(insert_us(count))
    return min(with_us), min(without_us)


def cases(head: int) -> list[tuple[str, bool, object, int | None]]:
    """(label, typical?, filters or a statement, before) for every search the console offers."""
    site = current_site()
    guard = str(db.session.scalars(select(User.id).where(User.staff_no == "1001")).one())
    post = str(db.session.scalars(select(Post.id).where(Post.site_id == site.id)).first())
    unit = db.session.scalars(select(Unit.code).where(Unit.site_id == site.id)).first()
    day = (datetime.now(UTC) - timedelta(days=45)).date().isoformat()
    week = (datetime.now(UTC) - timedelta(days=51)).date().isoformat()
    F = book_search.Filters
    # Worst case of the reference filters: a record named by one entry (the statement search()
    # builds for one visit id), which without an index means reading every entry's JSON.
    rare = select(ShiftBookEntry).where(ShiftBookEntry.site == site.code,
                                        book_search._references("visit_id", {10_000_001}))
    return [
        # What a supervisor does most: one type of entry, one guard's entries, one day.
        ("kind (1 entry in 12)", True, F(kind="vehicle.read"), None),
        ("guard", True, F(guard=guard), None),
        ("one day, 45 days back", True, F(date_from=day, date_to=day), None),
        ("newest page, no filter", False, F(), None),
        ("deep page (older than seq 1000), no filter", False, F(), 1000),
        ("rare kind (1 in 1000)", False, F(kind=RARE), None),
        ("rare kind, deep page", False, F(kind=RARE), head // 10),
        ("post", False, F(post=post), None),
        ("one week, 45 days back", False, F(date_from=week, date_to=day), None),
        ("one day + kind", False, F(date_from=day, date_to=day, kind="vehicle.read"), None),
        ("one day + guard", False, F(date_from=day, date_to=day, guard=guard), None),
        ("unit (JSON references; many matches)", False, F(unit=unit), None),
        ("unit + one day", False, F(unit=unit, date_from=day, date_to=day), None),
        ("a record referenced by one entry", False, rare, None),
    ]


def run_case(site, subject, before: int | None):
    """The rows the console would show for one case."""
    if isinstance(subject, book_search.Filters):
        return book_search.search(site, subject, before).entries
    return list(db.session.scalars(subject.order_by(ShiftBookEntry.seq.desc()).limit(51)))


def main() -> None:
    """Fill the book, time each search with and without this issue's changes, and append cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--appends", type=int, default=20_000, help="entries for the upkeep test")
    parser.add_argument("--quick", action="store_true", help="100 000 entries, best of 2")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.repeat, args.appends = 100_000, 2, 10_000
    with benchlib.tempdir() as tmp:
        url = benchlib.database_url(args.database_url, tmp)
        if url.startswith("postgresql"):
            benchlib.ensure_pg_database(url)
        app = benchlib.fresh_app(url, tmp, GATE_SITE="demo")
        with app.app_context(), app.test_request_context():
            dialect = db.engine.dialect.name
            started = time.perf_counter()
            fill(args.entries)
            filled = time.perf_counter() - started
            site = current_site()
            head = db.session.get(ShiftBookHead, site.code).seq
            table = cases(head)

            def timed(subject, before) -> float:
                return best_ms(args.repeat, lambda: run_case(site, subject, before))[0]

            now = {label: best_ms(args.repeat, lambda s=subject, b=before: run_case(site, s, b))
                   for label, _, subject, before in table}
            # "Before": the same queries without the seq bounds of short date ranges...
            before_ms: dict[str, float] = {}
            bounds = book_search._day_bounds
            book_search._day_bounds = lambda *a: None
            for label, _, subject, before in table:
                if isinstance(subject, book_search.Filters) and subject.date_from:
                    before_ms[label] = timed(subject, before)
            book_search._day_bounds = bounds
            # ...and without the reference indexes of migration 0009 (index_upkeep drops them).
            with_indexes, without_indexes = index_upkeep(args.appends, args.repeat)
            for label, _, subject, before in table:
                if not isinstance(subject, book_search.Filters) or subject.unit:
                    before_ms[label] = timed(subject, before)
            db.session.remove()
            db.engine.dispose()
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[dialect]
    rows = [[("**" + label + "**") if typical else label, f"{now[label][0]:.1f} ms", now[label][1],
             f"{before_ms[label]:.1f} ms" if label in before_ms else "—"]
            for label, typical, _, _ in table]
    typical = max(now[label][0] for label, is_typical, _, _ in table if is_typical)
    worst = max(ms for ms, _ in now.values())
    print(f"\n{name}, {head:,} entries (fill {filled:.0f} s); typical filters in bold\n")
    benchlib.print_table(["query (50 rows a page)", "time", "rows",
                          "before (no day bounds / no 0009 indexes)"], rows)
    added = with_indexes - without_indexes
    print(f"\ntypical filters, slowest: {typical:.1f} ms; any filter, slowest: {worst:.1f} ms "
          f"(target <= {TARGET_MS} ms: {'met' if worst <= TARGET_MS else 'NOT met'})")
    print(f"insert an entry: {with_indexes:.1f} us with the 0009 indexes, {without_indexes:.1f} us "
          f"without: {added:+.1f} us per append")
    results = {"database": dialect, "entries": head, "fill_s": round(filled, 1),
               "queries_ms": {label: round(ms, 2) for label, (ms, _) in now.items()},
               "typical": [label for label, is_typical, _, _ in table if is_typical],
               "before_ms": {label: round(ms, 2) for label, ms in before_ms.items()},
               "typical_slowest_ms": round(typical, 2), "slowest_ms": round(worst, 2),
               "target_ms": TARGET_MS, "target_met": worst <= TARGET_MS,
               "insert_us_with_indexes": round(with_indexes, 1),
               "insert_us_without_indexes": round(without_indexes, 1),
               "index_upkeep_us_per_append": round(added, 1)}
    benchlib.write_result(f"book_search-{dialect}" + ("-quick" if args.quick else ""), results, args)


if __name__ == "__main__":
    main()
