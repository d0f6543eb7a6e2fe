"""Erasure on request is complete (SPEC §5, PIPL art. 47): after erasing a visitor or a resident who
moved out, their name, phone, plate, ID hash and masked ID are in no table (every text column of
the real database is scanned), no export and no search result, except the security records kept
on purpose; the shift book verifies and the erasure is recorded without personal data."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from gate.domain.events import CardRead, PlateRead
from gate.extensions import db
from gate.models import Post, Resident, ShiftBookEntry, User, Vehicle, Violation, Visit, WatchlistEntry
from gate.models.types import utcnow
from gate.services import (
    activation,
    book_search,
    device_events,
    erasure,
    pass_gate,
    passes,
    shiftbook,
    slip_gate,
    slips,
    transaction,
    vehicles,
    violations,
    visitors,
    visits,
)
from gate.services.passes import today
from gate.services.sites import current_site
from tests.support.kiosk import KioskActions
from tests.support.privacy_scan import (
    exports,
    id_pattern,
    report,
    scan_database,
    scan_exports,
    valid_id,
    value_pattern,
)

NAME, PHONE, PLATE, NUMBER = "欧阳测试", "13977776666", "粤B9Z761", valid_id(777)
R_NAME, R_PHONE, R_PLATE, R_NUMBER = "司马测试", "13966665555", "粤B8Y652", valid_id(555)
# Security records erasure keeps on purpose (erasure.py's docstring): where they may still name the person.
KEPT = {"database watchlist_entry.value", "database watchlist_entry.display", "database incident.account",
        "database violation.plate", "export /console/violations/export.csv"}


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _plate_read(plate: str, direction: str) -> None:
    """A camera read, moved out of the debounce window so the next read is a new arrival."""
    camera = {"in": "anpr-in", "out": "anpr-out"}[direction]
    vehicles.handle_plate(PlateRead("demo", camera, f"evt-{uuid.uuid4().hex}", plate, 0.95, direction,
                                    utcnow()))
    for event in device_events_of(plate):
        event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()


def device_events_of(plate: str) -> list:
    from gate.models import DeviceEvent

    return [e for e in db.session.scalars(select(DeviceEvent).where(DeviceEvent.kind == "plate"))
            if (e.summary or {}).get("plate") == plate]


def _released_slip(actor: User, applicant: Resident | None, name: str, phone: str, number: str) -> None:
    """A slip carried by this person, released at the gate with their ID typed."""
    applicant = applicant or _host()
    slip = slips.apply(actor, applicant.unit, applicant, via="desk", lines=[("沙发", 1)], on_date=None,
                       carrier_name=name, carrier_phone=phone, plate="")
    slip = slips.approve(_user("desk"), slip)
    slip_gate.release(_user("guard1001"), None, slip, checked={1}, id_type="resident_id", id_number=number)


def _host() -> Resident:
    return db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()


def _visitor_footprint(ctx) -> None:
    """The visitor everywhere a visitor can be recorded, through the services the screens use."""
    guard = _user("guard1001")
    with ctx.test_request_context("/"):
        identity = visitors.check_identity(NAME, "resident_id", NUMBER, phone=PHONE)
        typed = visits.start(guard, None, "1-1-101", identity, purpose="找朋友", plate=PLATE)
        visits.host_answer(typed, "not_home", by="phone", actor=guard)
        visits.leave_message(typed, f"{NAME} 来过, 请回电 {PHONE}", guard)
        visits.forced_entry(typed, f"{NAME} 冲过闸机", guard, None)
        device_events.record_card(CardRead(site="demo", device="reader", event_id="card-ow", name=NAME,
                                           id_number=NUMBER))
        with transaction():
            db.session.add(WatchlistEntry(site_id=guard.site_id, kind="id", value=typed.visitor.id_hash,
                                          display=typed.visitor.id_masked, reason="强闯", added_by=guard.id))
        host = _host()
        walk_in = passes.create(host, _user("r13800000001"), name=NAME, phone=PHONE, purpose="做客")
        used = pass_gate.at_gate(current_site(), passes.token_for(walk_in), source="manual")
        visits.check_out(db.session.get(Visit, used.visit_id), guard, "list")
        passes.create(host, _user("r13800000001"), name=NAME, phone=PHONE, purpose="下周再来")  # never used
        by_car = passes.create(host, _user("r13800000001"), name=NAME, phone=PHONE, plate=PLATE)
        _plate_read(PLATE, "in")  # the pass admits the car: a stay, a visit, a notice
        _plate_read(PLATE, "out")
        for visit in db.session.scalars(select(Visit).where(Visit.state == "admitted")):
            visits.check_out(visit, guard, "list")
        assert by_car.uses == 1
        violations.record(guard.site_id, guard, "parking", PLATE, "B2车库36号", "")
        _released_slip(_user("desk"), None, NAME, PHONE, NUMBER)


def _pattern(*values: str):
    return value_pattern(values)


def _findings(pattern, client) -> list:
    """Matches in every table, CSV export and daily PDF (the web's requests run in their own session)."""
    posts = db.session.scalars(select(Post.id).where(Post.site_id == current_site().id)).all()
    db.session.rollback()  # end this session's read: SQLite would make the web's writes wait
    found = scan_database(db.engine, pattern)
    return found + scan_exports(exports(client, posts, today()), pattern)


def _sign_in(client) -> None:
    db.session.rollback()
    KioskActions(client).login_staff("supervisor", "supervisor-demo")


def test_erased_visitor_is_nowhere(ctx, client):
    """Protects the right to erasure: every visitor record of the person (typed ID, pass by name and
    phone) found and erased as the console does leaves their name, phone, plate, ID hash, masked
    ID and clear ID in no table, CSV export or PDF except the watchlist, incident and violation
    kept on purpose; searches by name, ID hash and number find nothing; the chain verifies."""
    _visitor_footprint(ctx)
    site = current_site()
    people = {v.id: v for v in erasure.find_by_id_number(site.id, "resident_id", NUMBER)
              + erasure.find_by_name_phone(site.id, NAME, PHONE)}
    assert len(people) == 3  # the typed check-in (with ID), and one visitor per pass (name and phone)
    secrets = [NAME, PHONE, PLATE, *(v.id_hash for v in people.values() if v.id_hash),
               *(v.id_masked for v in people.values() if v.id_masked)]
    hashes = [v.id_hash for v in people.values() if v.id_hash]
    assert book_search.search(site, book_search.Filters(visitor=NAME)).entries
    _sign_in(client)
    pattern = _pattern(*secrets)
    assert {f.where for f in _findings(pattern, client)} - KEPT, "the footprint is not everywhere"
    for visitor in people.values():
        erasure.erase(db.session.get(type(visitor), visitor.id), _user("supervisor"))
    db.session.expire_all()
    leaks = [f for f in _findings(pattern, client) if f.where not in KEPT]
    leaks += scan_database(db.engine, id_pattern([NUMBER]))
    assert leaks == [], report(leaks)
    assert book_search.search(site, book_search.Filters(visitor=NAME)).entries == []
    assert book_search.search(site, book_search.Filters(id_hash=hashes[0])).entries == []
    plate_hits = book_search.search(site, book_search.Filters(plate=PLATE)).entries
    assert {e.kind.split(".")[0] for e in plate_hits} <= {"violation"}  # kept on purpose
    assert erasure.find_by_id_number(site.id, "resident_id", NUMBER) == []
    assert erasure.find_by_name_phone(site.id, NAME, PHONE) == []
    assert db.session.scalars(select(Violation.plate)).all().count(PLATE) == 1
    for entry in db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "person.erased")):
        assert set(json.loads(entry.data)) == {"visitor_id", "counts"}
    assert shiftbook.verify().ok


