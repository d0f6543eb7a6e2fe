"""Resident portal, visitor passes: create one on the phone, list them, show the QR, share, revoke.

Every pass page is looked up through the resident's own unit (`passes.of_unit`): another
household's pass, or one that does not exist, is a plain 404 so ids reveal nothing.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from gate.domain.passes import display_code
from gate.extensions import db
from gate.models import Role, Site, VisitorPass
from gate.models.types import utcnow
from gate.services import ActionError, auth, passes
from kiosk_ui.forms import PlainForm
from kiosk_ui.household import require_household
from kiosk_ui.qr_images import qr_png, qr_svg

bp = Blueprint("passes", __name__, url_prefix="/portal/passes")
residents = auth.roles_required(Role.RESIDENT)

STATUS_LABELS = {
    "active": _l("Valid now"),
    "upcoming": _l("Not valid yet"),
    "expired": _l("Expired"),
    "used_up": _l("Used up"),
    "revoked": _l("Revoked"),
}
SHOWS_QR = ("active", "upcoming")  # a dead pass shows no code: nothing to scan, nothing to copy
USES = (("single", _l("Once")), ("count", _l("A number of times")),
        ("unlimited", _l("Unlimited within the dates")))
# Which field an error from passes.create is about (marked and focused on the form).
# Others (too many passes, a too-long text) are shown at the top of the form.
ERROR_FIELDS = {"name_required": "name", "bad_phone": "phone", "bad_plate": "plate", "bad_count": "count",
                "bad_uses": "uses", "bad_date": "starts_on", "bad_time": "start_time",
                "bad_window": "ends_on", "past_window": "starts_on", "window_too_long": "ends_on"}
DEFAULT_START, DEFAULT_END = "00:00", "23:59"


class PassForm(FlaskForm):
    """A visitor pass as the resident types it; passes.create does the validation."""

    name = StringField(_l("Visitor's name"))
    phone = StringField(_l("Visitor's mobile (optional)"))
    plate = StringField(_l("Car plate (optional)"))
    purpose = StringField(_l("Purpose (optional)"))
    starts_on = StringField(_l("From"))
    ends_on = StringField(_l("Until"))
    start_time = StringField(_l("From (time)"), default=DEFAULT_START)
    end_time = StringField(_l("Until (time)"), default=DEFAULT_END)
    uses = StringField(_l("How many times"), default="single")
    count = StringField(_l("Number of times"))


def _zone_local(moment: datetime) -> datetime:
    return moment.astimezone(passes.site_zone())


def window_label(visitor_pass: VisitorPass) -> str:
    """The window in site time as residents read it: 2025-05-01 00:00–23:59 (end inclusive)."""
    start = _zone_local(visitor_pass.valid_from)
    end = _zone_local(visitor_pass.valid_until - timedelta(minutes=1))
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"


def hours_label(visitor_pass: VisitorPass) -> str:
    """The window for a list of today's visitors: only the times when it lies within today."""
    start = _zone_local(visitor_pass.valid_from)
    end = _zone_local(visitor_pass.valid_until - timedelta(minutes=1))
    if start.date() == end.date() == passes.today():
        return f"{start:%H:%M}–{end:%H:%M}"
    return f"{start:%m-%d %H:%M} – {end:%m-%d %H:%M}"


def uses_label(visitor_pass: VisitorPass) -> str:
    """Uses as a sentence: once, n of m left, or unlimited."""
    if visitor_pass.max_uses is None:
        return _("Unlimited within the dates")
    left = visitor_pass.uses_left or 0
    return ngettext("%(num)d of %(total)d use left", "%(num)d of %(total)d uses left", left,
                    total=visitor_pass.max_uses)


def describe(visitor_pass: VisitorPass, now: datetime | None = None) -> dict[str, Any]:
    """What pages show about a pass: status (code and words), window, uses, printed short code."""
    status = passes.status(visitor_pass, now)
    return {"status": status, "status_label": str(STATUS_LABELS[status]),
            "shows_qr": status in SHOWS_QR, "window": window_label(visitor_pass),
            "hours": hours_label(visitor_pass), "uses": uses_label(visitor_pass),
            "code": display_code(visitor_pass.code)}


def share_url(visitor_pass: VisitorPass) -> str:
    """The link the visitor gets (the token is the credential: shared only with the visitor)."""
    return url_for("share.page", token=passes.token_for(visitor_pass), _external=True)


bp.before_request(require_household)


