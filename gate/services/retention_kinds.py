"""Retention rules: one per record kind that holds personal data (SPEC §5, PIPL art. 19).

`gate purge` (gate.services.retention) applies them in this order. Each rule names the table,
the column its age is measured on, the GATE_RETENTION_* setting, and what happens past it: the
row is deleted, or the `redact` columns are overwritten (the row stays, because other rows or
the estate's registers refer to it, or for statistics). `kept_columns` are the columns of a
redacted row that look personal but stay, and `keeps` says why.

The shift book is never in a rule: its entries hold ids and digests only, so purging what they
refer to leaves the hash chain verifying. KEPT lists the tables with personal-looking columns
that no rule purges, and why; NOT_PERSONAL the tables whose such columns are not about people.
tests/integration/test_retention_kinds.py fails when a table of the SQLAlchemy metadata has a
personal-looking column (see `looks_personal`) that neither a rule nor these lists account for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, Text, null

from gate.services.privacy import ERASED_NAME

NOW = "<purge time>"  # a redact value: the time of the purge run (e.g. purged_at)
ACCOUNT = "<erased account>"  # a redact value: a unique placeholder login ("erased-<id>")

# Words of column names that may hold personal data (names are split on "_"; timestamps "…_at" are not).
_PERSONAL_WORDS = frozenset("name username phone plate note notes reason account message purpose title "
                            "body outcome description text address employer summary params fields "
                            "display value place script url data options".split())
_ID_COLUMN = re.compile(r"(^|_)id_(hash|masked|type)$")


@dataclass(frozen=True)
class Rule:
    """How long one kind of record keeps its personal data, and what happens after."""

    kind: str  # the count key `gate purge` prints
    table: str
    age: str  # the column the age is measured on
    setting: str
    redact: Mapping[str, Any] = field(default_factory=dict)  # empty: the row is deleted
    only: str = ""  # which rows, besides their age
    keeps: str = ""  # what stays, and why
    kept_columns: tuple[str, ...] = ()

    @property
    def deletes(self) -> bool:
        """True when rows past the window are deleted rather than redacted."""
        return not self.redact


_VISITS = "GATE_RETENTION_VISITS_DAYS"
_JOURNAL = "GATE_RETENTION_JOURNAL_DAYS"
_MOVED_OUT = "GATE_RETENTION_MOVED_OUT_DAYS"
_EXPIRED = "GATE_RETENTION_WATCHLIST_EXPIRED_DAYS"
_PERSON = {"visitor_name": ERASED_NAME, "visitor_phone": None, "plate": None, "purpose": None,
           "employer": None, "id_masked": None, "id_hash": None}

RULES: tuple[Rule, ...] = (
    Rule("visits", "visit", "created_at", _VISITS,
         {"purpose": None, "plate": None, "message": None, "slip_token": None},
         only="no longer inside (visits auto-checked-out by this run count as out)",
         keeps="unit, states, host answer, outcome and exit codes and times, for statistics",
         kept_columns=("outcome_reason", "left_reason")),
    Rule("approvals", "approval", "requested_at", _VISITS, {"note": None},
         only="decided (and every approval of a purged visit)",
         keeps="kind, decision and times (the supervisor's accountability)"),
    Rule("passes", "visitor_pass", "valid_until", _VISITS, _PERSON,
         keeps="unit, window and use counts (the household's history)"),
    Rule("portal_notices", "portal_notice", "created_at", _VISITS),
    Rule("release_slips", "release_slip", "on_date", "GATE_RETENTION_SLIPS_DAYS",
         {"carrier_name": ERASED_NAME, "carrier_phone": "", "plate": None, "carrier_id_masked": None,
          "carrier_id_hash": None, "refusal_reason": None, "consent_note": None},
         keeps="serial, unit, reason code, goods lines, states and times (the 放行条 register)",
         kept_columns=("reason",)),
    Rule("watchlist_entries", "watchlist_entry", "removed_at or expires_at", _EXPIRED,
         only="removed or expired (an active entry stays however old)"),
    Rule("vehicle_list_entries", "vehicle_list_entry", "removed_at or valid_until", _EXPIRED,
         only="removed or expired blocklist / VIP plates (current ones stay)"),
    Rule("visitors", "visitor", "created_at", _VISITS,
         {"name": ERASED_NAME, "phone": None, "id_type": None, "id_masked": None, "id_hash": None,
          "erased_at": NOW},
         only="no visit within the window, no remaining watchlist entry matches them; "
              "deleted instead when no visit refers to them",
         keeps="the row, because anonymised visits refer to it"),
    Rule("parking_sessions", "parking_session", "left_at (entered_at while never left)", _VISITS),
    Rule("device_events", "device_event", "received_at", "GATE_RETENTION_DEVICE_EVENTS_DAYS",
         only="plate reads, scans, pass scans and ID-card reads"),
    Rule("journal_records", "journal_record", "created_at", _JOURNAL,
         {"fields": None, "purged_at": NOW},
         keeps="kind, author, unit and times; the shift-book entry keeps the digest"),
    Rule("follow_ups", "follow_up", "its journal record's created_at", _JOURNAL,
         {"title": ERASED_NAME, "outcome": None}, only="closed, and their record is purged",
         keeps="due and close times"),
    Rule("shifts", "shift", "ended_at", _JOURNAL, {"handover_notes": None},
         only="ended", keeps="guards, times and the equipment checklist; the handover entry "
                             "keeps the notes' digest", kept_columns=("equipment",)),
    Rule("incidents", "incident", "closed_at", "GATE_RETENTION_INCIDENTS_DAYS", {"account": ERASED_NAME},
         only="closed", keeps="kind, visit, author and times"),
    Rule("violations", "violation", "occurred_at", "GATE_RETENTION_VIOLATIONS_DAYS",
         {"plate": None, "note": None, "review_note": None},
         only="reviewed (their photos are deleted with them)",
         keeps="type, place, state and times (statistics)", kept_columns=("place",)),
    Rule("violation_photos", "violation_photo", "taken_at", "GATE_RETENTION_VIOLATION_PHOTOS_DAYS"),
    Rule("residents", "resident", "moved_out_at", _MOVED_OUT, {"name": ERASED_NAME, "phone": None},
         only="moved out", keeps="unit, owner flag and move-out time (slips and passes refer to them)"),
    Rule("resident_accounts", "user", "the resident's moved_out_at", _MOVED_OUT,
         {"username": ACCOUNT, "phone": None, "display_name": ERASED_NAME, "password_hash": None,
          "pin_hash": None, "active": False},
         only="portal accounts of moved-out residents (staff accounts are employment records: kept)",
         keeps="the row, because shift-book entries name it as actor by id"),
    Rule("resident_vehicles", "vehicle", "the resident's moved_out_at, or valid_until", _MOVED_OUT,
         only="cars of moved-out residents, and registrations that ended"),
)

KEPT: dict[str, str] = {
    "shift_book_entry": "the hash chain, never deleted: entries hold ids and digests only. Limit: "
                        "the reason typed for a barrier command is in its entry",
    "barrier_command": "the reason for each barrier order, for the estate's audit (also in its "
                       "chained entry)",
    "release_slip_item": "goods lines of the 放行条 register (what left, not who carried it)",
    "unit_flag": "the desk's current note on a unit's fees, replaced when it changes",
}

NOT_PERSONAL: dict[str, str] = {
    "site": "the estate's name and address",
    "post": "a security post", "gate": "a gate", "lane": "a lane", "building": "a building",
    "device": "a device's name and vendor options",
    "api_key": "an integration's name",
    "webhook_subscription": "an integration's URL and encrypted secret",
    "bridge_status": "counters of dropped messages",
    "post_order": "instructions to guards",
    "script_text": "the site's wording of kiosk scripts",
    "violation_type": "the site's violation types and scripts",
    "shift_book_checkpoint": "why a checkpoint was signed",
}


def looks_personal(column: Column) -> bool:
    """Whether a column may hold personal data: by its name, or free text, JSON or binary."""
    words = column.name.split("_")
    if words[-1] == "at":
        return False
    return (bool(_PERSONAL_WORDS & set(words)) or bool(_ID_COLUMN.search(column.name))
            or isinstance(column.type, Text | JSON | LargeBinary))


def by_kind() -> dict[str, Rule]:
    """The rules keyed by kind."""
    return {rule.kind: rule for rule in RULES}


def redact_row(row: Any, kind: str, now: datetime) -> None:
    """Apply the redact values of rule `kind` to one ORM row (erasure on request uses the same)."""
    for name, value in by_kind()[kind].redact.items():
        if value is NOW:
            value = now
        elif value is ACCOUNT:
            value = f"erased-{row.id}"
        elif value is None and isinstance(row.__table__.c[name].type, JSON):
            value = null()  # SQL NULL, not the JSON text 'null'
        setattr(row, name, value)
