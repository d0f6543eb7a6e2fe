"""The plate decision order (SPEC §2.4): blocklist, resident, pass, VIP, guard; one decision per arrival."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, ShiftBookEntry, User
from gate.models.types import utcnow
from gate.services import ActionError, vehicle_lists, vehicles


def _read(plate: str, confidence: float = 0.95, camera: str = "anpr-in") -> PlateRead:
    return PlateRead("demo", camera, f"evt-{uuid.uuid4().hex}", plate, confidence, "in", utcnow())


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _commands() -> int:
    return db.session.scalar(select(func.count()).select_from(BarrierCommandRecord))


def _later() -> None:
    for event in db.session.scalars(select(DeviceEvent).where(DeviceEvent.kind == "plate")):
        event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()


def test_blocklist_beats_resident(ctx):
    """Protects the estate from a listed car: even a resident's registered car stays closed."""
    vehicle_lists.add(_user("supervisor"), "blocklist", "粤B12345", "车辆被盗报案")
    decision = vehicles.handle_plate(_read("粤b·12345"))
    assert (decision.action, decision.reason, decision.command) == ("prompt", "blocked", None)
    assert _commands() == 0


def test_vip_opens_with_its_reason(ctx):
    """Protects the salute rule (§十四): a leadership car opens and is marked vip for the kiosk."""
    vehicle_lists.add(_user("supervisor"), "vip", "京A00001", "集团总经理")
    decision = vehicles.handle_plate(_read("京A00001"))
    assert (decision.action, decision.reason) == ("open", "vip") and decision.command is not None


def test_removed_or_expired_entries_no_longer_count(ctx):
    """Protects list hygiene: a removed VIP entry and an expired block decide nothing any more."""
    supervisor = _user("supervisor")
    entry = vehicle_lists.add(supervisor, "vip", "京A00002", "来访领导")
    vehicle_lists.remove(supervisor, entry)
    vehicle_lists.add(supervisor, "blocklist", "京A00003", "上月欠费",
                      valid_from=utcnow() - timedelta(days=30), valid_until=utcnow() - timedelta(days=1))
    assert vehicles.handle_plate(_read("京A00002")).reason == "unknown"
    assert vehicles.handle_plate(_read("京A00003")).reason == "unknown"


def test_repeated_reads_are_one_arrival(ctx):
    """Protects against double opening: reads of one car within the debounce window decide once,
    leave one shift-book entry, and a read after the window decides again."""
    first = vehicles.handle_plate(_read("粤B12345"))
    entries = db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                .where(ShiftBookEntry.kind == "vehicle.read"))
    again = [vehicles.handle_plate(_read("粤B12345")) for _ in range(3)]
    assert first.action == "open" and all(d.action == "ignore" and d.reason == "repeat" for d in again)
    assert _commands() == 1
    assert db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                             .where(ShiftBookEntry.kind == "vehicle.read")) == entries
    _later()
    assert vehicles.handle_plate(_read("粤B12345")).action == "open" and _commands() == 2


def test_other_camera_is_not_a_repeat(ctx):
    """Protects the exit: the same car read by the exit camera right after entering is decided."""
    vehicles.handle_plate(_read("粤B12345"))
    assert vehicles.handle_plate(_read("粤B12345", camera="anpr-out")).reason == "resident"


def test_low_confidence_read_does_not_swallow_a_clear_one(ctx):
    """Protects residents from waiting: a blurry read prompts, the next clear read still opens."""
    assert vehicles.handle_plate(_read("粤B12345", confidence=0.4)).reason == "low_confidence"
    assert vehicles.handle_plate(_read("粤B12345")).action == "open"


@pytest.mark.parametrize(("which", "plate", "reason", "code"), [
    ("elsewhere", "粤B12345", "x", "bad_list"),
    ("vip", "ABC", "x", "bad_plate"),
    ("vip", "粤B12345", " ", "reason_required"),
])
def test_bad_list_entries_are_refused(ctx, which, plate, reason, code):
    """Protects the lists: a bad list name, plate or missing reason adds nothing."""
    with pytest.raises(ActionError) as err:
        vehicle_lists.add(_user("supervisor"), which, plate, reason)
    assert err.value.code == code
    assert db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                             .where(ShiftBookEntry.kind == "vehicle_list.added")) == 0
