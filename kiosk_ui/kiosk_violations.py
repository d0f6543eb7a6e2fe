"""Vehicle violations at the kiosk (seed §十二, SPEC §2.4): the guard records, says the script,
and prints a polite notice for the windscreen.

The guard chooses the type with a big button (its script shows in the banner), types plate and
place, and adds a photo: an upload from the tablet's camera, or a snapshot from one of the
site's cameras over MQTT. A plate shows how often it was recorded in the last 90 days. Photos
are served only to signed-in staff of the same site.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Device, Role, User, Violation
from gate.models.types import utcnow
from gate.services import ActionError, auth, violations
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.visitors import shift_or_none

bp = Blueprint("kiosk_violations", __name__, url_prefix="/kiosk/violations")
guard_only = auth.roles_required(Role.GUARD)
staff = auth.roles_required(Role.GUARD, Role.SUPERVISOR, Role.ADMIN)

FIELDS = ("type", "plate", "place", "note", "camera")
SNAPSHOT_SECONDS = 3.0
STATE_LABELS = {"open": _l("waiting for review"), "confirmed": _l("confirmed"),
                "dismissed": _l("dismissed")}


@bp.app_template_global("violation_state")
def violation_state(state: str) -> str:
    """A violation's state in words (kiosk and console)."""
    return str(STATE_LABELS.get(state, state))


def cameras(site_id: int) -> list[Device]:
    """The site's cameras a snapshot can be asked of."""
    return list(db.session.scalars(select(Device).where(Device.site_id == site_id, Device.kind == "camera")
                                   .order_by(Device.name, Device.id)))


def kinds_for(site_id: int, rows: list[Violation]) -> dict[str, violations.Kind]:
    """Every type the rows use (retired ones too), by code, for labels."""
    known = {k.code: k for k in violations.types_for(site_id)}
    for row in rows:
        if row.type_code not in known and (kind := violations.kind_of(site_id, row.type_code)):
            known[kind.code] = kind
    return known


def start_of_today() -> datetime:
    """Midnight at the site, as an aware datetime."""
    zone = ZoneInfo(current_app.config["GATE_TIMEZONE"])
    return datetime.combine(utcnow().astimezone(zone).date(), time.min, tzinfo=zone)


def read_upload(name: str = "photo") -> bytes | None:
    """The uploaded file's bytes (at most the limit + 1, so oversize shows), None when none."""
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        return None
    with upload.stream:
        return upload.read(violations.MAX_PHOTO_BYTES + 1)


def snapshot(site_id: int, code: str) -> tuple[bytes, str] | None:
    """A photo from this site's camera `code` as (bytes, source); None (with a message) on no answer."""
    if code not in {c.code for c in cameras(site_id)}:
        raise ActionError("bad_camera", _("Choose one of the estate's cameras."))
    from device_adapters import web_link

    data = web_link.request_snapshot(code, timeout=SNAPSHOT_SECONDS)
    if data and violations.is_photo(data):
        return data, f"camera:{code}"
    flash(_("The camera did not send a photo (no connection or no answer). Take a photo with the "
            "tablet and upload it instead."), "warning")
    return None


def _violation(violation_id: int) -> Violation:
    try:
        return violations.get(current_user.site_id, violation_id)
    except ActionError:
        abort(404)


@bp.get("/")
@guard_only
def listing():
    """Today's violations at this estate and the "Record a violation" button."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    rows = violations.search(current_user.site_id, since=start_of_today(), limit=200)
    return render_template("kiosk/violations.html", rows=rows, kinds=kinds_for(current_user.site_id, rows))


def _form_page(values: dict[str, str], status: int = 200, error: str | None = None):
    site_id = current_user.site_id
    types = violations.types_for(site_id)
    chosen = next((k for k in types if k.code == values.get("type")), None)
    extra = {"banner": chosen.script} if chosen else {}
    return render_template("kiosk/violation_new.html", types=types, chosen=chosen, values=values,
                           cameras=cameras(site_id), error=error, form=PlainForm(),
                           repeat_days=violations.REPEAT_DAYS, **extra), status


@bp.get("/new")
@guard_only
def new():
    """Choose the type with a big button; the form below, with the type's script in the banner."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    return _form_page({key: request.args.get(key, "") for key in FIELDS})


