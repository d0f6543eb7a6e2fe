"""Shift-book integrity in the console: chain status, checkpoint signatures, verify now, and the
tamper banner after a raw-SQL edit (SPEC §2.5)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select, text

from gate.extensions import db
from gate.models import Checkpoint, ShiftBookHead
from gate.services import integrity
from kiosk_ui.helpers import fault_text
from tests.support.kiosk import GUARD

TAMPERED_SEQ = 4


def _drop_triggers(table: str = "shift_book_entry"):
    """What an attacker with database rights does first: remove the append-only triggers."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"DROP TRIGGER {table}_no_update ON {table}"))
    else:
        db.session.execute(text(f"DROP TRIGGER {table}_no_update"))
        db.session.execute(text(f"DROP TRIGGER {table}_no_delete"))
    db.session.commit()


def _tamper(app, seq: int = TAMPERED_SEQ) -> None:
    """Edit one entry's data with raw SQL, as someone with database rights could."""
    with app.app_context():
        _drop_triggers()
        db.session.execute(text("UPDATE shift_book_entry SET data = :d WHERE seq = :s"),
                           {"d": '{"x":1}', "s": seq})
        db.session.commit()


def _supervisor(kiosk):
    assert kiosk.login_staff("supervisor", "supervisor-demo").status_code == 302


def _console_pages(app) -> list[str]:
    """Every console page a supervisor can open without arguments (GET, no URL parameters)."""
    from gate.services.auth import allowed_roles

    paths = []
    for rule in app.url_map.iter_rules():
        if (rule.rule.startswith("/console") and "GET" in rule.methods and not rule.arguments
                and "supervisor" in (allowed_roles(app, rule.endpoint) or ())):
            paths.append(rule.rule)
    return sorted(paths)


def test_status_shows_head_and_valid_checkpoints(app, client, kiosk):
    """Protects the supervisor's view of the chain: the head hash is shown and each signed
    checkpoint is checked against the public key and marked valid."""
    _supervisor(kiosk)
    page = client.get("/console/integrity/")
    with app.app_context():
        head = db.session.get(ShiftBookHead, app.config["GATE_SITE"])
        checkpoints = db.session.scalars(select(Checkpoint)).all()
        state = integrity.status()
    assert checkpoints, "the demo signs checkpoints at shift end"
    assert state.head_seq == head.seq and state.head_hash == head.row_hash
    assert [c.seq for c in state.checkpoints] == sorted((c.seq for c in checkpoints), reverse=True)
    assert {c.signature for c in state.checkpoints} == {integrity.VALID}
    assert page.status_code == 200
    html = page.get_data(True)
    assert head.row_hash in html
    for cp in checkpoints:
        assert re.search(rf'data-testid="checkpoint-{cp.seq}".*?data-state="valid"', html, re.S)
    assert 'data-testid="tamper-banner"' not in html


def test_altered_checkpoint_signature_shows_invalid(app, client, kiosk):
    """Protects checkpoint evidence: a checkpoint whose signature was changed in the database is
    shown as invalid, not trusted."""
    with app.app_context():
        _drop_triggers("shift_book_checkpoint")
        cp = db.session.scalars(select(Checkpoint).order_by(Checkpoint.seq.desc())).first()
        forged = ("00" if not cp.signature.startswith("00") else "11") + cp.signature[2:]
        seq = cp.seq
        db.session.execute(text("UPDATE shift_book_checkpoint SET signature = :s WHERE id = :i"),
                           {"s": forged, "i": cp.id})
        db.session.commit()
        db.session.expunge_all()
        states = {c.seq: c.signature for c in integrity.status().checkpoints}
    assert states[seq] == integrity.INVALID
    _supervisor(kiosk)
    html = client.get("/console/integrity/").get_data(True)
    assert re.search(rf'data-testid="checkpoint-{seq}".*?data-state="invalid"', html, re.S)


