"""Service desk, goods release slips (放行条, SPEC §2.3): decide, apply on a resident's behalf,
print, export; supervisors read and export.

Slips are looked up through the estate (`slips.of_site`): another site's slip is a plain 404.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import ReleaseSlip, Resident, Role, Unit
from gate.models.types import utcnow
from gate.services import ActionError, auth, sites, slips
from gate.services.sites import current_site
from kiosk_ui.csv_export import csv_response
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import localtime, mask_phone
from kiosk_ui.portal_slips import (
    STATUS_LABELS,
    blank_values,
    form_context,
    read_form,
    reason_label,
    render_print,
    status_label,
    submit,
)

bp = Blueprint("desk_slips", __name__, url_prefix="/desk/slips")
desk_staff = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN)
readers = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN, Role.SUPERVISOR)
WAITING = ("pending_consent", "pending")


def _slip(slip_id: int) -> ReleaseSlip:
    """A slip of this estate, or 404."""
    try:
        return slips.of_site(current_site().id, slip_id)
    except ActionError as exc:
        if exc.code == "not_found":
            abort(404)
        raise


def _filters() -> tuple[dict[str, Any], dict[str, str], str | None]:
    """The list filters from the query string: (listing arguments, values as typed, error)."""
    typed = {key: (request.args.get(key) or "").strip() for key in ("status", "from", "to", "unit")}
    args: dict[str, Any] = {"state": typed["status"] if typed["status"] in STATUS_LABELS else ""}
    typed["status"] = args["state"]
    try:
        for key, name in (("from", "date_from"), ("to", "date_to")):
            args[name] = date.fromisoformat(typed[key]) if typed[key] else None
    except ValueError:
        return args, typed, _("Enter dates as YYYY-MM-DD.")
    if typed["unit"]:
        try:
            args["unit_id"] = sites.unit_by_code(current_site().id, typed["unit"]).id
        except ActionError as exc:
            return args, typed, exc.message
    return args, typed, None


EXPORT_LIMIT = 50_000  # a year of a large estate; the screen shows the newest 500


def _rows(args: dict[str, Any], limit: int = 500) -> list[tuple[ReleaseSlip, str]]:
    now = utcnow()
    return [(s, slips.status(s, now)) for s in slips.listing(current_site().id, limit=limit, **args)]


@bp.get("/")
@readers
def listing():
    """Slips by status, date and unit; those waiting for a decision first, with the fees flag."""
    args, typed, error = _filters()
    rows = [] if error else _rows(args)
    waiting = sorted((r for r in rows if r[1] in WAITING), key=lambda r: (r[0].on_date, r[0].id))
    others = [r for r in rows if r[1] not in WAITING]
    fees = {s.unit_id: slips.fees_outstanding(s.unit_id) for s, _status in waiting}
    return render_template("desk/slips.html", waiting=waiting, others=others, fees=fees, typed=typed,
                           error=error, statuses=STATUS_LABELS, status_label=status_label,
                           reason_label=reason_label)


def _show(slip: ReleaseSlip, error: str | None = None, status: int = 200):
    unit = db.session.get(Unit, slip.unit_id)
    return render_template("desk/slip_show.html", slip=slip, unit=unit, status=slips.status(slip),
                           fees=slips.fees_outstanding(unit.id), error=error, form=PlainForm(),
                           status_label=status_label, reason_label=reason_label), status


@bp.get("/<int:slip_id>")
@readers
def show(slip_id: int):
    """One slip: items, applicant, consent, fees flag and the decision buttons."""
    return _show(_slip(slip_id))


def _act(slip_id: int, action, done: str):
    """Run one desk decision; a refusal of the service shows the page again with the reason."""
    slip = _slip(slip_id)
    if not PlainForm().validate():
        abort(400)
    try:
        action(slip)
    except ActionError as exc:
        return _show(slip, exc.message, 422)
    flash(done, "success")
    return redirect(url_for("desk_slips.show", slip_id=slip.id))


@bp.post("/<int:slip_id>/approve")
@desk_staff
def approve(slip_id: int):
    """Approve: serial number and QR; refused while the unit's fees are flagged."""
    return _act(slip_id, lambda s: slips.approve(current_user, s), _("Slip approved. Print it or tell "
                                                                     "the resident to show the QR."))


@bp.post("/<int:slip_id>/refuse")
@desk_staff
def refuse(slip_id: int):
    """Refuse with a reason the resident sees."""
    reason = request.form.get("reason", "")
    return _act(slip_id, lambda s: slips.refuse(current_user, s, reason), _("Application refused."))


