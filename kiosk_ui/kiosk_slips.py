"""Goods release slips at the gate (放行条, staff rules §五.14, SPEC §2.3): scan, check, release.

The guard greets, asks for the slip, and scans its QR (keyboard wedge) or types its serial
(FX-2026-000123). A usable slip opens its check page: every line of goods ticked, the carrier's
ID recorded, then "Release" — or "Goods do not match" / "Only part of the goods", which log the
refusal and leave the slip valid. Only the slip this guard has just scanned can be opened here.
Every result is kept in the session and shown after a redirect (Post/Redirect/Get); the
carrier's clear ID number goes to the service and nowhere else (no page, log line or session).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import ReleaseSlip, Role
from gate.models.types import utcnow
from gate.services import ActionError, auth, slip_gate, slips
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.visitors import ID_KINDS, shift_or_none

bp = Blueprint("kiosk_slips", __name__, url_prefix="/kiosk/slips")
guard_only = auth.roles_required(Role.GUARD)

MAX_TEXT = 2048
MAX_NOTE = 200
RESULT_KEY = "slip_result"
CHECKING_KEY = "slip_checking"  # the slip id this guard scanned and is checking now
TICKS_KEY = "slip_ticks"  # the lines ticked before an error (never the ID number)
RESULT_FOR = timedelta(minutes=2)

# Each reason goods may not leave: a short label, what the guard does next, the banner's script.
PROBLEMS: dict[str, tuple[Any, Any, str]] = {
    "malformed": (_l("not a readable slip"),
                  _l("This is not one of our release slips, or it was read incompletely. Scan it "
                     "again, or type the serial number printed on the slip (FX-2026-000123)."),
                  "pass_unreadable"),
    "forged": (_l("forged or altered"),
               _l("The slip's code is forged or was altered. Do not let the goods out, and tell the "
                  "supervisor."), "slip_not_valid"),
    "other_site": (_l("another estate's slip"),
                   _l("This slip was issued for another estate. Do not let the goods out; send the "
                      "resident to the Owner Service Centre."), "slip_not_valid"),
    "unknown": (_l("unknown slip"),
                _l("No slip has this number. Check the serial with the resident and type it again; "
                   "otherwise send them to the Owner Service Centre."), "slip_not_valid"),
    "not_approved": (_l("not approved yet"),
                     _l("The application has not been approved yet. Do not let the goods out; send "
                        "the resident to the Owner Service Centre."), "slip_not_now"),
    "refused": (_l("refused by the service centre"),
                _l("The Owner Service Centre refused this application. Do not let the goods out; "
                   "send the resident to the service centre."), "slip_not_valid"),
    "released": (_l("already used"),
                 _l("The goods on this slip have already left: a slip lets goods out once. Do not let "
                    "them out again; send the resident to the Owner Service Centre."), "slip_used"),
    "expired": (_l("expired"),
                _l("The slip's date has passed. Do not let the goods out; the resident applies again "
                   "at the Owner Service Centre."), "slip_not_now"),
    "not_today": (_l("not valid today"),
                  _l("The slip is for a later day. Do not let the goods out today: the resident comes "
                     "back on the slip's date, or asks the Owner Service Centre."), "slip_not_now"),
    "mismatch": (_l("goods do not match the slip"),
                 _l("Logged. The slip stays valid: once the goods match it (or the service centre "
                    "has corrected it), scan it again."), "slip_mismatch"),
    "partial": (_l("only part of the goods"),
                _l("Logged. The slip stays valid: it lets goods out once, so all of its goods leave "
                   "together. Scan it again when everything is here."), "slip_partial"),
    "no_slip": (_l("no release slip"),
                _l("Logged. Goods may only leave with a release slip: send the resident to the Owner "
                   "Service Centre, and offer to help carry the goods back."), "slip_none"),
}
REASON_LABELS = {"moving_out": _l("Moving out"), "renovation_waste": _l("Renovation waste"),
                 "sale": _l("Sold"), "other": _l("Other")}


@dataclass(frozen=True)
class Verdict:
    """The last result on the slip screen (rebuilt from the session in the reader's locale)."""

    outcome: str  # released | rejected
    reason: str
    serial: str | None
    unit: str | None
    carrier: str | None
    id_masked: str | None
    lines: int | None
    at: datetime

    @property
    def headline(self) -> str:
        """One line: what happened."""
        if self.outcome == "released":
            return _("Goods released")
        return _("Goods stopped: %(why)s", why=PROBLEMS.get(self.reason, (self.reason,))[0])

    @property
    def advice(self) -> str | None:
        """What the guard does next."""
        if self.outcome == "released":
            return _("Thank the resident and offer to help carry heavy items.")
        return str(PROBLEMS[self.reason][1]) if self.reason in PROBLEMS else None

    @property
    def script_key(self) -> str:
        """The banner's script for this result."""
        if self.outcome == "released":
            return "slip_done"
        return PROBLEMS.get(self.reason, (None, None, "slip_not_valid"))[2]


def _remember(outcome: str, reason: str, slip: ReleaseSlip | None) -> None:
    """Keep the result for the screen: serial, unit, carrier and the masked ID only."""
    session[RESULT_KEY] = {
        "outcome": outcome, "reason": reason, "serial": slip.serial if slip else None,
        "unit": slip.unit.code if slip else None, "carrier": slip.carrier_name if slip else None,
        "id_masked": slip.carrier_id_masked if slip and outcome == "released" else None,
        "lines": len(slip.items) if slip else None, "at": utcnow().isoformat()}
    session.pop(CHECKING_KEY, None)
    session.pop(TICKS_KEY, None)


def _verdict(stored: dict[str, Any] | None) -> Verdict | None:
    """The stored result if it is recent enough to show."""
    if not stored:
        return None
    try:
        verdict = Verdict(**dict(stored, at=datetime.fromisoformat(stored["at"])))
    except (KeyError, TypeError, ValueError):
        return None
    return verdict if utcnow() - verdict.at < RESULT_FOR else None


def _checking(slip_id: int) -> ReleaseSlip:
    """The slip this guard scanned; any other id is not found."""
    if session.get(CHECKING_KEY) != slip_id:
        abort(404)
    try:
        return slips.of_site(current_user.site_id, slip_id)
    except ActionError:
        abort(404)


@bp.get("/")
@guard_only
def screen():
    """The scan field, the "No slip" button and the last result."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    verdict = _verdict(session.get(RESULT_KEY))
    return render_template("kiosk/slips.html", verdict=verdict, form=PlainForm(),
                           script_key=verdict.script_key if verdict else "slip_ask")


@bp.post("/")
@guard_only
def scan():
    """Find the scanned or typed slip: open its check page, or show why the goods may not leave."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    require_token()
    text = request.form.get("text", "")[:MAX_TEXT]
    if not text.strip():
        flash(_("Scan the release slip, or type its serial number (FX-2026-000123)."), "error")
        return redirect(url_for("kiosk_slips.screen"))
    try:
        slip = slip_gate.look_up(current_site(), text, current_user, shift)
    except slip_gate.SlipProblem as exc:
        _remember("rejected", exc.reason, exc.slip)
        return redirect(url_for("kiosk_slips.screen"))
    session.pop(RESULT_KEY, None)
    session.pop(TICKS_KEY, None)
    session[CHECKING_KEY] = slip.id
    return redirect(url_for("kiosk_slips.check", slip_id=slip.id))


@bp.post("/no-slip")
@guard_only
def no_slip():
    """Goods without a slip: log it and tell the resident where to apply."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    require_token()
    slip_gate.refuse_at_gate(current_user, shift, None, "no_slip")
    _remember("rejected", "no_slip", None)
    return redirect(url_for("kiosk_slips.screen"))


@bp.get("/<int:slip_id>/check")
@guard_only
def check(slip_id: int):
    """The slip's facts and goods as a checklist, the carrier's ID, and the three actions."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    slip = _checking(slip_id)
    kept = session.get(TICKS_KEY) or {}
    ticked = set(kept.get("lines", [])) if kept.get("slip_id") == slip.id else set()
    id_type = kept.get("id_type") if kept.get("id_type") in ID_KINDS else "resident_id"
    return render_template("kiosk/slip_check.html", slip=slip, ticked=ticked, id_type=id_type,
                           id_kinds=ID_KINDS, reasons=REASON_LABELS, form=PlainForm(),
                           script_key="slip_ask")


def _ticked() -> set[int]:
    return {i for v in request.form.getlist("line") if (i := parse_id(v))}


@bp.post("/<int:slip_id>/release")
@guard_only
def release(slip_id: int):
    """Every line ticked and the carrier's ID typed: let the goods out (once)."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    slip = _checking(slip_id)
    require_token()
    checked = _ticked()
    id_type = request.form.get("id_type", "")
    try:
        slip = slip_gate.release(current_user, shift, slip, checked=checked, id_type=id_type,
                                 id_number=request.form.get("id_number", ""))
    except ActionError as exc:
        db.session.rollback()
        flash(str(PROBLEMS[exc.code][1]) if exc.code in PROBLEMS else exc.message, "error")
        session[TICKS_KEY] = {"slip_id": slip_id, "lines": sorted(checked),
                              "id_type": id_type if id_type in ID_KINDS else "resident_id"}
        return redirect(url_for("kiosk_slips.check", slip_id=slip_id))
    _remember("released", "released", slip)
    return redirect(url_for("kiosk_slips.screen"))


@bp.post("/<int:slip_id>/refuse")
@guard_only
def refuse(slip_id: int):
    """The goods do not match the slip, or only part of them is here: log it, keep the slip valid."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    slip = _checking(slip_id)
    require_token()
    reason = request.form.get("reason", "")
    if reason not in ("mismatch", "partial"):
        abort(400)
    slip_gate.refuse_at_gate(current_user, shift, slip, reason,
                             note=request.form.get("note", "")[:MAX_NOTE])
    _remember("rejected", reason, slip)
    return redirect(url_for("kiosk_slips.screen"))
