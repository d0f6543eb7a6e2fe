"""Visitor passes (SPEC §2.2): residents create, list and revoke; the desk issues worker passes.

Verification and redemption at the gate live in gate.services.pass_gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import func, or_, select

from gate.domain import passes as tokens
from gate.domain.idcard import parse_resident_id
from gate.domain.plates import normalize_plate
from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models import Resident, Site, Unit, User, VisitorPass
from gate.models.types import utcnow
from gate.services import ActionError, keys, shiftbook, transaction
from gate.services.privacy import protect_id
from gate.services.visitors import clean_text

USES = ("single", "count", "unlimited")
MAX_COUNT = 100
WORKER_MAX_DAYS = 180  # a renovation runs for months; the desk renews beyond that


def pass_key() -> bytes:
    """The key that signs pass tokens (GATE_PASS_KEY, else a 0600 file in the instance folder).

    Used for nothing else, so rotating it voids passes and nothing more.
    """
    return keys.instance_secret("GATE_PASS_KEY", "pass.key")


def site_zone() -> ZoneInfo:
    """The estate's time zone: windows are whole local days."""
    return ZoneInfo(current_app.config["GATE_TIMEZONE"])


def token_for(visitor_pass: VisitorPass) -> str:
    """The signed token a pass's QR carries (recomputed, never stored)."""
    site = db.session.get(Site, visitor_pass.site_id)
    return tokens.issue(pass_key(), site.code, bytes.fromhex(visitor_pass.pid),
                        visitor_pass.valid_from, visitor_pass.valid_until)


def today() -> date:
    """Today's date at the estate."""
    return utcnow().astimezone(site_zone()).date()


@dataclass(frozen=True)
class Window:
    """A validity window: local days and times, turned into UTC instants."""

    starts: datetime
    ends: datetime


def window(starts_on: date | None, ends_on: date | None, start_time: time | None = None,
           end_time: time | None = None, *, max_days: int | None = None) -> Window:
    """Check a requested window (default: today 00:00–23:59) and return it in UTC.

    `end_time` is inclusive to the minute as residents read it ("until 23:59"), so the window
    ends one minute after it.
    """
    zone = site_zone()
    first = starts_on or today()
    last = ends_on or first
    start = datetime.combine(first, start_time or time(0, 0), zone)
    end = datetime.combine(last, end_time or time(23, 59), zone) + timedelta(minutes=1)
    if end <= start:
        raise ActionError("bad_window", _("The pass must end after it starts. Check the dates "
                                          "and times."))
    if last < today() or end <= utcnow():
        raise ActionError("past_window", _("That time has already passed. Choose today or a "
                                           "later date."))
    if first < today():
        raise ActionError("past_window", _("The pass cannot start on a past date. Choose today or "
                                           "a later date."))
    limit = max_days or current_app.config["GATE_PASS_MAX_DAYS"]
    if (last - first).days + 1 > limit:
        raise ActionError("window_too_long", _("A pass can cover at most %(n)d days. Shorten it, "
                                               "or create another pass later.", n=limit))
    return Window(start.astimezone(UTC), end.astimezone(UTC))


def _max_uses(uses: str, count: int | None) -> int | None:
    if uses == "single":
        return 1
    if uses == "unlimited":
        return None
    if uses == "count" and count is not None and 1 <= count <= MAX_COUNT:
        return count
    if uses == "count":
        raise ActionError("bad_count", _("Enter how many times the pass may be used (1 to %(n)d).",
                                         n=MAX_COUNT))
    raise ActionError("bad_uses", _("Choose once, a number of times, or unlimited."))


def _optional_plate(text: str) -> str | None:
    if not (text or "").strip():
        return None
    try:
        return normalize_plate(text)
    except ValueError:
        raise ActionError("bad_plate", _("That is not a valid plate (e.g. 粤B12345). Check it or "
                                         "leave it empty.")) from None


def _optional_phone(text: str) -> str | None:
    if not (text or "").strip():
        return None
    try:
        return normalize_phone(text)
    except ValueError:
        raise ActionError("bad_phone", _("The phone must be an 11-digit mobile number, or leave it "
                                         "empty.")) from None