@bp.post("/new")
@guard_only
def create():
    """Save the violation with its photo; a refusal shows the form again with the reason."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    values = {key: request.form.get(key, "") for key in FIELDS}
    if not PlainForm().validate():
        return _form_page(values, 400, _("The form expired. Please try again."))
    site_id = current_user.site_id
    try:
        photos: list[tuple[bytes, str]] = []
        if (data := read_upload()) is not None:
            violations.photo_mime(data)
            photos.append((data, "upload"))
        if values["camera"] and (taken := snapshot(site_id, values["camera"])) is not None:
            photos.append(taken)
        violation = violations.record(site_id, current_user, values["type"], values["plate"],
                                      values["place"], values["note"], photos=photos, shift=shift)
    except ActionError as exc:
        db.session.rollback()
        return _form_page(values, 422, exc.message)
    flash(_("Violation recorded."), "success")
    return redirect(url_for("kiosk_violations.show", violation_id=violation.id))


@bp.get("/repeat")
@guard_only
def repeat():
    """How often a plate was recorded in the last 90 days (for the form's hint), as JSON."""
    plate = request.args.get("plate", "")[:20]
    try:
        clean = violations.clean_plate(plate)
    except ActionError as exc:
        return jsonify(ok=False, message=exc.message)
    if clean is None:
        return jsonify(ok=False, message="")
    count = violations.repeat_count(current_user.site_id, clean)
    return jsonify(ok=True, plate=clean, count=count, days=violations.REPEAT_DAYS,
                   message=_("%(plate)s: %(n)s violation(s) in the last %(days)s days.", plate=clean,
                             n=count, days=violations.REPEAT_DAYS))


def _details(violation: Violation) -> dict:
    site_id = violation.site_id
    kind = violations.kind_of(site_id, violation.type_code)
    repeats = (violations.repeat_count(site_id, violation.plate, at=violation.occurred_at,
                                       exclude_id=violation.id) if violation.plate else None)
    recorder = db.session.get(User, violation.recorded_by)
    return {"v": violation, "kind": kind, "repeats": repeats, "repeat_days": violations.REPEAT_DAYS,
            "staff_no": recorder.staff_no if recorder else "", "estate": current_site()}


@bp.get("/<int:violation_id>")
@guard_only
def show(violation_id: int):
    """The saved violation: photos, the plate's repeat count, "Print notice" and "Add a photo"."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    violation = _violation(violation_id)
    details = _details(violation)
    banner = {"banner": details["kind"].script} if details["kind"] else {}
    return render_template("kiosk/violation_show.html", cameras=cameras(violation.site_id),
                           form=PlainForm(), **details, **banner)


@bp.post("/<int:violation_id>/photo")
@guard_only
def add_photo(violation_id: int):
    """Attach an uploaded photo or a camera snapshot to a saved violation."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    violation = _violation(violation_id)
    require_token()
    try:
        data = read_upload()
        if data is not None:
            violations.attach_photo(violation, data, None, "upload", actor=current_user)
            flash(_("Photo added."), "success")
        elif camera := request.form.get("camera", ""):
            if (taken := snapshot(violation.site_id, camera)) is not None:
                violations.attach_photo(violation, taken[0], "image/jpeg", taken[1], actor=current_user)
                flash(_("Photo added."), "success")
        else:
            flash(_("Choose a photo to upload, or a camera."), "error")
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("kiosk_violations.show", violation_id=violation.id))


@bp.get("/<int:violation_id>/notice")
@guard_only
def notice(violation_id: int):
    """A printable polite notice (A5): estate, type, plate, place, time, the script; guard number only."""
    if shift_or_none() is None:
        return redirect(url_for("kiosk.start"))
    violation = _violation(violation_id)
    return render_template("kiosk/violation_notice.html", **_details(violation))


@bp.get("/photo/<int:photo_id>")
@staff
def photo(photo_id: int):
    """A violation photo, for signed-in guards and supervisors of the same estate only."""
    try:
        found = violations.photo_of(current_user.site_id, photo_id)
    except ActionError:
        abort(404)
    return Response(found.data, mimetype=found.mime,
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
