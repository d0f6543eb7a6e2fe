"""Retention per record kind (SPEC §5, PIPL art. 19): every rule of gate.services.retention_kinds,
on SQLite and PostgreSQL, purges a record just past its window, keeps one just inside, records
the run in the shift book and leaves the chain verifying; and no table with personal columns
escapes the rules."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from gate.config import RETENTION_SETTINGS, SETTINGS
from gate.domain.events import CardRead
from gate.extensions import db
from gate.models import (
    Approval,
    FollowUp,
    ParkingSession,
    Post,
    Resident,
    Shift,
    ShiftBookEntry,
    User,
    Vehicle,
    VehicleListEntry,
    Violation,
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
    violations,
    visitors,
    visits,
)
from gate.services.retention_kinds import ACCOUNT, KEPT, NOT_PERSONAL, NOW, RULES, looks_personal
from gate.services.sites import current_site
from tests.support.privacy_scan import valid_id

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_serial = itertools.count(100)
# How far past (or short of) the window the two records are; a day for date columns.
MARGIN = {"release_slips": timedelta(days=1)}


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _host() -> Resident:
    return db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()


def _n() -> int:
    return next(_serial)


def _phone(n: int) -> str:
    return f"139{n:08d}"


def _plate(n: int) -> str:
    return f"粤B6{n:04d}"


def _saved(row):
    with transaction():
        db.session.add(row)
    return row


def _visit(at: datetime):
    n = _n()
    guard = _user("guard1001")
    identity = visitors.check_identity(f"访客{n}", "resident_id", valid_id(n), phone=_phone(n))
    visit = visits.start(guard, None, "1-1-101", identity, purpose="送快递", plate=_plate(n))
    visits.host_answer(visit, "not_home", by="phone", actor=guard)
    visits.leave_message(visit, f"请回电 {_phone(n)}", guard)
    visit.created_at = at
    db.session.commit()
    return visit


def _approval(at: datetime):
    guard, supervisor = _user("guard1001"), _user("supervisor")
    return _saved(Approval(site_id=guard.site_id, kind="manual_open", requested_by=guard.id,
                           requested_at=at, due_at=at, decided_by=supervisor.id, decided_at=at,
                           decision="approved", note=f"王先生 {_phone(_n())} 同意"))


def _pass(at: datetime):
    n = _n()
    made = passes.create(_host(), _user("r13800000001"), name=f"客人{n}", phone=_phone(n), plate=_plate(n),
                         purpose="送货")
    made.valid_from, made.valid_until = at - timedelta(hours=2), at
    db.session.commit()
    return made


def _notice(at: datetime):
    host = _host()
    with transaction():
        notice = notices.add(host.unit.site_id, host.unit_id, "pass_admitted", name=f"客人{_n()}")
    notice.created_at = at
    db.session.commit()
    return notice


def _slip(at: datetime):
    n, host = _n(), _host()
    slip = slips.apply(_user("r13800000001"), host.unit, host, via="portal", lines=[("沙发", 1)],
                       on_date=None, carrier_name=f"师傅{n}", carrier_phone=_phone(n), plate=_plate(n))
    slip.on_date = at.date()
    db.session.commit()
    return slip


def _watch(at: datetime):
    supervisor = _user("supervisor")
    return _saved(WatchlistEntry(site_id=supervisor.site_id, kind="plate", value=_plate(_n()),
                                 display="粤B6***", reason="偷窃", added_by=supervisor.id,
                                 added_at=at - timedelta(days=10), removed_at=at))


def _listed(at: datetime):
    supervisor = _user("supervisor")
    return _saved(VehicleListEntry(site_id=supervisor.site_id, list="blocklist", plate=_plate(_n()),
                                   reason="欠费 李某", added_by=supervisor.id,
                                   added_at=at - timedelta(days=10), removed_by=supervisor.id, removed_at=at))


def _visitor(at: datetime):
    visit = _visit(at)
    visit.visitor.created_at = at
    db.session.commit()
    return visit.visitor


def _stay(at: datetime):
    return _saved(ParkingSession(site_id=current_site().id, plate=_plate(_n()), kind="visitor",
                                 entered_at=at - timedelta(hours=2), left_at=at))


def _card_read(at: datetime):
    n = _n()
    event = device_events.record_card(CardRead(site="demo", device="reader", event_id=f"card-{n}",
                                               name=f"读卡{n}", id_number=valid_id(n)))
    event.received_at = at
    db.session.commit()
    return event


def _record(at: datetime, **extra: str):
    record = journal.write(_user("guard1001"), None, "phone_call",
                           {"who": "1-1-101 陈先生", "what": f"电话 {_phone(_n())}", **extra})
    record.created_at = at
    db.session.commit()
    return record


def _follow_up(at: datetime):
    record = _record(at, pass_on_to="客服")
    follow = db.session.scalars(select(FollowUp).where(FollowUp.record_id == record.id)).one()
    return journal.close_follow_up(_user("guard1001"), follow.id, "已转告陈先生")


def _shift(at: datetime):
    post = db.session.scalars(select(Post).where(Post.site_id == current_site().id)).first()
    return _saved(Shift(post_id=post.id, guard_id=_user("guard1001").id, started_at=at - timedelta(hours=8),
                        ended_at=at, handover_notes=f"陈先生 {_phone(_n())} 的快递在岗亭"))


def _incident(at: datetime):
    incident = visits.forced_entry(None, "一名男子冲过闸机, 自称姓王", _user("guard1001"), None)
    incident.created_at, incident.closed_at = at - timedelta(hours=1), at
    db.session.commit()
    return incident


def _violation(at: datetime, *, review: bool = True):
    made = violations.record(current_site().id, _user("guard1001"), "parking", _plate(_n()), "B2车库36号",
                             "车主王先生", photos=[(PNG, "upload")])
    if review:
        violations.review(made, _user("supervisor"), "confirmed", "已联系车主")
    made.occurred_at = at
    db.session.commit()
    return made


def _photo(at: datetime):
    photo = _violation(utcnow(), review=False).photos[0]
    photo.taken_at = at
    db.session.commit()
    return photo


def _moved_out(at: datetime, *, account: bool = False) -> Resident:
    n, host = _n(), _host()
    resident = Resident(unit_id=host.unit_id, name=f"住户{n}", phone=_phone(n), is_owner=False,
                        moved_out_at=at)
    if account:
        user = _saved(User(site_id=host.unit.site_id, role="resident", username=_phone(n), phone=_phone(n),
                           display_name=f"住户{n}", password_hash="x", active=False))
        resident.user_id = user.id
    return _saved(resident)


def _account(at: datetime):
    return db.session.get(User, _moved_out(at, account=True).user_id)


def _car(at: datetime):
    resident = _moved_out(at)
    return _saved(Vehicle(site_id=current_site().id, resident_id=resident.id, plate=_plate(_n())))


FACTORIES: dict[str, Callable[[datetime], object]] = {
    "visits": _visit, "approvals": _approval, "passes": _pass, "portal_notices": _notice,
    "release_slips": _slip, "watchlist_entries": _watch, "vehicle_list_entries": _listed,
    "visitors": _visitor, "parking_sessions": _stay, "device_events": _card_read,
    "journal_records": _record, "follow_ups": _follow_up, "shifts": _shift, "incidents": _incident,
    "violations": _violation, "violation_photos": _photo, "residents": _moved_out,
    "resident_accounts": _account, "resident_vehicles": _car,
}


@dataclass
class Made:
    """A row made for one rule, and what it held in the rule's columns before the purge."""

    model: type
    id: int
    before: dict

    @classmethod
    def of(cls, row, rule) -> Made:
        return cls(type(row), row.id, {c: getattr(row, c) for c in rule.redact})

    def row(self):
        return db.session.get(self.model, self.id)

    def purged(self, rule, now: datetime) -> bool:
        """Deleted (delete rules) or holding exactly the rule's redact values."""
        row = self.row()
        if rule.deletes or row is None:
            return row is None
        expected = {c: (f"erased-{row.id}" if v is ACCOUNT else now if v is NOW else v)
                    for c, v in rule.redact.items()}
        return {c: getattr(row, c) for c in rule.redact} == expected

    def untouched(self) -> bool:
        row = self.row()
        return row is not None and {c: getattr(row, c) for c in self.before} == self.before


