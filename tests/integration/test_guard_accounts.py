"""Guard accounts in the supervisor console: a new PIN shown once and never stored in clear,
disabling (even on duty) and enabling, lifting a lockout; every change ends the guard's
sessions where it should and is a shift-book entry without the PIN or its hash."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask_babel import gettext
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import JournalRecord, Shift, ShiftBookEntry, User
from gate.services import ActionError, guard_accounts, sites, transaction, users
from tests.support.kiosk import GUARD, GUARD2, KioskActions

CONSOLE = "/console/guards/"
SUPERVISOR = ("supervisor", "supervisor-demo")
KINDS = ("user.pin_reset", "user.disabled", "user.enabled", "user.unlocked")


def _id(app, login: str) -> int:
    """A demo account's id by staff number or username."""
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(
            (User.staff_no == login) | (User.username == login))).one()
        db.session.remove()
        return user_id


def _user(app, user_id: int) -> dict:
    with app.app_context():
        u = db.session.get(User, user_id)
        row = {"active": u.active, "pin_hash": u.pin_hash, "epoch": u.session_epoch,
               "failed": u.failed_logins, "locked_until": u.locked_until}
        db.session.remove()
        return row


def _entries(app, kind: str) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                                  .order_by(ShiftBookEntry.seq)).all()
        out = [{"actor_id": r.actor_id, "data": json.loads(r.data), "raw": r.data} for r in rows]
        db.session.remove()
        return out


def _book_size(app) -> int:
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(ShiftBookEntry))
        db.session.remove()
        return n


def _said(app, msgid: str, **values) -> str:
    """A message as a page shows it (default locale), so the test holds once translated."""
    with app.test_request_context():
        return gettext(msgid, **values)


def _pin_from(response) -> str:
    match = re.search(r'data-testid="new-pin">(\d{6})<', response.get_data(True))
    assert match, "the page shows no PIN"
    return match.group(1)


@pytest.fixture
def boss(app) -> KioskActions:
    """The demo supervisor signed in on their own client."""
    actions = KioskActions(app.test_client())
    assert actions.login_staff(*SUPERVISOR).status_code == 302
    return actions


@pytest.fixture
def guard2(app) -> KioskActions:
    """A kiosk client for guard 1002 (not signed in yet)."""
    return KioskActions(app.test_client())


def _signed_in(actions: KioskActions) -> bool:
    return actions.client.get("/kiosk/shift/start").status_code == 200


def test_reset_pin_new_works_old_does_not(app, boss, guard2, caplog):
    """Protects the reset itself: the PIN shown once signs the guard in, the old one no longer
    does, the response is never cached, and the PIN is in no log, hash-free shift book or cookie."""
    caplog.set_level(logging.DEBUG)
    guard_id = _id(app, GUARD2[0])
    before = _user(app, guard_id)
    response = boss.client.post(f"{CONSOLE}{guard_id}/reset-pin")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    pin = _pin_from(response)
    assert not guard_accounts.is_weak_pin(pin)
    after = _user(app, guard_id)
    assert after["pin_hash"] != before["pin_hash"] and pin not in after["pin_hash"]

    assert guard2.login(*GUARD2).status_code == 401
    assert guard2.login(GUARD2[0], pin).status_code == 302

    entries = _entries(app, "user.pin_reset")
    assert [e["data"] for e in entries] == [{"user_id": guard_id, "staff_no": GUARD2[0]}]
    assert entries[0]["actor_id"] == _id(app, "supervisor")
    assert pin not in entries[0]["raw"] and "argon2" not in entries[0]["raw"]
    assert pin not in caplog.text
    session = app.session_interface.get_signing_serializer(app).loads(
        boss.client.get_cookie("session").value)
    assert pin not in json.dumps(session, default=str)  # not flashed through the cookie


def test_pin_page_is_no_store_and_list_page_shows_no_pin(app, boss):
    """Protects the clear PIN from the browser cache and the back button: only the POST response
    carries it, with Cache-Control no-store; the list page afterwards does not show it."""
    guard_id = _id(app, GUARD[0])
    response = boss.client.post(f"{CONSOLE}{guard_id}/reset-pin")
    assert response.headers["Cache-Control"] == "no-store"
    pin = _pin_from(response)
    listing = boss.client.get(CONSOLE)
    assert listing.status_code == 200
    assert f'data-testid="guard-{GUARD[0]}"' in listing.get_data(True)
    assert pin not in listing.get_data(True)


