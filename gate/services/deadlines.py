"""Promises with a deadline (时效制): what is pending, what is overdue, and one alert per overdue item.

Three kinds of promise carry a deadline:
- approvals: a supervisor's answer to a guard (forgot ID, refuses ID) and the review of openings
  by hand above the daily threshold (`approval.due_at`);
- incidents: an open incident must be closed with a note within `GATE_INCIDENT_CLOSE_HOURS`;
- follow-ups: what a guard promised someone (a message passed on, a complaint answered).

An overdue item is announced once: a `deadline_alert` row (unique per item) claims it, a
`deadline.overdue` shift-book entry records it in the same transaction, and only then is the
alert published. Two sweepers (the bridge and a cron `gate deadlines check`) never announce twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gate.extensions import db
from gate.models import DeadlineAlert, FollowUp, Site
from gate.models.types import utcnow
from gate.services import incidents, journal, shiftbook, transaction, visits

log = logging.getLogger(__name__)

KINDS = ("approval", "incident", "follow_up")


@dataclass(frozen=True)
class Deadline:
    """One promise with its deadline; `detail` is the approval or incident kind, or the follow-up title."""

    kind: str
    ref_id: int
    detail: str
    created_at: datetime
    due_at: datetime
    requested_by: int | None = None
    alerted_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        """True once the deadline has passed."""
        return self.due_at < now


def incident_hours() -> int:
    """How long an incident may stay open before it is overdue."""
    return int(current_app.config.get("GATE_INCIDENT_CLOSE_HOURS", 24))


def _approvals(site_id: int) -> list[Deadline]:
    return [Deadline("approval", a.id, a.kind, a.requested_at, a.due_at, a.requested_by)
            for a in visits.pending_approvals(site_id)]


def _incidents(site_id: int) -> list[Deadline]:
    allowed = timedelta(hours=incident_hours())
    return [Deadline("incident", i.id, i.kind, i.created_at, i.created_at + allowed, i.created_by)
            for i in incidents.open_incidents(site_id)]


def _follow_ups(site_id: int) -> list[Deadline]:
    rows: list[FollowUp] = journal.open_follow_ups(site_id, None, site_wide=True)
    return [Deadline("follow_up", f.id, f.title, f.created_at, f.due_at) for f in rows if f.due_at]


def pending(site: Site) -> list[Deadline]:
    """Every open promise of the site with a deadline, soonest due first, with when it was announced."""
    items = _approvals(site.id) + _incidents(site.id) + _follow_ups(site.id)
    alerted = _alerted(site.id)
    items = [Deadline(i.kind, i.ref_id, i.detail, i.created_at, i.due_at, i.requested_by,
                      alerted.get((i.kind, i.ref_id))) for i in items]
    return sorted(items, key=lambda i: (i.due_at, i.kind, i.ref_id))


def overdue(site: Site, now: datetime | None = None) -> list[Deadline]:
    """The open promises whose deadline has passed."""
    now = now or utcnow()
    return [i for i in pending(site) if i.overdue(now)]


def _alerted(site_id: int) -> dict[tuple[str, int], datetime]:
    rows = db.session.execute(select(DeadlineAlert.kind, DeadlineAlert.ref_id, DeadlineAlert.alerted_at)
                              .where(DeadlineAlert.site_id == site_id))
    return {(kind, ref): at for kind, ref, at in rows}


def _claim(site: Site, item: Deadline, now: datetime) -> bool:
    """Record that this item is announced, with its entry; False if someone else already did."""
    try:
        with transaction():
            row = DeadlineAlert(site_id=site.id, kind=item.kind, ref_id=item.ref_id,
                                due_at=item.due_at, alerted_at=now)
            db.session.add(row)
            db.session.flush()
            entry = shiftbook.append("deadline.overdue", {
                "kind": item.kind, "ref_id": item.ref_id, "detail": item.detail if item.kind != "follow_up"
                else None, "due_at": shiftbook.rfc3339(item.due_at)})
            row.seq = entry.seq
    except IntegrityError:  # the other sweeper claimed it between our read and our insert
        db.session.rollback()
        return False
    return True


Publish = Callable[[Deadline], bool]


def announce(site: Site, publish: Publish, now: datetime | None = None) -> list[Deadline]:
    """Claim and publish each overdue item not yet announced; returns the ones announced now."""
    now = now or utcnow()
    done = []
    for item in overdue(site, now):
        if item.alerted_at is not None or not _claim(site, item, now):
            continue
        if not publish(item):
            # Claimed and recorded: the console shows it; the MQTT copy is a courtesy (see web_link).
            log.warning("overdue %s %s recorded, alert not published", item.kind, item.ref_id)
        done.append(item)
    return done


def label(item: Deadline) -> str:
    """What the item is, for a supervisor (the follow-up's own title stays on the console)."""
    from flask_babel import gettext as _

    names = {"forgot_id": _("Forgot ID"), "refused_id": _("Refuses to show ID"),
             "manual_open": _("Openings by hand above the daily limit"),
             "forced_entry": _("Forced entry")}
    if item.kind == "follow_up":
        return _("Promised follow-up")
    return names.get(item.detail, item.detail)


def alert_text(item: Deadline) -> str:
    """The alert's text in the site's language, with no personal data (it leaves the system)."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    zone = ZoneInfo(current_app.config["GATE_TIMEZONE"])
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")):
        what = {"approval": _("approval"), "incident": _("incident"), "follow_up": _("follow-up")}[item.kind]
        return _("Overdue %(what)s #%(id)d: %(label)s, due %(due)s", what=what, id=item.ref_id,
                 label=label(item), due=item.due_at.astimezone(zone).strftime("%m-%d %H:%M"))
