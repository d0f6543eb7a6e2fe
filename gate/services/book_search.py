"""Searching the shift book: filters, keyset pages (newest first) and CSV rows.

Entries hold ids only, so plate, unit and visitor filters are first turned into the ids of the
records they name (visits, passes, slips, device events…) and entries are then matched on the
ids their JSON data references. An ID number is only ever hashed (keyed hash, SPEC §5): the
clear number is neither kept, logged nor echoed.

Pages use keyset pagination on seq (descending): the "older" link carries the last seq shown,
so there is no OFFSET and no page number that could be too large.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, literal_column, or_, select, text

from gate.domain.ids import parse_id
from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import (
    DeviceEvent,
    Gate,
    ParkingSession,
    Post,
    ReleaseSlip,
    ShiftBookEntry,
    Site,
    User,
    Vehicle,
    Violation,
    Visit,
    Visitor,
    VisitorPass,
)
from gate.services import ActionError, erasure, sites, visitors
from gate.services.shiftbook import rfc3339

MAX_DAYS = 366
ID_CAP = 500  # ids per referenced record type; more and the search says it was narrowed
PAGE_SIZE = 50
CSV_LIMIT = 10_000
_KIND = re.compile(r"^[a-z_]{1,20}(\.[a-z_]{1,20})?$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_MAX_SEQ = 10**12
DAY_PROBE = 50_000  # entries a date range may hold and still be bounded by its own seqs first


@dataclass
class Filters:
    """What a supervisor asked for; every field is the text typed (empty = no filter)."""

    date_from: str = ""
    date_to: str = ""
    kind: str = ""
    guard: str = ""
    post: str = ""
    gate: str = ""
    plate: str = ""
    unit: str = ""
    visitor: str = ""  # a name
    id_hash: str = ""  # keyed hash of a typed ID number (never the number itself)

    def query_args(self) -> dict[str, str]:
        """The non-empty filters as URL parameters (for the "older" link and the CSV)."""
        names = {"date_from": "from", "date_to": "to", "id_hash": "idh"}
        return {names.get(k, k): v for k, v in vars(self).items() if v}

    @classmethod
    def from_args(cls, args) -> Filters:
        """Read the filters from request args (or a form); values are stripped and bounded."""
        def text(name: str) -> str:
            return (args.get(name) or "").strip()[:80]
        return cls(date_from=text("from"), date_to=text("to"), kind=text("kind"), guard=text("guard"),
                   post=text("post"), gate=text("gate"), plate=text("plate"), unit=text("unit"),
                   visitor=text("visitor"), id_hash=text("idh").lower())


@dataclass
class Page:
    """One page of matching entries, newest first."""

    entries: list[ShiftBookEntry]
    older: int | None  # pass as `before` for the next page; None when this is the last page
    narrowed: list[str] = field(default_factory=list)  # record types whose id list was capped


def hash_id_number(id_type: str | None, number: str | None) -> str:
    """The keyed hash an ID number is stored under; ActionError if it is not valid."""
    return erasure.id_hashes(id_type or "resident_id", number)[0]


def parse_before(text: str | None) -> int | None:
    """The `before` parameter of an "older" link; ActionError for anything but a plain seq."""
    text = (text or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or not 0 < int(text) < _MAX_SEQ:
        raise ActionError("bad_before", _l("That page link is not valid. Start again from the newest "
                                           "entries."))
    return int(text)


def _day(text: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ActionError("bad_date", _l("Write dates as year-month-day, e.g. 2030-12-31, or leave "
                                         "them empty.")) from None
    if not 2000 <= day.year <= 2100:
        raise ActionError("bad_date", _l("Choose a date between the years 2000 and 2100."))
    zone = ZoneInfo(current_app.config["GATE_TIMEZONE"])
    return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=zone)


def date_range(filters: Filters) -> tuple[str | None, str | None]:
    """The [since, until) bounds as chain timestamps (site-time days); ActionError if unusable."""
    since, until = _day(filters.date_from, end=False), _day(filters.date_to, end=True)
    if since and until:
        if until <= since:
            raise ActionError("bad_range", _l("The end date is before the start date. Swap them and "
                                              "try again."))
        if until - since > timedelta(days=MAX_DAYS):
            raise ActionError("range_too_long", _l("Choose at most %(n)d days at a time.", n=MAX_DAYS))
    return (rfc3339(since) if since else None), (rfc3339(until) if until else None)


def _own_id(model, site: Site, text: str, code: str, message) -> int | None:
    if not text:
        return None
    row_id = parse_id(text)
    row = db.session.get(model, row_id) if row_id else None
    if row is None or row.site_id != site.id:
        raise ActionError(code, message)
    return row.id


def _ids(stmt) -> tuple[list[int], bool]:
    rows = list(db.session.scalars(stmt.limit(ID_CAP + 1)))
    return rows[:ID_CAP], len(rows) > ID_CAP


class _Refs:
    """Record ids an entry must reference (any of them), by JSON key."""

    def __init__(self) -> None:
        self.by_key: dict[str, set[int]] = {}
        self.narrowed: list[str] = []

    def add(self, key: str, stmt) -> None:
        ids, capped = _ids(stmt)
        self.by_key.setdefault(key, set()).update(ids)
        if capped:
            self.narrowed.append(key)


def _plate_refs(site: Site, text: str, since: str | None, until: str | None) -> _Refs:
    try:
        plate = normalize_plate(text)
    except ValueError:
        raise ActionError("bad_plate", _l("That is not a plate number. Write it like 粤B12345.")) from None
    refs = _Refs()
    for key, model in (("visit_id", Visit), ("pass_id", VisitorPass), ("slip_id", ReleaseSlip),
                       ("violation_id", Violation), ("session_id", ParkingSession),
                       ("vehicle_id", Vehicle)):
        refs.add(key, select(model.id).where(model.site_id == site.id, model.plate == plate)
                 .order_by(model.id.desc()))
    events = select(DeviceEvent.id).where(
        DeviceEvent.site == site.code, DeviceEvent.kind == "plate",
        DeviceEvent.summary["plate"].as_string() == plate)
    if since:
        events = events.where(DeviceEvent.received_at >= datetime.fromisoformat(since))
    if until:
        events = events.where(DeviceEvent.received_at < datetime.fromisoformat(until))
    refs.add("device_event_id", events.order_by(DeviceEvent.id.desc()))
    return refs


def _unit_refs(site: Site, text: str) -> _Refs:
    unit = sites.unit_by_code(site.id, text)
    refs = _Refs()
    refs.by_key["unit_id"] = {unit.id}
    for key, model in (("visit_id", Visit), ("pass_id", VisitorPass), ("slip_id", ReleaseSlip)):
        refs.add(key, select(model.id).where(model.site_id == site.id, model.unit_id == unit.id)
                 .order_by(model.id.desc()))
    return refs


def _visitor_refs(site: Site, name: str, id_hash: str) -> _Refs:
    people = select(Visitor.id).where(Visitor.site_id == site.id)
    if id_hash:
        if not _HASH.match(id_hash):
            raise ActionError("bad_id", _l("The ID number search is not valid. Type the number again."))
        people = people.where(Visitor.id_hash == id_hash)
    if name:
        name = visitors.clean_text(name, visitors.MAX_NAME)
        people = people.where(Visitor.name == name)
    refs = _Refs()
    refs.add("visitor_id", people.order_by(Visitor.id.desc()))
    ids = refs.by_key["visitor_id"] or {-1}
    refs.add("visit_id", select(Visit.id).where(Visit.site_id == site.id, Visit.visitor_id.in_(ids))
             .order_by(Visit.id.desc()))
    passes = select(VisitorPass.id).where(VisitorPass.site_id == site.id)
    passes = passes.where(or_(VisitorPass.visitor_id.in_(ids),
                              VisitorPass.id_hash == id_hash) if id_hash else VisitorPass.visitor_id.in_(ids))
    refs.add("pass_id", passes.order_by(VisitorPass.id.desc()))
    return refs


# The JSON keys entries reference records by; migration 0009_book_search gives each a partial
# expression index (only entries whose data holds the key), so a record named by a handful of
# entries is found without reading the whole book. The SQL below must stay textually the
# same as those indexes: keys and patterns are literals here, not bound parameters.
REFERENCE_KEYS = ("device_event_id", "pass_id", "session_id", "slip_id", "unit_id", "vehicle_id",
                  "violation_id", "visit_id", "visitor_id")


def reference_sql(dialect: str, key: str) -> tuple[str, str]:
    """(indexed expression, index predicate) for one reference key, as migration 0009 creates them."""
    if key not in REFERENCE_KEYS:
        raise ValueError(f"not a reference key: {key}")
    if dialect == "postgresql":
        value = f"jsonb_extract_path_text(CAST(data AS JSONB), '{key}')"
    else:
        value = f"CAST(json_extract(data, '$.{key}') AS VARCHAR)"
    # The LIKE on the canonical text ("key":… with no spaces) is the partial index's predicate
    # and skips most rows before any JSON parsing.
    return value, f"data LIKE '%\"{key}\":%'"


def _references(key: str, ids: set[int]):
    """SQL: the entry's JSON data has `key` equal to one of `ids` (same result on both databases)."""
    value, holds_key = reference_sql(db.session.get_bind().dialect.name, key)
    return text(holds_key) & literal_column(value).in_(sorted(str(i) for i in ids))


