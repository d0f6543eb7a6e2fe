"""Numbers for the supervisor's charts and the daily PDF (plain data: no drawing here).

Every "day" is a local day in the site's time zone (GATE_TIMEZONE); rows are stored in UTC and
bucketed by their local hour 0–23, so a visit at 23:30 local time counts in hour 23 of its day.

Definitions (what each number counts):
- visitors arrived: visits registered at the desk (`Visit.created_at`), whatever came of them;
- visitors admitted: visits let in (`Visit.admitted_at`) during the hour;
- vehicles entered: parking sessions whose `entered_at` falls in the hour — cars the barrier let
  in on a plate read, visitor cars the guard admitted, and late entry reads that completed a stay;
- wait: from registration at the desk to the decision. The decision is the admission
  (`admitted_at`), else the refusal or the host's decline as the shift book recorded it
  (`visit.refused`, `visit.watchlist_hit`, `visit.host_answer` declined/not home) or a
  supervisor's denial (`Approval.decided_at`). Waits are grouped by the hour of arrival; visits
  with no decision within a day after the report's day are left out and counted as undecided.

For one post, visits count through their shift's post; vehicles through the gate of the camera
that read them (a visitor car admitted by hand through the visit's shift).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import mean, median
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, or_, select

from gate.extensions import db
from gate.models import (
    Approval,
    Device,
    DeviceEvent,
    Gate,
    Lane,
    ParkingSession,
    Shift,
    ShiftBookEntry,
    Site,
    Violation,
    Visit,
)
from gate.services.shiftbook import rfc3339

HOURS = 24
DEFAULT_VIOLATION_DAYS = 30
# A decision written this long after the report's day ends is not looked for.
DECISION_WINDOW = timedelta(days=1)
DECISION_KINDS = ("visit.refused", "visit.watchlist_hit", "visit.host_answer")
DECLINES = ("declined", "not_home")


@dataclass(frozen=True)
class Traffic:
    """Counts per local hour (index 0–23) of one day."""

    day: date
    arrived: list[int]
    admitted: list[int]
    vehicles: list[int]


@dataclass(frozen=True)
class Waits:
    """Wait from arrival to decision, in minutes, per hour of arrival and over the day."""

    day: date
    mean: list[float | None]
    median: list[float | None]
    counts: list[int]
    overall_mean: float | None
    overall_median: float | None
    decided: int
    undecided: int


def site_zone() -> ZoneInfo:
    """The estate's time zone."""
    return ZoneInfo(current_app.config["GATE_TIMEZONE"])


def day_bounds(day: date, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """The first moment of a local day and of the next one (aware datetimes)."""
    zone = zone or site_zone()
    return (datetime.combine(day, time.min, tzinfo=zone),
            datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone))


def _hours(moments, zone: ZoneInfo) -> list[int]:
    """How many of the moments fall in each local hour (one pass over the rows)."""
    counts = [0] * HOURS
    for moment in moments:
        if moment is not None:
            counts[moment.astimezone(zone).hour] += 1
    return counts


def _visits_of_post(query, post_id: int | None):
    if post_id is None:
        return query
    return query.join(Shift, Visit.shift_id == Shift.id).where(Shift.post_id == post_id)


def traffic(site_id: int, day: date, post_id: int | None = None) -> Traffic:
    """Visitors arrived and admitted, vehicles entered, per local hour of `day` (three queries)."""
    zone = site_zone()
    start, end = day_bounds(day, zone)
    arrived = db.session.scalars(_visits_of_post(select(Visit.created_at), post_id).where(
        Visit.site_id == site_id, Visit.created_at >= start, Visit.created_at < end))
    admitted = db.session.scalars(_visits_of_post(select(Visit.admitted_at), post_id).where(
        Visit.site_id == site_id, Visit.admitted_at >= start, Visit.admitted_at < end))
    cars = select(ParkingSession.entered_at).where(
        ParkingSession.site_id == site_id, ParkingSession.entered_at >= start,
        ParkingSession.entered_at < end)
    if post_id is not None:
        site = db.session.get(Site, site_id)
        cars = (cars.outerjoin(DeviceEvent, ParkingSession.entry_event_id == DeviceEvent.id)
                .outerjoin(Device, and_(Device.site_id == site_id, Device.kind == "camera",
                                        Device.code == DeviceEvent.device,
                                        DeviceEvent.site == (site.code if site else "")))
                .outerjoin(Lane, Device.lane_id == Lane.id).outerjoin(Gate, Lane.gate_id == Gate.id)
                .outerjoin(Visit, ParkingSession.visit_id == Visit.id)
                .outerjoin(Shift, Visit.shift_id == Shift.id)
                .where(or_(Gate.post_id == post_id,
                           and_(ParkingSession.entry_event_id.is_(None), Shift.post_id == post_id))))
    return Traffic(day=day, arrived=_hours(arrived, zone), admitted=_hours(admitted, zone),
                   vehicles=_hours(db.session.scalars(cars), zone))


