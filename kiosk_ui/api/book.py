"""Reading the shift book (supervisor keys): the console's search, newest first, keyset on seq.

An ID number is searched as the console does: it is posted once, turned into its keyed hash
(POST /book/id-hash), and only the hash is carried in searches. Entries hold ids, never personal
data, so no response can contain a clear ID number.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from gate.services import book_search
from kiosk_ui.api.registry import Caller, endpoint
from kiosk_ui.api.schemas import Body, Day, Id, Out, Query, text

SUPERVISOR = ("supervisor",)
SEARCH_ERRORS = ("bad_date", "bad_range", "range_too_long", "unknown_kind", "unknown_guard",
                 "unknown_post", "unknown_gate", "bad_plate", "bad_unit", "unknown_unit", "bad_id",
                 "too_long", "bad_text")


class BookQuery(Query):
    """The console's filters; `before` is a seq (the page's `next_before`)."""

    date_from: Day | None = None
    date_to: Day | None = None
    kind: str = Field(default="", pattern=r"^([a-z_]{1,20}(\.[a-z_]{1,20})?)?$",
                      description="Entry type, e.g. visit.started.")
    guard: Id | None = Field(default=None, description="Account id of whoever wrote the entry.")
    post: Id | None = None
    gate: Id | None = None
    plate: text(20) = ""
    unit: text(20) = ""
    visitor: text(40) = Field(default="", description="A visitor's name as recorded.")
    id_hash: str = Field(default="", pattern=r"^([0-9a-f]{64})?$",
                         description="From POST /book/id-hash: an ID number is never sent here.")
    before: Id | None = None
    limit: int = Field(default=50, ge=1, le=200)


class EntryOut(Out):
    """One shift-book entry; `data` holds ids and codes only."""

    seq: int
    at: str = Field(description="RFC 3339, UTC, as hashed into the chain.")
    kind: str
    actor_id: int | None
    actor_name: str | None
    post_id: int | None
    gate_id: int | None
    shift_id: int | None
    ref_seq: int | None
    data: dict[str, Any]


class BookPage(Out):
    """Newest first; `next_before` is the `before` of the next (older) page, null at the end."""

    items: list[EntryOut]
    next_before: int | None
    narrowed: list[str] = Field(description="Record types whose matches were capped: add dates or "
                                "filters to see everything.")


class IdNumberIn(Body):
    """An ID number to search the book by: hashed at once, never stored, logged or echoed."""

    id_type: Literal["resident_id", "passport", "other"] = "resident_id"
    id_number: text(40, 1)


class IdHashOut(Out):
    """The keyed hash to pass as `id_hash` to GET /book."""

    id_hash: str


def _data(text_value: str) -> dict[str, Any]:
    try:
        data = json.loads(text_value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"value": data}


@endpoint("GET", "/book", summary="Search the shift book", scopes=SUPERVISOR, query=BookQuery,
          response=BookPage, errors=SEARCH_ERRORS)
def search_book(caller: Caller, query: BookQuery) -> BookPage:
    """Entries matching the filters, newest first, older than `before` when given."""
    filters = book_search.Filters(
        date_from=query.date_from.isoformat() if query.date_from else "",
        date_to=query.date_to.isoformat() if query.date_to else "", kind=query.kind,
        guard=str(query.guard or ""), post=str(query.post or ""), gate=str(query.gate or ""),
        plate=query.plate.strip(), unit=query.unit.strip(), visitor=query.visitor.strip(),
        id_hash=query.id_hash)
    page = book_search.search(caller.site, filters, after_seq=query.before, limit=query.limit)
    names = book_search.names_for(page.entries)
    items = [EntryOut(seq=e.seq, at=e.at, kind=e.kind, actor_id=e.actor_id,
                      actor_name=names.users.get(e.actor_id), post_id=e.post_id, gate_id=e.gate_id,
                      shift_id=e.shift_id, ref_seq=e.ref_seq, data=_data(e.data))
             for e in page.entries]
    return BookPage(items=items, next_before=page.older, narrowed=page.narrowed)


@endpoint("POST", "/book/id-hash", summary="Turn an ID number into its search hash", scopes=SUPERVISOR,
          body=IdNumberIn, response=IdHashOut, errors=("bad_id", "bad_id_type", "id_required"))
def id_hash(caller: Caller, body: IdNumberIn) -> IdHashOut:
    """The keyed hash an ID number is recorded under; only the hash goes into searches."""
    return IdHashOut(id_hash=book_search.hash_id_number(body.id_type, body.id_number))