def test_reset_ends_the_guards_session(app, boss, guard2):
    """Protects against someone who learnt the old PIN: a reset signs out the open kiosk session."""
    assert guard2.login(*GUARD2).status_code == 302
    assert _signed_in(guard2)
    boss.client.post(f"{CONSOLE}{_id(app, GUARD2[0])}/reset-pin")
    assert not _signed_in(guard2)


def test_disable_on_duty_ends_session_blocks_login_and_warns(app, boss):
    """Protects the estate from a dismissed guard: disabling works at once even on shift, ends
    the session, refuses the right PIN, closes the shift unsigned so the next guard can start one
    at that post (told to the supervisor), and keeps the reason out of the chained entry (a note
    with its digest instead)."""
    kiosk = KioskActions(app.test_client())
    kiosk.login(*GUARD)
    assert kiosk.start_shift().status_code == 302
    guard_id = _id(app, GUARD[0])
    reason = "已离职，工牌未交回"
    response = boss.client.post(f"{CONSOLE}{guard_id}/disable", data={"reason": reason},
                                follow_redirects=True)
    with app.app_context():
        post_name = sites.posts(sites.current_site())[0].name
    assert post_name in response.get_data(True)  # the open-shift warning names the post
    assert not _user(app, guard_id)["active"]
    assert kiosk.client.get("/kiosk/").status_code == 302
    refused = KioskActions(app.test_client()).login(*GUARD)
    assert refused.status_code == 401
    assert _said(app, "This account is disabled. Ask your supervisor.") in refused.get_data(True)

    [entry] = _entries(app, "user.disabled")
    assert reason not in entry["raw"]
    data = entry["data"]
    assert data["user_id"] == guard_id and data["staff_no"] == GUARD[0]
    assert data["open_shift_id"] is not None and data["digest"]
    with app.app_context():
        assert db.session.get(JournalRecord, data["record_id"]).fields == {"text": reason}
        db.session.remove()
    [closed] = _entries(app, "shift.closed")
    assert closed["data"] == {"shift_id": data["open_shift_id"], "guard_id": guard_id,
                              "reason": "account_disabled"}
    relief = KioskActions(app.test_client())  # the post is free: the next guard starts a shift
    relief.login(*GUARD2)
    assert relief.start_shift().status_code == 302
    relief_id = _id(app, GUARD2[0])
    with app.app_context():
        open_now = [s.guard_id for s in db.session.scalars(select(Shift).where(Shift.ended_at.is_(None)))]
        db.session.remove()
    assert open_now == [relief_id]


def test_enable_lets_a_disabled_guard_sign_in_again(app, boss, guard2):
    """Protects the way back, and against a revived session: an enabled guard signs in again
    with their PIN, but the session open when they were disabled stays ended."""
    guard_id = _id(app, GUARD2[0])
    assert guard2.login(*GUARD2).status_code == 302
    boss.client.post(f"{CONSOLE}{guard_id}/disable", data={"reason": "调岗"})
    assert KioskActions(app.test_client()).login(*GUARD2).status_code == 401
    boss.client.post(f"{CONSOLE}{guard_id}/enable")
    assert not _signed_in(guard2)  # the old cookie does not come back to life
    assert guard2.login(*GUARD2).status_code == 302
    assert [e["data"] for e in _entries(app, "user.enabled")] == [
        {"user_id": guard_id, "staff_no": GUARD2[0]}]


def test_unlock_lets_a_locked_out_guard_sign_in(app, boss, guard2):
    """Protects a guard locked out by typos: the list shows the lock, unlock lifts it at once."""
    for _ in range(app.config["GATE_LOGIN_MAX_FAILURES"]):
        guard2.login(GUARD2[0], "000000")
    assert guard2.login(*GUARD2).status_code == 401
    assert f'data-testid="locked-{GUARD2[0]}"' in boss.client.get(CONSOLE).get_data(True)
    guard_id = _id(app, GUARD2[0])
    response = boss.client.post(f"{CONSOLE}{guard_id}/unlock")
    assert response.status_code == 302
    assert _user(app, guard_id)["locked_until"] is None
    assert guard2.login(*GUARD2).status_code == 302
    assert [e["data"] for e in _entries(app, "user.unlocked")] == [
        {"user_id": guard_id, "staff_no": GUARD2[0]}]


def _other_site_guard() -> int:
    with transaction():
        site = sites.create_site("other", "别的小区")
        user = users.add_user(site, role="guard", username="g9001", display_name="外保安",
                              staff_no="9001", pin="246810")
    return user.id


