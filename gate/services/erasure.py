"""A person's records on request (SPEC §5, PIPL arts. 45 and 47): find, export, erase.

Finding by ID number goes through `visitors.check_identity`, so the number is validated and
turned into the same keyed hash the kiosk stored; the clear number is never kept, logged or
shown back. Export and erasure each write one shift-book entry holding only ids and counts.

Erasing a visitor redacts them wherever they are recorded, with the same values retention
writes (gate.services.retention_kinds), and deliberately keeps a few security records:

- the Visitor row is anonymised (name "[已清除]", phone, ID type, masked ID and hash cleared,
  erased_at set) rather than deleted, because visits point at it; with its hash gone, a later
  check-in with the same ID number creates a new visitor;
- their visits lose purpose, plate, message and slip token; unit, states and times stay for
  statistics, and supervisors' notes on approvals of those visits are cleared;
- visitor and worker passes they came in on, or issued to them (same ID hash, or same name and
  phone), lose name, phone, plate, purpose, employer and ID; the households' portal notices that
  such a pass was used (they carry the name) are deleted;
- their car stays (of their visits and passes) are deleted, with their ID-card reads and the
  plate reads of their cars (unless a resident's car is registered under that plate);
- release slips they carried goods on lose the carrier's details (refused while such a slip is
  still to be used: the gate needs the name);
- incidents keep the guard's account, watchlist entries their hash and violations their plate:
  security records with a legal basis of their own and their own retention
  (GATE_RETENTION_INCIDENTS_DAYS, _WATCHLIST_EXPIRED_DAYS, _VIOLATIONS_DAYS). All are exported.

Residents are erased with `erase_resident` once they have moved out (see there).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import and_, or_, select, update

from gate.extensions import db
from gate.models import (
    Approval,
    DeviceEvent,
    Incident,
    JournalRecord,
    ParkingSession,
    PortalNotice,
    ReleaseSlip,
    Resident,
    ShiftBookEntry,
    Site,
    User,
    Vehicle,
    Visit,
    Visitor,
    VisitorPass,
    WatchlistEntry,
)
from gate.models.types import utcnow
from gate.models.visits import ON_SITE
from gate.services import ActionError, shiftbook, transaction, visitors
from gate.services.privacy import ERASED_NAME as ERASED_NAME  # re-exported for screens and tests
from gate.services.retention_kinds import redact_row
from gate.services.visitors import Identity

PASS_NOTICES = ("pass_admitted", "pass_vehicle", "worker_in", "worker_out")
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
    """Visitor or worker passes of this person: linked at their first admission, or issued to their
    ID hash, or to their name and phone (a pass not used yet is linked to no visitor)."""
    tests = [VisitorPass.visitor_id == visitor.id]
    if visitor.id_hash:
        tests.append(VisitorPass.id_hash == visitor.id_hash)
    if visitor.phone:
        tests.append(and_(VisitorPass.visitor_name == visitor.name,
                          VisitorPass.visitor_phone == visitor.phone))
    return list(db.session.scalars(select(VisitorPass).where(VisitorPass.site_id == visitor.site_id,
                                                            or_(*tests)).order_by(VisitorPass.id)))


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
    redact_row(visitor, "visitors", now)


def _stays(visit_ids: list[int], pass_ids: list[int]) -> list[ParkingSession]:
    """Car stays of these visits or passes (they hold the plate)."""
    links = [ParkingSession.visit_id.in_(visit_ids)] if visit_ids else []
    links += [ParkingSession.pass_id.in_(pass_ids)] if pass_ids else []
    return list(db.session.scalars(select(ParkingSession).where(or_(*links)))) if links else []


def _plate_reads(site: Site, plates: set[str], stays: list[ParkingSession],
                 owner_id: int | None = None) -> list[DeviceEvent]:
    """Plate reads of these cars: the reads that opened or closed their stays, and any other read
    of the plates unless another resident's car is registered under one (the reads are theirs)."""
    ids = {i for s in stays for i in (s.entry_event_id, s.exit_event_id) if i}
    owned = set(db.session.scalars(select(Vehicle.plate).where(
        Vehicle.site_id == site.id, Vehicle.plate.in_(plates), Vehicle.resident_id != (owner_id or 0)))) \
        if plates else set()
    theirs = sorted(plates - owned)
    where = [DeviceEvent.id.in_(ids)] if ids else []
    if theirs:
        where.append(and_(DeviceEvent.site == site.code, DeviceEvent.kind == "plate",
                          DeviceEvent.summary["plate"].as_string().in_(theirs)))
    return list(db.session.scalars(select(DeviceEvent).where(or_(*where)))) if where else []


