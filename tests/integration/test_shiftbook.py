"""The shift book: append-only, hash-chained, tamper-evident, one transaction per action."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from gate.extensions import db
from gate.models import JournalRecord, ShiftBookEntry, User
from gate.services import ActionError, journal, shiftbook, transaction


def _drop_triggers():
    """What an attacker with database rights does first: remove the append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("DROP TRIGGER shift_book_entry_no_update ON shift_book_entry"))
    else:
        db.session.execute(text("DROP TRIGGER shift_book_entry_no_update"))
        db.session.execute(text("DROP TRIGGER shift_book_entry_no_delete"))
    db.session.commit()


def _guard() -> User:
    return db.session.scalars(select(User).where(User.staff_no == "1001")).one()


def test_append_links_entries(ctx):
    """Protects the chain's shape: each entry's prev_hash is the previous row_hash, seq gap-free."""
    with transaction():
        a = shiftbook.append("test.note", {"n": 1})
        b = shiftbook.append("test.note", {"n": 2})
    assert b.seq == a.seq + 1
    assert b.prev_hash == a.row_hash
    assert shiftbook.verify().ok


def test_orm_update_refused(ctx):
    """Protects append-only: changing an entry through the ORM raises before any SQL runs."""
    entry = db.session.scalars(select(ShiftBookEntry).limit(1)).one()
    entry.kind = "edited"
    with pytest.raises(shiftbook.AppendOnlyError):
        db.session.flush()
    db.session.rollback()


def test_orm_delete_and_bulk_update_refused(ctx):
    """Protects append-only: deletes and bulk UPDATE statements through the session are refused."""
    entry = db.session.scalars(select(ShiftBookEntry).limit(1)).one()
    db.session.delete(entry)
    with pytest.raises(shiftbook.AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(shiftbook.AppendOnlyError):
        db.session.execute(update(ShiftBookEntry).values(kind="x"))
    db.session.rollback()


def test_database_trigger_refuses_raw_update(ctx):
    """Protects append-only below the app: raw SQL UPDATE/DELETE is refused by a trigger."""
    for sql in ("UPDATE shift_book_entry SET kind = 'x' WHERE seq = 2",
                "DELETE FROM shift_book_entry WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(sql))
        db.session.rollback()


@pytest.mark.parametrize("column, value", [
    ("kind", "'journal.note'"),
    ("data", "'{}'"),
    ("at", "'2020-01-01T00:00:00.000000Z'"),
    ("actor_id", "999"),
])
def test_verify_names_edited_entry(ctx, runner, column, value):
    """Protects tamper evidence: an entry edited with raw SQL is named by `gate audit verify`."""
    _drop_triggers()
    db.session.execute(text(f"UPDATE shift_book_entry SET {column} = {value} WHERE seq = 4"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert result.output.startswith("BAD seq 4:"), result.output


def test_verify_detects_removed_tail(ctx):
    """Protects against silently dropping the latest entries (head row disagrees)."""
    _drop_triggers()
    last = db.session.scalar(select(db.func.max(ShiftBookEntry.seq)))
    db.session.execute(text(f"DELETE FROM shift_book_entry WHERE seq = {last}"))
    db.session.commit()
    result = shiftbook.verify()
    assert not result.ok
    assert result.fault.code == "removed"


def test_verify_detects_rewritten_chain(ctx):
    """Protects against an attacker who edits an entry and recomputes every later hash:
    the signed checkpoint no longer matches."""
    from gate.domain.chain import row_hash

    _drop_triggers()
    entries = db.session.scalars(select(ShiftBookEntry).order_by(ShiftBookEntry.seq)).all()
    prev = entries[0].prev_hash
    rewritten = []
    for e in entries:
        kind = "journal.note" if e.seq == 3 else e.kind
        body = shiftbook.body_of(e).replace(f'"kind":"{e.kind}"', f'"kind":"{kind}"')
        new = row_hash(e.version, e.seq, prev, body)
        rewritten.append((e.seq, kind, prev, new))
        prev = new
    db.session.expunge_all()
    for seq, kind, p, h in rewritten:
        db.session.execute(text("UPDATE shift_book_entry SET kind=:k, prev_hash=:p, row_hash=:h "
                                "WHERE seq=:s"), {"k": kind, "p": p, "h": h, "s": seq})
    db.session.execute(text("UPDATE shift_book_head SET row_hash=:h"), {"h": prev})
    db.session.commit()
    result = shiftbook.verify()
    assert not result.ok
    assert result.fault.code == "rewritten"


def test_forged_checkpoint_signature_detected(ctx):
    """Protects checkpoints: a signature not made by the site's key is reported."""
    with transaction():
        cp = shiftbook.checkpoint("manual")
    db.session.execute(text("DROP TRIGGER IF EXISTS shift_book_checkpoint_no_update"
                            + (" ON shift_book_checkpoint" if db.engine.dialect.name == "postgresql"
                               else "")))
    db.session.execute(text("UPDATE shift_book_checkpoint SET signature = :s WHERE id = :i"),
                       {"s": "00" * 64, "i": cp.id})
    db.session.commit()
    result = shiftbook.verify()
    assert not result.ok and result.fault.code == "bad_signature"


def test_failed_action_leaves_neither_record_nor_entry(ctx, monkeypatch):
    """Protects 'nothing half-written': if appending fails, the action's own rows roll back."""
    guard = _guard()
    before_entries = db.session.scalar(select(db.func.count()).select_from(ShiftBookEntry))
    before_records = db.session.scalar(select(db.func.count()).select_from(JournalRecord))

    def broken_append(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(shiftbook, "append", broken_append)
    with pytest.raises(RuntimeError):
        journal.write(guard, None, "note", {"text": "hello"})
    assert db.session.scalar(select(db.func.count()).select_from(ShiftBookEntry)) == before_entries
    assert db.session.scalar(select(db.func.count()).select_from(JournalRecord)) == before_records


def test_refused_action_writes_nothing(ctx):
    """Protects bad input: a refused entry (unknown unit) adds no record and no entry."""
    guard = _guard()
    head = shiftbook.verify().count
    with pytest.raises(ActionError) as err:
        journal.write(guard, None, "inspection", {"unit": "9-9-999", "purpose": "x", "outcome": "y"})
    assert err.value.code == "unknown_unit"
    assert shiftbook.verify().count == head


def test_personal_data_stays_out_of_the_chain(ctx):
    """Protects retention: what a guard wrote lives in the record; the entry holds its digest only."""
    guard = _guard()
    record = journal.write(guard, None, "phone_call", {"who": "陈先生 13800000001", "what": "快递"})
    entry = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.seq == record.seq)).one()
    assert "13800000001" not in entry.data and "陈先生" not in entry.data
    assert '"digest"' in entry.data
