"""The kiosk's pass screen (SPEC §2.2): scan a visitor or worker pass, or type its short code.

A hardware scanner in keyboard-wedge mode types the token into the focused field and presses
Enter; the guard may type the code printed under the QR instead. The verdict (admitted, left or
refused with what to do next) is kept in the session and shown after a redirect, so reloading
the page never redeems a pass twice. "Recent at this gate" follows every pass decision here —
the kiosk's and the scanners' on the MQTT bus — through a small JSON poll.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.domain import passes as tokens
from gate.extensions import db
from gate.models import Device, Role, ShiftBookEntry, Site, VisitorPass
from gate.models.types import utcnow
from gate.services import ActionError, auth, barriers, pass_gate, visits
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.gates import OUTCOME_MESSAGES
from kiosk_ui.visitors import shift_or_none

bp = Blueprint("kiosk_passes", __name__, url_prefix="/kiosk/passes")
guard_only = auth.roles_required(Role.GUARD)

MAX_TEXT = 2048  # a share-page URL with a token fits; anything longer is no pass
SESSION_KEY = "pass_result"
RESULT_FOR = timedelta(minutes=2)  # a reload shows the last verdict this long, then the empty screen
RECENT = 10
GATE_SOURCES = ("scanner", "camera", "manual")  # pedestrian gate; "anpr" is the car gate's

# Each refusal: a short label (lists), what the guard does next, and the script for the banner.
REJECTIONS: dict[str, tuple[Any, Any, str]] = {
    "malformed": (_l("not a readable pass"),
                  _l("This is not one of our passes, or it was read incompletely. Ask the visitor to "
                     "hold the code steady and scan again; otherwise register them as a walk-in "
                     "visitor."), "pass_unreadable"),
    "forged": (_l("forged or altered"),
               _l("The pass is forged or was altered: its signature does not match. Do not admit on "
                  "it. Register the person as a walk-in visitor with their ID, and tell the "
                  "supervisor."), "pass_invalid"),
    "other_site": (_l("another estate's pass"),
                   _l("This pass was issued for another estate. Do not admit on it: register the "
                      "visitor as a walk-in visitor."), "pass_other_site"),
    "unknown": (_l("unknown code"),
                _l("No pass has this code. Check the code with the visitor and type it again; "
                   "otherwise register them as a walk-in visitor."), "pass_invalid"),
    "not_yet_valid": (_l("not yet valid"),
                      _l("The pass is not valid yet. Do not admit on it now: the visitor may come back "
                         "in time, or register as a walk-in visitor."), "pass_not_yet_valid"),
    "expired": (_l("expired"),
                _l("The pass has expired. Register the visitor as a walk-in visitor and ask the "
                   "host."), "pass_expired"),
    "used_up": (_l("used up"),
                _l("The pass has no uses left. Register the visitor as a walk-in visitor and ask the "
                   "host."), "pass_used_up"),
    "revoked": (_l("revoked"),
                _l("The resident revoked this pass. Do not admit on it: register the visitor as a "
                   "walk-in visitor and ask the host."), "pass_no_longer_valid"),
    "moved_out": (_l("resident moved out"),
                  _l("The resident who made this pass has moved out. Do not admit on it: ask whom they "
                     "are visiting and register them as a walk-in visitor."), "pass_no_longer_valid"),
    "out_of_hours": (_l("outside working hours"),
                     _l("Outside this worker's permitted hours. Salute, ask politely for the pass and "
                        "ID, explain the hours, and do not admit. Call the service desk if in doubt."),
                     "worker_hours"),
}
BARRIER_EXTRA = {
    "unreachable": ("warning", _l("Cannot reach the gate controllers (MQTT broker). Open the barrier by "
                                  "hand and write a note in the shift book.")),
    "no_barrier": ("warning", _l("No pedestrian barrier is set up: let the person through by hand.")),
}
SOURCES = {"scanner": _l("kiosk scanner"), "manual": _l("typed code"), "camera": _l("camera")}


@dataclass(frozen=True)
class Verdict:
    """The last result as the screen shows it (rebuilt from the session in the reader's locale)."""

    outcome: str
    reason: str
    kind: str | None
    name: str | None
    unit: str | None
    employer: str | None
    id_masked: str | None
    uses_left: int | None
    unlimited: bool
    valid_from: datetime | None
    valid_until: datetime | None
    hours: str | None
    barrier: str | None
    at: datetime

    @property
    def headline(self) -> str:
        """One line: what happened."""
        if self.outcome == "rejected":
            return _("Not admitted: %(why)s", why=REJECTIONS.get(self.reason, (self.reason,))[0])
        if self.kind == "worker":
            return _("Worker entering") if self.outcome == "admitted" else _("Worker leaving")
        return _("Admitted on a visitor pass")

    @property
    def last_minute(self) -> datetime | None:
        """The last minute the pass is valid, as residents set it ("until 23:59")."""
        return self.valid_until - timedelta(minutes=1) if self.valid_until else None

    @property
    def advice(self) -> str | None:
        """What the guard does next after a refusal."""
        return str(REJECTIONS[self.reason][1]) if self.reason in REJECTIONS else None

    @property
    def barrier_note(self) -> tuple[str, str] | None:
        """(category, message) for how the pedestrian barrier answered."""
        if self.barrier in OUTCOME_MESSAGES:
            category, text = OUTCOME_MESSAGES[self.barrier]
        elif self.barrier in BARRIER_EXTRA:
            category, text = BARRIER_EXTRA[self.barrier]
        else:
            return None
        return category, str(text)

    @property
    def script_key(self) -> str:
        """The banner's script for this verdict."""
        if self.outcome == "rejected":
            return REJECTIONS.get(self.reason, (None, None, "pass_invalid"))[2]
        if self.outcome == "left":
            return "goodbye"
        return "worker_pass" if self.kind == "worker" else "welcome"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _remember(result: pass_gate.GateResult, barrier: str | None) -> dict[str, Any]:
    """What the session keeps of a result: no token, no ID number (a masked one for workers)."""
    found = db.session.get(VisitorPass, result.pass_id) if result.pass_id else None
    worker = found is not None and found.kind == "worker"
    return {"outcome": result.outcome, "reason": result.reason, "kind": result.kind,
            "name": result.name, "unit": result.unit, "employer": result.employer,
            "id_masked": found.id_masked if worker else None, "uses_left": result.uses_left,
            "unlimited": found is not None and found.max_uses is None,
            "valid_from": _iso(found.valid_from) if found else None,
            "valid_until": _iso(result.valid_until),
            "hours": f"{found.daily_from}–{found.daily_until}" if worker and found.daily_from else None,
            "barrier": barrier, "at": _iso(utcnow())}


def _verdict(stored: dict[str, Any] | None) -> Verdict | None:
    """The stored result if it is recent enough to show."""
    if not stored:
        return None
    try:
        values = dict(stored)
        for key in ("valid_from", "valid_until", "at"):
            values[key] = datetime.fromisoformat(values[key]) if values.get(key) else None
        verdict = Verdict(**values)
    except (TypeError, ValueError):
        return None  # an older layout of the session value: show nothing rather than fail
    return verdict if verdict.at and utcnow() - verdict.at < RESULT_FOR else None


def _open_barrier(result: pass_gate.GateResult) -> str | None:
    """Send the admission's barrier command and record its outcome; what the screen says about it.

    The admission stands whatever the barrier does: the guard is told to open by hand.
    """
    from device_adapters import web_link

    if not result.ok:
        return None
    if result.command is None:
        return "no_barrier"
    try:
        port = web_link.commander()
    except (ConnectionError, ValueError):
        # Nothing was sent, so nothing can answer: settle the order as such in the book.
        barriers.record_outcome(result.command.id, "no_answer")
        return "unreachable"
    outcome, state = port.send_and_wait(result.command)
    barriers.record_outcome(result.command.id, outcome, state)
    return outcome


@bp.get("/")
@guard_only
def screen():
    """The scanner field, the last verdict, and recent pass events at this gate."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    verdict = _verdict(session.get(SESSION_KEY))
    items = recent(current_site())
    return render_template("kiosk/passes.html", verdict=verdict, items=items,
                           head=items[0]["seq"] if items else 0, form=PlainForm(),
                           script_key=verdict.script_key if verdict else "pass_show")


@bp.post("/")
@guard_only
def check():
    """Check a scanned token or a typed code, admit if good, open the gate; then show the verdict."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    if not PlainForm().validate():
        abort(400)
    text = request.form.get("text", "")[:MAX_TEXT]
    if not text.strip():
        flash(_("Scan the pass, or type the code printed under its QR code."), "error")
        return redirect(url_for("kiosk_passes.screen"))
    site = current_site()
    try:
        result = pass_gate.at_gate(site, text, source="manual" if tokens.is_code(text) else "scanner",
                                   guard=current_user, shift_id=shift.id,
                                   barrier=visits.pedestrian_barrier(site.id))
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("kiosk_passes.screen"))
    session[SESSION_KEY] = _remember(result, _open_barrier(result))
    return redirect(url_for("kiosk_passes.screen"))