def _notices_naming(held: list[VisitorPass]) -> list[PortalNotice]:
    """The households' notices that a pass of the person was used (they carry the name)."""
    names = {(p.unit_id, p.visitor_name) for p in held}
    units = {unit for unit, _name in names}
    if not units:
        return []
    found = db.session.scalars(select(PortalNotice).where(PortalNotice.unit_id.in_(units),
                                                          PortalNotice.kind.in_(PASS_NOTICES)))
    return [n for n in found if (n.unit_id, (n.params or {}).get("name")) in names]


def _slips_carried(visitor: Visitor) -> list[ReleaseSlip]:
    """Release slips on which the person was the carrier (by ID hash, or name and phone)."""
    tests = [ReleaseSlip.carrier_id_hash == visitor.id_hash] if visitor.id_hash else []
    if visitor.phone:
        tests.append(and_(ReleaseSlip.carrier_name == visitor.name,
                          ReleaseSlip.carrier_phone == visitor.phone))
    return list(db.session.scalars(select(ReleaseSlip).where(ReleaseSlip.site_id == visitor.site_id,
                                                            or_(*tests)))) if tests else []


def _slip_pending(slip: ReleaseSlip) -> bool:
    """Goods not yet out on a slip still valid: the guard at the gate needs the carrier's name."""
    return slip.state not in ("released", "refused") and slip.on_date >= utcnow().date()


def _remove(rows: list) -> int:
    for row in rows:
        db.session.delete(row)
    return len(rows)


def _drop(stays: list[ParkingSession], events: list[DeviceEvent]) -> None:
    """Delete stays, then device events; other stays that refer to those events outlive them."""
    _remove(stays)
    db.session.flush()  # the stays go before the reads they refer to
    ids = [e.id for e in events]
    if ids:
        for column in ("entry_event_id", "exit_event_id"):
            db.session.execute(update(ParkingSession).where(getattr(ParkingSession, column).in_(ids))
                               .values({column: None}), execution_options={"synchronize_session": False})
    _remove(events)
    db.session.flush()


def erase(visitor: Visitor, actor: User | None = None) -> dict[str, int]:
    """Anonymise the person everywhere they are recorded (see the module docstring); one transaction.

    Refused while the person is inside (the evacuation list needs their name), carries goods on a
    slip not used yet, or is already erased.
    """
    if visitor.erased_at is not None:
        raise ActionError("already_erased", _("This person's records were already erased."))
    visits = visits_of(visitor)
    if any(v.state in ON_SITE for v in visits):
        raise ActionError("inside", _("This visitor is still inside. Check them out before erasing "
                                      "their records."))
    slips = _slips_carried(visitor)
    if any(_slip_pending(s) for s in slips):
        raise ActionError("slip_pending", _("This person carries goods on a release slip not used yet. "
                                            "Erase their records after it is used or refused."))
    site = db.session.get(Site, visitor.site_id)
    with transaction():
        now = utcnow()
        held = passes_of(visitor)
        visit_ids, pass_ids = [v.id for v in visits], [p.id for p in held]
        stays = _stays(visit_ids, pass_ids)
        plates = {v.plate for v in visits if v.plate} | {p.plate for p in held if p.plate}
        cards = card_events(visitor)  # before the name and masked ID are cleared
        reads = [e for e in _plate_reads(site, plates, stays) if e not in cards]
        notices = _notices_naming(held)
        counts = {"visits": len(visits), "card_events": len(cards)}
        found = {"passes": len(held), "parking_sessions": len(stays), "plate_reads": len(reads),
                 "portal_notices": _remove(notices), "release_slips": len(slips)}
        _drop(stays, reads + cards)
        counts.update({k: v for k, v in found.items() if v})
        for visit in visits:
            redact_row(visit, "visits", now)
        if visit_ids:
            for approval in db.session.scalars(select(Approval).where(Approval.visit_id.in_(visit_ids))):
                redact_row(approval, "approvals", now)
        for visitor_pass in held:
            redact_row(visitor_pass, "passes", now)
        for slip in slips:
            redact_row(slip, "release_slips", now)
        anonymise_visitor(visitor, now)
        shiftbook.append("person.erased", {"visitor_id": visitor.id, "counts": counts},
                         actor_id=actor.id if actor else None)
    return counts