def _name(text: str) -> str:
    name = clean_text(text, 40)
    if not name:
        raise ActionError("name_required", _("Enter the visitor's name."))
    return name


def active_condition(now: datetime):
    """SQL condition: not revoked, not over, uses left."""
    return (VisitorPass.revoked_at.is_(None), VisitorPass.valid_until > now,
            or_(VisitorPass.max_uses.is_(None), VisitorPass.uses < VisitorPass.max_uses))


def active_count(unit_id: int) -> int:
    """How many passes of a unit are still usable (the per-unit cap counts these)."""
    return db.session.scalar(select(func.count(VisitorPass.id)).where(
        VisitorPass.unit_id == unit_id, *active_condition(utcnow()))) or 0


def _new_identity(site_id: int) -> tuple[str, str]:
    for _attempt in range(10):
        pid = tokens.new_pid()
        code = tokens.short_code(pid)
        taken = db.session.scalar(select(VisitorPass.id).where(VisitorPass.site_id == site_id,
                                                               VisitorPass.code == code))
        if taken is None:
            return tokens.pid_text(pid), code
    raise RuntimeError("could not find a free pass code")  # 40-bit codes: practically never


def create(resident: Resident, actor: User, *, name: str, phone: str = "", plate: str = "",
           purpose: str = "", starts_on: date | None = None, ends_on: date | None = None,
           start_time: time | None = None, end_time: time | None = None, uses: str = "single",
           count: int | None = None) -> VisitorPass:
    """A resident invites a visitor: one transaction with its shift-book entry."""
    if resident.moved_out_at is not None:
        raise ActionError("moved_out", _("This account no longer belongs to a household here."))
    values = dict(visitor_name=_name(name), visitor_phone=_optional_phone(phone),
                  plate=_optional_plate(plate), purpose=clean_text(purpose, 200, fold=False) or None,
                  max_uses=_max_uses(uses, count))
    span = window(starts_on, ends_on, start_time, end_time)
    cap = current_app.config["GATE_PASS_MAX_ACTIVE"]
    with transaction():
        unit = db.session.get(Unit, resident.unit_id, with_for_update=True)  # serialises the cap
        if active_count(unit.id) >= cap:
            raise ActionError("too_many_passes", _("Your household already has %(n)d active passes. "
                                                   "Revoke one you no longer need first.", n=cap))
        pid, code = _new_identity(unit.site_id)
        visitor_pass = VisitorPass(site_id=unit.site_id, unit_id=unit.id, resident_id=resident.id,
                                   kind="visitor", pid=pid, code=code, valid_from=span.starts,
                                   valid_until=span.ends, created_by=actor.id, created_at=utcnow(),
                                   **values)
        db.session.add(visitor_pass)
        db.session.flush()
        shiftbook.append("pass.created", {"pass_id": visitor_pass.id, "unit_id": unit.id,
                                          "kind": "visitor", "max_uses": visitor_pass.max_uses,
                                          "has_plate": visitor_pass.plate is not None},
                         actor_id=actor.id)
    return visitor_pass


def _hhmm(text: str) -> str:
    try:
        return time.fromisoformat((text or "").strip()).strftime("%H:%M")
    except ValueError:
        raise ActionError("bad_hours", _("Enter the working hours as HH:MM, e.g. 08:00 and "
                                         "18:00.")) from None


