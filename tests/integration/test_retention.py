"""Retention (`gate purge`, SPEC §5): what is past its period is anonymised or deleted, nothing else."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gate.config import ConfigError, load_settings
from gate.domain.events import CardRead
from gate.extensions import db
from gate.models import (
    DeviceEvent,
    FollowUp,
    JournalRecord,
    PortalNotice,
    ReleaseSlip,
    Resident,
    ShiftBookEntry,
    ShiftBookHead,
    User,
    Visit,
    Visitor,
    VisitorPass,
    WatchlistEntry,
)
from gate.models.types import utcnow
from gate.services import (
    device_events,
    journal,
    notices,
    passes,
    retention,
    shiftbook,
    slips,
    transaction,
    visitors,
    visits,
)

OLD_ID = "110105198001010016"      # a visitor last seen long ago
RECENT_ID = "110105199002020026"   # a visitor seen this week
WATCHED_ID = "440305198512120038"  # seen long ago, but still on the watchlist
INSIDE_ID = "310104197007070040"   # admitted yesterday and never checked out


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _visit(number: str, name: str = "王五", **kw) -> Visit:
    identity = visitors.check_identity(name, "resident_id", number)
    return visits.start(_user("guard1001"), None, "1-1-101", identity, **kw)


def _age(obj, days: float = 0, hours: float = 0, *attrs: str) -> None:
    """Move a row's timestamps into the past (the services always write 'now')."""
    for attr in attrs or ("created_at",):
        setattr(obj, attr, utcnow() - timedelta(days=days, hours=hours))
    db.session.commit()


def _admit(visit: Visit) -> Visit:
    guard = _user("guard1001")
    visits.host_answer(visit, "approved", by="phone", actor=guard)
    visits.admit(visit, guard, None)
    return visit


def _event(event_id: str, kind: str = "plate", days: float = 0) -> DeviceEvent:
    with transaction():
        event = device_events.claim("demo", "cam-in", event_id, kind, {"plate": "粤B12345"})
    _age(event, days, 0, "received_at")
    return event


def _watch(value: str, *, removed_days: float | None = None, expired_days: float | None = None,
           kind: str = "id") -> WatchlistEntry:
    def ago(days: float | None):
        return None if days is None else utcnow() - timedelta(days=days)

    supervisor = _user("supervisor")
    entry = WatchlistEntry(site_id=supervisor.site_id, kind=kind, value=value, display="x", reason="test",
                           added_by=supervisor.id, added_at=ago(400), removed_at=ago(removed_days),
                           expires_at=ago(expired_days))
    with transaction():
        db.session.add(entry)
    return entry


@pytest.fixture
def scene(ctx):
    """One record of each kind on each side of its retention period, plus edge cases."""
    ids = {}
    old = _visit(OLD_ID, purpose="送快递", plate="粤B88888")
    visits.host_answer(old, "not_home", by="phone", actor=_user("guard1001"))
    visits.leave_message(old, "明天再来", _user("guard1001"))
    _age(old, 200)
    _age(old.visitor, 200)
    ids["old_visit"], ids["old_visitor"] = old.id, old.visitor_id
    recent = _visit(RECENT_ID, name="赵六", purpose="探亲")
    ids["recent_visit"], ids["recent_visitor"] = recent.id, recent.visitor_id
    watched = _visit(WATCHED_ID, name="钱七", purpose="推销")
    _age(watched, 300)
    _age(watched.visitor, 300)
    ids["watched_visit"], ids["watched_visitor"] = watched.id, watched.visitor_id
    ids["active_watch"] = _watch(watched.visitor.id_hash).id
    ids["old_removed_watch"] = _watch("粤A00001", kind="plate", removed_days=100).id
    ids["fresh_removed_watch"] = _watch("粤A00002", kind="plate", removed_days=10).id
    ids["old_expired_watch"] = _watch("粤A00003", kind="plate", expired_days=91).id
    inside = _admit(_visit(INSIDE_ID, name="孙八"))
    _age(inside, 0, 30, "created_at", "admitted_at")
    ids["inside_visit"] = inside.id
    ids["old_event"] = _event("old-1", days=31).id
    ids["fresh_event"] = _event("fresh-1", days=29).id
    with ctx.test_request_context():  # the follow-up title is translated
        record = journal.write(_user("guard1001"), None, "phone_call",
                               {"who": "1-1-101 陈先生", "what": "转告物业", "pass_on_to": "客服"})
    follow = db.session.scalars(select(FollowUp).where(FollowUp.record_id == record.id)).one()
    journal.close_follow_up(_user("guard1001"), follow.id, "已转告陈先生")
    _age(record, 366)
    ids["old_record"], ids["old_follow"] = record.id, follow.id
    host = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
    old_pass = passes.create(host, _user("r13800000001"), name="老访客", phone="13911112222",
                             plate="粤B11111", purpose="送货")
    _age(old_pass, 200, 0, "valid_from", "valid_until")
    fresh_pass = passes.create(host, _user("r13800000001"), name="新访客", plate="粤B22222")
    ids["old_pass"], ids["fresh_pass"] = old_pass.id, fresh_pass.id
    with transaction():
        old_notice = notices.add(host.unit.site_id, host.unit_id, "pass_admitted", name="老访客")
        fresh_notice = notices.add(host.unit.site_id, host.unit_id, "pass_admitted", name="新访客")
    _age(old_notice, 200)
    ids["old_notice"], ids["fresh_notice"] = old_notice.id, fresh_notice.id
    slip_args = dict(via="portal", lines=[("沙发", 1)], on_date=None, carrier_name="李师傅",
                     carrier_phone="13900001111", plate="粤B44444")
    old_slip = slips.apply(_user("r13800000001"), host.unit, host, **slip_args)
    old_slip.on_date = (utcnow() - timedelta(days=400)).date()
    db.session.commit()
    fresh_slip = slips.apply(_user("r13800000001"), host.unit, host, **slip_args)
    ids["old_slip"], ids["fresh_slip"] = old_slip.id, fresh_slip.id
    ids["fresh_records"] = [r.id for r in db.session.scalars(select(JournalRecord).where(
        JournalRecord.id != record.id))]
    return ids


