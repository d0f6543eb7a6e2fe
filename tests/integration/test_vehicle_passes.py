"""A plate on a visitor pass opens the entry barrier during the window, once per use (SPEC §2.4)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, PassUse, PortalNotice, Resident, User, Visit
from gate.models.types import utcnow
from gate.services import passes, vehicles


@pytest.fixture
def host(ctx):
    """The demo resident of 1-1-101 and their account."""
    resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
    return resident, db.session.get(User, resident.user_id)


def _read(plate: str, direction: str = "in", camera: str = "anpr-in") -> PlateRead:
    return PlateRead("demo", camera, f"evt-{uuid.uuid4().hex}", plate, 0.95, direction, utcnow())


def _later() -> None:
    """Move earlier plate reads out of the debounce window: the next read is a new arrival."""
    for event in db.session.scalars(select(DeviceEvent).where(DeviceEvent.kind == "plate")):
        event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_pass_plate_opens_once_then_prompts(host):
    """Protects single-use passes on cars: the first entry opens and takes the use, the second prompts."""
    resident, user = host
    visitor_pass = passes.create(resident, user, name="王五", plate="粤a 54321")
    first = vehicles.handle_plate(_read("粤A54321"))
    assert (first.action, first.reason) == ("open", "visitor_pass")
    assert first.command is not None and first.command.device == "car-in"
    db.session.refresh(visitor_pass)
    assert visitor_pass.uses == 1
    assert _count(PassUse, PassUse.pass_id == visitor_pass.id, PassUse.source == "anpr") == 1
    visit = db.session.scalars(select(Visit).where(Visit.plate == "粤A54321")).one()
    assert visit.state == "admitted" and visit.unit_id == resident.unit_id
    assert _count(PortalNotice, PortalNotice.kind == "pass_vehicle") == 1
    _later()
    second = vehicles.handle_plate(_read("粤A54321"))
    assert (second.action, second.reason) == ("prompt", "unknown")
    assert _count(BarrierCommandRecord) == 1


def test_pass_plate_outside_window_or_revoked_prompts(host):
    """Protects the window and revocation: a car on a future, revoked or exit read opens nothing."""
    resident, user = host
    tomorrow = passes.today() + timedelta(days=1)
    passes.create(resident, user, name="赵六", plate="粤B99999", starts_on=tomorrow)
    revoked = passes.create(resident, user, name="钱七", plate="粤B88888")
    passes.revoke(revoked, user)
    unlimited = passes.create(resident, user, name="孙八", plate="粤B77777", uses="unlimited")
    assert vehicles.handle_plate(_read("粤B99999")).reason == "unknown"
    assert vehicles.handle_plate(_read("粤B88888")).reason == "unknown"
    assert vehicles.handle_plate(_read("粤B77777", "out", "anpr-out")).action == "prompt"
    db.session.refresh(unlimited)
    assert unlimited.uses == 0
    assert _count(BarrierCommandRecord) == 0


def test_moved_out_host_voids_car_pass(host):
    """Protects against a former resident's passes: once moved out, their visitor's car is not let in."""
    resident, user = host
    passes.create(resident, user, name="周九", plate="粤B66666")
    resident.moved_out_at = utcnow()
    db.session.commit()
    assert vehicles.handle_plate(_read("粤B66666")).reason == "unknown"


def test_moved_out_residents_car_no_longer_opens(host):
    """Protects the estate after a move-out: the former resident's registered car prompts the guard."""
    resident, _user = host
    assert vehicles.handle_plate(_read("粤B12345")).reason == "resident"
    resident.moved_out_at = utcnow()
    db.session.commit()
    _later()
    assert vehicles.handle_plate(_read("粤B12345")).reason == "unknown"
