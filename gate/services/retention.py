"""Retention (SPEC §5; PIPL art. 19: keep personal data no longer than necessary): `gate purge`.

The rules (record kind, table, age column, GATE_RETENTION_* setting, delete or redact, what is
kept) are declared in gate.services.retention_kinds; this module applies them. Notes on a few:

- visitors none of whose visits is still within retention, and whom no remaining watchlist entry
  matches, are anonymised as in an erasure: visit.visitor_id is NOT NULL, so the row stays while
  anonymised visits point at it. A visitor with no visit at all is deleted.
- parking stays outlive the device events that opened and closed them (the references are
  cleared first), and a stay still open that long (a missed exit) goes too.
- closed follow-ups of purged journal records lose their title and outcome, which were written
  from the record's fields.
- photos of a violation whose plate and notes are purged go with it.

First, visits still inside after GATE_VISIT_AUTO_CHECKOUT_HOURS are checked out through
`visits.auto_check_out` (each checkout its own transaction and `visit.checked_out` entry, exactly
as the kiosk does). The purge proper is then one transaction with one `retention.purged` entry
holding the counts: either every rule is applied and recorded, or nothing is. The shift book is
never touched: its entries hold ids and digests only, so the chain keeps verifying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    update,
)

from gate.extensions import db
from gate.models import (
    Approval,
    DeviceEvent,
    FollowUp,
    Incident,
    JournalRecord,
    ParkingSession,
    PortalNotice,
    Post,
    ReleaseSlip,
    Resident,
    Shift,
    Site,
    Unit,
    User,
    Vehicle,
    VehicleListEntry,
    Violation,
    ViolationPhoto,
    Visit,
    Visitor,
    VisitorPass,
    WatchlistEntry,
)
from gate.models.types import utcnow
from gate.models.visits import ON_SITE
from gate.services import ActionError, erasure, shiftbook, transaction, visits
from gate.services.retention_kinds import ACCOUNT, NOW, RULES, Rule
from gate.services.sites import current_site

# Count keys, in the order `gate purge` prints them.
KINDS = ("auto_checked_out", *(rule.kind for rule in RULES))
DEVICE_EVENT_KINDS = ("plate", "scan", "pass", "card")
AUTO_CHECKOUT = "GATE_VISIT_AUTO_CHECKOUT_HOURS"


def settings() -> dict[str, int]:
    """The retention periods in force (days; the auto-checkout in hours), by short name."""
    config = current_app.config
    keys = dict.fromkeys([rule.setting for rule in RULES] + [AUTO_CHECKOUT])
    return {_short(key): config[key] for key in keys}


def _short(key: str) -> str:
    return "auto_checkout_hours" if key == AUTO_CHECKOUT else key.removeprefix("GATE_RETENTION_").lower()


def purge(now: datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Apply every retention rule as of `now`; with dry_run only count. Returns kind -> rows."""
    site = current_site()
    if site is None:
        raise ActionError("no_site", _("This site is not set up yet; create it or load the demo first."))
    now = now or utcnow()
    counts = dict.fromkeys(KINDS, 0)
    checkout_after = timedelta(hours=current_app.config[AUTO_CHECKOUT])
    stale = _stale_inside(site.id, now - checkout_after)
    if dry_run:
        counts["auto_checked_out"] = len(stale)
        try:
            counts.update(_purge(_Run(site, now, stale, True)))
        finally:
            db.session.rollback()  # nothing was written; end the read transaction
        return counts
    # auto_check_out measures from the clock; shift the age so `now` is honoured.
    counts["auto_checked_out"] = visits.auto_check_out(site.id, checkout_after + (utcnow() - now))
    with transaction():
        counts.update(_purge(_Run(site, now, stale, False)))
        shiftbook.append("retention.purged", {"counts": counts, "retention": settings()})
    return counts


@dataclass
class _Run:
    site: Site
    now: datetime
    closing: list[int]  # visits being auto-checked-out by this run
    dry_run: bool

    def cutoff(self, rule: Rule) -> datetime:
        return self.now - timedelta(days=current_app.config[rule.setting])


def _stale_inside(site_id: int, cutoff: datetime) -> list[int]:
    """Ids of visits still inside since before `cutoff` (the ones auto-checkout closes)."""
    return list(db.session.scalars(select(Visit.id).where(
        Visit.site_id == site_id, Visit.state.in_(ON_SITE), Visit.admitted_at < cutoff)))


def _count(model, *where) -> Select:
    return select(func.count()).select_from(model).where(*where)


