"""Car prompts at the kiosk (SPEC §2.4): plates the gate would not decide alone, and VIP salutes.

The panel (on the kiosk home and on /kiosk/vehicles/) polls prompts.json every second: the SPEC
wants a prompt on screen within 1 s of the camera's read. A prompt is a plate DeviceEvent of the
last 2 minutes decided "prompt" and not yet handled (gate/services/vehicle_prompts.py); a VIP
arrival of the last 10 s is listed too, for the salute banner (篇3 §十四).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Device, DeviceEvent, Role, Site
from gate.models.types import utcnow
from gate.services import ActionError, auth, barriers, vehicle_prompts, violations
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.gates import OUTCOME_MESSAGES, REASONS
from kiosk_ui.visitors import shift_or_none

bp = Blueprint("kiosk_vehicles", __name__, url_prefix="/kiosk/vehicles")
guard_only = auth.roles_required(Role.GUARD)

SALUTE_FOR = timedelta(seconds=10)  # the page shows the banner ~8 s; the list keeps it 10 s
SCRIPT_KEY = "vehicle_script"  # session: the banner's script after a refusal
# What the guard reads on the card, by the decision's reason.
REASON_TEXT = {
    "unknown": _l("Unknown car: not a resident, no visitor pass."),
    "blocked": _l("Blocked car: do not open; tell the supervisor."),
    "low_confidence": _l("Low-confidence read: check the plate."),
    "unreadable": _l("The plate could not be read: check the car."),
    "no_barrier": _l("Allowed in, but no barrier is set up in this lane: open by hand."),
    "pass_used_up": _l("The car's visitor pass is used up."),
    "no_entry": _l("Leaving, but never recorded coming in: check the car before opening."),
}
DIRECTIONS = {"in": _l("entering"), "out": _l("leaving")}


def prompts(site: Site) -> list[dict[str, Any]]:
    """Plate prompts waiting for the guard and VIP arrivals to salute, newest first."""
    from kiosk_ui.helpers import localtime

    now = utcnow()
    rows = db.session.scalars(select(DeviceEvent).where(
        DeviceEvent.site == site.code, DeviceEvent.kind == "plate",
        DeviceEvent.received_at >= now - vehicle_prompts.PROMPT_FOR)
        .order_by(DeviceEvent.received_at.desc(), DeviceEvent.id.desc()).limit(100)).all()
    handled = vehicle_prompts.handled_ids(site.code)
    offences: dict[str, int] = {}  # plate → violations in the last 90 days (seed §十二: repeat offenders)
    names = dict(db.session.execute(select(Device.code, Device.name).where(Device.site_id == site.id)).all())
    items = []
    for event in rows:
        summary = event.summary or {}
        salute = (summary.get("decision"), summary.get("reason")) == ("open", "vip")
        if salute and event.received_at < now - SALUTE_FOR:
            continue
        if not salute and (summary.get("decision") != "prompt" or event.id in handled):
            continue
        reason = "vip" if salute else summary.get("reason") or "unknown"
        plate = summary.get("plate")
        if plate and not salute and plate not in offences:
            offences[plate] = violations.repeat_count(site.id, plate, now)
        items.append({
            "id": event.id, "plate": summary.get("plate") or summary.get("raw") or "",
            "camera": event.device, "camera_name": names.get(event.device, event.device),
            "direction": summary.get("direction"),
            "direction_text": str(DIRECTIONS.get(summary.get("direction"), "")),
            "reason": reason, "reason_text": str(REASON_TEXT.get(reason, reason)),
            "salute": salute, "age": round((now - event.received_at).total_seconds(), 1),
            "time": localtime(event.received_at, "%H:%M:%S"),
            "snapshot_url": summary.get("snapshot_url"), "violations": offences.get(plate or "", 0)})
    return items


def _context() -> dict[str, Any]:
    return {"prompt_items": prompts(current_site()), "reasons": REASONS, "form": PlainForm()}


@bp.get("/")
@guard_only
def screen():
    """The car prompts as a full page (also the page the guard lands on after answering one)."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    return render_template("kiosk/vehicles.html", script_key=session.pop(SCRIPT_KEY, "greeting"),
                           **_context())


