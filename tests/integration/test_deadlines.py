"""时效制: promises with deadlines (approvals, incidents, follow-ups, openings by hand above the daily
limit), their overdue detection, and the one alert per overdue item."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import (
    Approval,
    BarrierCommandRecord,
    DeadlineAlert,
    Device,
    FollowUp,
    Incident,
    ShiftBookEntry,
    User,
)
from gate.models.types import utcnow
from gate.services import barriers, deadlines, visitors, visits
from gate.services.sites import current_site
from tests.support.waiting import wait_for

SUPERVISOR = ("supervisor", "supervisor-demo")


@pytest.fixture
def app_config(app_config):
    """A small daily limit of openings by hand, so the test reaches it quickly."""
    return dict(app_config, GATE_MANUAL_OPEN_DAILY_LIMIT=2, GATE_MANUAL_OPEN_REVIEW_MINUTES=30)


def _guard() -> User:
    return db.session.scalars(select(User).where(User.staff_no == "1001")).one()


def _barrier() -> Device:
    return db.session.scalars(select(Device).where(Device.kind == "barrier").order_by(Device.id)).first()


def _open_by_hand(source: str = barriers.MANUAL) -> str:
    return barriers.order(_barrier(), "open", "快递车辆", source=source, actor_id=_guard().id).id


def _entries(kind: str) -> list[dict]:
    return [json.loads(e.data) for e in db.session.scalars(
        select(ShiftBookEntry).where(ShiftBookEntry.kind == kind).order_by(ShiftBookEntry.seq))]


def _late_approval(minutes: int = -3) -> Approval:
    guard = _guard()
    visit = visits.start(guard, None, "1-1-101", visitors.check_identity("王五", None, None))
    return visits.escalate(visit, "forgot_id", guard, minutes=minutes)


def _incident(hours_ago: float) -> Incident:
    incident = visits.forced_entry(None, "硬闯，已劝阻", _guard(), None)
    incident.created_at = utcnow() - timedelta(hours=hours_ago)
    db.session.commit()
    return incident


def _follow_up(minutes_from_now: int) -> FollowUp:
    row = FollowUp(site_id=current_site().id, title="转告 3-101 快递已到",
                   due_at=utcnow() + timedelta(minutes=minutes_from_now))
    db.session.add(row)
    db.session.commit()
    return row


def test_openings_by_hand_above_the_daily_limit_wait_for_review(ctx):
    """Protects the manual-opening threshold: the first openings by hand of the day need nothing, each
    one past the limit creates a supervisor review with its deadline and entry in the same
    transaction as the order; automatic openings and yesterday's do not count."""
    barriers.order(_barrier(), "open", "resident car", source="plate")  # not by hand: not counted
    first = _open_by_hand()
    earlier = db.session.get(BarrierCommandRecord, first)
    earlier.issued_at = utcnow() - timedelta(days=1)  # yesterday (local): not counted today
    db.session.commit()
    _open_by_hand()
    _open_by_hand()
    assert db.session.scalars(select(Approval)).all() == []
    third = _open_by_hand()
    review = db.session.scalars(select(Approval)).one()
    assert (review.kind, review.command_id, review.requested_by) == ("manual_open", third, _guard().id)
    assert review.due_at - review.requested_at == timedelta(minutes=30)
    requested = _entries("approval.requested")
    assert requested == [{"approval_id": review.id, "kind": "manual_open", "command_id": third}]
    command = db.session.get(BarrierCommandRecord, third)
    entry = db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.kind == "approval.requested")).one()
    assert entry.seq == command.request_seq + 1  # written in the order's own transaction
    _open_by_hand()
    assert db.session.scalar(select(func.count()).select_from(Approval)) == 2


def test_manual_open_review_is_decided_on_the_console(app, client, kiosk):
    """Protects the review of openings by hand: the console lists the opening with its barrier and
    reason, and a supervisor's decision closes it with an approval.decided entry."""
    with app.app_context():
        for _ in range(3):
            _open_by_hand()
        review_id = db.session.scalars(select(Approval.id)).one()
    kiosk.login_staff(*SUPERVISOR)
    page = client.get("/console/").get_data(True)
    assert f'data-testid="approval-{review_id}"' in page and "快递车辆" in page
    page = client.post(f"/console/approvals/{review_id}", data={"decision": "denied", "note": "无登记"},
                       follow_redirects=True).get_data(True)
    assert "flash success" in page
    with app.app_context():
        assert db.session.get(Approval, review_id).decision == "denied"
        assert _entries("approval.decided")[0]["approval_id"] == review_id


def test_overdue_detection_covers_every_kind(ctx):
    """Protects 时效制 detection: approvals past due, incidents open longer than the allowed hours and
    follow-ups past their promised time are overdue; ones still in time are pending only; a decided
    approval or closed incident is neither."""
    late = _late_approval(-3)
    in_time = _late_approval(10)
    old = _incident(hours_ago=25)
    fresh = _incident(hours_ago=1)
    missed = _follow_up(-5)
    coming = _follow_up(60)
    site = current_site()
    pending = {(i.kind, i.ref_id) for i in deadlines.pending(site)}
    late_keys = {(i.kind, i.ref_id) for i in deadlines.overdue(site)}
    assert late_keys == {("approval", late.id), ("incident", old.id), ("follow_up", missed.id)}
    assert pending == late_keys | {("approval", in_time.id), ("incident", fresh.id), ("follow_up", coming.id)}
    supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
    visits.decide(late, "approved", supervisor)
    old.closed_at = utcnow()
    db.session.commit()
    assert {(i.kind, i.ref_id) for i in deadlines.overdue(site)} == {("follow_up", missed.id)}