def _make(ctx, rule, at: datetime) -> Made:
    with ctx.test_request_context("/"):  # follow-up titles and violation checks are translated
        return Made.of(FACTORIES[rule.kind](at), rule)


def _cutoff(ctx, rule, now: datetime) -> datetime:
    return now - timedelta(days=ctx.config[rule.setting])


@pytest.mark.parametrize("rule", RULES, ids=[r.kind for r in RULES])
def test_kind_purged_just_past_its_window_and_kept_just_inside(ctx, rule):
    """Protects PIPL art. 19 for each record kind: a record just older than its GATE_RETENTION_*
    window is deleted or redacted exactly as its rule says, one just inside is untouched, the run
    is one `retention.purged` entry with the count, and the shift book (checkpoint included) still
    verifies."""
    now = utcnow()
    margin = MARGIN.get(rule.kind, timedelta(hours=1))
    cutoff = _cutoff(ctx, rule, now)
    old, fresh = _make(ctx, rule, cutoff - margin), _make(ctx, rule, cutoff + margin)
    with transaction():
        shiftbook.checkpoint("test")
    assert retention.purge(now=now, dry_run=True)[rule.kind] == 1
    assert old.untouched(), "the dry run changed a row"
    counts = retention.purge(now=now)
    assert counts[rule.kind] == 1
    db.session.expire_all()
    assert old.purged(rule, now), f"{rule.kind}: the record past its window was not purged"
    assert fresh.untouched(), f"{rule.kind}: the record within its window was changed"
    if rule.kind == "violations":
        assert db.session.get(Violation, old.id).photos == []
    entry = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "retention.purged")
                               .order_by(ShiftBookEntry.seq.desc())).first()
    assert json.loads(entry.data)["counts"] == counts
    result = shiftbook.verify()
    assert result.ok, result.line()
    assert retention.purge(now=now)[rule.kind] == 0


