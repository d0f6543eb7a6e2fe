"""Resident portal: the household, visitors asking at the gate right now, messages left, notices
from the gate (a visitor came in on a pass…) and today's expected visitors."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gate.extensions import db
from gate.models import PortalNotice, Resident, Role, Visit
from gate.models.types import utcnow
from gate.services import ActionError, auth, notices, passes, visits
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import localtime
from kiosk_ui.portal_passes import describe
from kiosk_ui.portal_slips import open_slips, status_label

bp = Blueprint("portal", __name__, url_prefix="/portal")
residents = auth.roles_required(Role.RESIDENT)

# A request older than this is not shown: the visitor has long left the gate.
REQUEST_WINDOW = timedelta(hours=2)
MESSAGE_DAYS = 30


def _resident() -> Resident | None:
    """The signed-in resident's row, if they still live here (a moved-out household sees nothing)."""
    resident = db.session.scalars(select(Resident).where(Resident.user_id == current_user.id)).first()
    return None if resident is None or resident.moved_out_at is not None else resident


def _moved_out() -> bool:
    return db.session.scalar(select(Resident.moved_out_at).where(
        Resident.user_id == current_user.id)) is not None


def pending_requests(unit_id: int) -> list[Visit]:
    """Visitors at the gate for this unit whom nobody has answered for yet, oldest first."""
    return list(db.session.scalars(
        select(Visit).where(Visit.unit_id == unit_id, Visit.state == "waiting_host",
                            Visit.host_answer.is_(None), Visit.created_at > utcnow() - REQUEST_WINDOW)
        .options(selectinload(Visit.visitor)).order_by(Visit.created_at, Visit.id)))


def messages(unit_id: int) -> list[Visit]:
    """Messages visitors left when the host was out or declined, newest first, last 30 days."""
    return list(db.session.scalars(
        select(Visit).where(Visit.unit_id == unit_id, Visit.state == "declined",
                            Visit.message.is_not(None),
                            Visit.created_at > utcnow() - timedelta(days=MESSAGE_DAYS))
        .options(selectinload(Visit.visitor)).order_by(Visit.created_at.desc(), Visit.id.desc())))


def _request_json(visit: Visit) -> dict:
    # Name as the visitor gave it, purpose, time: never the ID number or the phone.
    return {"id": visit.id, "name": visit.visitor.name, "purpose": visit.purpose or "",
            "plate": visit.plate or "", "asked_at": localtime(visit.created_at, "%H:%M"),
            "answer_url": url_for("portal.answer", visit_id=visit.id)}


def notice_text(notice: PortalNotice) -> str:
    """A notice from the gate as a sentence, with its time in site time (and date if not today)."""
    params = notice.params or {}
    same_day = localtime(notice.created_at, "%Y-%m-%d") == passes.today().isoformat()
    at = localtime(notice.created_at, "%H:%M" if same_day else "%m-%d %H:%M")
    name, plate = params.get("name", ""), params.get("plate", "")
    if notice.kind == "pass_admitted":
        return _("%(name)s came in with your pass at %(time)s", name=name, time=at)
    if notice.kind == "pass_vehicle":
        return _("%(name)s drove in with your pass (car %(plate)s) at %(time)s", name=name, plate=plate,
                 time=at)
    if notice.kind == "worker_in":
        return _("Renovation worker %(name)s came in at %(time)s", name=name, time=at)
    if notice.kind == "worker_out":
        return _("Renovation worker %(name)s left at %(time)s", name=name, time=at)
    serial = params.get("serial", "")
    if notice.kind == "slip_approved":
        return _("Release slip %(serial)s approved at %(time)s: show its QR at the gate", serial=serial,
                 time=at)
    if notice.kind == "slip_refused":
        return _("Your release slip application was refused at %(time)s: open it to see why", time=at)
    if notice.kind == "slip_released":
        return _("The goods on release slip %(serial)s left through the gate at %(time)s", serial=serial,
                 time=at)
    if notice.kind == "slip_gate_refused":
        return _("The gate stopped goods on release slip %(serial)s at %(time)s", serial=serial, time=at)
    return _("A notice from the gate at %(time)s", time=at)


def _notice_json(notice: PortalNotice) -> dict:
    return {"id": notice.id, "kind": notice.kind, "text": notice_text(notice)}


@bp.get("/")
@residents
def home():
    """The household: live requests from the gate, notices, today's expected visitors, messages."""
    resident = _resident()
    if resident is None:
        return render_template("portal/home.html", resident=None, moved_out=_moved_out())
    unread = notices.unread(resident.unit_id)
    expected = [(p, describe(p)) for p in passes.expected_today(resident.unit_id)]
    return render_template("portal/home.html", resident=resident, form=PlainForm(),
                           requests=pending_requests(resident.unit_id), notes=messages(resident.unit_id),
                           notices=[(n, notice_text(n)) for n in unread], expected=expected,
                           slips=open_slips(resident.unit), slip_status=status_label)


@bp.get("/requests")
@residents
def pending():
    """Pending requests and unread notices as JSON; portal.js polls this every second."""
    resident = _resident()
    rows = [] if resident is None else pending_requests(resident.unit_id)
    unread = [] if resident is None else notices.unread(resident.unit_id)
    response = jsonify(requests=[_request_json(v) for v in rows],
                       notices=[_notice_json(n) for n in unread])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/notices/read")
@residents
def notices_read():
    """Mark the notices the resident has seen (up to the newest shown) as read."""
    resident = _resident()
    if resident is None:
        abort(404)
    if not PlainForm().validate():
        abort(400)
    up_to = request.form.get("up_to", type=int)
    if up_to is not None:
        notices.mark_read(resident.unit_id, up_to)
    return redirect(url_for("portal.home"))


@bp.post("/visits/<int:visit_id>/answer")
@residents
def answer(visit_id: int):
    """The resident lets a visitor in or declines; only for visits to their own unit."""
    resident = _resident()
    visit = db.session.get(Visit, visit_id)
    if resident is None or visit is None or visit.unit_id != resident.unit_id:
        abort(404)
    if not PlainForm().validate():
        abort(400)
    choice = request.form.get("answer", "")
    if choice not in ("approved", "declined"):
        flash(_("Tap Approve or Decline."), "error")
        return redirect(url_for("portal.home"))
    name = visit.visitor.name
    try:
        visits.host_answer(visit, choice, by="portal", actor=current_user)
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        if choice == "approved":
            flash(_("Thank you. The guard will let %(name)s in.", name=name), "success")
        else:
            flash(_("The guard will tell %(name)s that you cannot receive them now.", name=name), "success")
    return redirect(url_for("portal.home"))
