"""Starting a shift, writing the shift book, handing over with both guards' PINs."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Checkpoint, FollowUp, JournalRecord, Shift, ShiftBookEntry, User
from gate.services import open_items
from tests.support.kiosk import GUARD, GUARD2


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _text(response) -> str:
    return response.get_data(True)


@pytest.fixture
def on_shift(kiosk):
    """Guard 1001 signed in with a shift started."""
    kiosk.login(*GUARD)
    response = kiosk.start_shift()
    assert response.headers["Location"].endswith("/kiosk/")
    return kiosk


def test_start_requires_every_order_acknowledged(app, kiosk):
    """Protects post orders (岗位须知): a shift cannot start until each unread order is ticked."""
    kiosk.login(*GUARD)
    page = _text(kiosk.client.get("/kiosk/shift/start"))
    ids = re.findall(r'name="ack" value="(\d+)"', page)
    assert len(ids) == 2
    response = kiosk.start_shift(ack_ids=[int(ids[0])])
    assert response.status_code == 200 and "flash error" in _text(response)
    with app.app_context():
        assert _count(Shift) == 1  # only the demo's historical shift
    assert kiosk.start_shift().status_code == 302
    kiosk.logout()
    kiosk.login(*GUARD)
    # Acknowledged orders are not asked again.
    assert 'name="ack"' not in _text(kiosk.client.get("/kiosk/shift/start"))


@pytest.mark.parametrize("kind, fields", [
    ("phone_call", {"who": "1-1-101 业主", "what": "问快递", "when": "10:00", "how": "已答复"}),
    ("inspection", {"unit": "1-1-101", "purpose": "漏水", "outcome": "正常"}),
    ("complaint", {"topic": "噪音", "summary": "楼上装修", "forwarded": "y"}),
    ("patrol", {"area": "B1车库", "findings": "正常"}),
    ("note", {"text": "道闸保养"}),
])
def test_guard_writes_each_entry_kind(app, on_shift, kind, fields):
    """Protects the guard-written entries: each kind saves a record and one chained entry."""
    with app.app_context():
        before = _count(ShiftBookEntry)
    response = on_shift.write(kind, **fields)
    assert response.status_code == 302
    with app.app_context():
        assert _count(ShiftBookEntry) == before + 1
        record = db.session.scalars(select(JournalRecord).order_by(JournalRecord.id.desc())).first()
        assert record.kind == kind and record.seq is not None


def test_missing_field_is_refused(app, on_shift):
    """Protects bad input: a phone call without 'what' is refused with a message, nothing saved."""
    with app.app_context():
        before = _count(ShiftBookEntry)
    response = on_shift.write("phone_call", who="someone")
    assert response.status_code == 422 and "flash error" in _text(response)
    with app.app_context():
        assert _count(ShiftBookEntry) == before


def test_handover_lists_open_items(app, on_shift):
    """Protects the handover: open promises and items from registered providers are listed."""
    on_shift.write("phone_call", who="快递员", what="包裹请转交1-1-101", pass_on_to="1-1-101",
                   due_minutes="30")
    open_items.register("test_visitors", lambda post: [open_items.OpenItem("visitor", "访客王某在场内")])
    try:
        page = _text(on_shift.client.get("/kiosk/shift/handover"))
    finally:
        open_items.unregister("test_visitors")
    assert "访客王某在场内" in page
    assert "1-1-101" in page
    assert re.search(r'data-testid="open-count">2<', page)


def test_handover_needs_both_pins(app, on_shift):
    """Protects the two-signature rule: a wrong incoming PIN writes nothing and keeps the shift open."""
    with app.app_context():
        before = _count(ShiftBookEntry)
    response = on_shift.handover(incoming=(GUARD2[0], "000000"))
    assert response.status_code == 422
    response = on_shift.handover(outgoing_pin="000000")
    assert response.status_code == 422
    response = on_shift.handover(incoming=GUARD)
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(Shift).where(Shift.ended_at.is_(None))).one()
        assert _count(ShiftBookEntry) == before


def test_damaged_equipment_needs_a_note(app, on_shift):
    """Protects the equipment count: a missing radio must be explained before signing."""
    response = on_shift.handover(broken=("radio",))
    assert response.status_code == 422
    response = on_shift.handover(broken=("radio",), notes="对讲机一台送修")
    assert response.status_code == 302


def test_handover_closes_shift_signs_checkpoint_and_switches_guard(app, on_shift):
    """Protects the handover outcome: shift closed, entry and signed checkpoint written, the
    outgoing session ended and the incoming guard signed in to start their shift."""
    with app.app_context():
        checkpoints = _count(Checkpoint)
    old_cookie = on_shift.client.get_cookie("session").value
    response = on_shift.handover(notes="一切正常")
    assert response.status_code == 302
    assert "/kiosk/shift/start" in response.headers["Location"]
    page = _text(on_shift.client.get(response.headers["Location"]))
    assert "李保安" in page  # guard 1002 is now signed in
    with app.app_context():
        shift = db.session.scalars(select(Shift).order_by(Shift.id.desc())).first()
        assert shift.ended_at is not None
        incoming = db.session.scalars(select(User).where(User.staff_no == GUARD2[0])).one()
        assert shift.relieved_by_id == incoming.id
        entry = db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.seq == shift.end_seq)).one()
        assert entry.kind == "shift.handover"
        assert _count(Checkpoint) == checkpoints + 1
    other = app.test_client()
    other.set_cookie("session", old_cookie)
    assert other.get("/kiosk/").status_code == 302  # the outgoing guard's session is over


def test_close_follow_up(app, on_shift):
    """Protects promises (时效制): closing one records the outcome and references the original entry."""
    on_shift.write("complaint", topic="路灯", summary="3栋路灯坏", forwarded="y")
    with app.app_context():
        follow = db.session.scalars(select(FollowUp)).one()
        follow_id = follow.id
    on_shift.client.post(f"/kiosk/follow-ups/{follow_id}/close", data={"outcome": "客服已派单"})
    with app.app_context():
        follow = db.session.get(FollowUp, follow_id)
        assert follow.closed_at is not None and follow.outcome == "客服已派单"
        entry = db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.seq == follow.closed_seq)).one()
        record = db.session.get(JournalRecord, follow.record_id)
        assert entry.ref_seq == record.seq


def test_service_desk_closes_forwarded_complaint(app, on_shift):
    """Protects §十三 forwarding: a complaint the gate forwards reaches the service desk, who close it."""
    on_shift.write("complaint", topic="电梯", summary="2栋电梯异响", forwarded="y")
    on_shift.logout()
    on_shift.login_staff("desk", "desk-demo")
    page = _text(on_shift.client.get("/desk/"))
    assert "电梯" in page
    with app.app_context():
        follow_id = db.session.scalars(select(FollowUp)).one().id
    on_shift.client.post(f"/desk/follow-ups/{follow_id}/close", data={"outcome": "已报维保"})
    with app.app_context():
        assert db.session.get(FollowUp, follow_id).closed_at is not None
