"""Watchlist management: who or which car is not admitted, with who added it, why and until when."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Role, User
from gate.services import ActionError, auth, visitors, watchlist
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import localtime

bp = Blueprint("watchlist", __name__, url_prefix="/watchlist")
managers = auth.roles_required(Role.SUPERVISOR, Role.SERVICE_DESK, Role.ADMIN)

KIND_LABELS = {
    "id": _l("ID number"),
    "name_phone": _l("Name and phone"),
    "plate": _l("Plate"),
}
ID_TYPE_LABELS = {
    "resident_id": _l("Resident ID card"),
    "passport": _l("Passport"),
    "other": _l("Other document"),
}
# Fields given back to the form after an error. Never the ID number: it is not echoed anywhere.
KEPT_FIELDS = ("kind", "id_type", "name", "phone", "plate", "reason", "expires")


def _page(values: dict[str, str], status: int = 200):
    site = current_site()
    entries = watchlist.active(site.id)
    ids = {e.added_by for e in entries}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    # expires_at is the first moment the entry no longer holds; show the last day it does.
    until = {e.id: localtime(e.expires_at - timedelta(microseconds=1), "%Y-%m-%d")
             for e in entries if e.expires_at}
    return render_template("watchlist/home.html", entries=entries, people=people, until=until,
                           values=values, kinds=KIND_LABELS, id_types=ID_TYPE_LABELS,
                           form=PlainForm()), status


@bp.get("/")
@managers
def home():
    """Active entries, newest first, and the form to add one."""
    return _page({"kind": "id", "id_type": "resident_id"})


@bp.post("/add")
@managers
def add():
    """Add an entry; an ID number is checked and kept only as a keyed hash and a masked form."""
    form = request.form
    values = {key: form.get(key, "") for key in KEPT_FIELDS}
    if not PlainForm().validate():
        return _page(values, 400)
    kind = values["kind"]
    try:
        identity, plate = None, None
        if kind == "id":
            # The name is optional here: an ID entry matches by the number's keyed hash alone.
            identity = visitors.check_identity(values["name"] or "-", values["id_type"],
                                               form.get("id_number", ""))
        elif kind == "name_phone":
            identity = visitors.check_identity(values["name"], None, None, phone=values["phone"])
        elif kind == "plate":
            plate = values["plate"]
        expires_at = watchlist.parse_expiry(values["expires"])
        entry = watchlist.add(current_user, kind, values["reason"], identity=identity, plate=plate,
                              expires_at=expires_at)
    except ActionError as exc:
        flash(exc.message, "error")
        return _page(values, 422)
    flash(_("%(who)s is now on the watchlist.", who=entry.display), "success")
    return redirect(url_for("watchlist.home"))


@bp.post("/<int:entry_id>/remove")
@managers
def remove(entry_id: int):
    """Take an entry off the watchlist, with the reason."""
    if PlainForm().validate():
        try:
            entry = watchlist.remove(current_user, entry_id, request.form.get("reason", ""))
        except ActionError as exc:
            flash(exc.message, "error")
        else:
            flash(_("%(who)s was removed from the watchlist.", who=entry.display), "success")
    return redirect(url_for("watchlist.home"))