def _own_pass(pass_id: int) -> VisitorPass:
    """A visitor pass of the resident's unit, or 404 (never 403: ids tell nothing)."""
    try:
        visitor_pass = passes.of_unit(g.household.unit_id, pass_id)
    except ActionError as exc:
        if exc.code == "not_found":
            abort(404)
        raise
    if visitor_pass.kind != "visitor":  # workers' passes belong to the service desk
        abort(404)
    return visitor_pass


def _date(text: str | None) -> date | None:
    if not (text or "").strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ActionError("bad_date", _l("Enter the dates as year-month-day, e.g. 2025-05-01.")) from None


def _time(text: str | None) -> time | None:
    if not (text or "").strip():
        return None
    try:
        return time.fromisoformat(text.strip()).replace(second=0, microsecond=0)
    except ValueError:
        raise ActionError("bad_time", _l("Enter the times as hours:minutes, e.g. 09:30.")) from None


def _count(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else None


def _create(form: PassForm) -> VisitorPass:
    """Read the form and call passes.create; ActionError for anything the resident should fix."""
    return passes.create(
        g.household, current_user, name=form.name.data or "", phone=form.phone.data or "",
        plate=form.plate.data or "", purpose=form.purpose.data or "",
        starts_on=_date(form.starts_on.data), ends_on=_date(form.ends_on.data),
        start_time=_time(form.start_time.data), end_time=_time(form.end_time.data),
        uses=form.uses.data or "", count=_count(form.count.data))


def _form_page(form: PassForm, error: ActionError | None = None, status: int = 200):
    today = passes.today().isoformat()
    times_changed = (form.start_time.data or DEFAULT_START) != DEFAULT_START or \
        (form.end_time.data or DEFAULT_END) != DEFAULT_END
    return render_template("portal/pass_new.html", form=form, today=today, uses_choices=USES,
                           error=error.message if error else None,
                           error_field=ERROR_FIELDS.get(error.code, "") if error else "",
                           times_open=times_changed or (error is not None and error.code == "bad_time"),
                           max_count=passes.MAX_COUNT), status


@bp.route("/new", methods=["GET", "POST"])
@residents
def new():
    """The create form (GET) and creating the pass (POST); errors keep what was typed."""
    form = PassForm()
    if request.method == "GET":
        form.starts_on.data = form.ends_on.data = passes.today().isoformat()
        return _form_page(form)
    if not form.validate():
        abort(400)
    try:
        visitor_pass = _create(form)
    except ActionError as exc:
        return _form_page(form, exc, 422)
    flash(_("Pass ready. Share it with %(name)s.", name=visitor_pass.visitor_name), "success")
    return redirect(url_for("passes.show", pass_id=visitor_pass.id))


@bp.get("/")
@residents
def index():
    """The household's passes: current ones first, then those that ended in the last week."""
    now = utcnow()
    rows = [(p, describe(p, now)) for p in passes.listing(g.household.unit_id)]
    current = [row for row in rows if row[1]["shows_qr"]]
    past = [row for row in rows if not row[1]["shows_qr"]]
    past.sort(key=lambda row: row[0].valid_until, reverse=True)
    return render_template("portal/pass_list.html", current=current, past=past)


@bp.get("/<int:pass_id>")
@residents
def show(pass_id: int):
    """One pass: its QR and printed code, window, uses, status, Share and Revoke."""
    visitor_pass = _own_pass(pass_id)
    facts = describe(visitor_pass)
    image = qr_svg(passes.token_for(visitor_pass), _("Pass QR code")) if facts["shows_qr"] else None
    site = db.session.get(Site, visitor_pass.site_id)
    return render_template("portal/pass_show.html", p=visitor_pass, facts=facts, qr=image,
                           share_url=share_url(visitor_pass) if facts["shows_qr"] else "",
                           estate=site.name, form=PlainForm())


@bp.get("/<int:pass_id>/qr.png")
@residents
def qr(pass_id: int):
    """The pass's QR as a PNG, to save or forward as a picture."""
    visitor_pass = _own_pass(pass_id)
    if not describe(visitor_pass)["shows_qr"]:
        abort(404)
    response = Response(qr_png(passes.token_for(visitor_pass)), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/<int:pass_id>/revoke")
@residents
def revoke(pass_id: int):
    """Withdraw a pass after the resident confirmed; the gate refuses it from now on."""
    visitor_pass = _own_pass(pass_id)
    if not PlainForm().validate():
        abort(400)
    try:
        passes.revoke(visitor_pass, current_user)
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        flash(_("The pass for %(name)s is revoked. The gate will refuse it.",
                name=visitor_pass.visitor_name), "success")
    return redirect(url_for("passes.show", pass_id=visitor_pass.id))
