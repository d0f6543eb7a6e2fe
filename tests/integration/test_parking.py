"""Parking sessions (SPEC §2.4): entry and exit per plate, overstay, and reads that arrive wrong."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, ParkingSession, Post, ShiftBookEntry, Visit
from gate.models.types import utcnow
from gate.services import open_items, parking, passes, vehicle_lists, vehicles, visitors, visits
from tests.support import passes as support

RESIDENT_CAR = "粤B12345"  # the demo resident's car (1-1-101)
CAMERA = {"in": "anpr-in", "out": "anpr-out"}


def _read(plate: str, direction: str = "in", at: datetime | None = None,
          confidence: float = 0.95) -> PlateRead:
    return PlateRead("demo", CAMERA[direction], f"evt-{uuid.uuid4().hex}", plate, confidence, direction,
                     at or utcnow())


def _later() -> None:
    """Move earlier reads out of the debounce window: the next read is a new arrival."""
    for event in db.session.scalars(select(DeviceEvent).where(DeviceEvent.kind == "plate")):
        event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()


def _commands() -> int:
    return db.session.scalar(select(func.count()).select_from(BarrierCommandRecord))


def _sessions(plate: str) -> list[ParkingSession]:
    return list(db.session.scalars(select(ParkingSession).where(ParkingSession.plate == plate)
                                   .order_by(ParkingSession.id)))


def _post() -> Post:
    return db.session.scalars(select(Post).where(Post.code == "east")).one()


def test_resident_entry_then_exit_is_one_session(ctx):
    """Protects the on-site list: a resident's car in then out is one closed stay with both times."""
    first = vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    assert (first.action, first.reason) == ("open", "resident")
    [inside] = parking.on_site(support.site().id)
    assert inside.plate == RESIDENT_CAR and inside.kind == "resident" and inside.unit_id is not None
    leaving = vehicles.handle_plate(_read(RESIDENT_CAR, "out"))
    assert (leaving.action, leaving.reason) == ("open", "resident")
    assert leaving.command is not None and leaving.command.device == "car-out"
    [stay] = _sessions(RESIDENT_CAR)
    assert stay.entered_at is not None and stay.left_at >= stay.entered_at and stay.closed_by == "camera"
    assert parking.on_site(support.site().id) == []


def test_pass_car_leaves_by_its_session_and_the_visit_ends(ctx):
    """Protects the exit lane: a visitor car let in on a pass is let out without a guard, and its
    visit leaves the on-site list."""
    resident, user = support.host()
    passes.create(resident, user, name="王五", plate="粤A54321")
    assert vehicles.handle_plate(_read("粤A54321", "in")).reason == "visitor_pass"
    [stay] = _sessions("粤A54321")
    assert stay.kind == "visitor_pass" and stay.pass_id is not None and stay.expected_until is not None
    leaving = vehicles.handle_plate(_read("粤A54321", "out"))
    assert (leaving.action, leaving.reason) == ("open", "exit")
    visit = db.session.get(Visit, stay.visit_id)
    assert visit.state == "checked_out" and visit.left_reason == "car"


def test_overstaying_visitor_car_is_flagged_for_kiosk_and_handover(ctx, client, kiosk):
    """Protects the overstay flag: a pass car still inside after its window shows on the kiosk's
    car list, on the start page and among the handover's open items; a car within it does not."""
    resident, user = support.host()
    late = passes.create(resident, user, name="王五", plate="粤A54321")
    passes.create(resident, user, name="赵六", plate="粤A77777")
    vehicles.handle_plate(_read("粤A54321", "in"))
    vehicles.handle_plate(_read("粤A77777", "in"))
    assert parking.overstaying(support.site().id) == []
    support.expire(late)
    stay = db.session.scalars(select(ParkingSession).where(ParkingSession.plate == "粤A54321")).one()
    stay.expected_until = late.valid_until  # the window the car was let in under has ended
    db.session.commit()
    assert [s.plate for s in parking.overstaying(support.site().id)] == ["粤A54321"]
    with ctx.test_request_context("/?lang=en"):
        items = [i for i in open_items.collect(_post()) if i.kind == "overstay"]
    assert len(items) == 1 and "粤A54321" in items[0].title and items[0].overdue
    kiosk.login()
    kiosk.start_shift()
    page = client.get("/kiosk/vehicles/onsite?lang=en").get_data(as_text=True)
    assert 'data-plate="粤A54321" class="overdue" data-overstay="yes"' in page
    assert 'data-plate="粤A77777" class=""' in page
    home = client.get("/kiosk/?lang=en").get_data(as_text=True)
    assert "1 overstaying" in home and "Visitor car 粤A54321 is still inside" in home
    handover = client.get("/kiosk/shift/handover?lang=en").get_data(as_text=True)
    assert "Visitor car 粤A54321 is still inside" in handover


