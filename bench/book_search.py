"""Benchmark the console's shift-book search at a million entries: first page, deep pages, filters.

    python bench/book_search.py --entries 1000000                     # SQLite in a temp folder
    python bench/book_search.py --entries 1000000 --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Loads the demo estate (guards, posts, gates, units), then bulk-inserts entries spread over 90
days, 12 kinds, the demo's guards, posts and gates, a quarter of them referencing a unit or a
visit in their data (hash columns are filler: search never reads them). Each query is the one the
console runs (`book_search.search`), timed best of --repeat, 50 rows per page. A PostgreSQL
database given here has its public schema replaced.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text, update

from gate.app import create_app
from gate.domain.chain import canonical_json
from gate.extensions import db
from gate.models import Gate, Post, ShiftBookEntry, ShiftBookHead, Unit, User
from gate.services import book_search, demo
from gate.services.shiftbook import rfc3339
from gate.services.sites import current_site

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
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE shift_book_entry"))
    else:
        db.session.execute(text("ANALYZE"))
    db.session.commit()


def timed(label: str, repeat: int, run) -> None:
    """Print the best of `repeat` runs of `run` (which returns a Page)."""
    best, page = None, None
    for _ in range(repeat):
        db.session.rollback()
        started = time.perf_counter()
        page = run()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(f"{label:<44} {best * 1e3:8.1f} ms  ({len(page.entries)} rows)")


def main() -> None:
    """Fill the book, then time each kind of search the console offers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"GATE_DATABASE_URL": url, "GATE_INSTANCE_PATH": tmp, "GATE_SITE": "demo",
                          "GATE_ENV": "testing"})
        with app.app_context(), app.test_request_context():
            from flask_migrate import upgrade

            if url.startswith("postgresql"):
                db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                db.session.commit()
            upgrade()
            demo.load()
            started = time.perf_counter()
            fill(args.entries)
            print(f"fill: {args.entries:,} entries in {time.perf_counter() - started:.1f} s "
                  f"({db.engine.dialect.name})")
            site = current_site()
            guard = str(db.session.scalars(select(User.id).where(User.staff_no == "1001")).one())
            post = str(db.session.scalars(select(Post.id).where(Post.site_id == site.id)).first())
            unit = db.session.scalars(select(Unit.code).where(Unit.site_id == site.id)).first()
            head = db.session.get(ShiftBookHead, site.code).seq
            day = (datetime.now(UTC) - timedelta(days=45)).date().isoformat()
            F = book_search.Filters
            cases = [
                ("newest page, no filter", F(), None),
                ("deep page (seq 1000), no filter", F(), 1000),
                ("kind filter (1 in 12)", F(kind="vehicle.read"), None),
                ("rare kind (1 in 1000)", F(kind=RARE), None),
                ("rare kind, deep page", F(kind=RARE), head // 10),
                ("guard filter", F(guard=guard), None),
                ("post filter", F(post=post), None),
                ("one day, 45 days back", F(date_from=day, date_to=day), None),
                ("one day + kind", F(date_from=day, date_to=day, kind="vehicle.read"), None),
                ("unit filter (JSON references)", F(unit=unit), None),
                ("unit filter + one day", F(unit=unit, date_from=day, date_to=day), None),
            ]
            for label, filters, before in cases:
                timed(label, args.repeat, lambda f=filters, b=before: book_search.search(site, f, b))
            # Worst case of the reference filters: a record named by very few entries, so the
            # whole book is scanned (the statement search() builds for one visit id).
            rare = select(ShiftBookEntry).where(ShiftBookEntry.site == site.code,
                                                book_search._references("visit_id", {10_000_001}))
            timed("rare reference (one visit, whole book)", args.repeat,
                  lambda: book_search.Page(list(db.session.scalars(
                      rare.order_by(ShiftBookEntry.seq.desc()).limit(51))), None))
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
