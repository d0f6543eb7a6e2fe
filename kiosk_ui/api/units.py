"""Visitor passes and release slips of one unit: list, create, revoke, apply, read.

Ids and units of another household (for a resident key) or another estate are 404, never 403,
so ids cannot be probed.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from flask import url_for
from flask_babel import gettext as _
from pydantic import Field

from gate.domain.passes import display_code
from gate.models import ReleaseSlip, Unit, VisitorPass
from gate.models.slips import SLIP_REASONS
from gate.models.types import utcnow
from gate.services import ActionError, passes, sites, slips
from gate.services.resident_vehicles import pick_resident
from kiosk_ui.api.registry import ApiError, Caller, endpoint
from kiosk_ui.api.schemas import Body, Day, Id, Out, text
from kiosk_ui.portal_passes import window_label

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def unit_for(caller: Caller, code: str) -> Unit:
    """The unit a URL names, of the key's estate; a resident key reaches only its own unit."""
    try:
        unit = sites.unit_by_code(caller.site.id, code)
    except ActionError:
        raise ApiError(404, "not_found", _("No such unit.")) from None
    if caller.scope == "resident" and unit.id != caller.unit.id:
        raise ApiError(404, "not_found", _("No such unit."))
    return unit


# --- visitor passes ----------------------------------------------------------------------

class PassIn(Body):
    """A visitor pass as the portal's form takes it; the window is in site time."""

    name: text(40, 1) = Field(description="The visitor's name.")
    phone: text(20) = ""
    plate: text(12) = ""
    purpose: text(200) = ""
    starts_on: Day | None = Field(default=None, description="First day (default today).")
    ends_on: Day | None = Field(default=None, description="Last day (default the first day).")
    start_time: str | None = Field(default=None, pattern=HHMM, description="HH:MM, default 00:00.")
    end_time: str | None = Field(default=None, pattern=HHMM, description="HH:MM inclusive, default 23:59.")
    uses: Literal["single", "count", "unlimited"] = "single"
    count: int | None = Field(default=None, ge=1, le=passes.MAX_COUNT, description="With uses=count.")
    resident_id: Id | None = Field(default=None, description="Who invites (default the unit's "
                                   "owner, else its first resident living there).")


class PassOut(Out):
    """A pass as the portal shows it; `token` and `share_url` only while it can still be used."""

    id: int
    unit: str
    kind: str
    visitor_name: str
    plate: str | None
    purpose: str | None
    valid_from: datetime
    valid_until: datetime
    window: str = Field(description="The window in site time as residents read it.")
    max_uses: int | None
    uses: int
    status: Literal["active", "upcoming", "expired", "used_up", "revoked"]
    code: str = Field(description="The short code printed under the QR (ABCD-EFGH).")
    token: str | None = Field(description="What the QR carries; give it only to the visitor.")
    share_url: str | None = Field(description="The visitor's share page (/p/<token>).")
    created_at: datetime
    revoked_at: datetime | None


class PassList(Out):
    """A unit's passes: current ones and those that ended in the last week."""

    items: list[PassOut]


def pass_out(visitor_pass: VisitorPass) -> PassOut:
    """What the API says about a pass."""
    status = passes.status(visitor_pass)
    live = status in ("active", "upcoming")
    token = passes.token_for(visitor_pass) if live else None
    return PassOut(id=visitor_pass.id, unit=visitor_pass.unit.code, kind=visitor_pass.kind,
                   visitor_name=visitor_pass.visitor_name, plate=visitor_pass.plate,
                   purpose=visitor_pass.purpose, valid_from=visitor_pass.valid_from,
                   valid_until=visitor_pass.valid_until, window=window_label(visitor_pass),
                   max_uses=visitor_pass.max_uses, uses=visitor_pass.uses, status=status,
                   code=display_code(visitor_pass.code), token=token,
                   share_url=url_for("share.page", token=token, _external=True) if token else None,
                   created_at=visitor_pass.created_at, revoked_at=visitor_pass.revoked_at)


