"""`gate audit verify` reads the shift book in a snapshot: the gate keeps writing meanwhile."""

from __future__ import annotations

import threading

from gate.extensions import db
from gate.services import chainscan, shiftbook, transaction


def test_appends_commit_while_verify_reads(ctx, monkeypatch):
    """Protects the barrier path from a running verification: on SQLite the check used to hold
    the write lock for its whole scan (seconds at a million entries), and every plate decision
    waited. Now an append from another connection commits while the scan runs, and the
    verification reports the chain as it stood when it began."""
    outcome: dict[str, bool] = {}

    def append_elsewhere() -> None:
        with ctx.app_context():
            try:
                with transaction():
                    shiftbook.append("test.during_verify", {}, site="demo")
                outcome["appended"] = True
            finally:
                db.session.remove()

    real_scan = chainscan.scan

    def scan_while_appending(*args, **kwargs):
        writer = threading.Thread(target=append_elsewhere)
        writer.start()
        writer.join(10)  # blocked on the lock, it would still be waiting (busy timeout 30 s)
        outcome["writer_blocked"] = writer.is_alive()
        result = real_scan(*args, **kwargs)
        writer.join()
        return result

    monkeypatch.setattr(chainscan, "scan", scan_while_appending)
    db.session.remove()  # no transaction open, as for the CLI
    before = shiftbook.verify("demo")
    assert outcome == {"appended": True, "writer_blocked": False}
    assert before.ok
    monkeypatch.undo()
    after = shiftbook.verify("demo")
    assert after.ok and after.count == before.count + 1