def _day_bounds(site: Site, since: str | None, until: str | None) -> tuple[int, int] | None:
    """The lowest and highest seq written in a short date range, read on the (site, at) index.

    Without it PostgreSQL pages a date-only search by walking seq backwards from the newest
    entry and testing `at` on each (it assumes matching days are spread evenly through the book),
    half a million rows for a day 45 days back. Bounding seq to the day's own entries lets any
    plan start there; the `at` test stays, so the result is the same. None for long ranges.
    """
    stmt = select(ShiftBookEntry.seq).where(ShiftBookEntry.site == site.code)
    if since:
        stmt = stmt.where(ShiftBookEntry.at >= since)
    if until:
        stmt = stmt.where(ShiftBookEntry.at < until)
    probe = stmt.limit(DAY_PROBE + 1).subquery()
    count, low, high = db.session.execute(
        select(func.count(), func.min(probe.c.seq), func.max(probe.c.seq))).one()
    if count > DAY_PROBE:
        return None
    return (low or 0), (high or 0)


def _statement(site: Site, filters: Filters):
    """The filtered query (without order or limit) and the record types whose ids were capped."""
    since, until = date_range(filters)
    stmt = select(ShiftBookEntry).where(ShiftBookEntry.site == site.code)
    if since:
        stmt = stmt.where(ShiftBookEntry.at >= since)
    if until:
        stmt = stmt.where(ShiftBookEntry.at < until)
    if since or until:
        bounds = _day_bounds(site, since, until)
        if bounds is not None:
            stmt = stmt.where(ShiftBookEntry.seq.between(*bounds))
    if filters.kind:
        if not _KIND.match(filters.kind):
            raise ActionError("unknown_kind", _l("There is no such entry type. Choose one from the list."))
        stmt = stmt.where(ShiftBookEntry.kind == filters.kind)
    guard = _own_id(User, site, filters.guard, "unknown_guard",
                    _l("There is no such guard at this estate. Choose one from the list."))
    if guard is not None:
        stmt = stmt.where(ShiftBookEntry.actor_id == guard)
    post = _own_id(Post, site, filters.post, "unknown_post",
                   _l("There is no such post at this estate. Choose one from the list."))
    if post is not None:
        stmt = stmt.where(ShiftBookEntry.post_id == post)
    gate = _own_id(Gate, site, filters.gate, "unknown_gate",
                   _l("There is no such gate at this estate. Choose one from the list."))
    if gate is not None:
        stmt = stmt.where(ShiftBookEntry.gate_id == gate)
    narrowed: list[str] = []
    reference_sets = []
    if filters.plate:
        reference_sets.append(_plate_refs(site, filters.plate, since, until))
    if filters.unit:
        reference_sets.append(_unit_refs(site, filters.unit))
    if filters.visitor or filters.id_hash:
        reference_sets.append(_visitor_refs(site, filters.visitor, filters.id_hash))
    for refs in reference_sets:  # each filter must match; within one, any referenced record
        narrowed += refs.narrowed
        clauses = [_references(key, ids) for key, ids in sorted(refs.by_key.items()) if ids]
        stmt = stmt.where(or_(*clauses) if clauses else ShiftBookEntry.id.is_(None))
    return stmt, narrowed


