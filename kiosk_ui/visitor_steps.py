"""The visit page and each step after check-in: the host's answer (live from the portal, or the
guard's phone call), the supervisor, admission with the gate, the message for an absent host; the
printed slip with the QR the scanner reads at check-out, the on-site list, check-out.

Routes live on the visitor desk's blueprint (kiosk_ui/visitors.py).
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Approval, Visit
from gate.models.types import utcnow
from gate.services import ActionError, visits
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.gates import OUTCOME_MESSAGES
from kiosk_ui.helpers import localtime
from kiosk_ui.qr_images import qr_svg
from kiosk_ui.scripts import script
from kiosk_ui.visitors import ID_KINDS, attempt, bp, guard_only, shift_or_none, visit_or_404

POLL_FOR = timedelta(minutes=30)      # a visit page stops polling after this (idle logout can work)
WAITING = ("waiting_host", "waiting_supervisor")
PANEL_SCRIPTS = {"waiting_host": "wait_host", "approved": "welcome", "declined": "host_absent",
                 "refused": "id_refused", "admitted": "welcome", "forced": "forced", "checked_out": "goodbye"}
REFUSE_REASONS = ("refused_id", "guard")
SLIP_SIZES = {"80mm": _l("80 mm receipt"), "a5": _l("A5 sheet")}


def mask_name(name: str) -> str:
    """张*三: a slip in a visitor's pocket shows the first and last character only."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _stale(visit: Visit) -> bool:
    """True (with a message) if the guard's screen showed an older version of the visit."""
    shown = request.form.get("version", type=int)
    if shown is not None and shown != visit.version:
        flash(_("This visit changed since your screen showed it (another guard or the host "
                "answered). Check it again."), "error")
        return True
    return False


def _panel(visit: Visit) -> dict:
    """What the visit page shows for the visit's state: panel, script, the supervisor request."""
    approval = db.session.scalars(select(Approval).where(Approval.visit_id == visit.id)
                                  .order_by(Approval.id.desc())).first()
    panel = "approved" if visit.state == "waiting_host" and visit.host_answer == "approved" else visit.state
    key = PANEL_SCRIPTS.get(panel, "wait_host")
    if panel == "waiting_supervisor":
        key = "forgot_id" if approval and approval.kind == "forgot_id" else "id_refused"
    seconds = int((approval.due_at - utcnow()).total_seconds()) if approval else 0
    poll = visit.state in WAITING and utcnow() - visit.created_at < POLL_FOR
    return dict(visit=visit, panel=panel, script_key=key, approval=approval, seconds_left=seconds,
                poll=poll, no_id=visit.visitor.id_hash is None, form=PlainForm(), id_kinds=ID_KINDS)


@bp.get("/<int:visit_id>")
@guard_only
def show(visit_id: int):
    """The visit page: one next step for the visit's state."""
    return render_template("kiosk/visitor_visit.html", **_panel(visit_or_404(visit_id)))


@bp.get("/<int:visit_id>/status")
@guard_only
def status(visit_id: int):
    """The visit's state for the page's 1 s poll, with the panel to swap in when it changed."""
    ctx = _panel(visit_or_404(visit_id))
    visit = ctx["visit"]
    return jsonify(state=visit.state, host_answer=visit.host_answer, version=visit.version,
                   poll=ctx["poll"], banner=script(ctx["script_key"]), seconds_left=ctx["seconds_left"],
                   html=render_template("kiosk/visitor_panel.html", **ctx))


def _step(visit_id: int, action, *args):
    """A guard's step on a visit: shift, fresh screen, the service call, back to the visit page."""
    visit = visit_or_404(visit_id)
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    if not PlainForm().validate():
        abort(400)
    if not _stale(visit):
        attempt(action, visit, *args)
    return redirect(url_for("visitors.show", visit_id=visit_id))


@bp.post("/<int:visit_id>/host")
@guard_only
def host(visit_id: int):
    """The guard phoned the host: confirmed, not home, or declined."""
    return _step(visit_id, lambda v: visits.host_answer(v, request.form.get("answer", ""), by="phone",
                                                        actor=current_user))


