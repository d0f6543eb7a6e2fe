"""The resident portal: live requests from the gate, answered on the phone, and messages left."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from gate.domain.idcard import check_char
from gate.extensions import db
from gate.models import Resident, ShiftBookEntry, Site, Unit, User, Visit
from gate.services import transaction, visitors, visits
from gate.services.users import add_user

VALID_ID = "11010519491231002X"
VISITOR_PHONE = "13912345678"
RESIDENT = ("13800000001", "resident-demo")  # lives in 1-1-101
NEIGHBOUR = ("13800000002", "neighbour-demo")  # lives in 1-1-102 (added here)


def _id_number(n: int) -> str:
    """A valid resident ID for visitor n (each visitor its own, so names do not merge)."""
    first17 = f"11010519900101{n:03d}"
    return first17 + check_char(first17)


NUMBERS = {"王五": VALID_ID, "赵六": _id_number(1), "孙七": _id_number(2), "周八": _id_number(3)}


def _guard() -> User:
    return db.session.scalars(select(User).where(User.staff_no == "1001")).one()


def _start(app, unit: str = "1-1-101", name: str = "王五", purpose: str = "送文件") -> int:
    """A walk-in registered by the guard through the service, as the kiosk would."""
    with app.app_context():
        identity = visitors.check_identity(name, "resident_id", NUMBERS[name], phone=VISITOR_PHONE)
        return visits.start(_guard(), None, unit, identity, purpose=purpose).id


def _visit(app, visit_id: int) -> Visit:
    with app.app_context():
        visit = db.session.get(Visit, visit_id)
        db.session.expunge(visit)
        return visit


def _entries(app, kind: str) -> list[ShiftBookEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                                       .order_by(ShiftBookEntry.seq)))
        db.session.expunge_all()
        return rows


@pytest.fixture
def neighbour(app):
    """A second resident with a portal account, living in unit 1-1-102."""
    with app.app_context():
        site = db.session.scalars(select(Site).where(Site.code == "demo")).one()
        with transaction():
            user = add_user(site, role="resident", username="r13800000002", display_name="刘女士",
                            password=NEIGHBOUR[1], phone=NEIGHBOUR[0])
            unit = db.session.scalars(select(Unit).where(Unit.site_id == site.id,
                                                         Unit.code == "1-1-102")).one()
            db.session.add(Resident(unit_id=unit.id, user_id=user.id, name="刘女士", phone=NEIGHBOUR[0]))
        return user.id


def test_portal_shows_only_own_units_requests(app, client, kiosk, neighbour):
    """Protects residents' privacy: the portal lists requests for the resident's unit only,
    with Approve/Decline buttons, and never the visitor's ID number or phone."""
    mine = _start(app, "1-1-101", "王五", "送文件")
    theirs = _start(app, "1-1-102", "赵六", "装修报价")
    kiosk.login_staff(*RESIDENT)
    page = client.get("/portal/").get_data(True)
    assert f'data-testid="approve-{mine}"' in page and f'data-testid="decline-{mine}"' in page
    assert "王五" in page and "送文件" in page
    assert f"approve-{theirs}" not in page and "赵六" not in page
    assert VALID_ID not in page and "110105********002X" not in page
    assert VISITOR_PHONE not in page and "139****5678" not in page


def test_other_units_resident_cannot_answer(app, client, kiosk, neighbour):
    """Protects the host's decision: a resident of another unit gets 404 and the visit is untouched."""
    visit_id = _start(app, "1-1-101")
    kiosk.login_staff(*NEIGHBOUR)
    response = client.post(f"/portal/visits/{visit_id}/answer", data={"answer": "approved"})
    assert response.status_code == 404
    visit = _visit(app, visit_id)
    assert visit.state == "waiting_host" and visit.host_answer is None
    assert _entries(app, "visit.host_answer") == []
    assert client.post("/portal/visits/999999/answer", data={"answer": "approved"}).status_code == 404


@pytest.mark.parametrize("answer, state", [("approved", "waiting_host"), ("declined", "declined")])
def test_resident_answers_from_the_portal(app, client, kiosk, answer, state):
    """Protects §四 host confirmation: Approve/Decline change the visit and write visit.host_answer."""
    visit_id = _start(app)
    kiosk.login_staff(*RESIDENT)
    response = client.post(f"/portal/visits/{visit_id}/answer", data={"answer": answer})
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/")
    visit = _visit(app, visit_id)
    assert (visit.state, visit.host_answer, visit.host_answered_by) == (state, answer, "portal")
    [entry] = _entries(app, "visit.host_answer")
    assert json.loads(entry.data) == {"visit_id": visit_id, "answer": answer, "by": "portal"}
    with app.app_context():
        resident_user = db.session.scalars(select(User).where(User.phone == RESIDENT[0])).one()
        assert entry.actor_id == resident_user.id
    page = client.get("/portal/").get_data(True)
    assert "flash success" in page and f"approve-{visit_id}" not in page


