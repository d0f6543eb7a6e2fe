"""A unit's residents: desk and supervisor keys list and register them (resident keys may not).

Phones are masked as on the desk's screens (138****0001): the whole number stays at the desk.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from gate.models import Resident
from gate.services import household_register
from kiosk_ui.api.registry import Caller, endpoint
from kiosk_ui.api.schemas import Body, Out, text
from kiosk_ui.api.units import unit_for
from kiosk_ui.helpers import mask_phone

STAFF = ("desk", "supervisor")


class ResidentIn(Body):
    """A resident to register in the unit the URL names."""

    name: text(household_register.MAX_NAME, 1)
    phone: text(20, 1) = Field(description="11-digit mainland mobile number; the portal login.")
    is_owner: bool = Field(default=True, description="False for a tenant.")


class ResidentOut(Out):
    """A resident as the service desk sees them."""

    id: int
    unit: str
    name: str
    phone: str = Field(description="Masked, e.g. 138****0001.")
    is_owner: bool
    portal_account: bool = Field(description="Whether they have activated the resident portal.")
    moved_out_at: datetime | None


class ResidentList(Out):
    """The unit's residents: those living there first, owners before tenants."""

    items: list[ResidentOut]


def resident_out(resident: Resident) -> ResidentOut:
    """What the API says about a resident (masked phone, no account details)."""
    return ResidentOut(id=resident.id, unit=resident.unit.code, name=resident.name,
                       phone=mask_phone(resident.phone), is_owner=resident.is_owner,
                       portal_account=resident.user_id is not None,
                       moved_out_at=resident.moved_out_at)


@endpoint("GET", "/units/<unit>/residents", summary="List a unit's residents", scopes=STAFF,
          response=ResidentList)
def list_residents(caller: Caller, unit: str) -> ResidentList:
    """Everyone registered in the unit, including those who moved out (with the date)."""
    target = unit_for(caller, unit)
    return ResidentList(items=[resident_out(r) for r in household_register.listing(target)])


@endpoint("POST", "/units/<unit>/residents", summary="Register a resident", scopes=STAFF,
          body=ResidentIn, response=ResidentOut, status=201,
          errors=("name_required", "bad_phone", "duplicate_resident", "too_long", "bad_text"))
def add_resident(caller: Caller, unit: str, body: ResidentIn) -> ResidentOut:
    """Register a resident of the unit; the desk can then add their cars and issue a portal code."""
    target = unit_for(caller, unit)
    return resident_out(household_register.register(caller.user, target.code, body.name, body.phone,
                                                     body.is_owner))
