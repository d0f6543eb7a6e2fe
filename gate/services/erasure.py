"""A person's records on request (SPEC §5, PIPL arts. 45 and 47): find, export, erase.

Finding by ID number goes through `visitors.check_identity`, so the number is validated and
turned into the same keyed hash the kiosk stored; the clear number is never kept, logged or
shown back. Export and erasure each write one shift-book entry holding only ids and counts.

What erasure does, and what it deliberately keeps:

- the Visitor row is anonymised (name "[已清除]", phone, ID type, masked ID and hash cleared,
  erased_at set) rather than deleted, because visits point at it; with its hash gone, a later
  check-in with the same ID number creates a new visitor;
- their visits lose purpose, plate, message and slip token; unit, states and times stay for
  statistics, and supervisors' notes on approvals of those visits are cleared;
- their ID-card reads (device events of kind "card") are deleted;
- visitor passes they came in on lose the visitor's name, phone, plate and purpose (unit, window
  and use counts stay for the household's history);
- incidents keep the guard's account and watchlist entries keep their hash: both are security
  records with a legal basis of their own (the watchlist must still stop a listed person, and
  watchlist entries have their own retention). Both are in the export.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import or_, select

from gate.extensions import db
from gate.models import (
    Approval,
    DeviceEvent,
    Incident,
    Site,
    User,
    Visit,
    Visitor,
    VisitorPass,
    WatchlistEntry,
)
from gate.models.types import utcnow
from gate.models.visits import ON_SITE
from gate.services import ActionError, shiftbook, transaction, visitors
from gate.services.visitors import Identity

ERASED_NAME = "[已清除]"
EXPORT_FORMAT = "gatehouse.person-export/1"


def get(site_id: int, visitor_id: int) -> Visitor:
    """A visitor of this site, or ActionError not_found."""
    visitor = db.session.get(Visitor, visitor_id)
    if visitor is None or visitor.site_id != site_id:
        raise ActionError("not_found", _("No visitor with that number is recorded here."))
    return visitor


def id_hashes(id_type: str | None, number: str | None) -> list[str]:
    """The keyed hash an ID number is stored under (typed or card read); ActionError if invalid."""
    # The name is not part of the hash; check_identity only insists that one is given.
    identity = visitors.check_identity("x", id_type, number)
    if identity.id_hash is None:
        raise ActionError("id_required", _("Enter the ID number and choose the kind of document."))
    return [identity.id_hash]


def find_by_id_number(site_id: int, id_type: str | None, number: str | None) -> list[Visitor]:
    """The visitor rows recorded with this ID number (matched by keyed hash); ActionError if invalid."""
    return list(db.session.scalars(select(Visitor).where(
        Visitor.site_id == site_id, Visitor.id_hash.in_(id_hashes(id_type, number))).order_by(Visitor.id)))


def find_by_name_phone(site_id: int, name: str, phone: str) -> list[Visitor]:
    """Visitors (not erased) recorded with exactly this name and mobile number."""
    identity = visitors.check_identity(name, None, None, phone)
    if not identity.phone:
        raise ActionError("phone_required", _("Enter both the name and the 11-digit mobile number."))
    return list(db.session.scalars(select(Visitor).where(
        Visitor.site_id == site_id, Visitor.name == identity.name, Visitor.phone == identity.phone,
        Visitor.erased_at.is_(None)).order_by(Visitor.id)))


def visits_of(visitor: Visitor) -> list[Visit]:
    """The person's visits, newest first."""
    return list(db.session.scalars(select(Visit).where(Visit.visitor_id == visitor.id)
                                   .order_by(Visit.created_at.desc(), Visit.id.desc())))


def watchlist_keys(visitor: Visitor) -> list[tuple[str, str]]:
    """(kind, value) pairs under which a watchlist entry would match this person."""
    keys = []
    if visitor.id_hash:
        keys.append(("id", visitor.id_hash))
    if visitor.phone:
        identity = Identity(visitor.name, visitor.phone, None, None, None)
        keys.append(("name_phone", visitors.watchlist_key("name_phone", identity=identity)[0]))
    return keys


def watchlist_entries(visitor: Visitor) -> list[WatchlistEntry]:
    """Watchlist entries (active or not) matching the person's ID hash or name + phone."""
    keys = watchlist_keys(visitor)
    if not keys:
        return []
    return list(db.session.scalars(select(WatchlistEntry).where(
        WatchlistEntry.site_id == visitor.site_id,
        or_(*[(WatchlistEntry.kind == k) & (WatchlistEntry.value == v) for k, v in keys]))
        .order_by(WatchlistEntry.id)))


def card_events(visitor: Visitor) -> list[DeviceEvent]:
    """The person's ID-card reads still kept (device events are short-lived, so few rows).

    Matched by keyed hash; and, for resident IDs, by masked number together with the name on the
    card, because `device_events.record_card` hashes the bare number while the kiosk hashes
    "id_type:number", so the two hashes of one card differ.
    """
    site = db.session.get(Site, visitor.site_id)
    events = db.session.scalars(select(DeviceEvent).where(DeviceEvent.site == site.code,
                                                          DeviceEvent.kind == "card"))
    return [e for e in events if _same_person(visitor, e.summary or {})]


def _same_person(visitor: Visitor, summary: dict[str, Any]) -> bool:
    if visitor.id_hash and summary.get("id_hash") == visitor.id_hash:
        return True
    return bool(visitor.id_type == "resident_id" and visitor.id_masked
                and summary.get("id_masked") == visitor.id_masked and summary.get("name") == visitor.name)


