"""Resident portal, goods release slips (放行条, SPEC §2.3): apply, follow, show the QR, consent.

Every slip page is looked up through the resident's own unit (`slips.of_unit`): another
household's slip, or one that does not exist, is a plain 404 so ids reveal nothing. The form
helpers here (reading the fields, which field an error is about) serve the desk's form too.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gate.extensions import db
from gate.models import ReleaseSlip, Resident, Role, Site, Unit, User
from gate.models.slips import SLIP_REASONS
from gate.models.types import utcnow
from gate.services import ActionError, auth, passes, slips
from kiosk_ui.forms import PlainForm
from kiosk_ui.household import require_household
from kiosk_ui.qr_images import qr_svg

bp = Blueprint("portal_slips", __name__, url_prefix="/portal/slips")
residents = auth.roles_required(Role.RESIDENT)

REASON_LABELS = {"moving_out": _l("Moving out"), "renovation_waste": _l("Renovation waste"),
                 "sale": _l("Sold"), "other": _l("Other")}
STATUS_LABELS = {
    "pending_consent": _l("Waiting for the owner's consent"),
    "pending": _l("Waiting for the service desk"),
    "approved": _l("Approved"),
    "refused": _l("Refused"),
    "released": _l("Goods released"),
    "expired": _l("Expired"),
}
OPEN_STATES = ("pending_consent", "pending", "approved")  # approved: until released or expired
BLANK_ROWS = 5
FIELDS = ("on_date", "carrier_name", "carrier_phone", "plate", "reason")
# Which field an error from slips.apply is about; others are shown at the top of the form.
ERROR_FIELDS = {"item_text": "items", "item_count": "items", "no_items": "items",
                "too_many_items": "items", "carrier_name": "carrier_name",
                "carrier_phone": "carrier_phone", "bad_plate": "plate", "past_date": "on_date",
                "date_too_far": "on_date", "bad_date": "on_date", "bad_reason": "reason",
                "no_applicant": "applicant", "consent_note": "consent_note", "bad_unit": "unit",
                "unknown_unit": "unit"}


def status_label(status: str) -> str:
    """A slip's status in words."""
    return str(STATUS_LABELS.get(status, status))


def reason_label(reason: str) -> str:
    """Why the goods leave, in words."""
    return str(REASON_LABELS.get(reason, reason))


def read_form() -> dict[str, Any]:
    """The apply form as posted: item rows (kept as typed) and the other fields, trimmed."""
    items = request.form.getlist("item")
    counts = request.form.getlist("count")
    size = max(len(items), len(counts))
    rows = [((items[i] if i < len(items) else ""), (counts[i] if i < len(counts) else ""))
            for i in range(size)]
    values: dict[str, Any] = {key: (request.form.get(key) or "").strip() for key in FIELDS}
    values["rows"] = rows
    return values


def blank_values() -> dict[str, Any]:
    """A fresh form: today, moving out, five empty item rows."""
    return {"on_date": passes.today().isoformat(), "carrier_name": "", "carrier_phone": "",
            "plate": "", "reason": "moving_out", "rows": []}


def form_context(values: dict[str, Any], error: ActionError | None) -> dict[str, Any]:
    """What the shared form fields template needs: rows padded with blanks, limits, the error."""
    rows = list(values.get("rows") or [])
    rows += [("", "")] * max(0, BLANK_ROWS - len(rows))
    today = passes.today()
    return {"values": values, "rows": rows, "reasons": [(r, REASON_LABELS[r]) for r in SLIP_REASONS],
            "today": today.isoformat(),
            "max_date": (today + timedelta(days=slips.MAX_DAYS_AHEAD)).isoformat(),
            "max_lines": slips.MAX_LINES, "max_count": slips.MAX_COUNT,
            "error": error.message if error else None,
            "error_field": ERROR_FIELDS.get(error.code, "") if error else ""}