def _resident_notes(site: Site, resident: Resident) -> list[JournalRecord]:
    """Notes written about the resident (e.g. at move-out), found through their entries' references."""
    entries = db.session.scalars(select(ShiftBookEntry.data).where(
        ShiftBookEntry.site == site.code, ShiftBookEntry.kind.like("resident.%")))
    ids = {data.get("record_id") for data in map(json.loads, entries)
           if data.get("resident_id") == resident.id and data.get("record_id")}
    return list(db.session.scalars(select(JournalRecord).where(JournalRecord.id.in_(ids)))) if ids else []


def erase_resident(resident: Resident, actor: User | None = None) -> dict[str, int]:
    """Erase a resident who moved out, with the values retention writes; one transaction.

    Their name and phone, their portal account (login, name, phone, password), their cars with
    the cars' stays and plate reads, notes written about them, and the carrier details and
    consent notes of their release slips are cleared or deleted; a `resident.erased` entry
    holds ids and counts. Refused while they still live here (mark them moved out first), while
    a slip of theirs is still to be used, or when already erased.
    """
    if resident.moved_out_at is None:
        raise ActionError("living", _("This resident still lives here. Mark them as moved out first."))
    if resident.name == ERASED_NAME:
        raise ActionError("already_erased", _("This person's records were already erased."))
    slips = list(db.session.scalars(select(ReleaseSlip).where(or_(
        ReleaseSlip.resident_id == resident.id, ReleaseSlip.consent_by_resident == resident.id))))
    if any(s.resident_id == resident.id and _slip_pending(s) for s in slips):
        raise ActionError("slip_pending", _("This person carries goods on a release slip not used yet. "
                                            "Erase their records after it is used or refused."))
    site = db.session.get(Site, resident.unit.site_id)
    with transaction():
        now = utcnow()
        cars = list(db.session.scalars(select(Vehicle).where(Vehicle.resident_id == resident.id)))
        plates = {car.plate for car in cars}
        stays = list(db.session.scalars(select(ParkingSession).where(
            ParkingSession.site_id == site.id, ParkingSession.plate.in_(plates),
            ParkingSession.kind == "resident"))) if plates else []
        reads = _plate_reads(site, plates, stays, owner_id=resident.id)
        _drop(stays, reads)
        counts = {"parking_sessions": len(stays), "plate_reads": len(reads), "vehicles": _remove(cars)}
        notes = _resident_notes(site, resident)
        for record in notes:
            redact_row(record, "journal_records", now)
        for slip in slips:
            if slip.resident_id == resident.id:
                redact_row(slip, "release_slips", now)
            else:
                slip.consent_note = None
        if resident.user_id is not None:
            redact_row(db.session.get(User, resident.user_id), "resident_accounts", now)
        redact_row(resident, "residents", now)
        counts.update(notes=len(notes), release_slips=len(slips), account=int(resident.user_id is not None))
        shiftbook.append("resident.erased", {"resident_id": resident.id, "counts": counts},
                         actor_id=actor.id if actor else None)
    return counts
