"""Shift-book search at scale: the reference indexes are the ones queries use, and bounding a
date range by its own seqs never changes what a search finds."""

from __future__ import annotations

import importlib

from sqlalchemy import insert, select, text

from gate.extensions import db
from gate.models import ShiftBookEntry
from gate.services import book_search, shiftbook
from gate.services.sites import current_site

MIGRATION = importlib.import_module("gate.migrations.versions.0009_book_search")


def _plan(stmt) -> str:
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    # Straight to the driver: the text is already escaped for it (psycopg's %% reads as %).
    prefix = "EXPLAIN " if db.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    sql = prefix + sql
    return "\n".join(str(row) for row in db.session.connection().exec_driver_sql(sql))


def test_migration_indexes_every_reference_key():
    """Protects the index set: a key the search matches on without an index would scan the book."""
    assert MIGRATION.KEYS == book_search.REFERENCE_KEYS


def test_reference_filter_reads_its_partial_index(ctx):
    """Protects the 0009 indexes' use: the query's expression and LIKE are textually the index's,
    so the planner can read only the entries that name the record (which plan wins the page's
    ORDER BY depends on the statistics of a big book; the benchmark times that)."""
    site = current_site().code
    # A book of some size (few entries name a record), with statistics, as the planner sees
    # a real one; the rows are filler that search reads but never verifies.
    db.session.execute(insert(ShiftBookEntry), [
        {"seq": 10_000 + i, "version": 1, "prev_hash": "0" * 64, "row_hash": f"{i:064x}",
         "at": "2031-01-01T00:00:00.000000Z", "site": site, "kind": "test.filler", "data": f'{{"n":{i}}}'}
        for i in range(3000)])
    db.session.commit()
    db.session.execute(text("ANALYZE shift_book_entry" if db.engine.dialect.name == "postgresql"
                            else "ANALYZE"))
    for key in ("visit_id", "unit_id", "device_event_id"):
        stmt = (select(ShiftBookEntry.seq)
                .where(ShiftBookEntry.site == site, book_search._references(key, {12, 13})))
        assert f"ix_shift_book_entry_ref_{key}" in _plan(stmt)
    db.session.rollback()


def test_reference_filter_matches_whole_ids_only(ctx):
    """Protects the indexed comparison: id 12 does not match 123 or "12" inside another key."""
    seqs = {}
    for data in ({"visit_id": 12}, {"visit_id": 123}, {"unit_id": 12, "other_visit_id": 12}):
        seqs[str(data)] = shiftbook.append("test.ref", data).seq
    db.session.commit()
    found = db.session.scalars(select(ShiftBookEntry.seq).where(
        ShiftBookEntry.site == current_site().code, book_search._references("visit_id", {12}))).all()
    assert found == [seqs[str({"visit_id": 12})]]


def test_day_bounds_keep_results_with_out_of_order_times(ctx, monkeypatch):
    """Protects the date-range speed-up: with entries imported out of time order (a paper log
    typed in later), every page is the same as without the seq bounds."""
    site = current_site()
    for i, at in enumerate(["2031-05-02T01:00:00.000000Z", "2031-05-01T20:00:00.000000Z",
                            "2031-04-30T10:00:00.000000Z", "2031-05-01T23:59:00.000000Z",
                            "2031-05-02T02:00:00.000000Z"] * 30):
        shiftbook.append("test.imported", {"n": i}, at=at)
    db.session.commit()
    filters = book_search.Filters(date_from="2031-05-02", date_to="2031-05-02")

    def pages() -> list[list[int]]:
        out, before = [], None
        while True:
            page = book_search.search(site, filters, before, limit=7)
            out.append([e.seq for e in page.entries])
            if page.older is None:
                return out
            before = page.older

    bounded = pages()
    assert book_search._day_bounds(site, *book_search.date_range(filters)) is not None
    monkeypatch.setattr(book_search, "_day_bounds", lambda *args: None)
    # 4 of the 5 times fall on 2 May in site time (Asia/Shanghai, UTC+8).
    assert bounded == pages() and sum(map(len, bounded)) == 120