def issue_worker_pass(desk: User, unit: Unit, *, name: str, id_number: str, employer: str,
                      starts_on: date | None, ends_on: date | None, daily_from: str,
                      daily_until: str, phone: str = "") -> VisitorPass:
    """The service desk issues a renovation worker's pass (装修出入证, seed §十一)."""
    try:
        number = parse_resident_id(id_number)
    except ValueError:
        raise ActionError("bad_id", _("Check the worker's ID number: it must be an 18-character "
                                      "resident ID.")) from None
    hours_from, hours_until = _hhmm(daily_from), _hhmm(daily_until)
    if hours_until <= hours_from:
        raise ActionError("bad_hours", _("The working day must end after it starts."))
    employer_text = clean_text(employer, 120, fold=False)
    if not employer_text:
        raise ActionError("employer_required", _("Enter the renovation company (or 'self-employed')."))
    values = dict(visitor_name=_name(name), visitor_phone=_optional_phone(phone), **protect_id(number))
    span = window(starts_on, ends_on, max_days=WORKER_MAX_DAYS)
    with transaction():
        pid, code = _new_identity(unit.site_id)
        visitor_pass = VisitorPass(site_id=unit.site_id, unit_id=unit.id, resident_id=None,
                                   kind="worker", pid=pid, code=code, employer=employer_text,
                                   daily_from=hours_from, daily_until=hours_until,
                                   valid_from=span.starts, valid_until=span.ends, max_uses=None,
                                   created_by=desk.id,
                                   created_at=utcnow(), **values)
        db.session.add(visitor_pass)
        db.session.flush()
        shiftbook.append("pass.created", {"pass_id": visitor_pass.id, "unit_id": unit.id,
                                          "kind": "worker"}, actor_id=desk.id)
    return visitor_pass


def revoke(visitor_pass: VisitorPass, actor: User) -> VisitorPass:
    """Withdraw a pass; it is refused at the gate from now on."""
    if visitor_pass.revoked_at is not None:
        raise ActionError("already_revoked", _("This pass was already revoked."))
    with transaction():
        visitor_pass.revoked_at, visitor_pass.revoked_by = utcnow(), actor.id
        shiftbook.append("pass.revoked", {"pass_id": visitor_pass.id}, actor_id=actor.id)
    return visitor_pass


def of_unit(unit_id: int, pass_id: int) -> VisitorPass:
    """One pass of this unit; another unit's pass is simply not found (no leak of existence)."""
    visitor_pass = db.session.get(VisitorPass, pass_id)
    if visitor_pass is None or visitor_pass.unit_id != unit_id:
        raise ActionError("not_found", _("No such pass."))
    return visitor_pass


def listing(unit_id: int, *, recent_days: int = 7, kind: str = "visitor") -> list[VisitorPass]:
    """A unit's passes: current ones and those that ended in the last week, soonest first."""
    since = utcnow() - timedelta(days=recent_days)
    return list(db.session.scalars(
        select(VisitorPass).where(VisitorPass.unit_id == unit_id, VisitorPass.kind == kind,
                                  VisitorPass.valid_until > since)
        .order_by(VisitorPass.valid_from, VisitorPass.id)))


def expected_today(unit_id: int) -> list[VisitorPass]:
    """Visitors expected today: usable passes whose window touches today."""
    zone = site_zone()
    start = datetime.combine(today(), time(0, 0), zone)
    end = start + timedelta(days=1)
    return list(db.session.scalars(
        select(VisitorPass).where(VisitorPass.unit_id == unit_id, VisitorPass.kind == "visitor",
                                  VisitorPass.valid_from < end, *active_condition(utcnow()))
        .order_by(VisitorPass.valid_from, VisitorPass.id)))


def status(visitor_pass: VisitorPass, now: datetime | None = None) -> str:
    """active | upcoming | expired | used_up | revoked, for lists and the share page."""
    now = now or utcnow()
    if visitor_pass.revoked_at is not None:
        return "revoked"
    if now >= visitor_pass.valid_until:
        return "expired"
    if visitor_pass.max_uses is not None and visitor_pass.uses >= visitor_pass.max_uses:
        return "used_up"
    if now < visitor_pass.valid_from:
        return "upcoming"
    return "active"


def by_token(token: str) -> VisitorPass:
    """The pass a share link names; ActionError not_found for anything else (no detail leaks)."""
    site = db.session.scalars(select(Site).where(Site.code == shiftbook.site_code())).one()
    text = tokens.extract(token)
    try:
        claims = tokens.read(pass_key(), site.code, text or "")
    except tokens.TokenRejected:
        raise ActionError("not_found", _("This pass link is not valid.")) from None
    visitor_pass = db.session.scalars(select(VisitorPass).where(
        VisitorPass.pid == tokens.pid_text(claims.pid))).first()
    if visitor_pass is None or visitor_pass.site_id != site.id:
        raise ActionError("not_found", _("This pass link is not valid."))
    return visitor_pass