def search(site: Site, filters: Filters, after_seq: int | None = None, limit: int = PAGE_SIZE) -> Page:
    """Entries matching `filters`, newest first, older than seq `after_seq` when given."""
    stmt, narrowed = _statement(site, filters)
    if after_seq is not None:
        stmt = stmt.where(ShiftBookEntry.seq < after_seq)
    rows = list(db.session.scalars(stmt.order_by(ShiftBookEntry.seq.desc()).limit(limit + 1)))
    older = rows[limit - 1].seq if len(rows) > limit else None
    return Page(rows[:limit], older, narrowed)


def rows_for_csv(site: Site, filters: Filters, limit: int = CSV_LIMIT) -> tuple[list[ShiftBookEntry], bool]:
    """Up to `limit` matching entries, newest first, and whether there were more."""
    page = search(site, filters, limit=limit)
    return page.entries, page.older is not None


@dataclass
class Names:
    """Display names for the guards, posts and gates a list of entries mentions."""

    users: dict[int, str]
    posts: dict[int, str]
    gates: dict[int, str]


def names_for(entries: list[ShiftBookEntry]) -> Names:
    """Look up everyone and everything the entries point at, in three queries."""
    def lookup(model, label, ids: set[int]) -> dict[int, str]:
        ids.discard(None)
        if not ids:
            return {}
        return dict(db.session.execute(select(model.id, label).where(model.id.in_(ids))).all())
    return Names(lookup(User, User.display_name, {e.actor_id for e in entries}),
                 lookup(Post, Post.name, {e.post_id for e in entries}),
                 lookup(Gate, Gate.name, {e.gate_id for e in entries}))


def guards(site: Site) -> list[User]:
    """The site's staff accounts that can write entries (for the guard filter), by name."""
    return list(db.session.scalars(select(User).where(User.site_id == site.id, User.role != "resident")
                                   .order_by(User.display_name, User.id)))


def gates(site: Site) -> list[Gate]:
    """The site's gates in a stable order."""
    return list(db.session.scalars(select(Gate).where(Gate.site_id == site.id).order_by(Gate.id)))
