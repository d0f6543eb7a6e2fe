"""Residents' first portal password from a one-time activation code, and moving out."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import ActivationCode, Building, Resident, ShiftBookEntry, Site, Unit, User
from gate.models.types import utcnow
from gate.services import auth, sites, transaction
from kiosk_ui.helpers import localtime

DESK = ("desk", "desk-demo")
RESIDENT = ("13800000001", "resident-demo")  # 陈先生, 1-1-101, has a portal account (resident 1)
NEWCOMER = ("13800000009", "王小明")  # added here in 1-1-102, no account yet
PASSWORD = "new-secret-9"
NO_MATCH = "The phone number and code do not match a valid code."


@pytest.fixture
def newcomer(app) -> int:
    """A resident of 1-1-102 without a portal account."""
    with app.app_context():
        site = db.session.scalars(select(Site).where(Site.code == "demo")).one()
        unit = db.session.scalars(select(Unit).where(Unit.site_id == site.id,
                                                     Unit.code == "1-1-102")).one()
        with transaction():
            resident = Resident(unit_id=unit.id, name=NEWCOMER[1], phone=NEWCOMER[0])
            db.session.add(resident)
        return resident.id


def _visitor(app):
    """A fresh browser reading English, so the checks below survive the zh_CN catalogue."""
    browser = app.test_client()
    browser.get("/login?lang=en")
    return browser


@pytest.fixture
def desk(client, kiosk):
    """The test client signed in as the service desk (in English)."""
    client.get("/login?lang=en")
    assert kiosk.login_staff(*DESK).status_code == 302
    return client


def _issue(desk_client, resident_id: int) -> str:
    """Issue a code at the desk and read the clear code off the printed card."""
    response = desk_client.post(f"/desk/residents/{resident_id}/activation")
    assert response.status_code == 200
    found = re.search(r'data-testid="activation-code">(.*?)</p>', response.get_data(True))
    code = re.sub(r"\D", "", found.group(1))
    assert len(code) == 8
    return code


def _activate(visitor, code: str, phone: str = NEWCOMER[0], password: str = PASSWORD,
              password2: str | None = None):
    return visitor.post("/portal/activate", data={
        "phone": phone, "code": code, "password": password,
        "password2": password if password2 is None else password2})


def _error(response) -> str:
    found = re.search(r'<div class="flash error"[^>]*>(.*?)</div>', response.get_data(True), re.S)
    assert found, response.get_data(True)
    return found.group(1).strip()


def _codes(app, resident_id: int) -> list[ActivationCode]:
    with app.app_context():
        rows = list(db.session.scalars(select(ActivationCode).where(
            ActivationCode.resident_id == resident_id).order_by(ActivationCode.id)))
        db.session.expunge_all()
        return rows


def _resident(app, resident_id: int) -> Resident:
    with app.app_context():
        resident = db.session.get(Resident, resident_id)
        db.session.expunge(resident)
        return resident


def _user_by_phone(app, phone: str) -> User | None:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.phone == phone)).first()
        if user is not None:
            db.session.expunge(user)
        return user


def _entries(app, kind: str) -> list[tuple[int | None, dict]]:
    with app.app_context():
        return [(e.actor_id, json.loads(e.data)) for e in db.session.scalars(
            select(ShiftBookEntry).where(ShiftBookEntry.kind == kind).order_by(ShiftBookEntry.seq))]


def _desk_id(app) -> int:
    with app.app_context():
        return db.session.scalars(select(User.id).where(User.username == DESK[0])).one()


def test_desk_code_then_resident_sets_password_and_lands_on_portal(app, desk, newcomer):
    """Protects the whole activation path: the desk prints a card with the code, the resident
    sets a password on the public page, lands signed in on the portal and can sign in again."""
    home = desk.get("/desk/?unit=1-1-102").get_data(True)
    assert f'data-testid="issue-code-{newcomer}"' in home and f'data-testid="move-out-{newcomer}"' in home
    response = desk.post(f"/desk/residents/{newcomer}/activation")
    assert response.headers["Cache-Control"] == "no-store"
    card = response.get_data(True)
    for text in ("演示小区", "1-1-102", NEWCOMER[1], "First time? Set your password", "/login",
                 "138****0009"):
        assert text in card, text
    code = re.sub(r"\D", "", re.search(r'data-testid="activation-code">(.*?)</p>', card).group(1))
    [row] = _codes(app, newcomer)
    assert row.expires_at - row.created_at == timedelta(hours=72)
    with app.app_context():
        assert localtime(row.expires_at, "%Y-%m-%d %H:%M") in card  # in site time
    desk.post("/logout")

    visitor = _visitor(app)
    assert "/portal/activate" in visitor.get("/login").get_data(True)
    form = visitor.get("/portal/activate").get_data(True)
    assert form.count('inputmode="numeric"') == 2 and 'autocomplete="one-time-code"' in form
    assert form.count('autocomplete="new-password"') == 2 and 'autocomplete="tel"' in form
    response = _activate(visitor, f"{code[:4]} {code[4:]}", phone="138 0000 0009")
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/")
    page = visitor.get("/portal/").get_data(True)
    assert "flash success" in page and "1-1-102" in page and NEWCOMER[1] in page

    user = _user_by_phone(app, NEWCOMER[0])
    assert (user.role, user.username, user.display_name, user.active) == (
        "resident", NEWCOMER[0], NEWCOMER[1], True)
    assert _resident(app, newcomer).user_id == user.id
    assert _codes(app, newcomer)[0].used_at is not None
    assert _entries(app, "resident.activation_issued") == [(_desk_id(app), {"resident_id": newcomer})]
    assert _entries(app, "resident.activated") == [(user.id, {"resident_id": newcomer,
                                                              "user_id": user.id})]
    visitor.post("/logout")
    assert visitor.post("/login", data={"login": NEWCOMER[0], "password": PASSWORD}).status_code == 302
    assert _error(_activate(_visitor(app), code)).startswith(NO_MATCH)  # used: works once


def test_existing_account_gets_the_new_password(app, desk):
    """Protects 'forgot my password' at the desk: a resident who already has an account gets a
    new password on that same account; the old password stops working."""
    code = _issue(desk, 1)
    before = _user_by_phone(app, RESIDENT[0])
    visitor = _visitor(app)
    assert _activate(visitor, code, phone=RESIDENT[0]).status_code == 302
    after = _user_by_phone(app, RESIDENT[0])
    assert after.id == before.id and after.session_epoch == before.session_epoch + 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(
            User.role == "resident")) == 1
    other = _visitor(app)
    assert other.post("/login", data={"login": RESIDENT[0], "password": RESIDENT[1]}).status_code == 401
    assert other.post("/login", data={"login": RESIDENT[0], "password": PASSWORD}).status_code == 302


def test_wrong_codes_count_and_void_the_code_after_five(app, desk, newcomer):
    """Protects against guessing: each wrong code counts; after 5 the right code no longer works
    and the message sends the resident to the service desk; a new code works again."""
    code = _issue(desk, newcomer)
    wrong = f"{(int(code) + 1) % 10 ** 8:08d}"
    visitor = _visitor(app)
    for attempt in range(1, 6):
        response = _activate(visitor, wrong)
        assert response.status_code == 422
        assert "ask the service desk for a new code" in _error(response)
        assert _codes(app, newcomer)[0].attempts == attempt
    assert _error(_activate(visitor, code)).startswith(NO_MATCH)
    assert _user_by_phone(app, NEWCOMER[0]) is None
    assert _activate(visitor, _issue(desk, newcomer)).status_code == 302


def test_expired_code_is_refused(app, desk, newcomer):
    """Protects the validity window: a code past GATE_ACTIVATION_CODE_HOURS no longer works."""
    code = _issue(desk, newcomer)
    with app.app_context():
        row = db.session.scalars(select(ActivationCode)).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    response = _activate(_visitor(app), code)
    assert response.status_code == 422 and _error(response).startswith(NO_MATCH)
    assert _user_by_phone(app, NEWCOMER[0]) is None and _resident(app, newcomer).user_id is None
    assert _codes(app, newcomer)[0].used_at is None


def test_second_code_voids_the_first(app, desk, newcomer):
    """Protects re-issuing: only the latest code works; an earlier card cannot be used any more."""
    first = _issue(desk, newcomer)
    second = _issue(desk, newcomer)
    old, new = _codes(app, newcomer)
    assert old.expires_at <= new.created_at and old.used_at is None
    visitor = _visitor(app)
    if first != second:
        assert _error(_activate(visitor, first)).startswith(NO_MATCH)
    assert _activate(visitor, second).status_code == 302


def test_unknown_phone_gets_the_same_answer_as_a_wrong_code(app, desk, newcomer):
    """Protects residents' privacy: the page does not tell whether a phone number is registered."""
    code = _issue(desk, newcomer)
    visitor = _visitor(app)
    unknown = _activate(visitor, code, phone="13912345678")
    wrong = _activate(visitor, f"{(int(code) + 7) % 10 ** 8:08d}")
    no_code = _activate(visitor, code, phone=RESIDENT[0])  # registered, but was issued no code
    assert _error(unknown) == _error(wrong) == _error(no_code)
    assert unknown.status_code == wrong.status_code == no_code.status_code == 422
    assert _user_by_phone(app, "13912345678") is None


