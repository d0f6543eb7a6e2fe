"""Release slips at the gate (seed §五.14): find the slip, check the goods, release once.

A refusal at the gate (goods do not match, only part of them, no slip at all, a slip that is
not valid) is logged with its reason and changes nothing else: the slip stays valid for a
corrected attempt. Release is one conditional UPDATE (state approved → released), so two
guards confirming the same slip at once release it once.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from flask_babel import lazy_gettext as _
from sqlalchemy import select, update

from gate.domain import passes as tokens
from gate.domain.idcard import parse_resident_id
from gate.extensions import db
from gate.models import ReleaseSlip, Shift, Site, User
from gate.models.types import utcnow
from gate.services import ActionError, journal, notices, shiftbook, transaction
from gate.services.privacy import protect_id
from gate.services.slips import slip_key, status, valid_window
from gate.services.visitors import clean_text

# Why goods may not leave on a slip; the kiosk shows a message and a script for each.
PROBLEMS = ("malformed", "forged", "other_site", "unknown", "not_approved", "refused",
            "released", "expired", "not_today")
GATE_REFUSALS = ("mismatch", "partial", "no_slip")
_SERIAL = re.compile(r"^FX-?(\d{4})-?(\d{1,6})$")


class SlipProblem(Exception):
    """The text names no slip that lets goods out now; `reason` is one of PROBLEMS."""

    def __init__(self, reason: str, slip: ReleaseSlip | None = None):
        super().__init__(reason)
        self.reason, self.slip = reason, slip


def normalize_serial(text: str) -> str | None:
    """A typed serial in canonical form (FX-2026-000123), or None if it is not one."""
    compact = re.sub(r"[\s_－—]", "", (text or "").upper()).replace("O", "0")
    match = _SERIAL.match(compact)
    if match is None:
        return None
    return f"FX-{match.group(1)}-{int(match.group(2)):06d}"


def find(site: Site, text: str) -> ReleaseSlip:
    """The slip a scanned QR or typed serial names; SlipProblem(malformed | forged | …) if none."""
    serial = normalize_serial(text)
    if serial is not None:
        slip = db.session.scalars(select(ReleaseSlip).where(ReleaseSlip.site_id == site.id,
                                                            ReleaseSlip.serial == serial)).first()
        if slip is None:
            raise SlipProblem("unknown")
        return slip
    token = tokens.extract(text, kind="slip")
    if token is None:
        raise SlipProblem("malformed")
    try:
        claims = tokens.read(slip_key(), site.code, token, kind="slip")
    except tokens.TokenRejected as exc:
        raise SlipProblem(exc.reason) from None
    slip = db.session.scalars(select(ReleaseSlip).where(
        ReleaseSlip.pid == tokens.pid_text(claims.pid))).first()
    if slip is None or slip.site_id != site.id:
        raise SlipProblem("unknown")
    return slip


def problem(slip: ReleaseSlip) -> str | None:
    """Why goods may not leave on this slip now, or None."""
    if slip.state in ("pending", "pending_consent"):
        return "not_approved"
    if slip.state in ("refused", "released"):
        return slip.state
    now = utcnow()
    start, _end = valid_window(slip)
    if status(slip, now) == "expired":
        return "expired"
    if now < start:
        return "not_today"
    return None


def look_up(site: Site, text: str, guard: User, shift: Shift | None) -> ReleaseSlip:
    """Find a slip for the guard to check; a bad or unusable slip is logged and raised."""
    try:
        slip = find(site, text)
        reason = problem(slip)
        if reason is not None:
            raise SlipProblem(reason, slip)
    except SlipProblem as exc:
        refuse_at_gate(guard, shift, exc.slip, exc.reason)
        raise
    return slip


def refuse_at_gate(guard: User, shift: Shift | None, slip: ReleaseSlip | None, reason: str,
                   note: str = "") -> None:
    """Goods not let out: log why (and tell the household); the slip itself is unchanged."""
    if reason not in GATE_REFUSALS + PROBLEMS:
        raise ValueError(reason)
    text = clean_text(note, 500, fold=False)
    data = {"slip_id": slip.id if slip else None, "reason": reason}
    with transaction():
        if slip is not None and reason in GATE_REFUSALS:
            notices.add(slip.site_id, slip.unit_id, "slip_gate_refused", serial=slip.serial or "")
        if text:  # the guard's words stay outside the chain (retention can clear them)
            journal.note_with_entry(guard, "slip.gate_refused", text, utcnow(), **data)
        else:
            shiftbook.append("slip.gate_refused", data, actor_id=guard.id,
                             shift_id=shift.id if shift else None)


def release(guard: User, shift: Shift | None, slip: ReleaseSlip, *, checked: Collection[int],
            id_type: str, id_number: str) -> ReleaseSlip:
    """Let the goods out: every line ticked, the carrier's ID recorded masked; once only."""
    reason = problem(slip)
    if reason is not None:
        raise ActionError(reason, _("This slip cannot be used now. Scan it again to see why."))
    lines = {item.line for item in slip.items}
    if set(checked) != lines:
        raise ActionError("unchecked", _("Tick every line you have checked. If goods are missing or "
                                         "different, refuse with 'goods do not match'."))
    if id_type == "resident_id":
        try:
            number = parse_resident_id(id_number)
        except ValueError:
            raise ActionError("bad_id", _("Check the carrier's ID number and type it again.")) from None
    elif id_type in ("passport", "other") and 4 <= len((id_number or "").strip()) <= 30:
        number = id_number.strip().upper()
    else:
        raise ActionError("bad_id", _("Record the carrier's ID: choose the document and type its number."))
    protected = protect_id(number, id_type)
    with transaction():
        won = db.session.execute(
            update(ReleaseSlip).where(ReleaseSlip.id == slip.id, ReleaseSlip.state == "approved")
            .values(state="released", released_at=utcnow(), released_by=guard.id,
                    carrier_id_masked=protected["id_masked"], carrier_id_hash=protected["id_hash"])
            .execution_options(synchronize_session=False)).rowcount == 1
        if not won:
            raise ActionError("released", _("This slip was released a moment ago; the goods may "
                                            "not leave twice on it."))
        notices.add(slip.site_id, slip.unit_id, "slip_released", serial=slip.serial or "")
        shiftbook.append("slip.released", {"slip_id": slip.id, "serial": slip.serial,
                                           "lines": len(lines)},
                         actor_id=guard.id, shift_id=shift.id if shift else None)
    db.session.refresh(slip)
    return slip