def test_unknown_car_leaving_without_entry_prompts(ctx):
    """Protects the exit lane from opening for a car nobody let in: no session, no command."""
    decision = vehicles.handle_plate(_read("京A99999", "out"))
    assert (decision.action, decision.reason) == ("prompt", "no_entry")
    assert _commands() == 0 and _sessions("京A99999") == []


def test_resident_exit_without_entry_is_recorded_exit_only(ctx):
    """Protects the records when the entry camera missed a resident: the car is let out and an
    exit-only stay is kept, so the on-site list does not count it inside."""
    decision = vehicles.handle_plate(_read(RESIDENT_CAR, "out"))
    assert decision.action == "open"
    [stay] = _sessions(RESIDENT_CAR)
    assert stay.entered_at is None and stay.left_at is not None and stay.kind == "resident"
    assert parking.on_site(support.site().id) == []


def test_entry_read_arriving_after_the_exit_opens_nothing(ctx):
    """Protects against events out of order: an entry read that happened before an exit already
    recorded completes that stay and never opens the entry barrier for a car that has gone."""
    now = utcnow()
    vehicles.handle_plate(_read(RESIDENT_CAR, "out", at=now))
    commands = _commands()
    late = vehicles.handle_plate(_read(RESIDENT_CAR, "in", at=now - timedelta(seconds=40)))
    assert (late.action, late.reason) == ("ignore", "out_of_order") and late.command is None
    assert _commands() == commands
    [stay] = _sessions(RESIDENT_CAR)
    assert stay.entered_at is not None and stay.entered_at < stay.left_at
    assert parking.on_site(support.site().id) == []


def test_camera_clock_ahead_cannot_open_a_pass_early(ctx, caplog):
    """Protects pass windows from camera clock skew: a read stamped an hour ahead is judged at the
    server's time, so a pass that starts in 30 minutes does not open yet; a log line says why."""
    resident, user = support.host()
    early = passes.create(resident, user, name="王五", plate="粤A54321")
    now = utcnow()
    support.move_window(early, now + timedelta(minutes=30), now + timedelta(hours=3))
    decision = vehicles.handle_plate(_read("粤A54321", "in", at=now + timedelta(hours=1)))
    assert (decision.action, decision.reason) == ("prompt", "unknown")
    assert _commands() == 0
    assert "clock is" in caplog.text and "ahead" in caplog.text


def test_stale_read_opens_nothing_but_an_exit_still_counts(ctx, caplog):
    """Protects against late delivery: a read minutes old opens no barrier (the car has gone one
    way or the other), yet a late exit read still ends the car's stay."""
    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    _later()
    commands = _commands()
    old = vehicles.handle_plate(_read(RESIDENT_CAR, "out", at=utcnow() - timedelta(minutes=10)))
    assert (old.action, old.reason) == ("ignore", "stale") and _commands() == commands
    assert parking.on_site(support.site().id) == []
    assert "s old" in caplog.text


def test_reentry_without_exit_closes_the_old_stay(ctx):
    """Protects the on-site list from ghosts: a car entering again without an exit read has one
    open stay, the old one closed as a missed exit."""
    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    _later()
    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    first, second = _sessions(RESIDENT_CAR)
    assert first.closed_by == "missed_exit" and first.left_at is not None
    assert second.left_at is None
    assert len(parking.on_site(support.site().id)) == 1


def test_vip_and_blocked_cars_on_the_way_out(ctx):
    """Protects the order on exit: a blocked car stays closed even with an open stay; a VIP leaves."""
    supervisor = support.user("supervisor")
    vehicle_lists.add(supervisor, "vip", "京A00001", "董事长")
    assert vehicles.handle_plate(_read("京A00001", "out")).reason == "vip"
    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    _later()
    vehicle_lists.add(supervisor, "blocklist", RESIDENT_CAR, "欠费拖车")
    leaving = vehicles.handle_plate(_read(RESIDENT_CAR, "out"))
    assert (leaving.action, leaving.reason) == ("prompt", "blocked")
    assert len(parking.on_site(support.site().id)) == 1