@bp.get("/prompts.json")
@guard_only
def prompts_json():
    """The panel's 1 s poll: each prompt's data and its card, rendered."""
    if shift_or_none() is None:
        return jsonify(error={"code": "no_shift", "message": _("Start your shift first.")}), 409
    ctx = _context()
    items = [dict(item, html=render_template("kiosk/vehicle_card.html", p=item, reasons=ctx["reasons"],
                                             form=ctx["form"])) for item in ctx["prompt_items"]]
    response = jsonify(items=items)
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer():
    """The guard's shift (None: start one first); aborts on a bad form."""
    if not PlainForm().validate():
        abort(400)
    return shift_or_none()


@bp.post("/<int:event_id>/refuse")
@guard_only
def refuse(event_id: int):
    """Turn the car away: the prompt is handled, and the banner gives the refusal script."""
    shift = _answer()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    try:
        vehicle_prompts.refuse(current_site(), event_id, current_user, shift_id=shift.id)
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        session[SCRIPT_KEY] = "vehicle_refuse"
        flash(_("Refused: the car stays outside."), "info")
    return redirect(url_for("kiosk_vehicles.screen"))


@bp.post("/<int:event_id>/open")
@guard_only
def open_by_hand(event_id: int):
    """Open the car's lane barrier with a reason, and tell the guard exactly what happened."""
    from device_adapters import web_link

    shift = _answer()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    key = request.form.get("reason", "")
    reason = request.form.get("other", "").strip() if key == "other" else str(REASONS.get(key, ""))
    if not reason:
        flash(_("Choose a reason, or write one, before operating the barrier."), "error")
        return redirect(url_for("kiosk_vehicles.screen"))
    try:
        port = web_link.commander()
    except (ConnectionError, ValueError):
        flash(_("Cannot reach the gate controllers (MQTT broker). Open the barrier by hand and "
                "write a note in the shift book."), "error")
        return redirect(url_for("kiosk_vehicles.screen"))
    try:
        confirmed = request.form.get("confirm") == "yes"
        command = vehicle_prompts.order_open(current_site(), event_id, reason, current_user,
                                             shift_id=shift.id, confirmed=confirmed)
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("kiosk_vehicles.screen"))
    outcome, state = port.send_and_wait(command)
    barriers.record_outcome(command.id, outcome, state)
    category, message = OUTCOME_MESSAGES[outcome]
    name = db.session.scalars(select(Device.name).where(Device.site_id == current_site().id,
                                                        Device.code == command.device)).first()
    flash(f"{name or command.device}: {message}", category)
    return redirect(url_for("kiosk_vehicles.screen"))


SESSION_KINDS = {
    "resident": _l("Resident"), "visitor_pass": _l("Visitor (pass)"), "visitor": _l("Visitor"),
    "vip": _l("Leadership"), "manual": _l("Opened by hand"), "unknown": _l("Unknown"),
}


@bp.get("/onsite")
@guard_only
def onsite():
    """Cars on the estate now, overstaying visitor cars first and marked."""
    from gate.models import Unit
    from gate.services import parking

    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    site = current_site()
    cars = parking.on_site(site.id)
    now = utcnow()
    cars.sort(key=lambda c: (not parking.is_overstay(c, now), c.entered_at))
    units = dict(db.session.execute(select(Unit.id, Unit.code).where(
        Unit.id.in_({c.unit_id for c in cars if c.unit_id}))).all())
    return render_template("kiosk/vehicles_onsite.html", cars=cars, units=units, kinds=SESSION_KINDS,
                           overstay={c.id for c in cars if parking.is_overstay(c, now)},
                           form=PlainForm())


@bp.post("/onsite/<int:session_id>/left")
@guard_only
def mark_left(session_id: int):
    """The guard records that a car has gone although no camera saw it leave."""
    from gate.services import parking

    shift = _answer()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    try:
        car = parking.mark_left(session_id, current_site().id, current_user, shift_id=shift.id)
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("%(plate)s is recorded as gone.", plate=car.plate), "success")
    return redirect(url_for("kiosk_vehicles.onsite"))
