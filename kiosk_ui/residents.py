"""Residents' accounts: activation codes and moving out (desk), first password (public)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from gate.extensions import db, limiter
from gate.models import Resident, Role
from gate.services import ActionError, activation, auth
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm

bp = Blueprint("residents", __name__)
desk_staff = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN)


class ActivateForm(FlaskForm):
    """A resident's first password: phone, the code from the service desk, the password twice."""

    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=30)])
    code = StringField(_l("Activation code"), validators=[DataRequired(), Length(max=20)])
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    password2 = PasswordField(_l("Repeat the password"), validators=[DataRequired()])


class MoveOutForm(FlaskForm):
    """The desk confirms a move-out, with an optional note."""

    note = TextAreaField(_l("Note (optional)"), validators=[Length(max=activation.MAX_NOTE)])


def _limit() -> str:
    return current_app.config["GATE_LOGIN_RATE_LIMIT"]


def _resident(resident_id: int) -> Resident:
    """A resident of this estate, or 404 (another estate's residents do not exist here)."""
    resident = db.session.get(Resident, resident_id)
    site = current_site()
    if resident is None or site is None or resident.unit.site_id != site.id:
        abort(404)
    return resident


def _back_to(resident: Resident) -> Response:
    return redirect(url_for("desk.home", unit=resident.unit.code))


@bp.post("/desk/residents/<int:resident_id>/activation")
@desk_staff
def issue_code(resident_id: int):
    """Issue a one-time activation code and show it once on a printable card."""
    resident = _resident(resident_id)
    if not PlainForm().validate():
        abort(400)
    try:
        code = activation.issue_code(current_user, resident)
    except ActionError as exc:
        flash(exc.message, "error")
        return _back_to(resident)
    issued = activation.latest_code(resident.id)
    response = make_response(render_template(
        "desk/activation_code.html", resident=resident, estate=current_site(),
        code_groups=(code[:4], code[4:]), expires_at=issued.expires_at))
    response.headers["Cache-Control"] = "no-store"  # the clear code is shown once, never cached
    return response


@bp.route("/desk/residents/<int:resident_id>/move-out", methods=["GET", "POST"])
@desk_staff
def move_out(resident_id: int):
    """Confirm, then mark a resident as moved out; their portal account closes at once."""
    resident = _resident(resident_id)
    form = MoveOutForm()
    if request.method == "GET":
        return render_template("desk/move_out.html", resident=resident, form=form)
    if not form.validate():
        flash(_("Keep the note under 1000 characters."), "error")
        return render_template("desk/move_out.html", resident=resident, form=form), 400
    try:
        activation.move_out(current_user, resident, form.note.data or "")
    except ActionError as exc:
        flash(exc.message, "error")
        return _back_to(resident)
    flash(_("%(name)s is marked as moved out. Their portal account is closed.",
            name=resident.name), "success")
    return _back_to(resident)


@bp.route("/portal/activate", methods=["GET", "POST"])
@auth.public
@limiter.limit(_limit, methods=["POST"])
def activate():
    """A resident sets their first portal password with the code from the service desk."""
    form = ActivateForm()
    if request.method == "GET":
        if current_user.is_authenticated and current_user.role == Role.RESIDENT:
            return redirect(url_for("portal.home"))
        return render_template("portal/activate.html", form=form)
    if not form.validate():
        flash(_("Fill in your mobile number, the code from the service desk and your new "
                "password twice."), "error")
        return render_template("portal/activate.html", form=form), 400
    try:
        user = activation.activate(form.phone.data, form.code.data, form.password.data,
                                   form.password2.data)
    except ActionError as exc:
        flash(exc.message, "error")
        return render_template("portal/activate.html", form=form), 422
    auth.log_in(user)
    flash(_("Your password is set. Next time, sign in with your mobile number and this password."),
          "success")
    return redirect(url_for("portal.home"))