def _values(model, rule: Rule, now: datetime) -> dict[str, Any]:
    """The redact values of a rule as SQL values for `model`."""
    values: dict[str, Any] = {}
    for name, value in rule.redact.items():
        if value is NOW:
            value = now
        elif value is ACCOUNT:  # unique, like the login it replaces
            value = literal("erased-", String) + cast(model.id, String)
        elif value is None and isinstance(model.__table__.c[name].type, JSON):
            value = null()  # SQL NULL, not the JSON text 'null'
        values[name] = value
    return values


def _unredacted(model, rule: Rule) -> ColumnElement[bool]:
    """Rows still holding some of what the rule clears (so a second run counts nothing)."""
    tests = []
    for name, value in rule.redact.items():
        column = getattr(model, name)
        if value is None:
            tests.append(column.is_not(None))
        elif isinstance(value, str) and value not in (NOW, ACCOUNT):
            tests.append(or_(column.is_(None), column != value) if column.nullable else column != value)
    return or_(*tests)


def _apply(run: _Run, rule: Rule, model, *where, also: dict[str, Any] | None = None) -> int:
    """Delete or redact (per the rule, plus `also`) the rows matching `where`; a dry run only counts."""
    if not rule.deletes:
        where = (*where, _unredacted(model, rule))
    if run.dry_run:
        return db.session.scalar(_count(model, *where)) or 0
    stmt = delete(model) if rule.deletes else update(model).values(**_values(model, rule, run.now),
                                                                     **(also or {}))
    return db.session.execute(stmt.where(*where), execution_options={"synchronize_session": False}).rowcount


def _old_visit(run: _Run, cutoff: datetime) -> ColumnElement[bool]:
    # A visit counts as past once it is no longer inside (or is being checked out by this run).
    gone = or_(Visit.state.not_in(ON_SITE), Visit.id.in_(run.closing))
    return and_(Visit.site_id == run.site.id, Visit.created_at < cutoff, gone)


def _visits(run: _Run, rule: Rule, cutoff: datetime) -> int:
    # Bump the optimistic lock: a guard's screen holding the old row must not write it back.
    return _apply(run, rule, Visit, _old_visit(run, cutoff), also={"version": Visit.version + 1})


def _approvals(run: _Run, rule: Rule, cutoff: datetime) -> int:
    decided = and_(Approval.requested_at < cutoff, Approval.decided_at.is_not(None))
    of_old_visit = Approval.visit_id.in_(select(Visit.id).where(_old_visit(run, cutoff)))
    return _apply(run, rule, Approval, Approval.site_id == run.site.id, or_(decided, of_old_visit))


def _passes(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, VisitorPass, VisitorPass.site_id == run.site.id,
                  VisitorPass.valid_until < cutoff)


def _notices(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, PortalNotice, PortalNotice.site_id == run.site.id,
                  PortalNotice.created_at < cutoff)


def _slips(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, ReleaseSlip, ReleaseSlip.site_id == run.site.id,
                  ReleaseSlip.on_date < cutoff.date())


def _done_with_watch(site_id: int, cutoff: datetime) -> ColumnElement[bool]:
    # Null-safe, so that "not done with" (the visitors rule) keeps entries without removal or expiry.
    return and_(WatchlistEntry.site_id == site_id, or_(
        and_(WatchlistEntry.removed_at.is_not(None), WatchlistEntry.removed_at < cutoff),
        and_(WatchlistEntry.expires_at.is_not(None), WatchlistEntry.expires_at < cutoff)))


def _watchlist(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, WatchlistEntry, _done_with_watch(run.site.id, cutoff))


def _vehicle_lists(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, VehicleListEntry, VehicleListEntry.site_id == run.site.id,
                  or_(VehicleListEntry.removed_at < cutoff, VehicleListEntry.valid_until < cutoff))


def _visitors(run: _Run, rule: Rule, cutoff: datetime) -> int:
    """Anonymise (or delete, when they have no visit) visitors whose every visit is past retention."""
    watch_rule = next(r for r in RULES if r.kind == "watchlist_entries")
    kept = db.session.execute(select(WatchlistEntry.kind, WatchlistEntry.value).where(
        WatchlistEntry.site_id == run.site.id,
        ~_done_with_watch(run.site.id, run.cutoff(watch_rule)))).all()
    watched = {tuple(k) for k in kept}
    current = select(Visit.id).where(
        Visit.visitor_id == Visitor.id,
        or_(Visit.created_at >= cutoff, and_(Visit.state.in_(ON_SITE), Visit.id.not_in(run.closing))))
    candidates = db.session.scalars(select(Visitor).where(
        Visitor.site_id == run.site.id, Visitor.erased_at.is_(None), Visitor.created_at < cutoff,
        ~current.exists()).order_by(Visitor.id)).all()
    done = 0
    for visitor in candidates:
        if any(key in watched for key in erasure.watchlist_keys(visitor)):
            continue  # still matched by a watchlist entry: the guard must see who it was
        done += 1
        if run.dry_run:
            continue
        has_visits = db.session.scalar(select(Visit.id).where(Visit.visitor_id == visitor.id).limit(1))
        if has_visits is None:
            db.session.delete(visitor)
        else:
            erasure.anonymise_visitor(visitor, run.now)
    db.session.flush()
    return done


