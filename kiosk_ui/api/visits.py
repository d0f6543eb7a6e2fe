"""Walk-in visits of the estate for desk and supervisor keys: by day, unit or who is inside now."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask_babel import gettext as _
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from gate.extensions import db
from gate.models import Visit
from gate.models.visits import ON_SITE, VISIT_STATES
from gate.services import ActionError, sites
from kiosk_ui.api.registry import Caller, endpoint
from kiosk_ui.api.schemas import Day, Out, Page, text
from kiosk_ui.helpers import typed_day

MAX_DAYS = 366


class VisitQuery(Page):
    """Filters: site-time days of registration, unit, state, or only visitors inside now."""

    date_from: Day | None = None
    date_to: Day | None = None
    unit: text(20) = ""
    state: Literal[VISIT_STATES] | None = None  # type: ignore[valid-type]
    on_site: bool = Field(default=False, description="Only visitors inside now (admitted).")


class VisitOut(Out):
    """One visit. The visitor's ID number is never part of it, not even masked."""

    id: int
    unit: str
    visitor_name: str
    state: str
    purpose: str | None
    plate: str | None
    host_answer: str | None
    created_at: datetime
    admitted_at: datetime | None
    left_at: datetime | None
    left_reason: str | None


class VisitList(Out):
    """Newest first; `next_before` is the `before` of the next (older) page, null at the end."""

    items: list[VisitOut]
    next_before: int | None


def visit_out(visit: Visit) -> VisitOut:
    """What the API says about a visit."""
    return VisitOut(id=visit.id, unit=visit.unit.code, visitor_name=visit.visitor.name,
                    state=visit.state, purpose=visit.purpose, plate=visit.plate,
                    host_answer=visit.host_answer, created_at=visit.created_at,
                    admitted_at=visit.admitted_at, left_at=visit.left_at, left_reason=visit.left_reason)


@endpoint("GET", "/visits", summary="List visits", scopes=("desk", "supervisor"), query=VisitQuery,
          response=VisitList, errors=("bad_range", "range_too_long", "bad_unit", "unknown_unit"))
def list_visits(caller: Caller, query: VisitQuery) -> VisitList:
    """Visits newest first, one page at a time (keyset on id)."""
    stmt = select(Visit).where(Visit.site_id == caller.site.id)
    since = typed_day(query.date_from.isoformat(), end=False) if query.date_from else None
    until = typed_day(query.date_to.isoformat(), end=True) if query.date_to else None
    if since and until:
        if until <= since:
            raise ActionError("bad_range", _("The end date is before the start date."))
        if (until - since).days > MAX_DAYS:
            raise ActionError("range_too_long", _("Choose at most %(n)d days at a time.", n=MAX_DAYS))
    if since:
        stmt = stmt.where(Visit.created_at >= since)
    if until:
        stmt = stmt.where(Visit.created_at < until)
    if query.unit:
        unit = sites.unit_by_code(caller.site.id, query.unit)  # a filter: 422 if unknown, not 404
        stmt = stmt.where(Visit.unit_id == unit.id)
    if query.on_site:
        stmt = stmt.where(Visit.state.in_(ON_SITE))
    if query.state:
        stmt = stmt.where(Visit.state == query.state)
    if query.before is not None:
        stmt = stmt.where(Visit.id < query.before)
    rows = list(db.session.scalars(stmt.options(joinedload(Visit.visitor), joinedload(Visit.unit))
                                   .order_by(Visit.id.desc()).limit(query.limit + 1)))
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return VisitList(items=[visit_out(v) for v in rows], next_before=rows[-1].id if more else None)