def _date(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ActionError("bad_date", _l("Enter the date as year-month-day, e.g. 2025-05-01.")) from None


def submit(actor: User, unit: Unit, applicant: Resident | None, values: dict[str, Any], *, via: str,
           consent_note: str = "") -> ReleaseSlip:
    """Call slips.apply with the form's values; ActionError for anything to fix."""
    return slips.apply(actor, unit, applicant, via=via, lines=values["rows"],
                       on_date=_date(values["on_date"]), carrier_name=values["carrier_name"],
                       carrier_phone=values["carrier_phone"], plate=values["plate"],
                       reason=values["reason"], consent_note=consent_note)


def unit_slips(unit: Unit) -> list[ReleaseSlip]:
    """The unit's slips, newest date first."""
    return slips.listing(unit.site_id, unit_id=unit.id, limit=200)


def open_slips(unit: Unit) -> list[tuple[ReleaseSlip, str]]:
    """The unit's applications still under way (waiting, or approved and not yet used or expired)."""
    now = utcnow()
    rows = [(s, slips.status(s, now)) for s in unit_slips(unit) if s.state in OPEN_STATES]
    return [(s, status) for s, status in rows if status in OPEN_STATES]


bp.before_request(require_household)


def _own_slip(slip_id: int) -> ReleaseSlip:
    """A slip of the resident's unit, or 404 (never 403: ids tell nothing)."""
    try:
        return slips.of_unit(g.household.unit_id, slip_id)
    except ActionError as exc:
        if exc.code == "not_found":
            abort(404)
        raise


def _form_page(values: dict[str, Any], error: ActionError | None = None, status: int = 200):
    return render_template("portal/slip_new.html", form=PlainForm(), tenant=not g.household.is_owner,
                           **form_context(values, error)), status


@bp.route("/new", methods=["GET", "POST"])
@residents
def new():
    """The apply form (GET) and applying (POST); errors keep what was typed."""
    if request.method == "GET":
        return _form_page(blank_values())
    if not PlainForm().validate():
        abort(400)
    values = read_form()
    resident: Resident = g.household
    try:
        slip = submit(current_user, resident.unit, resident, values, via="portal")
    except ActionError as exc:
        return _form_page(values, exc, 422)
    if slip.state == "pending_consent":
        flash(_("Application saved. The owner must consent on the portal (or tell the service desk) "
                "before the desk can approve it."), "success")
    else:
        flash(_("Application saved. The service desk will approve or refuse it."), "success")
    return redirect(url_for("portal_slips.show", slip_id=slip.id))


@bp.get("/")
@residents
def index():
    """The household's release slips with their status."""
    now = utcnow()
    rows = [(s, slips.status(s, now)) for s in unit_slips(g.household.unit)]
    return render_template("portal/slip_list.html", rows=rows, status_label=status_label,
                           reason_label=reason_label)


@bp.get("/<int:slip_id>")
@residents
def show(slip_id: int):
    """One slip: items, status; when approved its serial and QR; when refused, why."""
    slip = _own_slip(slip_id)
    status = slips.status(slip)
    image = qr_svg(slips.token_for(slip), _("Release slip QR code")) if status == "approved" else None
    can_consent = status == "pending_consent" and g.household.is_owner
    return render_template("portal/slip_show.html", slip=slip, status=status, qr=image,
                           can_consent=can_consent, tenant=not g.household.is_owner,
                           status_label=status_label, reason_label=reason_label, form=PlainForm())


@bp.get("/<int:slip_id>/print")
@residents
def printable(slip_id: int):
    """The approved slip on paper (A5 or 80 mm), to hand to the guard with the goods."""
    slip = _own_slip(slip_id)
    if slip.state not in ("approved", "released"):
        abort(404)
    return render_print(slip, url_for("portal_slips.show", slip_id=slip.id), "portal_slips.printable")


def render_print(slip: ReleaseSlip, back_url: str, endpoint: str) -> str:
    """The printable slip page shared by the portal and the desk."""
    size = request.args.get("size", "a5")
    size = size if size in ("a5", "80mm") else "a5"
    return render_template("desk/slip_print.html", slip=slip, size=size, back_url=back_url,
                           endpoint=endpoint, estate=db.session.get(Site, slip.site_id),
                           qr=qr_svg(slips.token_for(slip), _("Release slip QR code")),
                           total=sum(i.count for i in slip.items), reason_label=reason_label,
                           status=slips.status(slip), status_label=status_label)


@bp.post("/<int:slip_id>/consent")
@residents
def consent(slip_id: int):
    """The unit's owner agrees to a tenant's application."""
    slip = _own_slip(slip_id)
    if not PlainForm().validate():
        abort(400)
    try:
        slips.owner_consents(g.household, current_user, slip)
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        flash(_("Thank you. The service desk can now decide on the application."), "success")
    return redirect(url_for("portal_slips.show", slip_id=slip.id))
