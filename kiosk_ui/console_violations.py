"""Vehicle violations in the supervisor console: filter, look at the photos, confirm or dismiss,
manage the estate's own types, counts per type, CSV export (without photos).

Violations and types are looked up through the estate: another site's id is a plain 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Role, User, Violation
from gate.models.parking import ViolationPhoto, ViolationType
from gate.models.types import utcnow
from gate.services import ActionError, auth, violations
from kiosk_ui.csv_export import csv_response
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.helpers import localtime, typed_day
from kiosk_ui.kiosk_violations import STATE_LABELS, kinds_for

bp = Blueprint("console_violations", __name__, url_prefix="/console/violations")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

FILTERS = ("state", "type", "plate", "from", "to")
COUNT_DAYS = 30
COLUMNS = (_l("No."), _l("Time"), _l("Type"), _l("Plate"), _l("Place"), _l("Note"), _l("Guard no."),
           _l("State"), _l("Reviewed by"), _l("Reviewed at"), _l("Review note"), _l("Photos"))




def _filtered(site_id: int, values: dict[str, str]) -> tuple[list[Violation], str | None]:
    """The violations matching the filters, or none and what is wrong with a filter."""
    try:
        return violations.search(site_id, state=values["state"], type_code=values["type"],
                                 plate=values["plate"], since=typed_day(values["from"], end=False),
                                 until=typed_day(values["to"], end=True)), None
    except ActionError as exc:
        return [], exc.message


def _people(rows: list[Violation]) -> dict[int, User]:
    ids = {v.recorded_by for v in rows} | {v.reviewed_by for v in rows if v.reviewed_by}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _photo_counts(rows: list[Violation]) -> dict[int, int]:
    """Photos per violation, counted in the database (the photos themselves are not loaded)."""
    if not rows:
        return {}
    return dict(db.session.execute(select(ViolationPhoto.violation_id, func.count()).where(
        ViolationPhoto.violation_id.in_([v.id for v in rows])).group_by(ViolationPhoto.violation_id)).all())


def _violation(violation_id: int) -> Violation:
    try:
        return violations.get(current_user.site_id, violation_id)
    except ActionError:
        abort(404)


@bp.get("/")
@supervisors
def listing():
    """Filtered violations, the per-type counts of the last 30 days, and the estate's own types."""
    site_id = current_user.site_id
    values = {key: request.args.get(key, "").strip()[:40] for key in FILTERS}
    rows, error = _filtered(site_id, values)
    retired = db.session.scalars(select(ViolationType).where(
        ViolationType.site_id == site_id, ViolationType.active.is_(False))
        .order_by(ViolationType.name)).all()
    return render_template("console/violations.html", rows=rows, values=values, error=error,
                           kinds=kinds_for(site_id, rows), types=violations.types_for(site_id),
                           retired=retired, states=STATE_LABELS, people=_people(rows),
                           counts=violations.counts_by_type(site_id, COUNT_DAYS), count_days=COUNT_DAYS,
                           photos=_photo_counts(rows), form=PlainForm(),
                           export_args={k: v for k, v in values.items() if v})


@bp.get("/<int:violation_id>")
@supervisors
def show(violation_id: int):
    """One violation with its photos and the review form."""
    v = _violation(violation_id)
    recorder = db.session.get(User, v.recorded_by)
    reviewer = db.session.get(User, v.reviewed_by) if v.reviewed_by else None
    repeats = (violations.repeat_count(v.site_id, v.plate, at=v.occurred_at, exclude_id=v.id)
               if v.plate else None)
    return render_template("console/violation.html", v=v, kind=violations.kind_of(v.site_id, v.type_code),
                           repeats=repeats, repeat_days=violations.REPEAT_DAYS,
                           staff_no=recorder.staff_no if recorder else "", reviewer=reviewer,
                           form=PlainForm())


@bp.post("/<int:violation_id>/review")
@supervisors
def review(violation_id: int):
    """Confirm or dismiss an open violation, with a note (required to dismiss)."""
    v = _violation(violation_id)
    require_token()
    try:
        violations.review(v, current_user, request.form.get("decision", ""),
                          request.form.get("note", "")[:violations.MAX_NOTE + 1])
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Violation %(state)s.", state=STATE_LABELS[v.state]), "success")
    return redirect(url_for("console_violations.show", violation_id=v.id))


@bp.post("/types")
@supervisors
def add_type():
    """Add one of the estate's own violation types, with its script."""
    require_token()
    try:
        row = violations.add_type(current_user, request.form.get("name", ""),
                                  request.form.get("script", ""))
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Type “%(name)s” added.", name=row.name), "success")
    return redirect(url_for("console_violations.listing"))


@bp.post("/types/<int:type_id>/retire")
@supervisors
def retire_type(type_id: int):
    """Stop offering an estate type at the kiosk; recorded violations keep it."""
    require_token()
    try:
        row = violations.retire_type(current_user, type_id)
    except ActionError as exc:
        db.session.rollback()
        if exc.code == "not_found":
            abort(404)
        flash(exc.message, "error")
    else:
        flash(_("Type “%(name)s” retired.", name=row.name), "success")
    return redirect(url_for("console_violations.listing"))


@bp.get("/export.csv")
@supervisors
def export():
    """The filtered violations as CSV for Excel (UTF-8 with BOM); photos are not exported."""
    site_id = current_user.site_id
    values = {key: request.args.get(key, "").strip()[:40] for key in FILTERS}
    rows, _error = _filtered(site_id, values)
    kinds, people, photos = kinds_for(site_id, rows), _people(rows), _photo_counts(rows)

    def name(user_id: int | None, attr: str) -> str:
        return getattr(people[user_id], attr) or "" if user_id in people else ""

    lines = [(v.id, localtime(v.occurred_at, "%Y-%m-%d %H:%M"),
              kinds[v.type_code].name if v.type_code in kinds else v.type_code, v.plate or "", v.place,
              v.note or "", name(v.recorded_by, "staff_no"), STATE_LABELS.get(v.state, v.state),
              name(v.reviewed_by, "display_name"), localtime(v.reviewed_at, "%Y-%m-%d %H:%M"),
              v.review_note or "", photos.get(v.id, 0)) for v in rows]
    return csv_response(COLUMNS, lines, f"violations-{utcnow():%Y%m%d}.csv")

