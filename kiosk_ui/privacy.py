"""A person's records on request (SPEC §5): supervisors find, export and erase them.

Searches are POSTed, so an ID number never lands in a URL, an access log or the browser
history; it is hashed before the lookup and never shown back (not even in the form).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gate.extensions import db
from gate.models import Role, Visitor
from gate.services import ActionError, auth, erasure
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm

bp = Blueprint("privacy", __name__, url_prefix="/console/privacy")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)
ID_KINDS = {"resident_id": _l("Resident ID card"), "passport": _l("Passport"), "other": _l("Other document")}


def _visitor(visitor_id: int) -> Visitor:
    try:
        return erasure.get(current_site().id, visitor_id)
    except ActionError:
        abort(404)


def _search_page(results: list[Visitor] | None = None, values: dict | None = None, status: int = 200):
    return render_template("privacy/search.html", results=results, values=values or {},
                           id_kinds=ID_KINDS, form=PlainForm()), status


@bp.get("/")
@supervisors
def index():
    """Find a person by ID number, or by name and mobile number."""
    return _search_page()


@bp.post("/search")
@supervisors
def search():
    """Look the person up; the ID number is only hashed, never kept or echoed."""
    by = request.form.get("by")
    values = {"name": request.form.get("name", ""), "phone": request.form.get("phone", ""),
              "id_type": request.form.get("id_type", "resident_id")}
    try:
        if by == "id":
            results = erasure.find_by_id_number(current_site().id, values["id_type"],
                                                request.form.get("id_number", ""))
        elif by == "name_phone":
            results = erasure.find_by_name_phone(current_site().id, values["name"], values["phone"])
        else:
            raise ActionError("bad_search", _l("Search by ID number, or by name and mobile number."))
    except ActionError as exc:
        flash(exc.message, "error")
        return _search_page(values=values, status=422)
    return _search_page(results, values)


@bp.get("/<int:visitor_id>")
@supervisors
def person(visitor_id: int):
    """What is kept about one person: their record and visits."""
    visitor = _visitor(visitor_id)
    return render_template("privacy/person.html", visitor=visitor, visits=erasure.visits_of(visitor),
                           watchlist=erasure.watchlist_entries(visitor), form=PlainForm())


@bp.post("/<int:visitor_id>/export")
@supervisors
def export(visitor_id: int):
    """Download everything kept about the person as JSON (recorded in the shift book)."""
    visitor = _visitor(visitor_id)
    data = erasure.export(visitor, current_user)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="person-{visitor.id}.json"',
        "Cache-Control": "no-store"})


@bp.get("/<int:visitor_id>/erase")
@supervisors
def confirm_erase(visitor_id: int):
    """Say what erasing will do and ask to confirm."""
    visitor = _visitor(visitor_id)
    return render_template("privacy/erase.html", visitor=visitor, visits=erasure.visits_of(visitor),
                           form=PlainForm())


@bp.post("/<int:visitor_id>/erase")
@supervisors
def erase(visitor_id: int):
    """Erase the person once the supervisor ticked the confirmation."""
    visitor = _visitor(visitor_id)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm the erasure first."), "warning")
        return redirect(url_for("privacy.confirm_erase", visitor_id=visitor.id))
    try:
        counts = erasure.erase(visitor, current_user)
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("privacy.person", visitor_id=visitor.id))
    flash(_("Erased: %(visits)d visit(s) anonymised, %(cards)d card read(s) deleted.",
            visits=counts["visits"], cards=counts["card_events"]), "success")
    return redirect(url_for("privacy.person", visitor_id=visitor.id))