def _visit_id(entry_data: str) -> int | None:
    try:
        value = json.loads(entry_data or "{}")
    except ValueError:
        return None
    return value.get("visit_id") if isinstance(value, dict) else None


def _refusals(site_id: int, ids: set[int], start: datetime, end: datetime) -> dict[int, datetime]:
    """When each visit was refused or declined, from the shift book and supervisors' denials."""
    site = db.session.get(Site, site_id)
    found: dict[int, datetime] = {}

    def keep(visit_id, moment: datetime) -> None:
        if visit_id in ids and (visit_id not in found or moment < found[visit_id]):
            found[visit_id] = moment

    rows = db.session.execute(select(ShiftBookEntry.kind, ShiftBookEntry.at, ShiftBookEntry.data).where(
        ShiftBookEntry.site == (site.code if site else ""), ShiftBookEntry.kind.in_(DECISION_KINDS),
        ShiftBookEntry.at >= rfc3339(start), ShiftBookEntry.at < rfc3339(end)))
    for kind, at, data in rows:
        if kind == "visit.host_answer" and json.loads(data or "{}").get("answer") not in DECLINES:
            continue  # the host said yes: the decision is the admission
        keep(_visit_id(data), datetime.fromisoformat(at.replace("Z", "+00:00")))
    denied = db.session.execute(select(Approval.visit_id, Approval.decided_at).where(
        Approval.site_id == site_id, Approval.decision == "denied", Approval.decided_at >= start,
        Approval.decided_at < end, Approval.visit_id.in_(ids))) if ids else []
    for visit_id, moment in denied:
        keep(visit_id, moment)
    return found


def waits(site_id: int, day: date, post_id: int | None = None) -> Waits:
    """Average and median minutes from arrival to decision, per hour of arrival on `day`."""
    zone = site_zone()
    start, end = day_bounds(day, zone)
    visits = db.session.execute(_visits_of_post(
        select(Visit.id, Visit.created_at, Visit.admitted_at), post_id).where(
        Visit.site_id == site_id, Visit.created_at >= start, Visit.created_at < end)).all()
    refused = _refusals(site_id, {v.id for v in visits if v.admitted_at is None}, start,
                        end + DECISION_WINDOW)
    by_hour: list[list[float]] = [[] for _ in range(HOURS)]
    undecided = 0
    for visit_id, arrived, admitted in visits:
        decided = admitted or refused.get(visit_id)
        if decided is None or decided > end + DECISION_WINDOW:
            undecided += 1
            continue
        by_hour[arrived.astimezone(zone).hour].append(max(0.0, (decided - arrived).total_seconds() / 60))
    every = [m for hour in by_hour for m in hour]
    return Waits(day=day, mean=[round(mean(h), 1) if h else None for h in by_hour],
                 median=[round(median(h), 1) if h else None for h in by_hour],
                 counts=[len(h) for h in by_hour],
                 overall_mean=round(mean(every), 1) if every else None,
                 overall_median=round(median(every), 1) if every else None,
                 decided=len(every), undecided=undecided)


def violations_by_type(site_id: int, since: date, until: date) -> list[tuple[str, int]]:
    """Violations (not dismissed) per type code from `since` to `until` (local days, inclusive),
    most frequent first; one grouped query."""
    zone = site_zone()
    start, end = day_bounds(since, zone)[0], day_bounds(until, zone)[1]
    rows = db.session.execute(select(Violation.type_code, func.count()).where(
        Violation.site_id == site_id, Violation.state != "dismissed",
        Violation.occurred_at >= start, Violation.occurred_at < end).group_by(Violation.type_code))
    return sorted(((code, n) for code, n in rows), key=lambda kv: (-kv[1], kv[0]))


def default_violation_range(today: date) -> tuple[date, date]:
    """The last 30 local days, today included."""
    return today - timedelta(days=DEFAULT_VIOLATION_DAYS - 1), today

