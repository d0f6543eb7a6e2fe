"""Renovation worker passes (装修出入证, seed §十一): the service desk issues, prints and revokes.

Guards scan them on the kiosk pass screen like visitor passes; each entry and exit is a
PassUse row and a shift-book entry, listed on the pass's page here.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from gate.domain.passes import display_code
from gate.extensions import db
from gate.models import PassUse, Role, Unit, VisitorPass
from gate.models.types import utcnow
from gate.services import ActionError, auth, passes, sites
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.qr_images import qr_svg

bp = Blueprint("workers", __name__, url_prefix="/desk/workers")
desk_staff = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN)
readers = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN, Role.SUPERVISOR)
FIELDS = ("unit", "name", "id_number", "employer", "phone", "starts_on", "ends_on", "daily_from",
          "daily_until")


def _date(text: str | None) -> date | None:
    if not (text or "").strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ActionError("bad_date", _("Enter dates as YYYY-MM-DD.")) from None


def _pass(pass_id: int) -> VisitorPass:
    visitor_pass = db.session.get(VisitorPass, pass_id)
    if visitor_pass is None or visitor_pass.site_id != current_site().id or visitor_pass.kind != "worker":
        abort(404)
    return visitor_pass


@bp.get("/")
@readers
def listing():
    """Worker passes still valid or ended in the last week, by unit."""
    since = utcnow()
    rows = db.session.scalars(
        select(VisitorPass).where(VisitorPass.site_id == current_site().id,
                                  VisitorPass.kind == "worker")
        .order_by(VisitorPass.valid_until.desc(), VisitorPass.id.desc()).limit(200)).all()
    return render_template("desk/workers.html", rows=rows, now=since, status=passes.status)


@bp.route("/new", methods=["GET", "POST"])
@desk_staff
def new():
    """Issue a worker's pass for a unit's renovation: name, ID (kept masked), employer, dates, hours."""
    form = PlainForm()
    values = {key: (request.form.get(key) or "").strip() for key in FIELDS}
    if request.method == "GET":
        values.update(unit=request.args.get("unit", ""), daily_from="08:00", daily_until="18:00",
                      starts_on=passes.today().isoformat(), ends_on=passes.today().isoformat())
    elif form.validate():
        try:
            unit = sites.unit_by_code(current_site().id, values["unit"])
            visitor_pass = passes.issue_worker_pass(
                current_user, unit, name=values["name"], id_number=values["id_number"],
                employer=values["employer"], phone=values["phone"],
                starts_on=_date(values["starts_on"]), ends_on=_date(values["ends_on"]),
                daily_from=values["daily_from"], daily_until=values["daily_until"])
        except ActionError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Worker pass issued. Print it and hand it over."), "success")
            return redirect(url_for("workers.card", pass_id=visitor_pass.id))
    values["id_number"] = ""  # never echo a clear ID number back into the page
    return render_template("desk/worker_new.html", form=form, values=values,
                           max_days=passes.WORKER_MAX_DAYS)


@bp.get("/<int:pass_id>")
@readers
def card(pass_id: int):
    """The printable worker card with its QR, and every entry and exit so far."""
    visitor_pass = _pass(pass_id)
    uses = db.session.scalars(select(PassUse).where(PassUse.pass_id == pass_id)
                              .order_by(PassUse.at.desc()).limit(200)).all()
    return render_template("desk/worker_card.html", p=visitor_pass,
                           unit=db.session.get(Unit, visitor_pass.unit_id),
                           qr=qr_svg(passes.token_for(visitor_pass)),
                           code=display_code(visitor_pass.code), uses=uses,
                           status=passes.status(visitor_pass), form=PlainForm())


@bp.post("/<int:pass_id>/revoke")
@desk_staff
def revoke(pass_id: int):
    """Withdraw a worker's pass (job finished, worker dismissed); the gate refuses it from now on."""
    visitor_pass = _pass(pass_id)
    if not PlainForm().validate():
        abort(400)
    try:
        passes.revoke(visitor_pass, current_user)
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Pass revoked."), "success")
    return redirect(url_for("workers.card", pass_id=pass_id))