def test_purge_is_one_transaction(ctx, monkeypatch):
    """Protects the record of a purge: when writing its `retention.purged` entry fails, no rule's
    deletion or redaction is kept either (one transaction), so nothing is purged unrecorded."""
    now = utcnow()
    made = [(rule, _make(ctx, rule, _cutoff(ctx, rule, now) - MARGIN.get(rule.kind, timedelta(hours=1))))
            for rule in RULES]
    real_append = shiftbook.append

    def failing(kind, *args, **kwargs):
        if kind == "retention.purged":
            raise RuntimeError("disk full")
        return real_append(kind, *args, **kwargs)

    monkeypatch.setattr(shiftbook, "append", failing)
    with pytest.raises(RuntimeError):
        retention.purge(now=now)
    db.session.rollback()
    db.session.expire_all()
    changed = [rule.kind for rule, row in made if not row.untouched()]
    assert changed == []
    monkeypatch.undo()
    retention.purge(now=now)
    db.session.expire_all()
    assert [rule.kind for rule, row in made if not row.purged(rule, now)] == []


def test_every_personal_column_has_a_rule():
    """Protects against a new table or column of personal data that no rule purges: every column of
    the SQLAlchemy metadata that looks personal (name, phone, plate, ID, notes, free text, JSON,
    photos) is deleted or redacted by a rule, or its table is listed as kept on purpose or as not
    about people; every rule names real columns and a positive, validated setting."""
    tables = db.metadata.tables
    by_table: dict[str, list] = {}
    for rule in RULES:
        assert rule.table in tables, f"rule {rule.kind}: no table {rule.table}"
        assert rule.setting in SETTINGS and rule.setting in RETENTION_SETTINGS, rule.setting
        for column in (*rule.redact, *rule.kept_columns):
            assert column in tables[rule.table].c, f"rule {rule.kind}: no column {rule.table}.{column}"
        by_table.setdefault(rule.table, []).append(rule)
    assert set(KEPT) | set(NOT_PERSONAL) <= set(tables)
    assert set(retention._HANDLERS) == {rule.kind for rule in RULES}
    missing = []
    for name, table in tables.items():
        rules = by_table.get(name, [])
        if name in KEPT or name in NOT_PERSONAL or any(r.deletes for r in rules):
            continue
        covered = {c for r in rules for c in (*r.redact, *r.kept_columns)}
        missing += [f"{name}.{c.name}" for c in table.columns if looks_personal(c) and c.name not in covered]
    assert missing == [], f"personal columns no retention rule covers: {missing}"
