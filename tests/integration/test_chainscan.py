"""The fast chain scan behind `gate audit verify`: it may only ever say "holds" when the
entry-by-entry walk would, and every fault is still named by that walk."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from gate.domain.chain import row_hash
from gate.extensions import db
from gate.models import ShiftBookEntry
from gate.services import chainscan, shiftbook, transaction


def _drop_triggers():
    """What an attacker with database rights does first: remove the append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("DROP TRIGGER shift_book_entry_no_update ON shift_book_entry"))
    else:
        db.session.execute(text("DROP TRIGGER shift_book_entry_no_update"))
        db.session.execute(text("DROP TRIGGER shift_book_entry_no_delete"))
    db.session.commit()


def _reference(monkeypatch) -> shiftbook.VerifyResult:
    """What verify() says with the fast scan switched off."""
    with monkeypatch.context() as m:
        m.setattr(chainscan, "scan", lambda *args, **kwargs: None)
        return shiftbook.verify()


def _no_reference(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the reference walk ran although the chain holds")
    monkeypatch.setattr(shiftbook, "_reference_walk", refuse)


def _last_seq() -> int:
    return db.session.scalar(select(func.max(ShiftBookEntry.seq)))


@pytest.mark.parametrize("workers", [1, 3])
def test_holding_chain_is_answered_by_the_scan(ctx, monkeypatch, workers):
    """Protects the speed-up: a sound chain (with a checkpoint) never needs the slow walk, in one
    process or in segments verified by child processes that join on stored hashes."""
    with transaction():
        for i in range(40):
            shiftbook.append("test.note", {"n": i, "text": "中文 é"})
        shiftbook.checkpoint("manual")
        shiftbook.append("test.note", {"n": "after the checkpoint"})
    expected = _reference(monkeypatch)
    assert expected.ok
    _no_reference(monkeypatch)
    assert shiftbook.verify(workers=workers) == expected


def test_segments_join_and_keep_checkpoint_hashes(ctx):
    """Protects the seams: every seq is in exactly one segment and checkpoint hashes come back."""
    with transaction():
        for i in range(30):
            shiftbook.append("test.note", {"n": i})
    last = _last_seq()
    hashes = dict(db.session.execute(select(ShiftBookEntry.seq, ShiftBookEntry.row_hash)).all())
    keep = {1, last // 3, last // 3 + 1, last}
    for workers in (1, 2, 3, 7):
        scan = chainscan.scan(shiftbook.site_code(), last, keep, workers)
        assert scan is not None and scan.count == last and scan.last == hashes[last]
        assert scan.hashes == {seq: hashes[seq] for seq in keep}


def _edit(sql: str, **params) -> None:
    _drop_triggers()
    db.session.execute(text(sql), params)
    db.session.commit()


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("where", ["first", "seam", "last"])
@pytest.mark.parametrize("tamper", ["kind", "data", "delete", "prev_hash", "quote_in_kind"])
def test_faults_are_named_as_by_the_walk(ctx, monkeypatch, workers, where, tamper):
    """Protects fault reporting: whatever the scan sees, verify() names the same first fault
    (code and seq) as the entry-by-entry walk, at the start, at a segment seam and at the end."""
    with transaction():
        for i in range(30):
            shiftbook.append("test.note", {"n": i})
    last = _last_seq()
    seq = {"first": 2, "seam": last // 3, "last": last - 1}[where]
    sql = {"kind": "UPDATE shift_book_entry SET kind = 'journal.note' WHERE seq = :s",
           "data": "UPDATE shift_book_entry SET data = :d WHERE seq = :s",
           "delete": "DELETE FROM shift_book_entry WHERE seq = :s",
           "prev_hash": "UPDATE shift_book_entry SET prev_hash = :h WHERE seq = :s",
           "quote_in_kind": "UPDATE shift_book_entry SET kind = 'a\"b' WHERE seq = :s"}[tamper]
    _edit(sql, s=seq, h="f" * 64, d='{"n":999}')
    expected = _reference(monkeypatch)
    assert not expected.ok and expected.fault.seq == seq
    assert shiftbook.verify(workers=workers) == expected


def test_stray_seq_before_genesis_is_not_skipped(ctx, monkeypatch):
    """Protects the first segment's bounds: an extra row with seq 0 fails as in the walk."""
    _drop_triggers()
    db.session.execute(text(
        "INSERT INTO shift_book_entry (seq, version, prev_hash, row_hash, at, site, kind, data) "
        "VALUES (0, 1, :z, :h, '2030-01-01T00:00:00.000000Z', 'demo', 'x', '{}')"),
        {"z": "0" * 64, "h": "e" * 64})
    db.session.commit()
    expected = _reference(monkeypatch)
    assert not expected.ok
    assert shiftbook.verify(workers=2) == expected


def test_special_characters_hash_the_same(ctx, monkeypatch):
    """Protects the database-built material: kinds with quotes, backslashes, control characters
    and non-ASCII text verify as sound, whether the scan or the walk answers."""
    with transaction():
        for kind in ('say "hi"', "back\\slash", "tab\there", "new\nline", "bell\x07", "中文", "é\x7f"):
            shiftbook.append(kind, {"text": kind})
    assert _reference(monkeypatch).ok
    assert shiftbook.verify(workers=1).ok
    assert shiftbook.verify(workers=2).ok


def test_rewritten_material_with_other_quoting_is_refused(ctx, monkeypatch):
    """Protects against a scan that accepts what the walk refuses: an entry re-hashed over a
    non-canonical spelling of its kind is still reported as edited."""
    _drop_triggers()
    entry = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.seq == 3)).one()
    body = shiftbook.body_of(entry).replace(f'"kind":"{entry.kind}"',
                                            '"kind":"' + entry.kind.replace(".", "\\u002e") + '"')
    fake = row_hash(entry.version, entry.seq, entry.prev_hash, body)
    db.session.expunge_all()
    db.session.execute(text("UPDATE shift_book_entry SET row_hash = :h WHERE seq = 3"), {"h": fake})
    db.session.commit()
    expected = _reference(monkeypatch)
    assert not expected.ok and expected.fault.seq == 3
    assert shiftbook.verify(workers=2) == expected