@pytest.mark.parametrize("password, password2, message", [
    ("short", "short", "at least 8 characters"),
    ("long-enough-1", "long-enough-2", "not the same"),
])
def test_password_rules_change_nothing(app, desk, newcomer, password, password2, message):
    """Protects the password rules (8+ characters, typed twice alike): a refused password does
    not count as a wrong code, creates no account, and the code still works afterwards."""
    code = _issue(desk, newcomer)
    visitor = _visitor(app)
    response = _activate(visitor, code, password=password, password2=password2)
    assert response.status_code == 422 and message in _error(response)
    assert _codes(app, newcomer)[0].attempts == 0 and _user_by_phone(app, NEWCOMER[0]) is None
    assert _activate(visitor, code).status_code == 302


def test_moved_out_resident_is_locked_out(app, desk):
    """Protects the household after a move-out: the old resident's session dies, they cannot
    sign in or activate with a code issued before, and the desk shows them as moved out."""
    code = _issue(desk, 1)
    home = _visitor(app)
    assert home.post("/login", data={"login": RESIDENT[0], "password": RESIDENT[1]}).status_code == 302
    assert home.get("/portal/").status_code == 200
    confirm = desk.get("/desk/residents/1/move-out").get_data(True)
    assert 'data-testid="confirm-move-out"' in confirm and "陈先生" in confirm
    response = desk.post("/desk/residents/1/move-out", data={"note": "Keys returned to 李女士"})
    assert response.status_code == 302 and "unit=1-1-101" in response.headers["Location"]

    assert home.get("/portal/").status_code == 302  # the old session no longer works
    refused = home.post("/login", data={"login": RESIDENT[0], "password": RESIDENT[1]})
    assert refused.status_code == 401 and "disabled" in _error(refused)
    assert _error(_activate(_visitor(app), code, phone=RESIDENT[0])).startswith(NO_MATCH)
    user = _user_by_phone(app, RESIDENT[0])
    assert not user.active and _resident(app, 1).moved_out_at is not None
    assert [c.used_at for c in _codes(app, 1)] == [None]

    [(actor, data)] = _entries(app, "resident.moved_out")
    assert actor == _desk_id(app) and data["resident_id"] == 1 and "李女士" not in json.dumps(data)
    page = desk.get("/desk/?unit=1-1-101").get_data(True)
    assert 'data-testid="moved-out-1"' in page and 'data-testid="issue-code-1"' not in page
    assert 'data-testid="move-out-1"' not in page
    again = desk.post("/desk/residents/1/activation", follow_redirects=True)
    assert "moved out" in _error(again) and len(_codes(app, 1)) == 1
    twice = desk.post("/desk/residents/1/move-out", data={"note": ""}, follow_redirects=True)
    assert "already" in _error(twice) and len(_entries(app, "resident.moved_out")) == 1