@bp.post("/<int:slip_id>/consent")
@desk_staff
def consent(slip_id: int):
    """Record the owner's consent given by phone or in person, naming the owner."""
    note = request.form.get("note", "")
    return _act(slip_id, lambda s: slips.desk_consent(current_user, s, note),
                _("Owner's consent recorded."))


@bp.post("/units/<int:unit_id>/fees")
@desk_staff
def fees(unit_id: int):
    """Set or clear the unit's outstanding-fees flag, then go back to the slip (or the list)."""
    unit = db.session.get(Unit, unit_id)
    if unit is None or unit.site_id != current_site().id:
        abort(404)
    if not PlainForm().validate():
        abort(400)
    slip_id = request.form.get("slip_id", type=int)
    back = url_for("desk_slips.show", slip_id=_slip(slip_id).id) if slip_id else url_for("desk_slips.listing")
    outstanding = request.form.get("outstanding") == "1"
    try:
        slips.set_fees_flag(current_user, unit, outstanding, request.form.get("note", ""))
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Unit %(code)s: fees marked outstanding.", code=unit.code) if outstanding
              else _("Unit %(code)s: fees flag cleared.", code=unit.code), "success")
    return redirect(back)


def _applicants(unit: Unit | None) -> list[Resident]:
    if unit is None:
        return []
    return list(db.session.scalars(select(Resident).where(Resident.unit_id == unit.id,
                                                          Resident.moved_out_at.is_(None))
                                   .order_by(Resident.is_owner.desc(), Resident.id)))


@bp.route("/new", methods=["GET", "POST"])
@desk_staff
def new():
    """Apply on a resident's behalf: the unit, the applicant, the goods; a tenant's owner consent."""
    source = request.form if request.method == "POST" else request.args
    code = (source.get("unit") or "").strip()
    values = blank_values() if request.method == "GET" else read_form()
    extra = {"unit": code, "applicant": request.form.get("applicant", ""),
             "consent_note": (request.form.get("consent_note") or "").strip()}
    unit, error, status = None, None, 200
    if code:
        try:
            unit = sites.unit_by_code(current_site().id, code)
        except ActionError as exc:
            error, status = exc, 422
    if request.method == "POST" and error is None:
        if not PlainForm().validate():
            abort(400)
        applicant_id = request.form.get("applicant", type=int)
        applicant = db.session.get(Resident, applicant_id) if applicant_id else None
        try:
            if unit is None:
                raise ActionError("bad_unit", _("Write the unit as building-entrance-room, e.g. 1-1-101."))
            slip = submit(current_user, unit, applicant, values, via="desk",
                          consent_note=extra["consent_note"])
        except ActionError as exc:
            error, status = exc, 422
        else:
            flash(_("Application saved for unit %(code)s.", code=unit.code), "success")
            return redirect(url_for("desk_slips.show", slip_id=slip.id))
    return render_template("desk/slip_new.html", form=PlainForm(), unit=unit, extra=extra,
                           applicants=_applicants(unit), **form_context(values, error)), status


@bp.get("/<int:slip_id>/print")
@readers
def printable(slip_id: int):
    """The printable slip (A5 or 80 mm receipt) for an approved or released slip."""
    slip = _slip(slip_id)
    if slip.state not in ("approved", "released"):
        abort(404)
    return render_print(slip, url_for("desk_slips.show", slip_id=slip.id), "desk_slips.printable")


@bp.get("/export.csv")
@readers
def export():
    """The filtered list as CSV for Excel (UTF-8 with BOM); phones masked, never an ID number."""
    args, _typed, error = _filters()
    if error:
        flash(error, "error")
        return redirect(url_for("desk_slips.listing"))
    header = [_("Serial"), _("Date"), _("Unit"), _("Status"), _("Reason"), _("Items"), _("Total items"),
              _("Carrier"), _("Carrier phone"), _("Plate"), _("Applied via"), _("Decided at"),
              _("Released at")]
    units = {u.id: u.code for u in db.session.scalars(select(Unit).where(Unit.site_id == current_site().id))}
    rows = []
    for slip, status in _rows(args, EXPORT_LIMIT):
        lines = "; ".join(f"{i.description} ×{i.count}" for i in slip.items)
        rows.append((
            slip.serial or "", slip.on_date.isoformat(), units.get(slip.unit_id, ""), status_label(status),
            reason_label(slip.reason), lines, sum(i.count for i in slip.items), slip.carrier_name,
            mask_phone(slip.carrier_phone), slip.plate or "", slip.applied_via,
            localtime(slip.decided_at, "%Y-%m-%d %H:%M"), localtime(slip.released_at, "%Y-%m-%d %H:%M")))
    return csv_response(header, rows, f"release-slips-{utcnow():%Y%m%d}.csv")