def test_each_overdue_item_is_announced_once(ctx):
    """Protects the "alert once" rule: a sweep announces each newly overdue item with a
    deadline.overdue entry; later sweeps (the bridge's every 30 s, cron) announce nothing again."""
    late = _late_approval(-3)
    missed = _follow_up(-5)
    published = []
    first = deadlines.announce(current_site(), lambda item: published.append(item) or True)
    assert {(i.kind, i.ref_id) for i in first} == {("approval", late.id), ("follow_up", missed.id)}
    assert deadlines.announce(current_site(), lambda item: published.append(item) or True) == []
    assert len(published) == 2
    entries = _entries("deadline.overdue")
    assert sorted((e["kind"], e["ref_id"]) for e in entries) == sorted([("approval", late.id),
                                                                         ("follow_up", missed.id)])
    assert all(e["detail"] != missed.title for e in entries)  # a guard's free text stays off the chain
    rows = db.session.scalars(select(DeadlineAlert)).all()
    assert {r.seq for r in rows} == {e.seq for e in db.session.scalars(
        select(ShiftBookEntry).where(ShiftBookEntry.kind == "deadline.overdue"))}
    assert all(i.alerted_at is not None for i in deadlines.overdue(current_site()))


def test_a_second_sweeper_cannot_announce_the_same_item(ctx):
    """Protects against double alerts with two sweepers (two bridges, or a bridge and cron): the
    unique claim refuses the second and writes no second entry."""
    late = _late_approval(-3)
    item = deadlines.overdue(current_site())[0]
    db.session.add(DeadlineAlert(site_id=late.site_id, kind="approval", ref_id=late.id, due_at=late.due_at))
    db.session.commit()  # the other sweeper got there first, after our read
    count = db.session.scalar(select(func.count()).select_from(ShiftBookEntry))
    assert deadlines._claim(current_site(), item, utcnow()) is False
    assert db.session.scalar(select(func.count()).select_from(ShiftBookEntry)) == count


def test_alert_text_has_no_personal_data(ctx):
    """Protects privacy on the alerts topic: the text names the kind and deadline, never the
    visitor's name or the guard's free text."""
    _late_approval(-3)
    _follow_up(-5)
    texts = [deadlines.alert_text(i) for i in deadlines.overdue(current_site())]
    assert len(texts) == 2 and all("王五" not in t and "3-101" not in t for t in texts)
    assert any("未带证件" in t and "逾期审批" in t for t in texts)


def test_pending_page_highlights_overdue_and_closes_follow_ups(app, client, kiosk):
    """Protects the supervisor's deadlines page: overdue rows are marked, in-time rows are not, and a
    follow-up can be closed there with what was done (an empty outcome is refused)."""
    with app.app_context():
        late = _late_approval(-3).id
        in_time = _late_approval(10).id
        missed = _follow_up(-5).id
    kiosk.login_staff(*SUPERVISOR)
    page = client.get("/console/pending/").get_data(True)
    assert f'class="overdue" data-testid="pending-approval-{late}"' in page
    assert f'class="" data-testid="pending-approval-{in_time}"' in page
    assert f'data-testid="pending-follow_up-{missed}" data-overdue="yes"' in page
    refused = client.post(f"/console/pending/follow-ups/{missed}/close", data={"outcome": " "},
                          follow_redirects=True).get_data(True)
    assert "flash error" in refused
    client.post(f"/console/pending/follow-ups/{missed}/close", data={"outcome": "已电话转告业主"})
    with app.app_context():
        closed = db.session.get(FollowUp, missed)
        assert closed.closed_at is not None and _entries("follow_up.closed")[0]["late"] is True
    assert client.post("/console/pending/follow-ups/999999/close", data={"outcome": "x"}).status_code == 404


def test_cli_lists_and_records_overdue_items(app, runner):
    """Protects the cron path where no bridge runs: `gate deadlines` lists overdue items, records the
    new ones once, and a second run announces nothing new."""
    with app.app_context():
        _late_approval(-3)
    first = runner.invoke(args=["deadlines", "--no-publish"])
    assert first.exit_code == 0, first.output
    assert "1 overdue" in first.output and "1 announced now" in first.output
    second = runner.invoke(args=["deadlines", "--no-publish"])
    assert "1 overdue" in second.output and "0 announced now" in second.output
    with app.app_context():
        assert len(_entries("deadline.overdue")) == 1


@pytest.mark.mqtt
def test_bridge_publishes_one_alert_per_overdue_item(app_config, fresh_mosquitto, tmp_path):
    """Protects the MQTT side of 时效制 over a real broker: the running bridge publishes an overdue
    approval on the site's alerts topic once, even after several more checks."""
    from device_adapters.bridge import Bridge
    from gate.app import create_app

    app = create_app(dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_DEADLINE_CHECK_SECONDS=1))
    with app.app_context():
        approval_id = _late_approval(-3).id
        db.session.remove()
    alerts: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: alerts.append(json.loads(m.payload))
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", fresh_mosquitto.port)
    client.subscribe("gatehouse/demo/alerts", 1)
    client.loop_start()
    bridge = Bridge(app).start()
    try:
        assert subscribed.wait(5)
        wait_for(lambda: alerts, timeout=10, what="the overdue alert")
        with app.app_context():
            wait_for(lambda: db.session.scalar(select(func.count()).select_from(DeadlineAlert)) == 1,
                     what="the claim")
            db.session.remove()
        checked = bridge.deadline_checks  # let three more checks run: none may repeat the alert
        wait_for(lambda: bridge.deadline_checks >= checked + 3, what="three more deadline checks")
        assert len(alerts) == 1
        assert alerts[0]["kind"] == "overdue_approval" and f"#{approval_id}" in alerts[0]["text"]
        assert "王五" not in alerts[0]["text"]
    finally:
        bridge.stop()
        client.disconnect()
        client.loop_stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