def test_checkpoint_without_public_key_says_so(app, tmp_path):
    """Protects honesty about what was checked: with no public key a checkpoint is 'no key',
    never 'valid'."""
    app.config["GATE_SIGNING_KEY_PATH"] = str(tmp_path / "absent" / "key.pem")
    with app.app_context():
        states = {c.signature for c in integrity.status().checkpoints}
    assert states == {integrity.NO_KEY}


def test_verify_now_on_intact_chain_stores_ok(app, client, kiosk):
    """Protects the stored result: verify-now on an intact chain records ok, count and head in the
    instance folder (atomically, no temp file left) and raises no banner."""
    _supervisor(kiosk)
    response = client.post("/console/integrity/verify")
    assert response.status_code == 302
    with app.app_context():
        head = db.session.get(ShiftBookHead, app.config["GATE_SITE"])
        path = integrity.result_path()
        last = integrity.last_result()
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    assert stored == last
    assert last["ok"] is True and last["bad_seq"] is None
    assert last["count"] == head.seq and last["head"] == head.row_hash
    assert [p.name for p in Path(path).parent.glob("*.tmp")] == []
    html = client.get("/console/integrity/").get_data(True)
    assert 'data-testid="last-ok"' in html
    assert 'data-testid="tamper-banner"' not in html


def test_tamper_banner_after_raw_sql_edit(app, client, kiosk):
    """Protects tamper evidence in the console: after a raw-SQL edit, verify-now stores the fault
    and every console page a supervisor opens shows a red banner naming the first bad entry."""
    _tamper(app)
    _supervisor(kiosk)
    client.get("/console/integrity/?lang=en")  # the session keeps English for the pages below
    assert client.post("/console/integrity/verify").status_code == 302
    with app.test_request_context("/?lang=en"):
        last = integrity.last_result()
        why = fault_text(last["bad_code"])
    assert last["ok"] is False and last["bad_seq"] == TAMPERED_SEQ
    pages = _console_pages(app)
    assert "/console/" in pages and "/console/integrity/" in pages
    shown = 0
    for path in pages:
        response = client.get(path)
        if response.status_code != 200 or not response.mimetype == "text/html":
            continue
        html = response.get_data(True)
        banner = re.search(r'<div[^>]*data-testid="tamper-banner".*?</div>', html, re.S)
        assert banner, f"no tamper banner on {path}"
        assert 'role="alert"' in banner.group(0)
        assert f'data-seq="{TAMPERED_SEQ}"' in banner.group(0)
        assert f"entry {TAMPERED_SEQ} " in banner.group(0)
        assert why in banner.group(0)
        assert 'href="/console/integrity/"' in banner.group(0)
        shown += 1
    assert shown >= 2


def test_tamper_banner_not_shown_to_guard(app, client, kiosk):
    """Protects who is alarmed: the tamper banner is for supervisors; a guard's kiosk page does
    not show it even when the last check found a bad entry."""
    _tamper(app)
    with app.app_context():
        assert integrity.run_verification()["ok"] is False
    assert kiosk.login(*GUARD).status_code == 302
    response = client.get("/kiosk/", follow_redirects=True)
    assert response.status_code == 200
    assert 'data-testid="tamper-banner"' not in response.get_data(True)


def test_guard_cannot_open_integrity(app, client, kiosk):
    """Protects access control: a guard gets 403 on the integrity page and on verify-now, and
    verify-now does not run for them."""
    assert kiosk.login(*GUARD).status_code == 302
    assert client.get("/console/integrity/").status_code == 403
    assert client.post("/console/integrity/verify").status_code == 403
    with app.app_context():
        assert integrity.last_result() is None


def test_verify_now_needs_csrf_token(app, client):
    """Protects verify-now from cross-site posts: without a CSRF token it is refused."""
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/login").get_data(True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"login": "supervisor", "password": "supervisor-demo",
                                       "csrf_token": token}).status_code == 302
    response = client.post("/console/integrity/verify", data={})
    assert response.status_code in (400, 302)
    with app.app_context():
        assert integrity.last_result() is None
