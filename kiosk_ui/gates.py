"""The kiosk's gate panel: each barrier's state, and opening or closing one by hand with a reason."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Device, DeviceStatus, Role
from gate.services import ActionError, auth, barriers, shifts
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm

bp = Blueprint("gates", __name__, url_prefix="/kiosk/gates")
guard_only = auth.roles_required(Role.GUARD)

# The usual reasons, one tap each; "other" asks for words (SPEC §2.4: manual opening needs a reason).
REASONS = {
    "visitor": _l("Visitor confirmed by the host"),
    "resident": _l("Resident without card or with an unread plate"),
    "emergency": _l("Ambulance, fire engine or police"),
    "delivery": _l("Delivery or removal with a release slip"),
    "maintenance": _l("Maintenance or testing"),
}
OUTCOME_MESSAGES = {
    "done": ("success", _l("Done: the barrier confirmed it.")),
    "rejected": ("error", _l("The barrier refused the command (it may be locked). Check it, "
                             "and open it by hand if you must; note why.")),
    "expired": ("error", _l("The command arrived too late and was not carried out. Try again.")),
    "no_answer": ("error", _l("The barrier did not answer. Check its power and network; open it "
                              "by hand if you must and note why.")),
}


def _barriers() -> list[tuple[Device, DeviceStatus | None]]:
    site = current_site()
    devices = db.session.scalars(select(Device).where(Device.site_id == site.id,
                                                      Device.kind == "barrier").order_by(Device.id))
    return [(d, db.session.get(DeviceStatus, (site.code, "barrier", d.code))) for d in devices]


@bp.get("/")
@guard_only
def panel():
    """Every barrier with its last known state and open/close buttons."""
    return render_template("kiosk/gates.html", barriers=_barriers(), reasons=REASONS,
                           form=PlainForm())


@bp.post("/<code>/<action>")
@guard_only
def operate(code: str, action: str):
    """Open or close one barrier by hand, with a reason, and tell the guard exactly what happened."""
    from device_adapters import web_link

    if action not in ("open", "close") or not PlainForm().validate():
        abort(400)
    device = db.session.scalars(select(Device).where(
        Device.site_id == current_site().id, Device.kind == "barrier", Device.code == code)).first()
    if device is None:
        abort(404)
    shift = shifts.current_shift(current_user)
    if shift is None:
        flash(_("Start your shift first."), "info")
        return redirect(url_for("kiosk.start"))
    key = request.form.get("reason", "")
    reason = request.form.get("other", "").strip() if key == "other" else str(REASONS.get(key, ""))
    if not reason:
        flash(_("Choose a reason, or write one, before operating the barrier."), "error")
        return redirect(url_for("gates.panel"))
    try:
        port = web_link.commander()
    except ConnectionError:
        flash(_("Cannot reach the gate controllers (MQTT broker). Open the barrier by hand and "
                "write a note in the shift book."), "error")
        return redirect(url_for("gates.panel"))
    try:
        outcome = barriers.operate(device, action, reason, port, source=barriers.MANUAL,
                                   actor_id=current_user.id, shift_id=shift.id)
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        category, message = OUTCOME_MESSAGES[outcome]
        flash(f"{device.name}: {message}", category)
    return redirect(url_for("gates.panel"))
