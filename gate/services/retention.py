"""Retention (SPEC §5; PIPL art. 19: keep personal data no longer than necessary): `gate purge`.

Each record kind has its own GATE_RETENTION_* setting. Past it:

- visits (by created_at; never one whose visitor is still inside) are anonymised, not deleted:
  purpose, plate, message and slip token are cleared, and supervisors' notes on their approvals;
  unit, states, host answer, outcome code and times stay for statistics. Shift-book entries hold
  only visit ids, so the chain would survive a delete too; keeping the row keeps the counts.
- visitors none of whose visits is still within retention, and whom no remaining watchlist entry
  matches, are anonymised as in an erasure (`erasure.anonymise_visitor`): visit.visitor_id is
  NOT NULL, so the row stays while anonymised visits point at it. A visitor with no visit at all
  is deleted.
- visitor and worker passes that ended before the visits' retention lose the visitor's name
  (replaced by the erasure marker), phone, plate, purpose, employer and masked ID/hash; unit,
  window and use counts stay. Portal notices older than that are deleted.
- release slips dated before GATE_RETENTION_SLIPS_DAYS lose the carrier's name, phone, plate
  and masked ID/hash, the refusal and consent notes; serial, unit, items, states and times stay
  (the serial register of 放行条 is the estate's record).
- parking sessions (car stays: plate, times) that ended before the visits' retention are deleted,
  and stays still open that long (a missed exit); stays outlive the device events that opened
  and closed them (the references are cleared first).
- device events (plate reads, scans, pass scans, ID-card reads; by received_at) are deleted.
- journal records (what guards wrote; by created_at) get `fields` = NULL and purged_at set; the
  entry keeps only the digest. Closed follow-ups of purged records lose their title and outcome,
  which were written from those fields.
- watchlist entries removed or expired longer ago than their retention are deleted.
- violation photos (by taken_at) are deleted; the violation record itself stays.

First, visits still inside after GATE_VISIT_AUTO_CHECKOUT_HOURS are checked out through
`visits.auto_check_out` (each checkout its own transaction and `visit.checked_out` entry, exactly
as the kiosk does). The purge proper is then one transaction with one `retention.purged` entry
holding the counts. The shift book is never touched: its entries hold ids and digests only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import Select, and_, delete, func, null, or_, select, update

from gate.extensions import db
from gate.models import (
    Approval,
    DeviceEvent,
    FollowUp,
    JournalRecord,
    ParkingSession,
    PortalNotice,
    ReleaseSlip,
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
from gate.services.sites import current_site

# Count keys, in the order `gate purge` prints them.
KINDS = ("auto_checked_out", "visits", "visitors", "passes", "portal_notices", "release_slips",
         "parking_sessions", "device_events", "journal_records", "follow_ups", "watchlist_entries",
         "violation_photos")
DEVICE_EVENT_KINDS = ("plate", "scan", "pass", "card")


def settings() -> dict[str, int]:
    """The retention periods in force (days; the auto-checkout in hours)."""
    config = current_app.config
    return {"visits_days": config["GATE_RETENTION_VISITS_DAYS"],
            "device_events_days": config["GATE_RETENTION_DEVICE_EVENTS_DAYS"],
            "journal_days": config["GATE_RETENTION_JOURNAL_DAYS"],
            "watchlist_expired_days": config["GATE_RETENTION_WATCHLIST_EXPIRED_DAYS"],
            "slips_days": config["GATE_RETENTION_SLIPS_DAYS"],
            "violation_photos_days": config["GATE_RETENTION_VIOLATION_PHOTOS_DAYS"],
            "auto_checkout_hours": config["GATE_VISIT_AUTO_CHECKOUT_HOURS"]}


def purge(now: datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Apply every retention period as of `now`; with dry_run only count. Returns kind -> rows."""
    site = current_site()
    if site is None:
        raise ActionError("no_site", _("This site is not set up yet; create it or load the demo first."))
    now = now or utcnow()
    days = settings()
    counts = dict.fromkeys(KINDS, 0)
    checkout_after = timedelta(hours=days["auto_checkout_hours"])
    stale = _stale_inside(site.id, now - checkout_after)
    if dry_run:
        counts["auto_checked_out"] = len(stale)
    else:
        # auto_check_out measures from the clock; shift the age so `now` is honoured.
        counts["auto_checked_out"] = visits.auto_check_out(site.id, checkout_after + (utcnow() - now))
    if dry_run:
        try:
            counts.update(_purge(site, now, days, stale, dry_run=True))
        finally:
            db.session.rollback()  # nothing was written; end the read transaction
        return counts
    with transaction():
        counts.update(_purge(site, now, days, stale, dry_run=False))
        shiftbook.append("retention.purged", {"counts": counts, "retention": days})
    return counts