def test_desk_cannot_act_on_another_estates_resident(app, desk):
    """Protects estates from each other: another site's resident is 404 for codes and move-out,
    and nothing is written."""
    with app.app_context():
        with transaction():
            site = sites.create_site("other", "别的小区")
            building = Building(site_id=site.id, code="9", name="9栋")
            db.session.add(building)
            db.session.flush()
            unit = Unit(site_id=site.id, building_id=building.id, code="9-1-901")
            db.session.add(unit)
            db.session.flush()
            stranger = Resident(unit_id=unit.id, name="外人", phone="13700000000")
            db.session.add(stranger)
        stranger_id = stranger.id
    assert desk.post(f"/desk/residents/{stranger_id}/activation").status_code == 404
    assert desk.get(f"/desk/residents/{stranger_id}/move-out").status_code == 404
    assert desk.post(f"/desk/residents/{stranger_id}/move-out", data={"note": ""}).status_code == 404
    assert desk.post("/desk/residents/999999/activation").status_code == 404
    assert _codes(app, stranger_id) == [] and _resident(app, stranger_id).moved_out_at is None
    assert _entries(app, "resident.activation_issued") == [] and _entries(app, "resident.moved_out") == []


def test_clear_code_is_never_stored_or_logged(app, desk, newcomer, caplog):
    """Protects the code's secrecy: the database keeps only a password hash of it (no table,
    no shift-book entry holds the digits), and no log line carries it."""
    caplog.set_level(logging.DEBUG)
    code = _issue(desk, newcomer)
    visitor = _visitor(app)
    _activate(visitor, f"{(int(code) + 3) % 10 ** 8:08d}")
    assert _activate(visitor, code).status_code == 302
    [row] = _codes(app, newcomer)
    assert code not in row.code_hash and auth.check_secret(row.code_hash, code)
    with app.app_context():
        for entry in db.session.scalars(select(ShiftBookEntry)):
            assert code not in entry.data, entry.kind
        for table in db.metadata.sorted_tables:
            for values in db.session.execute(select(table)):
                assert not any(code in str(v) for v in values), table.name
    assert not any(code in record.getMessage() for record in caplog.records)
