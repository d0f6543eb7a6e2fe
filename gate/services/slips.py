"""Goods release slips (放行条, seed §五.14, SPEC §2.3): apply, consent, approve or refuse.

The gate side (verify, release once, refusals) is gate.services.slip_gate. Each action is one
transaction with its shift-book entry; entries hold ids, never the items or people's names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from gate.domain import passes as tokens
from gate.domain.plates import normalize_plate
from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models import ReleaseSlip, ReleaseSlipItem, Resident, SerialCounter, Site, Unit, UnitFlag, User
from gate.models.slips import SLIP_REASONS
from gate.models.types import utcnow
from gate.services import ActionError, keys, notices, shiftbook, transaction
from gate.services.passes import site_zone, today
from gate.services.visitors import clean_text

MAX_LINES = 50
MAX_COUNT = 9999
MAX_DAYS_AHEAD = 30
SERIAL_KIND = "FX"


def slip_key() -> bytes:
    """The key that signs slip QR codes (GATE_SLIP_KEY or instance/slip.key), for nothing else."""
    return keys.instance_secret("GATE_SLIP_KEY", "slip.key")


@dataclass(frozen=True)
class Line:
    """One line of goods as entered."""

    description: str
    count: int


def clean_lines(lines: Iterable[tuple[str, object]]) -> list[Line]:
    """Check the goods list: 1 to 50 lines, each with words and a whole count from 1 to 9999.

    Blank rows (no description and no count) are skipped: forms show spare rows.
    """
    result: list[Line] = []
    for number, (text, raw) in enumerate(lines, start=1):
        description = clean_text(text, 120, fold=False)
        raw_text = str(raw if raw is not None else "").strip()
        if not description and not raw_text:
            continue
        if not description:
            raise ActionError("item_text", _("Line %(n)d: say what the item is.", n=number))
        try:
            count = int(raw_text)
        except ValueError:
            raise ActionError("item_count", _("Line %(n)d: the count must be a whole number from 1 "
                                              "to %(max)d.", n=number, max=MAX_COUNT)) from None
        if not 1 <= count <= MAX_COUNT:
            raise ActionError("item_count", _("Line %(n)d: the count must be a whole number from 1 "
                                              "to %(max)d.", n=number, max=MAX_COUNT))
        result.append(Line(description, count))
    if not result:
        raise ActionError("no_items", _("List at least one item and how many."))
    if len(result) > MAX_LINES:
        raise ActionError("too_many_items", _("At most %(n)d lines fit on one slip. Group similar "
                                              "items (e.g. 'boxes of books, 12').", n=MAX_LINES))
    return result


def _date(on_date: date | None) -> date:
    chosen = on_date or today()
    if chosen < today():
        raise ActionError("past_date", _("The date has passed. Choose today or a later day."))
    if chosen > today() + timedelta(days=MAX_DAYS_AHEAD):
        raise ActionError("date_too_far", _("Apply at most %(n)d days ahead.", n=MAX_DAYS_AHEAD))
    return chosen


def fees_outstanding(unit_id: int) -> bool:
    """The desk's flag for the unit (False when never set)."""
    flag = db.session.get(UnitFlag, unit_id)
    return bool(flag and flag.fees_outstanding)


