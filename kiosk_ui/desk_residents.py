"""Registering residents at the service desk: one household at a time, or a CSV when a site starts.

The desk, admins and supervisors may register; guards and residents may not. Another site's
units do not exist here (the unit is looked up in this site only).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from gate.models import Role, Unit
from gate.services import ActionError, auth, sites
from gate.services import household_register as register
from gate.services.resident_vehicles import ImportRefused
from gate.services.sites import current_site
from kiosk_ui.csv_export import UploadRefused, csv_response, uploaded_csv
from kiosk_ui.forms import PlainForm

bp = Blueprint("desk_residents", __name__, url_prefix="/desk/residents")
registrars = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN, Role.SUPERVISOR)
FIELDS = ("unit", "name", "phone", "tenancy")


def _unit(code: str) -> Unit | None:
    """The typed unit with its residents, or None while it is empty or not (yet) a unit here."""
    if not code.strip():
        return None
    try:
        return sites.unit_by_code(current_site().id, code)
    except ActionError:
        return None


def _form(values: dict[str, str], status: int = 200, error: str | None = None) -> ResponseReturnValue:
    unit = _unit(values["unit"])
    return render_template("desk/resident_new.html", values=values, error=error, unit=unit,
                           residents=register.listing(unit) if unit else [],
                           form=PlainForm()), status


def _after(unit_code: str) -> ResponseReturnValue:
    """Back to the unit on the desk home; supervisors (no desk home) stay on the form."""
    if current_user.role in (Role.SERVICE_DESK, Role.ADMIN):
        return redirect(url_for("desk.home", unit=unit_code))
    return redirect(url_for("desk_residents.new", unit=unit_code))


@bp.route("/new", methods=["GET", "POST"])
@registrars
def new() -> ResponseReturnValue:
    """Register a resident of a unit (unit prefilled from the desk's unit view)."""
    if request.method == "GET":
        return _form(dict.fromkeys(FIELDS, "") | {"unit": request.args.get("unit", "")[:20],
                                                  "tenancy": "owner"})
    values = {key: request.form.get(key, "") for key in FIELDS}
    if not PlainForm().validate():
        return _form(values, 400, _("The form expired. Please try again."))
    try:
        resident = register.register(current_user, values["unit"], values["name"], values["phone"],
                                     values["tenancy"] != "tenant")
    except ActionError as exc:
        return _form(values, 422, exc.message)
    flash(_("%(name)s is registered in unit %(unit)s. Issue an activation code for the portal "
            "when they need it.", name=resident.name, unit=resident.unit.code), "success")
    return _after(resident.unit.code)


def _import_page(status: int = 200, error: str | None = None,
                 problems: list[tuple[int, str]] | None = None) -> ResponseReturnValue:
    return render_template("desk/residents_import.html", error=error, problems=problems or [],
                           max_rows=register.MAX_IMPORT_ROWS, form=PlainForm()), status


@bp.get("/import")
@registrars
def import_page() -> ResponseReturnValue:
    """The CSV import form, with the template to fill in."""
    return _import_page()


@bp.get("/import/template.csv")
@registrars
def template() -> ResponseReturnValue:
    """An empty CSV with the header the import expects (UTF-8 with BOM for Excel)."""
    return csv_response([label for _key, label in register.COLUMNS], [], "residents-template.csv")


@bp.post("/import")
@registrars
def upload() -> ResponseReturnValue:
    """Import a CSV: every row is checked first; one bad row and nothing is written, each one named."""
    if not PlainForm().validate():
        return _import_page(400, _("The form expired. Please try again."))
    try:
        text = uploaded_csv()
    except UploadRefused as exc:
        return _import_page(422, exc.message)
    try:
        rows, problems = register.read_csv(text)
        residents = register.import_rows(current_user, rows, problems)
    except ImportRefused as exc:
        return _import_page(422, exc.message, sorted(exc.problems))
    except ActionError as exc:
        return _import_page(422, exc.message)
    flash(_("Import done: %(n)s residents registered.", n=len(residents)), "success")
    return redirect(url_for("desk_residents.import_page"))