def test_guard_marks_a_car_gone_once(ctx, client, kiosk):
    """Protects the list against a missed exit: the guard records the car as gone, with a shift-book
    entry; a second tap is refused and writes nothing."""
    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    [stay] = _sessions(RESIDENT_CAR)
    kiosk.login()
    kiosk.start_shift()
    page = client.post(f"/kiosk/vehicles/onsite/{stay.id}/left", follow_redirects=True)
    # In Chinese: inside `ctx` the requests share the test's app context, where the locale is cached.
    assert "已登记为离场" in page.get_data(as_text=True)
    entries = db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                .where(ShiftBookEntry.kind == "parking.marked_left"))
    again = client.post(f"/kiosk/vehicles/onsite/{stay.id}/left", follow_redirects=True)
    assert "这辆车已登记为离场" in again.get_data(as_text=True)
    assert entries == 1 == db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                             .where(ShiftBookEntry.kind == "parking.marked_left"))
    db.session.expire_all()
    assert db.session.get(ParkingSession, stay.id).closed_by == "guard"


@pytest.mark.parametrize("direction", ["in", "out"])
def test_car_opened_by_hand_is_tracked(ctx, direction):
    """Protects the sessions when a guard opens for a prompted car: entering starts a stay,
    leaving ends one (so a car let in by hand can drive out by itself)."""
    from gate.services import vehicle_prompts

    guard = support.user("1001")
    site = support.site()
    if direction == "out":
        vehicles.handle_plate(_read("京A99999", "in"))  # unknown: prompt, no stay
        event = db.session.scalars(select(DeviceEvent).order_by(DeviceEvent.id.desc())).first()
        vehicle_prompts.order_open(site, event.id, "访客", guard)
        _later()
        leaving = vehicles.handle_plate(_read("京A99999", "out"))
        assert (leaving.action, leaving.reason) == ("open", "exit")
        assert parking.on_site(site.id) == []
    else:
        vehicles.handle_plate(_read("京A99999", "in"))
        event = db.session.scalars(select(DeviceEvent).order_by(DeviceEvent.id.desc())).first()
        vehicle_prompts.order_open(site, event.id, "访客", guard)
        [stay] = parking.on_site(site.id)
        assert stay.kind == "manual" and stay.plate == "京A99999"


def test_visitor_registered_from_a_prompt_opens_the_car_lane(ctx):
    """Protects the admit-as-visitor path: once the host confirms, the barrier is the lane where
    the car waits (not the turnstile), and the car's stay lasts until the end of the day."""
    guard = support.user("1001")
    vehicles.handle_plate(_read("京A99999", "in"))
    visit = visits.start(guard, None, "1-1-101", visitors.check_identity("张三", None, None),
                         plate="京a 99999")
    visits.host_answer(visit, "approved", by="phone", actor=guard)
    visits.admit(visit, guard, None)
    [stay] = parking.on_site(support.site().id)
    assert stay.kind == "visitor" and stay.visit_id == visit.id and stay.plate == "京A99999"
    assert stay.expected_until > utcnow()
    assert visits._car_lane(visit).code == "car-in"


def test_retention_purges_old_stays_and_outlives_old_reads(ctx):
    """Protects retention of car stays (plates are personal data): a stay that ended before the
    visits' retention is deleted, a recent stay whose reads are past the device events' retention
    keeps its row (the references are cleared, no foreign-key failure), and an open one stays."""
    from gate.services import retention

    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    _later()
    vehicles.handle_plate(_read(RESIDENT_CAR, "out"))
    vehicles.handle_plate(_read("粤B12346", "out"))  # unknown: prompt, no stay
    old, = _sessions(RESIDENT_CAR)
    old.entered_at, old.left_at = utcnow() - timedelta(days=400), utcnow() - timedelta(days=399)
    _later()
    vehicles.handle_plate(_read(RESIDENT_CAR, "in"))
    for event in db.session.scalars(select(DeviceEvent)):
        event.received_at = utcnow() - timedelta(days=40)  # past the 30 days of device events
    db.session.commit()
    with ctx.test_request_context("/"):
        counts = retention.purge()
    assert counts["parking_sessions"] == 1 and counts["device_events"] >= 3
    [kept] = _sessions(RESIDENT_CAR)
    assert kept.left_at is None and kept.entry_event_id is None