EXPECTED = {"auto_checked_out": 1, "visits": 2, "visitors": 1, "passes": 1, "portal_notices": 1,
            "release_slips": 1, "device_events": 1, "journal_records": 1, "follow_ups": 1,
            "watchlist_entries": 2, "parking_sessions": 0, "violation_photos": 0,
            # kinds this scene has nothing of (test_retention_kinds.py covers each one)
            "approvals": 0, "vehicle_list_entries": 0, "shifts": 0, "incidents": 0, "violations": 0,
            "residents": 0, "resident_accounts": 0, "resident_vehicles": 0}


def _snapshot() -> dict:
    db.session.expire_all()
    return {
        "visits": [(v.id, v.state, v.purpose, v.plate, v.message) for v in
                   db.session.scalars(select(Visit).order_by(Visit.id))],
        "visitors": [(v.id, v.name, v.id_hash, v.erased_at) for v in
                     db.session.scalars(select(Visitor).order_by(Visitor.id))],
        "events": db.session.scalars(select(DeviceEvent.id).order_by(DeviceEvent.id)).all(),
        "records": [(r.id, r.fields, r.purged_at) for r in
                    db.session.scalars(select(JournalRecord).order_by(JournalRecord.id))],
        "follow_ups": [(f.id, f.title) for f in db.session.scalars(select(FollowUp).order_by(FollowUp.id))],
        "watchlist": db.session.scalars(select(WatchlistEntry.id).order_by(WatchlistEntry.id)).all(),
        "passes": [(p.id, p.visitor_name, p.visitor_phone, p.plate) for p in
                   db.session.scalars(select(VisitorPass).order_by(VisitorPass.id))],
        "notices": db.session.scalars(select(PortalNotice.id).order_by(PortalNotice.id)).all(),
        "slips": [(s.id, s.carrier_name, s.carrier_phone, s.plate) for s in
                  db.session.scalars(select(ReleaseSlip).order_by(ReleaseSlip.id))],
        "head": db.session.get(ShiftBookHead, "demo").seq,
    }


def test_dry_run_counts_and_changes_nothing(scene):
    """Protects `gate purge --dry-run`: it reports exactly what a purge would touch, and touches nothing
    (no row, no shift-book entry)."""
    before = _snapshot()
    assert retention.purge(dry_run=True) == EXPECTED
    assert _snapshot() == before


