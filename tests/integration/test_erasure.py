"""A person's records on request (SPEC §5): export everything, erase on demand, never a clear ID."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from gate.domain.events import CardRead
from gate.extensions import db
from gate.models import DeviceEvent, ShiftBookEntry, User, Visit, Visitor, WatchlistEntry
from gate.services import ActionError, device_events, erasure, shiftbook, transaction, visitors, visits
from tests.support.kiosk import KioskActions

VALID = "11010519491231002X"
OTHER = "110105198001010016"
SUPERVISOR = ("supervisor", "supervisor-demo")


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _visit(number: str = VALID, name: str = "王五", **kw) -> Visit:
    identity = visitors.check_identity(name, "resident_id", number, phone="13912345678")
    return visits.start(_user("guard1001"), None, "1-1-101", identity, **kw)


def _card(event_id: str, number: str = VALID, name: str = "王五") -> DeviceEvent:
    return device_events.record_card(CardRead(site="demo", device="reader", event_id=event_id, name=name,
                                              id_number=number))


def _entries(kind: str) -> list[ShiftBookEntry]:
    return list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)))


@pytest.fixture
def person(ctx):
    """王五 with two visits (one declined with a message, one forced entry) and a watchlist entry."""
    guard = _user("guard1001")
    first = _visit(purpose="送货", plate="粤B88888")
    visits.host_answer(first, "not_home", by="phone", actor=guard)
    visits.leave_message(first, "请回电 13912345678", guard)
    second = _visit(purpose="找人")
    visits.refuse(second, "no_id", guard)
    visits.forced_entry(second, "冲过闸机, 已报告队长", guard, None)
    with transaction():
        db.session.add(WatchlistEntry(site_id=guard.site_id, kind="id", value=first.visitor.id_hash,
                                      display=first.visitor.id_masked, reason="强闯", added_by=guard.id))
    return db.session.get(Visitor, first.visitor_id)


def test_export_has_the_visits_and_never_a_clear_id(person):
    """Protects the right of access (PIPL art. 45): the export holds the person's visits, incident and
    watchlist entry with units and messages, shows the ID only masked, and is recorded (ids only)."""
    data = erasure.export(person, _user("supervisor"))
    text = json.dumps(data, ensure_ascii=False)
    assert VALID not in text and VALID[6:14] not in text
    assert data["visitor"]["id_masked"] == "110105********002X"
    assert {v["unit"] for v in data["visits"]} == {"1-1-101"}
    assert {v["purpose"] for v in data["visits"]} == {"送货", "找人"}
    assert any(v["message"] == "请回电 13912345678" for v in data["visits"])
    assert [i["account"] for i in data["incidents"]] == ["冲过闸机, 已报告队长"]
    assert [w["reason"] for w in data["watchlist"]] == ["强闯"]
    [entry] = _entries("person.exported")
    assert json.loads(entry.data)["visitor_id"] == person.id
    assert "王五" not in entry.data and "110105" not in entry.data


def test_erase_anonymises_and_keeps_the_chain(person):
    """Protects the right to erasure (PIPL art. 47): name, phone, ID and the visits' purposes, plates and
    messages are gone, the person's card reads are deleted (another person's stay), the entry holds
    no personal data, and the shift book still verifies."""
    mine, theirs = _card("c1").id, _card("c2", OTHER, "赵六").id
    counts = erasure.erase(person, _user("supervisor"))
    assert counts == {"visits": 2, "card_events": 1}
    db.session.expire_all()
    visitor = db.session.get(Visitor, person.id)
    assert (visitor.name, visitor.phone, visitor.id_masked, visitor.id_hash) == ("[已清除]", None, None, None)
    assert visitor.erased_at is not None
    for visit in db.session.scalars(select(Visit).where(Visit.visitor_id == person.id)):
        assert (visit.purpose, visit.plate, visit.message) == (None, None, None)
        assert visit.state in ("declined", "forced")
    assert db.session.get(DeviceEvent, mine) is None
    assert db.session.get(DeviceEvent, theirs) is not None
    [entry] = _entries("person.erased")
    assert json.loads(entry.data) == {"visitor_id": person.id, "counts": counts}
    assert shiftbook.verify().ok
    with pytest.raises(ActionError) as err:
        erasure.erase(visitor)
    assert err.value.code == "already_erased"


def test_after_erasure_the_same_id_is_a_new_visitor(person):
    """Protects erasure from being undone: a later check-in with the same ID number does not find the
    erased record; it creates a new visitor (the watchlist, a security record, still matches)."""
    erasure.erase(person)
    again = _visit(purpose="再次来访")
    assert again.visitor_id != person.id
    assert again.visitor.name == "王五" and again.visitor.erased_at is None
    assert again.state == "refused" and again.outcome_reason == "watchlist"
    found = erasure.find_by_id_number(person.site_id, "resident_id", VALID)
    assert [v.id for v in found] == [again.visitor_id]


def test_erase_refused_while_inside(ctx):
    """Protects the evacuation list: a visitor still inside cannot be erased until checked out."""
    guard = _user("guard1001")
    visit = _visit()
    visits.host_answer(visit, "approved", by="phone", actor=guard)
    visits.admit(visit, guard, None)
    with pytest.raises(ActionError) as err:
        erasure.erase(visit.visitor)
    assert err.value.code == "inside"
    assert db.session.get(Visitor, visit.visitor_id).name == "王五"


def test_visitor_registered_from_a_card_read_is_found_by_id_number(ctx):
    """Protects lookups against the two hash forms: a visitor registered from an ID-card read (hash of
    the bare number, as the kiosk copies it) is found by ID number and their card read is erased."""
    event = _card("c9")
    identity = dataclasses.replace(visitors.check_identity("王五", None, None), id_type="resident_id",
                                   id_masked=event.summary["id_masked"], id_hash=event.summary["id_hash"])
    visit = visits.start(_user("guard1001"), None, "1-1-101", identity)
    found = erasure.find_by_id_number(visit.site_id, "resident_id", VALID.lower())
    assert [v.id for v in found] == [visit.visitor_id]
    assert erasure.erase(found[0])["card_events"] == 1


def test_console_privacy_pages(person, client):
    """Protects the supervisor's request workflow: search by ID (number never echoed), the person's
    page, a JSON download named after the visitor, and erasure only after confirming."""
    KioskActions(client).login_staff(*SUPERVISOR)
    page = client.post("/console/privacy/search", data={"by": "id", "id_type": "resident_id",
                                                        "id_number": VALID[:-1] + "1"})
    assert page.status_code == 422 and VALID[:-1] not in page.get_data(True)
    page = client.post("/console/privacy/search", data={"by": "id", "id_type": "resident_id",
                                                        "id_number": VALID})
    html = page.get_data(True)
    assert page.status_code == 200 and f"/console/privacy/{person.id}" in html
    assert VALID not in html and "110105********002X" in html
    html = client.post("/console/privacy/search", data={"by": "name_phone", "name": "王五",
                                                        "phone": "139 1234 5678"}).get_data(True)
    assert f"/console/privacy/{person.id}" in html
    page = client.get(f"/console/privacy/{person.id}")
    assert page.status_code == 200 and "送货" in page.get_data(True)
    download = client.post(f"/console/privacy/{person.id}/export")
    assert download.mimetype == "application/json"
    assert f'filename="person-{person.id}.json"' in download.headers["Content-Disposition"]
    assert len(download.get_json()["visits"]) == 2
    assert client.get(f"/console/privacy/{person.id}/erase").status_code == 200
    assert client.post(f"/console/privacy/{person.id}/erase").status_code == 302
    db.session.expire_all()
    assert db.session.get(Visitor, person.id).erased_at is None
    page = client.post(f"/console/privacy/{person.id}/erase", data={"confirm": "yes"}, follow_redirects=True)
    assert page.status_code == 200 and "[已清除]" in page.get_data(True)
    db.session.expire_all()
    assert db.session.get(Visitor, person.id).erased_at is not None
    assert len(_entries("person.exported")) == 1 and len(_entries("person.erased")) == 1


def test_console_privacy_pages_refused_to_guards(person, client):
    """Protects personal data from the gate screen: guards get 403 on every privacy page."""
    KioskActions(client).login()
    assert client.get("/console/privacy/").status_code == 403
    assert client.post(f"/console/privacy/{person.id}/export").status_code == 403
    assert client.post(f"/console/privacy/{person.id}/erase", data={"confirm": "yes"}).status_code == 403


def test_pass_visitor_is_exported_and_erased_with_their_pass(ctx):
    """Protects a pass visitor's data: the pass they came in on is in their export and loses their
    name, phone and plate when they are erased, and the household's notice naming them is deleted."""
    from gate.models import Resident, VisitorPass
    from gate.services import pass_gate, passes
    from gate.services.sites import current_site

    host = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
    visitor_pass = passes.create(host, _user("r13800000001"), name="周七", phone="13900001111",
                                 plate="粤B33333", purpose="做客")
    result = pass_gate.at_gate(current_site(), passes.token_for(visitor_pass), source="manual")
    visit = db.session.get(Visit, result.visit_id)
    visits.check_out(visit, _user("guard1001"), "list")
    person = db.session.get(Visitor, visit.visitor_id)
    data = erasure.export(person, _user("supervisor"))
    assert [(p["name"], p["plate"], p["unit"]) for p in data["passes"]] == [("周七", "粤B33333", "1-1-101")]
    counts = erasure.erase(person, _user("supervisor"))
    # The household's "周七 came in" notice carried the name: it goes too.
    assert counts == {"visits": 1, "card_events": 0, "passes": 1, "portal_notices": 1}
    db.session.expire_all()
    erased = db.session.get(VisitorPass, visitor_pass.id)
    assert (erased.visitor_name, erased.visitor_phone, erased.plate) == (erasure.ERASED_NAME, None, None)
    assert erased.uses == 1 and erased.unit_id == host.unit_id