def _stale_inside(site_id: int, cutoff: datetime) -> list[int]:
    """Ids of visits still inside since before `cutoff` (the ones auto-checkout closes)."""
    return list(db.session.scalars(select(Visit.id).where(
        Visit.site_id == site_id, Visit.state.in_(ON_SITE), Visit.admitted_at < cutoff)))


def _run(stmt, count_stmt, dry_run: bool) -> int:
    if dry_run:
        return db.session.scalar(count_stmt) or 0
    return db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount


def _count(model, *where) -> Select:
    return select(func.count()).select_from(model).where(*where)


def _purge(site, now: datetime, days: dict[str, int], closing: list[int], dry_run: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    visit_cutoff = now - timedelta(days=days["visits_days"])
    # A visit counts as past once it is no longer inside (or is being checked out by this run).
    gone = or_(Visit.state.not_in(ON_SITE), Visit.id.in_(closing))
    old_visit = and_(Visit.site_id == site.id, Visit.created_at < visit_cutoff, gone)
    personal = or_(Visit.purpose.is_not(None), Visit.plate.is_not(None), Visit.message.is_not(None),
                   Visit.slip_token.is_not(None))
    counts["visits"] = _run(
        update(Visit).where(old_visit, personal).values(purpose=None, plate=None, message=None,
                                                         slip_token=None, version=Visit.version + 1),
        _count(Visit, old_visit, personal), dry_run)
    if not dry_run:
        db.session.execute(update(Approval).where(
            Approval.note.is_not(None), Approval.visit_id.in_(select(Visit.id).where(old_visit)))
            .values(note=None), execution_options={"synchronize_session": False})

    counts.update(_passes(site.id, visit_cutoff, dry_run))
    counts["release_slips"] = _slips(site.id, now - timedelta(days=days["slips_days"]), dry_run)

    watch_cutoff = now - timedelta(days=days["watchlist_expired_days"])
    # Null-safe, so that "not done with" below keeps entries without removal or expiry.
    done_with = and_(WatchlistEntry.site_id == site.id, or_(
        and_(WatchlistEntry.removed_at.is_not(None), WatchlistEntry.removed_at < watch_cutoff),
        and_(WatchlistEntry.expires_at.is_not(None), WatchlistEntry.expires_at < watch_cutoff)))
    counts["watchlist_entries"] = _run(delete(WatchlistEntry).where(done_with),
                                       _count(WatchlistEntry, done_with), dry_run)
    kept = db.session.execute(select(WatchlistEntry.kind, WatchlistEntry.value).where(
        WatchlistEntry.site_id == site.id, ~done_with)).all()
    counts["visitors"] = _visitors(site.id, visit_cutoff, closing, {tuple(k) for k in kept}, now, dry_run)

    # Car stays hold plates: kept as long as visits. A stay still "open" that long is a missed exit.
    old_stay = and_(ParkingSession.site_id == site.id, or_(
        ParkingSession.left_at < visit_cutoff,
        and_(ParkingSession.left_at.is_(None), ParkingSession.entered_at < visit_cutoff)))
    counts["parking_sessions"] = _run(delete(ParkingSession).where(old_stay),
                                      _count(ParkingSession, old_stay), dry_run)

    event_cutoff = now - timedelta(days=days["device_events_days"])
    old_event = and_(DeviceEvent.site == site.code, DeviceEvent.kind.in_(DEVICE_EVENT_KINDS),
                     DeviceEvent.received_at < event_cutoff)
    if not dry_run:  # stays outlive the reads that opened and closed them
        old_ids = select(DeviceEvent.id).where(old_event)
        db.session.execute(update(ParkingSession).where(ParkingSession.entry_event_id.in_(old_ids))
                           .values(entry_event_id=None))
        db.session.execute(update(ParkingSession).where(ParkingSession.exit_event_id.in_(old_ids))
                           .values(exit_event_id=None))
    counts["device_events"] = _run(delete(DeviceEvent).where(old_event), _count(DeviceEvent, old_event),
                                   dry_run)

    journal_cutoff = now - timedelta(days=days["journal_days"])
    old_record = and_(JournalRecord.site_id == site.id, JournalRecord.purged_at.is_(None),
                      JournalRecord.created_at < journal_cutoff)
    counts["journal_records"] = _run(
        update(JournalRecord).where(old_record).values(fields=null(), purged_at=now),
        _count(JournalRecord, old_record), dry_run)
    purged_records = select(JournalRecord.id).where(
        JournalRecord.site_id == site.id,
        or_(JournalRecord.purged_at.is_not(None), JournalRecord.created_at < journal_cutoff))
    closed = and_(FollowUp.site_id == site.id, FollowUp.closed_at.is_not(None),
                  FollowUp.title != erasure.ERASED_NAME, FollowUp.record_id.in_(purged_records))
    counts["follow_ups"] = _run(update(FollowUp).where(closed).values(title=erasure.ERASED_NAME,
                                                                      outcome=None),
                                _count(FollowUp, closed), dry_run)
    photo_cutoff = now - timedelta(days=days["violation_photos_days"])
    old_photo = and_(ViolationPhoto.taken_at < photo_cutoff, ViolationPhoto.violation_id.in_(
        select(Violation.id).where(Violation.site_id == site.id)))
    counts["violation_photos"] = _run(delete(ViolationPhoto).where(old_photo),
                                      _count(ViolationPhoto, old_photo), dry_run)
    if not dry_run:
        db.session.expire_all()  # bulk statements bypassed the identity map
    return counts


def _passes(site_id: int, cutoff: datetime, dry_run: bool) -> dict[str, int]:
    """Anonymise passes that ended before the cutoff; delete old portal notices."""
    ended = and_(VisitorPass.site_id == site_id, VisitorPass.valid_until < cutoff,
                 VisitorPass.visitor_name != erasure.ERASED_NAME)
    old_notice = and_(PortalNotice.site_id == site_id, PortalNotice.created_at < cutoff)
    return {
        "passes": _run(update(VisitorPass).where(ended).values(
            visitor_name=erasure.ERASED_NAME, visitor_phone=None, plate=None, purpose=None,
            employer=None, id_masked=None, id_hash=None), _count(VisitorPass, ended), dry_run),
        "portal_notices": _run(delete(PortalNotice).where(old_notice),
                               _count(PortalNotice, old_notice), dry_run),
    }


def _slips(site_id: int, cutoff: datetime, dry_run: bool) -> int:
    """Anonymise the carriers of slips dated before the cutoff (and not waiting for anything)."""
    old = and_(ReleaseSlip.site_id == site_id, ReleaseSlip.on_date < cutoff.date(),
               ReleaseSlip.carrier_name != erasure.ERASED_NAME)
    return _run(update(ReleaseSlip).where(old).values(
        carrier_name=erasure.ERASED_NAME, carrier_phone="", plate=None, carrier_id_masked=None,
        carrier_id_hash=None, refusal_reason=None, consent_note=None), _count(ReleaseSlip, old), dry_run)


def _visitors(site_id: int, cutoff: datetime, closing: list[int], watched: set[tuple[str, str]],
              now: datetime, dry_run: bool) -> int:
    """Anonymise (or delete, when they have no visit) visitors whose every visit is past retention."""
    current = select(Visit.id).where(
        Visit.visitor_id == Visitor.id,
        or_(Visit.created_at >= cutoff, and_(Visit.state.in_(ON_SITE), Visit.id.not_in(closing))))
    candidates = db.session.scalars(select(Visitor).where(
        Visitor.site_id == site_id, Visitor.erased_at.is_(None), Visitor.created_at < cutoff,
        ~current.exists()).order_by(Visitor.id)).all()
    done = 0
    for visitor in candidates:
        if any(key in watched for key in erasure.watchlist_keys(visitor)):
            continue  # still matched by a watchlist entry: the guard must see who it was
        done += 1
        if dry_run:
            continue
        has_visits = db.session.scalar(select(Visit.id).where(Visit.visitor_id == visitor.id).limit(1))
        if has_visits is None:
            db.session.delete(visitor)
        else:
            erasure.anonymise_visitor(visitor, now)
    db.session.flush()
    return done