def test_second_answer_is_refused(app, client, kiosk):
    """Protects against double answers (guard's phone call and portal tap): the later one is refused."""
    visit_id = _start(app)
    with app.app_context():
        visits.host_answer(db.session.get(Visit, visit_id), "declined", by="phone", actor=_guard())
    kiosk.login_staff(*RESIDENT)
    response = client.post(f"/portal/visits/{visit_id}/answer", data={"answer": "approved"},
                           follow_redirects=True)
    assert "flash error" in response.get_data(True)
    assert _visit(app, visit_id).host_answer == "declined"
    assert len(_entries(app, "visit.host_answer")) == 1


def test_bad_answer_changes_nothing(app, client, kiosk):
    """Protects the visit from malformed posts: only approved/declined are accepted."""
    visit_id = _start(app)
    kiosk.login_staff(*RESIDENT)
    response = client.post(f"/portal/visits/{visit_id}/answer", data={"answer": "not_home"},
                           follow_redirects=True)
    assert "flash error" in response.get_data(True)
    assert _visit(app, visit_id).state == "waiting_host"
    assert _entries(app, "visit.host_answer") == []


def test_requests_json_lists_a_new_request_at_once(app, client, kiosk):
    """Protects the live portal: a request appears in /portal/requests as soon as the guard asks,
    carries no ID or phone, and disappears once answered (portal.js polls this every second)."""
    kiosk.login_staff(*RESIDENT)
    assert client.get("/portal/requests").get_json() == {"requests": [], "notices": []}
    visit_id = _start(app, purpose="送快递")
    response = client.get("/portal/requests")
    assert response.headers["Cache-Control"] == "no-store"
    [request] = response.get_json()["requests"]
    assert request["id"] == visit_id and request["name"] == "王五" and request["purpose"] == "送快递"
    assert request["answer_url"] == f"/portal/visits/{visit_id}/answer"
    assert VALID_ID not in response.get_data(True) and VISITOR_PHONE not in response.get_data(True)
    client.post(request["answer_url"], data={"answer": "approved"})
    assert client.get("/portal/requests").get_json() == {"requests": [], "notices": []}


def test_request_after_supervisor_approval_reaches_the_host(app, client, kiosk):
    """Protects the forgot-ID path: once the supervisor approves, the host is asked on the portal."""
    visit_id = _start(app)
    with app.app_context():
        approval = visits.escalate(db.session.get(Visit, visit_id), "forgot_id", _guard())
        kiosk.login_staff(*RESIDENT)
        assert client.get("/portal/requests").get_json() == {"requests": [], "notices": []}
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        visits.decide(approval, "approved", supervisor)
    assert [r["id"] for r in client.get("/portal/requests").get_json()["requests"]] == [visit_id]


def test_messages_left_are_shown_newest_first(app, client, kiosk):
    """Protects 口讯: messages visitors left when declined are shown to the host, newest first,
    for 30 days."""
    ids = []
    for name, text in [("王五", "明天再来"), ("孙七", "请回电"), ("周八", "很久以前的留言")]:
        visit_id = _start(app, name=name)
        with app.app_context():
            visit = db.session.get(Visit, visit_id)
            visits.host_answer(visit, "not_home", by="phone", actor=_guard())
            visits.leave_message(visit, text, _guard())
        ids.append(visit_id)
    with app.app_context():
        old = db.session.get(Visit, ids[2])
        old.created_at = old.created_at - timedelta(days=31)
        db.session.commit()
    kiosk.login_staff(*RESIDENT)
    page = client.get("/portal/").get_data(True)
    assert page.index("请回电") < page.index("明天再来")
    assert "很久以前的留言" not in page
    assert f'data-testid="message-{ids[0]}"' in page and VISITOR_PHONE not in page


def test_portal_loads_the_poller(client, kiosk):
    """Protects live updates: the portal page includes portal.js and the card template it clones."""
    kiosk.login_staff(*RESIDENT)
    page = client.get("/portal/").get_data(True)
    assert "portal.js" in page and 'data-poll-url="/portal/requests"' in page
    assert '<template data-role="card">' in page
    script = client.get("/static/portal.js")
    assert script.status_code == 200 and b"/portal/requests" not in script.data  # URL comes from the page
    script.close()