def _stays(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, ParkingSession, ParkingSession.site_id == run.site.id, or_(
        ParkingSession.left_at < cutoff,
        and_(ParkingSession.left_at.is_(None), ParkingSession.entered_at < cutoff)))


def _device_events(run: _Run, rule: Rule, cutoff: datetime) -> int:
    old = and_(DeviceEvent.site == run.site.code, DeviceEvent.kind.in_(DEVICE_EVENT_KINDS),
               DeviceEvent.received_at < cutoff)
    if not run.dry_run:  # stays outlive the reads that opened and closed them
        old_ids = select(DeviceEvent.id).where(old)
        db.session.execute(update(ParkingSession).where(ParkingSession.entry_event_id.in_(old_ids))
                           .values(entry_event_id=None))
        db.session.execute(update(ParkingSession).where(ParkingSession.exit_event_id.in_(old_ids))
                           .values(exit_event_id=None))
    return _apply(run, rule, DeviceEvent, old)


def _journal(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, JournalRecord, JournalRecord.site_id == run.site.id,
                  JournalRecord.purged_at.is_(None), JournalRecord.created_at < cutoff)


def _follow_ups(run: _Run, rule: Rule, cutoff: datetime) -> int:
    purged = select(JournalRecord.id).where(
        JournalRecord.site_id == run.site.id,
        or_(JournalRecord.purged_at.is_not(None), JournalRecord.created_at < cutoff))
    return _apply(run, rule, FollowUp, FollowUp.site_id == run.site.id, FollowUp.closed_at.is_not(None),
                  FollowUp.record_id.in_(purged))


def _shifts(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, Shift, Shift.post_id.in_(select(Post.id).where(Post.site_id == run.site.id)),
                  Shift.ended_at < cutoff)


def _incidents(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, Incident, Incident.site_id == run.site.id, Incident.closed_at < cutoff)


def _old_violation(run: _Run) -> ColumnElement[bool]:
    rule = next(r for r in RULES if r.kind == "violations")
    return and_(Violation.site_id == run.site.id, Violation.state != "open",
                Violation.occurred_at < run.cutoff(rule))


def _violations(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, Violation, _old_violation(run))


def _photos(run: _Run, rule: Rule, cutoff: datetime) -> int:
    mine = select(Violation.id).where(Violation.site_id == run.site.id)
    purged = select(Violation.id).where(_old_violation(run))
    return _apply(run, rule, ViolationPhoto, ViolationPhoto.violation_id.in_(mine),
                  or_(ViolationPhoto.taken_at < cutoff, ViolationPhoto.violation_id.in_(purged)))


def _moved_out(run: _Run, cutoff: datetime) -> Select:
    return select(Resident.id).join(Unit, Resident.unit_id == Unit.id).where(
        Unit.site_id == run.site.id, Resident.moved_out_at < cutoff)


def _residents(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, Resident, Resident.id.in_(_moved_out(run, cutoff)))


def _accounts(run: _Run, rule: Rule, cutoff: datetime) -> int:
    accounts = select(Resident.user_id).where(Resident.id.in_(_moved_out(run, cutoff)))
    return _apply(run, rule, User, User.site_id == run.site.id, User.id.in_(accounts))


def _vehicles(run: _Run, rule: Rule, cutoff: datetime) -> int:
    return _apply(run, rule, Vehicle, Vehicle.site_id == run.site.id,
                  or_(Vehicle.resident_id.in_(_moved_out(run, cutoff)), Vehicle.valid_until < cutoff))


_HANDLERS: dict[str, Callable[[_Run, Rule, datetime], int]] = {
    "visits": _visits, "approvals": _approvals, "passes": _passes, "portal_notices": _notices,
    "release_slips": _slips, "watchlist_entries": _watchlist, "vehicle_list_entries": _vehicle_lists,
    "visitors": _visitors, "parking_sessions": _stays, "device_events": _device_events,
    "journal_records": _journal, "follow_ups": _follow_ups, "shifts": _shifts,
    "incidents": _incidents, "violations": _violations, "violation_photos": _photos,
    "residents": _residents, "resident_accounts": _accounts, "resident_vehicles": _vehicles,
}


def _purge(run: _Run) -> dict[str, int]:
    counts = {rule.kind: _HANDLERS[rule.kind](run, rule, run.cutoff(rule)) for rule in RULES}
    if not run.dry_run:
        db.session.expire_all()  # bulk statements bypassed the identity map
    return counts