def _clock(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


@endpoint("GET", "/units/<unit>/passes", summary="List a unit's visitor passes", response=PassList)
def list_passes(caller: Caller, unit: str) -> PassList:
    """Current passes and those that ended in the last week, soonest first."""
    target = unit_for(caller, unit)
    return PassList(items=[pass_out(p) for p in passes.listing(target.id)])


@endpoint("POST", "/units/<unit>/passes", summary="Create a visitor pass", body=PassIn,
          response=PassOut, status=201,
          errors=("moved_out", "no_resident", "unknown_resident", "name_required", "bad_phone",
                  "bad_plate", "bad_count", "bad_uses", "bad_window", "past_window", "window_too_long",
                  "too_many_passes", "too_long", "bad_text"))
def create_pass(caller: Caller, unit: str, body: PassIn) -> PassOut:
    """The household invites a visitor; the answer carries the token and share link once ready."""
    target = unit_for(caller, unit)
    resident = pick_resident(target, body.resident_id)
    visitor_pass = passes.create(resident, caller.user, name=body.name, phone=body.phone,
                                 plate=body.plate, purpose=body.purpose, starts_on=body.starts_on,
                                 ends_on=body.ends_on, start_time=_clock(body.start_time),
                                 end_time=_clock(body.end_time), uses=body.uses, count=body.count)
    return pass_out(visitor_pass)


@endpoint("POST", "/units/<unit>/passes/<int:pass_id>/revoke", summary="Revoke a visitor pass",
          response=PassOut, errors=("already_revoked",))
def revoke_pass(caller: Caller, unit: str, pass_id: int) -> PassOut:
    """Withdraw a pass; the gate refuses it from now on."""
    target = unit_for(caller, unit)
    visitor_pass = passes.of_unit(target.id, pass_id)
    if visitor_pass.kind != "visitor":  # workers' passes belong to the service desk
        raise ApiError(404, "not_found", _("No such pass."))
    return pass_out(passes.revoke(visitor_pass, caller.user))


# --- release slips -----------------------------------------------------------------------

class SlipLine(Body):
    """One line of goods."""

    description: text(120, 1)
    count: int = Field(ge=1, le=slips.MAX_COUNT)


class SlipIn(Body):
    """An application to take goods out on one day."""

    items: list[SlipLine] = Field(min_length=1, max_length=slips.MAX_LINES)
    on_date: Day | None = Field(default=None, description="The day the goods leave (default today).")
    carrier_name: text(40, 1)
    carrier_phone: text(20, 1)
    plate: text(12) = ""
    reason: Literal[SLIP_REASONS] = "moving_out"  # type: ignore[valid-type]
    applicant_id: Id | None = Field(default=None, description="The resident who applies (default "
                                    "the owner, else the first resident living there).")
    consent_note: text(200) = Field(default="", description="Desk and supervisor keys: the owner's "
                                    "consent to a tenant's application, as given (by phone…).")


class SlipItemOut(Out):
    """One line of goods."""

    line: int
    description: str
    count: int


class SlipOut(Out):
    """A slip and its state; an approved one carries its serial and the QR text."""

    id: int
    unit: str
    state: Literal["pending_consent", "pending", "approved", "refused", "released"]
    status: Literal["pending_consent", "pending", "approved", "refused", "released", "expired"]
    on_date: str
    reason: str
    carrier_name: str
    plate: str | None
    items: list[SlipItemOut]
    serial: str | None
    qr: str | None = Field(description="The signed QR text while the slip is approved and valid.")
    refusal_reason: str | None
    created_at: datetime
    decided_at: datetime | None
    released_at: datetime | None


class SlipList(Out):
    """A unit's slips, newest date first."""

    items: list[SlipOut]


def slip_out(slip: ReleaseSlip) -> SlipOut:
    """What the API says about a slip (the carrier's phone and ID stay at the desk)."""
    status = slips.status(slip, utcnow())
    return SlipOut(id=slip.id, unit=slip.unit.code, state=slip.state, status=status,
                   on_date=slip.on_date.isoformat(), reason=slip.reason,
                   carrier_name=slip.carrier_name, plate=slip.plate,
                   items=[SlipItemOut.model_validate(i) for i in slip.items], serial=slip.serial,
                   qr=slips.token_for(slip) if status == "approved" else None,
                   refusal_reason=slip.refusal_reason, created_at=slip.created_at,
                   decided_at=slip.decided_at, released_at=slip.released_at)


@endpoint("GET", "/units/<unit>/slips", summary="List a unit's release slips", response=SlipList)
def list_slips(caller: Caller, unit: str) -> SlipList:
    """The unit's release slips with their status, newest date first."""
    target = unit_for(caller, unit)
    return SlipList(items=[slip_out(s) for s in slips.listing(caller.site.id, unit_id=target.id,
                                                              limit=200)])


@endpoint("POST", "/units/<unit>/slips", summary="Apply for a release slip", body=SlipIn,
          response=SlipOut, status=201,
          errors=("no_resident", "unknown_resident", "moved_out", "no_applicant", "bad_reason",
                  "item_text", "item_count", "no_items", "too_many_items", "carrier_name",
                  "carrier_phone", "bad_plate", "past_date", "date_too_far", "too_long", "bad_text",
                  "consent_not_allowed"))
def apply_slip(caller: Caller, unit: str, body: SlipIn) -> SlipOut:
    """A household (resident key) or the desk on its behalf applies to take goods out."""
    target = unit_for(caller, unit)
    if caller.scope == "resident" and body.consent_note:
        raise ActionError("consent_not_allowed", _("Only the service desk records an owner's consent."))
    applicant = pick_resident(target, body.applicant_id)
    slip = slips.apply(caller.user, target, applicant,
                       via="portal" if caller.scope == "resident" else "desk",
                       lines=[(line.description, line.count) for line in body.items],
                       on_date=body.on_date, carrier_name=body.carrier_name,
                       carrier_phone=body.carrier_phone, plate=body.plate, reason=body.reason,
                       consent_note=body.consent_note)
    return slip_out(slip)


@endpoint("GET", "/slips/<int:slip_id>", summary="Read a release slip", response=SlipOut)
def get_slip(caller: Caller, slip_id: int) -> SlipOut:
    """One slip: items, state, and when approved its serial and QR text."""
    if caller.scope == "resident":
        slip = slips.of_unit(caller.unit.id, slip_id)
    else:
        slip = slips.of_site(caller.site.id, slip_id)
    return slip_out(slip)