def apply(actor: User, unit: Unit, applicant: Resident | None, *, via: str,
          lines: Iterable[tuple[str, object]], on_date: date | None, carrier_name: str,
          carrier_phone: str, plate: str = "", reason: str = "moving_out",
          consent_note: str = "") -> ReleaseSlip:
    """A resident (portal) or the desk on their behalf applies to take goods out.

    A tenant's application waits for the owner's consent (pending_consent) unless the desk
    records it now ("owner 陈先生 consented by phone").
    """
    if via not in ("portal", "desk"):
        raise ValueError(via)
    if applicant is None or applicant.unit_id != unit.id:
        raise ActionError("no_applicant", _("Choose the resident who applies."))
    if applicant.moved_out_at is not None:
        raise ActionError("moved_out", _("This resident has moved out and cannot apply."))
    if reason not in SLIP_REASONS:
        raise ActionError("bad_reason", _("Choose why the goods leave."))
    goods = clean_lines(lines)
    name = clean_text(carrier_name, 40)
    if not name:
        raise ActionError("carrier_name", _("Enter the name of the person who carries the goods out."))
    try:
        phone = normalize_phone(carrier_phone)
    except ValueError:
        raise ActionError("carrier_phone", _("Enter the carrier's 11-digit mobile number.")) from None
    clean_plate = None
    if (plate or "").strip():
        try:
            clean_plate = normalize_plate(plate)
        except ValueError:
            raise ActionError("bad_plate", _("That is not a valid plate (e.g. 粤B12345). Check it or "
                                             "leave it empty.")) from None
    note = clean_text(consent_note, 200, fold=False) if via == "desk" else ""
    day = _date(on_date)
    needs_consent = not applicant.is_owner
    with transaction():
        slip = ReleaseSlip(site_id=unit.site_id, unit_id=unit.id, resident_id=applicant.id,
                           applied_by=actor.id, applied_via=via, on_date=day, reason=reason,
                           carrier_name=name, carrier_phone=phone, plate=clean_plate,
                           consent_needed=needs_consent, created_at=utcnow(),
                           state="pending_consent" if needs_consent and not note else "pending")
        if needs_consent and note:
            slip.consent_note, slip.consent_at = note, utcnow()
        slip.items = [ReleaseSlipItem(line=i, description=g.description, count=g.count)
                      for i, g in enumerate(goods, start=1)]
        db.session.add(slip)
        db.session.flush()
        shiftbook.append("slip.applied", {"slip_id": slip.id, "unit_id": unit.id, "via": via,
                                          "lines": len(goods), "consent_needed": needs_consent,
                                          "consent_by_desk": bool(needs_consent and note)},
                         actor_id=actor.id)
    return slip


def owner_consents(owner: Resident, actor: User, slip: ReleaseSlip) -> ReleaseSlip:
    """The unit's owner agrees on the portal to a tenant's application."""
    if not owner.is_owner or owner.unit_id != slip.unit_id or owner.moved_out_at is not None:
        raise ActionError("not_owner", _("Only the unit's owner can consent."))
    if slip.state != "pending_consent":
        raise ActionError("wrong_state", _("This application does not wait for consent."))
    with transaction():
        slip.state, slip.consent_by_resident, slip.consent_at = "pending", owner.id, utcnow()
        shiftbook.append("slip.consented", {"slip_id": slip.id, "by": "owner_portal"},
                         actor_id=actor.id)
    return slip


def desk_consent(desk: User, slip: ReleaseSlip, note: str) -> ReleaseSlip:
    """The desk records the owner's consent given by phone or in person, with the owner's name."""
    text = clean_text(note, 200, fold=False)
    if not text:
        raise ActionError("consent_note", _("Write who consented and how, e.g. 'owner 陈先生 by phone'."))
    if slip.state != "pending_consent":
        raise ActionError("wrong_state", _("This application does not wait for consent."))
    with transaction():
        slip.state, slip.consent_note, slip.consent_at = "pending", text, utcnow()
        shiftbook.append("slip.consented", {"slip_id": slip.id, "by": "desk"}, actor_id=desk.id)
    return slip


def set_fees_flag(desk: User, unit: Unit, outstanding: bool, note: str = "") -> UnitFlag:
    """The desk marks a unit's fees as outstanding (or settled); approvals check it."""
    with transaction():
        flag = db.session.get(UnitFlag, unit.id) or UnitFlag(unit_id=unit.id)
        flag.fees_outstanding = outstanding
        flag.note = clean_text(note, 200, fold=False) or None
        flag.updated_by, flag.updated_at = desk.id, utcnow()
        db.session.add(flag)
        shiftbook.append("unit.fees_flag", {"unit_id": unit.id, "outstanding": outstanding},
                         actor_id=desk.id)
    return flag


def _next_serial(site_id: int, year: int) -> str:
    """FX-<year>-<6 digits>, gap-free per site and year (the counter row is locked)."""
    updated = db.session.execute(
        update(SerialCounter).where(SerialCounter.site_id == site_id,
                                    SerialCounter.kind == SERIAL_KIND, SerialCounter.year == year)
        .values(last=SerialCounter.last + 1).returning(SerialCounter.last)).scalar()
    if updated is None:
        db.session.add(SerialCounter(site_id=site_id, kind=SERIAL_KIND, year=year, last=1))
        db.session.flush()
        updated = 1
    return f"{SERIAL_KIND}-{year}-{updated:06d}"