def test_erasing_a_visitor_with_a_slip_to_be_used_is_refused(ctx):
    """Protects the gate: the carrier of goods on a slip not used yet cannot be erased (the guard
    checks the name at release); nothing changes and nothing is recorded."""
    identity = visitors.check_identity(NAME, "resident_id", NUMBER, phone=PHONE)
    visit = visits.start(_user("guard1001"), None, "1-1-101", identity)
    visits.refuse(visit, "no_id", _user("guard1001"))
    with ctx.test_request_context("/"):
        slips.apply(_user("desk"), _host().unit, _host(), via="desk", lines=[("沙发", 1)], on_date=None,
                    carrier_name=NAME, carrier_phone=PHONE)
    with pytest.raises(erasure.ActionError) as err:
        erasure.erase(visit.visitor)
    assert err.value.code == "slip_pending"
    db.session.expire_all()
    assert db.session.get(type(visit.visitor), visit.visitor_id).name == NAME
    erased = select(ShiftBookEntry).where(ShiftBookEntry.kind == "person.erased")
    assert db.session.scalars(erased).all() == []


def _resident_footprint(ctx) -> Resident:
    """A household member with a portal account, a car seen at the gate, a slip carried by them
    and a move-out note naming them."""
    host, desk = _host(), _user("desk")
    with ctx.test_request_context("/"):
        account = User(site_id=desk.site_id, role="resident", username=R_PHONE, phone=R_PHONE,
                       display_name=R_NAME, password_hash="x")
        with transaction():
            db.session.add(account)
            db.session.flush()
            resident = Resident(unit_id=host.unit_id, name=R_NAME, phone=R_PHONE, is_owner=True,
                                user_id=account.id)
            db.session.add(resident)
            db.session.flush()
            db.session.add(Vehicle(site_id=desk.site_id, resident_id=resident.id, plate=R_PLATE))
        _plate_read(R_PLATE, "in")
        _plate_read(R_PLATE, "out")
        _released_slip(desk, resident, R_NAME, R_PHONE, R_NUMBER)
        activation.move_out(desk, resident, note=f"{R_NAME} 搬走, 新电话 {R_PHONE}")
    return resident


def test_erased_resident_is_nowhere(ctx, client, runner):
    """Protects a former resident's right to erasure (`gate person erase-resident`): their name,
    phone, login, car plate and the carrier ID of their slip are in no table, export or search
    result afterwards; the car's stays and reads are gone, the entry holds ids and counts only, and
    the chain verifies. A resident still living here is refused."""
    resident = _resident_footprint(ctx)
    site = current_site()
    _sign_in(client)
    pattern = _pattern(R_NAME, R_PHONE, R_PLATE)
    assert _findings(pattern, client), "the footprint is not everywhere"
    living = runner.invoke(args=["person", "erase-resident", "--resident-id", str(_host().id), "--yes"])
    assert living.exit_code == 1 and "moved out first" in living.output
    result = runner.invoke(args=["person", "erase-resident", "--resident-id", str(resident.id), "--yes"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    leaks = _findings(pattern, client) + scan_database(db.engine, id_pattern([R_NUMBER]))
    assert leaks == [], report(leaks)
    assert book_search.search(site, book_search.Filters(plate=R_PLATE)).entries == []
    account = db.session.get(User, resident.user_id)
    assert (account.username, account.password_hash, account.active) == (f"erased-{account.id}", None, False)
    [entry] = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "resident.erased"))
    assert set(json.loads(entry.data)) == {"resident_id", "counts"}
    assert shiftbook.verify().ok