@bp.post("/<int:visit_id>/escalate")
@guard_only
def escalate(visit_id: int):
    """Ask the supervisor (forgot ID / refuses ID); the answer is promised within minutes."""
    return _step(visit_id, visits.escalate, request.form.get("kind", ""), current_user)


@bp.post("/<int:visit_id>/refuse")
@guard_only
def refuse(visit_id: int):
    """The guard refuses entry (the visitor will not show ID)."""
    reason = request.form.get("reason", "")
    return _step(visit_id, visits.refuse, reason if reason in REFUSE_REASONS else "guard", current_user)


@bp.post("/<int:visit_id>/message")
@guard_only
def message(visit_id: int):
    """Keep the visitor's message or card for the absent host."""
    visit = visit_or_404(visit_id)
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    if not PlainForm().validate():
        abort(400)
    if attempt(visits.leave_message, visit, request.form.get("message", ""), current_user)[0]:
        flash(_("Message saved for the host."), "success")
    return redirect(url_for("visitors.show", visit_id=visit_id))


@bp.post("/<int:visit_id>/admit")
@guard_only
def admit(visit_id: int):
    """Admit an approved visitor and open the pedestrian gate; say exactly what the gate did."""
    from device_adapters import web_link

    visit = visit_or_404(visit_id)
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    if not PlainForm().validate():
        abort(400)
    if _stale(visit):
        return redirect(url_for("visitors.show", visit_id=visit_id))
    try:
        port = web_link.commander()
    except ConnectionError:
        port = None
    ok, outcome = attempt(visits.admit, visit, current_user, port)
    if ok and port is None:
        flash(_("Admitted. The gate controllers cannot be reached: open the pedestrian gate by hand."),
              "warning")
    elif ok and outcome is None:
        flash(_("Admitted. No pedestrian barrier is set up: let the visitor through by hand."), "warning")
    elif ok:
        category, text = OUTCOME_MESSAGES[outcome]
        flash(_("Admitted.") + " " + str(text), category)
    return redirect(url_for("visitors.show", visit_id=visit_id))


@bp.get("/<int:visit_id>/slip")
@guard_only
def slip(visit_id: int):
    """The printable visitor slip: masked name, unit, time in, and the slip's QR for check-out."""
    visit = visit_or_404(visit_id)
    if not visit.slip_token:
        flash(_("A slip is printed once the visitor is admitted."), "info")
        return redirect(url_for("visitors.show", visit_id=visit_id))
    size = request.args.get("size", "80mm")
    size = size if size in SLIP_SIZES else "80mm"
    return render_template("kiosk/slip.html", visit=visit, size=size, sizes=SLIP_SIZES, estate=current_site(),
                           name=mask_name(visit.visitor.name), qr=qr_svg(visit.slip_token))


@bp.get("/onsite")
@guard_only
def onsite():
    """Who is inside now, longest first: check-out by scan or by tap; printable for evacuation."""
    return render_template("kiosk/onsite.html", inside=visits.on_site(current_user.site_id),
                           form=PlainForm(), script_key="goodbye")


@bp.post("/checkout")
@guard_only
def checkout():
    """Check a visitor out: the slip's QR typed by the scanner (`token`) or a row of the list."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    if not PlainForm().validate():
        abort(400)
    token = request.form.get("token", "").strip()
    visit_id = request.form.get("visit_id", type=int)
    try:
        if token:
            visit, how = visits.by_slip(current_user.site_id, token), "slip"
        elif visit_id:
            visit, how = visits.get(current_user.site_id, visit_id), "list"
        else:
            raise ActionError("no_slip", _l("Scan the visitor's slip, or tap the visitor in the list."))
    except ActionError as exc:
        flash(exc.message, "error")
        return redirect(url_for("visitors.onsite"))
    if visit.state == "checked_out":
        flash(_("%(name)s already left at %(t)s.", name=visit.visitor.name,
                t=localtime(visit.left_at, "%H:%M")), "info")
    elif attempt(visits.check_out, visit, current_user, how)[0]:
        flash(_("%(name)s checked out (unit %(unit)s).", name=visit.visitor.name, unit=visit.unit.code),
              "success")
    return redirect(url_for("visitors.onsite"))