def test_purge_takes_exactly_what_is_past_retention(scene):
    """Protects PIPL art. 19 both ways: records past their period are anonymised or deleted, records
    within it (and a visitor still on the watchlist) are kept; a second run finds nothing more."""
    assert retention.purge() == EXPECTED
    db.session.expire_all()
    old = db.session.get(Visit, scene["old_visit"])
    assert (old.purpose, old.plate, old.message) == (None, None, None)
    assert (old.state, old.unit.code, old.host_answer) == ("declined", "1-1-101", "not_home")
    gone = db.session.get(Visitor, scene["old_visitor"])
    assert gone.name == "[已清除]" and gone.id_hash is None and gone.id_masked is None
    assert gone.phone is None and gone.erased_at is not None
    assert db.session.get(Visit, scene["recent_visit"]).purpose == "探亲"
    assert db.session.get(Visitor, scene["recent_visitor"]).erased_at is None
    assert db.session.get(Visitor, scene["watched_visitor"]).name == "钱七"
    assert db.session.get(Visit, scene["watched_visit"]).purpose is None
    assert db.session.get(DeviceEvent, scene["old_event"]) is None
    assert db.session.get(DeviceEvent, scene["fresh_event"]) is not None
    record = db.session.get(JournalRecord, scene["old_record"])
    assert record.fields is None and record.purged_at is not None
    assert all(db.session.get(JournalRecord, i).fields for i in scene["fresh_records"])
    follow = db.session.get(FollowUp, scene["old_follow"])
    assert follow.title == "[已清除]" and follow.outcome is None
    ended = db.session.get(VisitorPass, scene["old_pass"])
    assert (ended.visitor_name, ended.visitor_phone, ended.plate, ended.purpose) == ("[已清除]", None,
                                                                                     None, None)
    assert ended.unit_id is not None and ended.valid_until is not None
    assert db.session.get(VisitorPass, scene["fresh_pass"]).visitor_name == "新访客"
    assert db.session.get(PortalNotice, scene["old_notice"]) is None
    assert db.session.get(PortalNotice, scene["fresh_notice"]) is not None
    old_slip = db.session.get(ReleaseSlip, scene["old_slip"])
    assert (old_slip.carrier_name, old_slip.carrier_phone, old_slip.plate) == ("[已清除]", "", None)
    assert [i.description for i in old_slip.items] == ["沙发"]
    assert db.session.get(ReleaseSlip, scene["fresh_slip"]).carrier_name == "李师傅"
    kept = set(db.session.scalars(select(WatchlistEntry.id)))
    assert kept == {scene["active_watch"], scene["fresh_removed_watch"]}
    entries = db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.kind == "retention.purged")).all()
    assert len(entries) == 1 and json.loads(entries[0].data)["counts"] == EXPECTED
    assert retention.purge() == dict.fromkeys(EXPECTED, 0)


def test_chain_verifies_after_purge(scene):
    """Protects the shift book: purging records (whose entries hold only ids and digests) leaves the
    hash chain and its signed checkpoints intact."""
    with transaction():
        shiftbook.checkpoint("test")
    retention.purge()
    result = shiftbook.verify()
    assert result.ok, result.line()


def test_stale_visits_are_checked_out_automatically(ctx):
    """Protects the on-site list: a visitor 'inside' longer than GATE_VISIT_AUTO_CHECKOUT_HOURS is closed
    as an automatic checkout with its entry; one inside for less stays."""
    ctx.config["GATE_VISIT_AUTO_CHECKOUT_HOURS"] = 2
    stale = _admit(_visit(OLD_ID))
    _age(stale, 0, 3, "admitted_at")
    fresh = _admit(_visit(RECENT_ID, name="赵六"))
    _age(fresh, 0, 1, "admitted_at")
    assert retention.purge(dry_run=True)["auto_checked_out"] == 1
    assert db.session.get(Visit, stale.id).state == "admitted"
    assert retention.purge()["auto_checked_out"] == 1
    db.session.expire_all()
    closed = db.session.get(Visit, stale.id)
    assert (closed.state, closed.left_reason) == ("checked_out", "auto")
    assert db.session.get(Visit, fresh.id).state == "admitted"
    assert db.session.scalar(select(func.count()).select_from(ShiftBookEntry).where(
        ShiftBookEntry.kind == "visit.checked_out")) == 1


def test_card_reads_expire_with_device_events(ctx):
    """Protects ID-card reads (masked ID + keyed hash): they go with the other device events."""
    event = device_events.record_card(CardRead(site="demo", device="reader", event_id="c1", name="王五",
                                               id_number=OLD_ID))
    _age(event, 31, 0, "received_at")
    event_id = event.id
    assert retention.purge()["device_events"] == 1
    assert db.session.get(DeviceEvent, event_id) is None


@pytest.mark.parametrize("key", ["GATE_RETENTION_VISITS_DAYS", "GATE_RETENTION_DEVICE_EVENTS_DAYS",
                                 "GATE_RETENTION_JOURNAL_DAYS", "GATE_RETENTION_WATCHLIST_EXPIRED_DAYS",
                                 "GATE_RETENTION_SLIPS_DAYS", "GATE_RETENTION_VIOLATIONS_DAYS",
                                 "GATE_RETENTION_INCIDENTS_DAYS", "GATE_RETENTION_MOVED_OUT_DAYS",
                                 "GATE_VISIT_AUTO_CHECKOUT_HOURS"])
def test_retention_settings_must_be_positive(tmp_path, key):
    """Protects against a typo that would purge everything at once: zero or negative periods are refused
    at start-up, naming the setting."""
    with pytest.raises(ConfigError, match=key):
        load_settings(tmp_path, {key: 0})