@bp.get("/recent")
@guard_only
def recent_json():
    """The recent list for the page's 2 s poll: the newest entry's number and the rows to show."""
    items = recent(current_site())
    return jsonify(head=items[0]["seq"] if items else 0, items=items,
                   html=render_template("kiosk/pass_recent.html", items=items))


def recent(site: Site, limit: int = RECENT) -> list[dict[str, Any]]:
    """The latest pass decisions at the pedestrian gate: kiosk and scanner devices, newest first.

    Read from the shift book: at_gate writes exactly one `pass.used` or `pass.rejected` entry in
    the same transaction as every decision (kiosk or device, admitted, left or refused), and the
    (site, kind, at) index serves the query. PassUse rows miss refusals, and DeviceEvent rows miss
    the kiosk's own decisions and are purged after 30 days.
    """
    rows = db.session.scalars(
        select(ShiftBookEntry).where(ShiftBookEntry.site == site.code,
                                     ShiftBookEntry.kind.in_(("pass.used", "pass.rejected")))
        .order_by(ShiftBookEntry.seq.desc()).limit(limit * 3))
    entries = [(row, json.loads(row.data)) for row in rows]
    entries = [(row, data) for row, data in entries if data.get("source") in GATE_SOURCES][:limit]
    ids = {data["pass_id"] for _row, data in entries if data.get("pass_id")}
    found = {p.id: p for p in db.session.scalars(select(VisitorPass).where(VisitorPass.id.in_(ids)))}
    names = dict(db.session.execute(select(Device.code, Device.name).where(Device.site_id == site.id)).all())
    return [_item(row, data, found.get(data.get("pass_id")), names) for row, data in entries]


def _item(row: ShiftBookEntry, data: dict, visitor_pass: VisitorPass | None,
          names: dict[str, str]) -> dict[str, Any]:
    from kiosk_ui.helpers import entrytime

    if row.kind == "pass.used":
        outcome = "left" if data.get("direction") == "out" else "admitted"
        label = _("left") if outcome == "left" else _("admitted")
    else:
        outcome = "rejected"
        label = str(REJECTIONS.get(data.get("reason"), (data.get("reason"),))[0])
    device = data.get("device")
    where = names.get(device, device) if device else str(SOURCES.get(data.get("source"), ""))
    return {"seq": row.seq, "at": entrytime(row.at)[11:19], "outcome": outcome, "label": label,
            "name": visitor_pass.visitor_name if visitor_pass else None,
            "unit": visitor_pass.unit.code if visitor_pass else None,
            "kind": visitor_pass.kind if visitor_pass else None, "where": where,
            "device": bool(device)}