def _disabled_guard() -> int:
    guard_id = _demo(GUARD2[0])
    with transaction():
        db.session.get(User, guard_id).active = False
    return guard_id


def _demo(login: str) -> int:
    return db.session.scalars(select(User.id).where(
        (User.staff_no == login) | (User.username == login))).one()


REFUSALS = [
    ("not_found", "reset_pin", lambda: 999_999, ()),
    ("not_found", "disable", _other_site_guard, ("离职",)),
    ("not_guard", "reset_pin", lambda: _demo("supervisor"), ()),
    ("not_guard", "disable", lambda: _demo("admin"), ("离职",)),
    ("already_disabled", "disable", _disabled_guard, ("离职",)),
    ("already_active", "enable", lambda: _demo(GUARD2[0]), ()),
    ("reason_required", "disable", lambda: _demo(GUARD2[0]), ("   ",)),
    ("too_long", "disable", lambda: _demo(GUARD2[0]), ("长" * 201,)),
    ("not_locked", "unlock", lambda: _demo(GUARD2[0]), ()),
]


@pytest.mark.parametrize(("code", "action", "target", "args"), REFUSALS,
                         ids=[f"{r[1]}-{r[0]}" for r in REFUSALS])
def test_refusals_write_nothing(app, code, action, target, args):
    """Protects accounts from the wrong change: each refusal is one ActionError and leaves the
    account and the shift book exactly as they were."""
    with app.test_request_context():
        target_id = target()
        boss = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        size = db.session.scalar(select(func.count()).select_from(ShiftBookEntry))
        before = db.session.get(User, target_id)
        state = (before.active, before.pin_hash, before.session_epoch) if before else None
        with pytest.raises(ActionError) as refused:
            getattr(guard_accounts, action)(boss, target_id, *args)
        assert refused.value.code == code
        db.session.expire_all()
        after = db.session.get(User, target_id)
        assert ((after.active, after.pin_hash, after.session_epoch) if after else None) == state
        assert db.session.scalar(select(func.count()).select_from(ShiftBookEntry)) == size
        assert db.session.scalar(select(func.count()).select_from(JournalRecord)
                                 .where(JournalRecord.author_id == boss.id)) == 0
        db.session.remove()


def test_refusal_pages(app, boss):
    """Protects estates from each other and the page from a 500: an unknown account is a 404, a
    supervisor's own account is refused with a message; nothing is written."""
    size = _book_size(app)
    assert boss.client.post(f"{CONSOLE}999999/reset-pin").status_code == 404
    response = boss.client.post(f"{CONSOLE}{_id(app, 'supervisor')}/reset-pin", follow_redirects=True)
    assert response.status_code == 200
    assert _said(app, "Only guard accounts can be changed here. Ask an administrator about other "
                      "accounts.") in response.get_data(True)
    assert _book_size(app) == size


@pytest.mark.parametrize("who", [("kiosk", *GUARD), ("staff", "desk", "desk-demo")],
                         ids=["guard", "desk"])
def test_guard_and_desk_cannot_reach_the_pages(app, who):
    """Protects guard accounts from everyone but supervisors: a guard (who could reset a colleague's
    PIN) and the service desk get 403 on every page and nothing changes."""
    how, login, secret = who
    actions = KioskActions(app.test_client())
    assert (actions.login(login, secret) if how == "kiosk" else actions.login_staff(login, secret)
            ).status_code == 302
    target = _id(app, GUARD2[0])
    before = _user(app, target)
    assert actions.client.get(CONSOLE).status_code == 403
    for path in ("reset-pin", "disable", "enable", "unlock"):
        assert actions.client.post(f"{CONSOLE}{target}/{path}", data={"reason": "x"}).status_code == 403
    assert _user(app, target) == before
    assert all(not _entries(app, kind) for kind in KINDS)


def test_weak_pins_are_never_issued(monkeypatch):
    """Protects new PINs from the first guesses (000000, 123456, 654321, 121212, 123123): the
    generator draws again until the PIN is not one of them."""
    for weak in ("000000", "777777", "123456", "654321", "890123", "121212", "123123", "112211"):
        assert guard_accounts.is_weak_pin(weak), weak
    assert not guard_accounts.is_weak_pin("305817")
    draws = iter([0, 123456, 111111, 654321, 305817])
    monkeypatch.setattr(guard_accounts.secrets, "randbelow", lambda _n: next(draws))
    assert guard_accounts.new_pin() == "305817"