def passes_of(visitor: Visitor) -> list[VisitorPass]:
    """Visitor or worker passes this person came in on (linked at their first admission)."""
    return list(db.session.scalars(select(VisitorPass).where(VisitorPass.visitor_id == visitor.id)
                                   .order_by(VisitorPass.id)))


def _iso(moment: datetime | None) -> str | None:
    return shiftbook.rfc3339(moment) if moment else None


def _export_data(visitor: Visitor) -> dict[str, Any]:
    visits = visits_of(visitor)
    visit_ids = [v.id for v in visits]
    incidents = list(db.session.scalars(select(Incident).where(Incident.visit_id.in_(visit_ids))
                                        .order_by(Incident.id))) if visit_ids else []
    approvals = list(db.session.scalars(select(Approval).where(Approval.visit_id.in_(visit_ids))
                                        .order_by(Approval.id))) if visit_ids else []
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(utcnow()),
        # The clear ID number was never stored: only its masked form can be given back.
        "visitor": {"id": visitor.id, "name": visitor.name, "phone": visitor.phone,
                    "id_type": visitor.id_type, "id_masked": visitor.id_masked,
                    "first_seen_at": _iso(visitor.created_at), "last_visit_at": _iso(visitor.last_visit_at),
                    "erased_at": _iso(visitor.erased_at)},
        "visits": [{"id": v.id, "unit": v.unit.code, "state": v.state, "purpose": v.purpose,
                    "plate": v.plate, "host_answer": v.host_answer, "message": v.message,
                    "outcome_reason": v.outcome_reason, "created_at": _iso(v.created_at),
                    "admitted_at": _iso(v.admitted_at), "left_at": _iso(v.left_at),
                    "left_reason": v.left_reason} for v in visits],
        "approvals": [{"id": a.id, "visit_id": a.visit_id, "kind": a.kind, "decision": a.decision,
                       "note": a.note, "requested_at": _iso(a.requested_at),
                       "decided_at": _iso(a.decided_at)} for a in approvals],
        "incidents": [{"id": i.id, "visit_id": i.visit_id, "kind": i.kind, "account": i.account,
                       "created_at": _iso(i.created_at), "closed_at": _iso(i.closed_at)}
                      for i in incidents],
        "watchlist": [{"id": w.id, "kind": w.kind, "display": w.display, "reason": w.reason,
                       "added_at": _iso(w.added_at), "expires_at": _iso(w.expires_at),
                       "removed_at": _iso(w.removed_at)} for w in watchlist_entries(visitor)],
        "passes": [{"id": p.id, "kind": p.kind, "unit": p.unit.code, "name": p.visitor_name,
                    "phone": p.visitor_phone, "plate": p.plate, "purpose": p.purpose,
                    "employer": p.employer, "id_masked": p.id_masked,
                    "valid_from": _iso(p.valid_from), "valid_until": _iso(p.valid_until),
                    "uses": p.uses} for p in passes_of(visitor)],
        "card_reads": [{"id": e.id, "device": e.device, "name": (e.summary or {}).get("name"),
                        "id_masked": (e.summary or {}).get("id_masked"),
                        "received_at": _iso(e.received_at)} for e in card_events(visitor)],
    }


def export(visitor: Visitor, actor: User | None = None) -> dict[str, Any]:
    """Everything kept about the person, as JSON-ready data; writes a `person.exported` entry."""
    data = _export_data(visitor)
    counts = {key: len(data[key])
              for key in ("visits", "approvals", "incidents", "watchlist", "passes", "card_reads")}
    with transaction():
        shiftbook.append("person.exported", {"visitor_id": visitor.id, "counts": counts},
                         actor_id=actor.id if actor else None)
    return data


def anonymise_visitor(visitor: Visitor, now: datetime) -> None:
    """Clear what identifies the person; the row stays because visits refer to it."""
    visitor.name = ERASED_NAME
    visitor.phone = visitor.id_type = visitor.id_masked = visitor.id_hash = None
    visitor.erased_at = now


def erase(visitor: Visitor, actor: User | None = None) -> dict[str, int]:
    """Anonymise the person, their visits and approvals notes, delete their card reads; one transaction.

    Refused while the person is inside (the evacuation list needs their name) or already erased.
    """
    if visitor.erased_at is not None:
        raise ActionError("already_erased", _("This person's records were already erased."))
    visits = visits_of(visitor)
    if any(v.state in ON_SITE for v in visits):
        raise ActionError("inside", _("This visitor is still inside. Check them out before erasing "
                                      "their records."))
    with transaction():
        events = card_events(visitor)  # before the name and masked ID are cleared
        for event in events:
            db.session.delete(event)
        for visit in visits:
            visit.purpose = visit.plate = visit.message = visit.slip_token = None
        visit_ids = [v.id for v in visits]
        if visit_ids:
            for approval in db.session.scalars(select(Approval).where(Approval.visit_id.in_(visit_ids))):
                approval.note = None
        held = passes_of(visitor)
        for visitor_pass in held:
            visitor_pass.visitor_name = ERASED_NAME
            visitor_pass.visitor_phone = visitor_pass.plate = visitor_pass.purpose = None
            visitor_pass.employer = visitor_pass.id_masked = visitor_pass.id_hash = None
        anonymise_visitor(visitor, utcnow())
        counts = {"visits": len(visits), "card_events": len(events)}
        if held:
            counts["passes"] = len(held)
        shiftbook.append("person.erased", {"visitor_id": visitor.id, "counts": counts},
                         actor_id=actor.id if actor else None)
    return counts
