"""Two processes appending to the shift book at once still make one gap-free chain."""

from __future__ import annotations

import multiprocessing as mp
import time

from sqlalchemy import select

from gate.extensions import db
from gate.models import ShiftBookEntry
from gate.services import shiftbook

PER_PROCESS = 150


def _append_many(config: dict, label: str, start, done) -> None:
    """Child process: wait for the start signal, then append entries one transaction each."""
    from argon2 import PasswordHasher

    from gate.app import create_app
    from gate.services import auth, transaction

    auth.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    app = create_app(config)
    with app.app_context():
        start.wait(30)
        for i in range(PER_PROCESS):
            with transaction():
                shiftbook.append("test.concurrent", {"by": label, "i": i})
            # A pause outside the lock, as a real worker has between actions: SQLite's busy
            # handler sleeps while waiting, so back-to-back writers could starve the other.
            time.sleep(0.003)
        db.session.remove()
        db.engine.dispose()
    done.put(label)


def test_two_processes_append_one_chain(app_config, ctx):
    """Protects the chain under concurrency: no fork, no duplicate seq, no gap, on both databases."""
    before = shiftbook.verify().count
    # End our own read transaction: on SQLite every transaction holds the write lock.
    db.session.rollback()
    spawn = mp.get_context("spawn")
    start, done = spawn.Event(), spawn.Queue()
    config = {k: v for k, v in app_config.items()}
    workers = [spawn.Process(target=_append_many, args=(config, name, start, done))
               for name in ("a", "b")]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0, f"worker exited with {w.exitcode}"
    assert sorted(done.get(timeout=5) for _ in workers) == ["a", "b"]

    db.session.expire_all()
    result = shiftbook.verify()
    assert result.ok, result.line()
    assert result.count == before + 2 * PER_PROCESS
    rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "test.concurrent")
                              .order_by(ShiftBookEntry.seq)).all()
    by = [r.data for r in rows]
    # Both writers really interleaved (otherwise the test proved nothing about concurrency).
    switches = sum(1 for x, y in zip(by, by[1:], strict=False) if ('"a"' in x) != ('"a"' in y))
    assert switches > 1
