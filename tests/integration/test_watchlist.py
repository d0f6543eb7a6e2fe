"""The watchlist: added and removed with who/why/when, matched at check-in, ID numbers never in clear."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gate.extensions import db
from gate.models import JournalRecord, ShiftBookEntry, User, Visit, WatchlistEntry
from gate.models.types import utcnow
from gate.services import visitors, visits
from tests.support.kiosk import GUARD

VALID_ID = "11010519491231002X"
DESK = ("desk", "desk-demo")


def _guard() -> User:
    return db.session.scalars(select(User).where(User.staff_no == "1001")).one()


def _check_in(app, name="王五", id_number=VALID_ID, phone=None, plate="") -> Visit:
    """A walk-in through the visit service, as the kiosk registers one."""
    with app.app_context():
        identity = visitors.check_identity(name, "resident_id" if id_number else None, id_number,
                                           phone=phone)
        visit = visits.start(_guard(), None, "1-1-101", identity, plate=plate)
        db.session.refresh(visit)
        db.session.expunge(visit)
        return visit


def _entries(app, kind: str) -> list[ShiftBookEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                                       .order_by(ShiftBookEntry.seq)))
        db.session.expunge_all()
        return rows


def _rows(app) -> list[WatchlistEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(WatchlistEntry).order_by(WatchlistEntry.id)))
        db.session.expunge_all()
        return rows


@pytest.fixture
def desk(kiosk):
    """Service-centre staff signed in (they manage the watchlist with supervisors)."""
    assert kiosk.login_staff(*DESK).status_code == 302
    return kiosk


def _add(client, **fields):
    data = {"kind": "id", "id_type": "resident_id", "reason": "多次尾随业主进入"}
    data.update(fields)
    return client.post("/watchlist/add", data=data)


def test_add_by_id_keeps_no_clear_number(app, client, desk):
    """Protects PIPL (SPEC §5): an ID typed on the watchlist page is stored only as a keyed hash
    and masked form — nowhere in the row, the shift book or the page is the clear number."""
    response = _add(client, id_number="110105 19491231 002x")
    assert response.status_code == 302 and response.headers["Location"].endswith("/watchlist/")
    [row] = _rows(app)
    stored = " ".join(str(getattr(row, c.key)) for c in WatchlistEntry.__table__.columns)
    assert VALID_ID not in stored and VALID_ID.lower() not in stored
    assert row.display == "110105********002X" and row.kind == "id" and len(row.value) == 64
    assert row.reason == "多次尾随业主进入" and row.expires_at is None
    [entry] = _entries(app, "watchlist.added")
    assert json.loads(entry.data)["watchlist_id"] == row.id
    assert VALID_ID not in entry.data and "尾随" not in entry.data  # the reason stays off the chain
    with app.app_context():
        assert entry.actor_id == db.session.scalars(select(User).where(User.username == "desk")).one().id
    page = client.get("/watchlist/").get_data(True)
    assert "110105********002X" in page and "多次尾随业主进入" in page and "客服小陈" in page
    assert VALID_ID not in page


def test_hit_by_id_refuses_the_check_in(app, client, desk):
    """Protects §四 watchlist: a listed ID is refused at check-in (state refused, reason watchlist)."""
    _add(client, id_number=VALID_ID)
    visit = _check_in(app)
    assert visit.state == "refused" and visit.outcome_reason == "watchlist"
    [hit] = _entries(app, "visit.watchlist_hit")
    assert json.loads(hit.data) == {"visit_id": visit.id, "watchlist_id": _rows(app)[0].id}
    other = _check_in(app, name="赵六", id_number=None)
    assert other.state == "waiting_host"


@pytest.mark.parametrize("fields, display, visitor", [
    ({"kind": "name_phone", "name": "赵六", "phone": "139 1234 5678"}, "赵六 139****5678",
     {"name": "赵六", "id_number": None, "phone": "13912345678"}),
    ({"kind": "plate", "plate": "粤b·88888"}, "粤B88888",
     {"name": "钱九", "id_number": None, "plate": "粤B88888"}),
])
def test_hit_by_name_phone_or_plate(app, client, desk, fields, display, visitor):
    """Protects the other two kinds: name + phone (shown masked) and plate entries refuse a matching
    check-in."""
    response = _add(client, **fields)
    assert response.status_code == 302, response.get_data(True)
    [row] = _rows(app)
    assert row.display == display
    assert _check_in(app, **visitor).outcome_reason == "watchlist"


def test_remove_needs_a_reason_and_lets_the_visitor_in_again(app, client, desk):
    """Protects removal: it needs a reason, writes watchlist.removed, and the person matches no more."""
    _add(client, id_number=VALID_ID)
    [row] = _rows(app)
    page = client.post(f"/watchlist/{row.id}/remove", data={"reason": " "}, follow_redirects=True)
    assert "flash error" in page.get_data(True) and _rows(app)[0].removed_at is None
    client.post(f"/watchlist/{row.id}/remove", data={"reason": "误录，已核实身份"})
    assert _rows(app)[0].removed_at is not None
    [entry] = _entries(app, "watchlist.removed")
    data = json.loads(entry.data)
    assert data["watchlist_id"] == row.id and "误录" not in entry.data
    with app.app_context():
        assert db.session.get(JournalRecord, data["record_id"]).fields == {"text": "误录，已核实身份"}
    assert f'data-testid="entry-{row.id}"' not in client.get("/watchlist/").get_data(True)
    assert _check_in(app).state == "waiting_host"
    again = client.post(f"/watchlist/{row.id}/remove", data={"reason": "再次"}, follow_redirects=True)
    assert "flash error" in again.get_data(True) and len(_entries(app, "watchlist.removed")) == 1


def test_expired_entries_do_not_match(app, client, desk):
    """Protects the expiry date: the entry holds through its last day, then matches and shows no more."""
    tomorrow = datetime.now(ZoneInfo(app.config["GATE_TIMEZONE"])).date() + timedelta(days=1)
    assert _add(client, id_number=VALID_ID, expires=tomorrow.isoformat()).status_code == 302
    [row] = _rows(app)
    with app.app_context():
        identity = visitors.check_identity("王五", "resident_id", VALID_ID)
        assert visitors.watchlist_hit(row.site_id, identity, None) is not None
        assert visitors.watchlist_hit(row.site_id, identity, None, now=utcnow() + timedelta(days=3)) is None
        db.session.get(WatchlistEntry, row.id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert _check_in(app).state == "waiting_host"
    assert f'data-testid="entry-{row.id}"' not in client.get("/watchlist/").get_data(True)
    # An expired entry does not block listing the same person again.
    assert _add(client, id_number=VALID_ID).status_code == 302 and len(_rows(app)) == 2


@pytest.mark.parametrize("fields", [
    {"id_number": "110105194912310021"},                      # wrong check character
    {"id_number": ""},                                          # no number
    {"id_number": VALID_ID, "reason": ""},                      # no reason
    {"id_number": VALID_ID, "expires": "2020-01-01"},           # expiry in the past
    {"id_number": VALID_ID, "expires": "31/12/2030"},           # not a date
    {"kind": "name_phone", "name": "赵六", "phone": ""},        # phone missing
    {"kind": "name_phone", "name": "赵六", "phone": "12345"},   # not a mobile number
    {"kind": "plate", "plate": "ABC"},                          # not a plate
    {"kind": "anything"},
])
def test_bad_input_is_refused_with_a_message(app, client, desk, fields):
    """Protects the list from bad rows: each mistake is refused with a message, nothing is stored,
    and a typed ID number is not echoed back into the page."""
    response = _add(client, **fields)
    page = response.get_data(True)
    assert response.status_code == 422 and "flash error" in page
    assert _rows(app) == [] and _entries(app, "watchlist.added") == []
    if fields.get("id_number"):
        assert fields["id_number"] not in page


def test_duplicate_active_entry_refused(app, client, desk):
    """Protects the list from doubles: the same ID cannot be listed twice while active."""
    _add(client, id_number=VALID_ID)
    response = _add(client, id_number=VALID_ID, reason="另一原因")
    assert response.status_code == 422 and len(_rows(app)) == 1


@pytest.mark.parametrize("login, allowed", [(("supervisor", "supervisor-demo"), True), (DESK, True),
                                            (("admin", "admin-demo"), True),
                                            (("13800000001", "resident-demo"), False)])
def test_who_may_manage_the_watchlist(client, kiosk, login, allowed):
    """Protects the roles: supervisors, service desk and admins manage the list; residents cannot."""
    kiosk.login_staff(*login)
    assert (client.get("/watchlist/").status_code == 200) is allowed
    assert (_add(client, id_number=VALID_ID).status_code != 403) is allowed


def test_guard_cannot_open_the_watchlist(client, kiosk):
    """Protects the list from the gate screen: guards see hits, not the list."""
    kiosk.login(*GUARD)
    assert client.get("/watchlist/").status_code == 403