def approve(desk: User, slip: ReleaseSlip) -> ReleaseSlip:
    """Approve a pending application: serial number and signed QR; refused if fees are flagged."""
    if slip.state != "pending":
        raise ActionError("wrong_state", _("Only a pending application can be approved (now: %(state)s).",
                                           state=slip.state))
    if fees_outstanding(slip.unit_id):
        raise ActionError("fees_outstanding", _("The unit has outstanding fees. Refuse with that "
                                                "reason, or clear the flag once they are paid."))
    if slip.on_date < today():
        raise ActionError("past_date", _("The slip's date has passed. Refuse it; the resident can "
                                         "apply again."))
    with transaction():
        slip.serial = _next_serial(slip.site_id, today().year)
        slip.pid = tokens.pid_text(tokens.new_pid())
        slip.state, slip.decided_by, slip.decided_at = "approved", desk.id, utcnow()
        notices.add(slip.site_id, slip.unit_id, "slip_approved", serial=slip.serial)
        shiftbook.append("slip.approved", {"slip_id": slip.id, "serial": slip.serial},
                         actor_id=desk.id)
    return slip


def refuse(desk: User, slip: ReleaseSlip, reason: str) -> ReleaseSlip:
    """Refuse an application with a reason the resident sees (e.g. outstanding fees)."""
    text = clean_text(reason, 200, fold=False)
    if not text:
        raise ActionError("reason_required", _("Say why the application is refused."))
    if slip.state not in ("pending", "pending_consent"):
        raise ActionError("wrong_state", _("Only a pending application can be refused (now: %(state)s).",
                                           state=slip.state))
    with transaction():
        slip.state, slip.refusal_reason = "refused", text
        slip.decided_by, slip.decided_at = desk.id, utcnow()
        notices.add(slip.site_id, slip.unit_id, "slip_refused")
        shiftbook.append("slip.refused", {"slip_id": slip.id}, actor_id=desk.id)
    return slip


def valid_window(slip: ReleaseSlip) -> tuple[datetime, datetime]:
    """When the slip lets goods out: its date in site time, plus the configured grace hours."""
    start = datetime.combine(slip.on_date, time(0, 0), site_zone())
    grace = timedelta(hours=current_app.config["GATE_SLIP_GRACE_HOURS"])
    return start, start + timedelta(days=1) + grace


def token_for(slip: ReleaseSlip) -> str:
    """The signed QR text of an approved slip."""
    if slip.pid is None:
        raise ActionError("not_approved", _("The slip is not approved yet."))
    site = db.session.get(Site, slip.site_id)
    start, end = valid_window(slip)
    return tokens.issue(slip_key(), site.code, bytes.fromhex(slip.pid), start, end, kind="slip")


def status(slip: ReleaseSlip, now: datetime | None = None) -> str:
    """The state as lists show it: an approved slip whose window has passed is expired."""
    if slip.state == "approved" and (now or utcnow()) >= valid_window(slip)[1]:
        return "expired"
    return slip.state


def of_unit(unit_id: int, slip_id: int) -> ReleaseSlip:
    """A slip of this unit; another unit's is simply not found."""
    slip = db.session.get(ReleaseSlip, slip_id)
    if slip is None or slip.unit_id != unit_id:
        raise ActionError("not_found", _("No such release slip."))
    return slip


def of_site(site_id: int, slip_id: int) -> ReleaseSlip:
    """A slip of this estate (desk, supervisor, gate)."""
    slip = db.session.get(ReleaseSlip, slip_id)
    if slip is None or slip.site_id != site_id:
        raise ActionError("not_found", _("No such release slip."))
    return slip


def listing(site_id: int, *, state: str = "", unit_id: int | None = None,
            date_from: date | None = None, date_to: date | None = None,
            limit: int = 500) -> list[ReleaseSlip]:
    """Slips for the desk and supervisor lists and the CSV export, newest date first."""
    query = select(ReleaseSlip).where(ReleaseSlip.site_id == site_id)
    if unit_id is not None:
        query = query.where(ReleaseSlip.unit_id == unit_id)
    if date_from is not None:
        query = query.where(ReleaseSlip.on_date >= date_from)
    if date_to is not None:
        query = query.where(ReleaseSlip.on_date <= date_to)
    if state and state != "expired":
        query = query.where(ReleaseSlip.state == state)
    if state == "expired":
        query = query.where(ReleaseSlip.state == "approved")
    rows = db.session.scalars(query.order_by(ReleaseSlip.on_date.desc(), ReleaseSlip.id.desc())
                              .options(selectinload(ReleaseSlip.items), selectinload(ReleaseSlip.unit))
                              .limit(limit)).all()
    if state in ("expired", "approved"):
        now = utcnow()
        rows = [s for s in rows if (status(s, now) == "expired") == (state == "expired")]
    return list(rows)
