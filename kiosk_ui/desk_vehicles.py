"""Residents' cars at the service desk: find by plate or unit, add, change, end, export and import.

What is registered here opens the barrier for the car (gate.services.vehicles). The desk and
admins change it; supervisors read. Another site's car is a plain 404.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.extensions import db
from gate.models import Role, User, Vehicle
from gate.models.types import utcnow
from gate.services import ActionError, auth
from gate.services import resident_vehicles as cars
from gate.services.sites import current_site
from kiosk_ui.csv_export import UploadRefused, csv_response, uncell, uploaded_csv
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import first_day, last_day, typed_day

bp = Blueprint("desk_vehicles", __name__, url_prefix="/desk/vehicles")
desk_staff = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN)
readers = auth.roles_required(Role.SERVICE_DESK, Role.ADMIN, Role.SUPERVISOR)

ADD_FIELDS = ("plate", "unit", "resident", "color", "valid_from", "valid_until", "reason")
CHANGE_FIELDS = ("color", "valid_from", "valid_until", "reason")
STATUS_LABELS = {"current": _l("Current"), "ended": _l("Ended"), "all": _l("All")}
# CSV columns: the English name (always accepted on import) and the label written on export.
COLUMNS = (("plate", _l("Plate")), ("unit", _l("Unit")), ("resident phone", _l("Resident phone")),
           ("colour", _l("Colour")), ("valid from", _l("Valid from")),
           ("valid until", _l("Valid until")), ("reason", _l("Reason")))


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["GATE_TIMEZONE"])








def _filters(source: Mapping[str, str]) -> cars.Filters:
    status = (source.get("status") or "current").strip()
    return cars.Filters(q=(source.get("q") or "").strip()[:40],
                        status=status if status in cars.STATUSES else "current")


def _people(vehicles: list[Vehicle]) -> dict[int, User]:
    ids = {v.added_by for v in vehicles if v.added_by} | {v.changed_by for v in vehicles if v.changed_by}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _vehicle(entry_id: int) -> Vehicle:
    vehicle = db.session.get(Vehicle, entry_id)
    if vehicle is None or vehicle.site_id != current_site().id:
        abort(404)
    return vehicle


def _page(values: dict[str, str] | None = None, status: int = 200, *, error: str | None = None,
          import_error: str | None = None,
          problems: list[tuple[int, str]] | None = None) -> ResponseReturnValue:
    filters = _filters(request.args)
    rows = cars.list_for(current_site().id, filters)
    return render_template(
        "desk/vehicles.html", rows=rows, filters=filters, statuses=STATUS_LABELS,
        people=_people(rows), current=cars.is_current, first_day=first_day, last_day=last_day,
        values=values or dict.fromkeys(ADD_FIELDS, "") | {"unit": request.args.get("unit", "")},
        error=error, import_error=import_error, problems=problems or [], form=PlainForm(),
        manage=current_user.role in (Role.SERVICE_DESK, Role.ADMIN), at=utcnow()), status


@bp.get("/")
@readers
def listing() -> ResponseReturnValue:
    """Residents' cars, current by default, found by part of the plate or the unit number."""
    return _page()


@bp.post("/")
@desk_staff
def add() -> ResponseReturnValue:
    """Register a car to a resident; a refusal shows the form again with the reason and values."""
    values = {key: request.form.get(key, "") for key in ADD_FIELDS}
    if not PlainForm().validate():
        return _page(values, 400, error=_("The form expired. Please try again."))
    try:
        vehicle = cars.add(current_site().id, values["unit"], values["resident"], values["plate"],
                           values["color"], typed_day(values["valid_from"], end=False),
                           typed_day(values["valid_until"], end=True), values["reason"], current_user)
    except ActionError as exc:
        return _page(values, 422, error=exc.message)
    flash(_("%(plate)s is registered to unit %(unit)s.", plate=vehicle.plate,
            unit=vehicle.resident.unit.code), "success")
    return redirect(url_for("desk_vehicles.listing", q=vehicle.plate))


def _change_page(vehicle: Vehicle, values: dict[str, str] | None = None, status: int = 200,
                 error: str | None = None) -> ResponseReturnValue:
    values = values or {"color": vehicle.color or "", "valid_from": first_day(vehicle.valid_from),
                        "valid_until": last_day(vehicle.valid_until), "reason": ""}
    return render_template("desk/vehicle_change.html", vehicle=vehicle, values=values, error=error,
                           current=cars.is_current(vehicle), form=PlainForm(),
                           people=_people([vehicle]), first_day=first_day,
                           last_day=last_day), status


@bp.route("/<int:entry_id>/change", methods=["GET", "POST"])
@desk_staff
def change(entry_id: int) -> ResponseReturnValue:
    """Change a car's validity, colour or reason, with why; ending it is a button on the same page."""
    vehicle = _vehicle(entry_id)
    if request.method == "GET":
        return _change_page(vehicle)
    values = {key: request.form.get(key, "") for key in CHANGE_FIELDS}
    if not PlainForm().validate():
        return _change_page(vehicle, values, 400, _("The form expired. Please try again."))
    try:
        cars.change(vehicle, typed_day(values["valid_from"], end=False),
                    typed_day(values["valid_until"], end=True), values["color"], values["reason"],
                    current_user)
    except ActionError as exc:
        return _change_page(vehicle, values, 422, exc.message)
    flash(_("%(plate)s was changed.", plate=vehicle.plate), "success")
    return redirect(url_for("desk_vehicles.listing", q=vehicle.plate))


@bp.post("/<int:entry_id>/end")
@desk_staff
def end(entry_id: int) -> ResponseReturnValue:
    """End a car's registration now; the row stays with who ended it, when and why."""
    vehicle = _vehicle(entry_id)
    if not PlainForm().validate():
        abort(400)
    try:
        cars.end(vehicle, current_user, request.form.get("reason", ""))
    except ActionError as exc:
        flash(exc.message, "error")
        return redirect(url_for("desk_vehicles.change", entry_id=vehicle.id))
    flash(_("%(plate)s no longer opens the barrier.", plate=vehicle.plate), "success")
    return redirect(url_for("desk_vehicles.listing", q=vehicle.plate, status="all"))


@bp.get("/export.csv")
@readers
def export() -> ResponseReturnValue:
    """The cars as listed (same search) as CSV for Excel, UTF-8 with BOM, phones masked."""
    rows = cars.list_for(current_site().id, _filters(request.args), limit=cars.MAX_IMPORT_ROWS)
    return csv_response([label for _key, label in COLUMNS], cars.export_rows(rows, _zone()),
                        f"resident-vehicles-{utcnow():%Y%m%d}.csv")


def _header_ok(header: list[str]) -> bool:
    names = [c.strip().lstrip("\ufeff").lower().replace("_", " ") for c in header]
    names = ["colour" if n == "color" else n for n in names]
    while names and not names[-1]:
        names.pop()
    return len(names) == len(COLUMNS) and all(
        name in (key, str(label).lower()) for name, (key, label) in zip(names, COLUMNS, strict=True))


def _read_rows(text: str) -> tuple[list[cars.ImportRow], list[tuple[int, str]], str | None]:
    """(rows that parsed, (line, problem) for those that did not, an error for the whole file)."""
    reader = csv.reader(io.StringIO(text))
    header = next((row for row in reader if any(c.strip() for c in row)), None)
    if header is None or not _header_ok(header):
        return [], [], _("The first row must be the header: %(columns)s.",
                         columns=", ".join(key for key, _label in COLUMNS))
    rows, problems = [], []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(problems) >= cars.MAX_IMPORT_ROWS:
            return [], [], _("A file may hold at most %(n)s rows.", n=cars.MAX_IMPORT_ROWS)
        cells = [uncell(c.strip()) for c in cells] + [""] * len(COLUMNS)
        try:
            rows.append(cars.ImportRow(reader.line_num, cells[0], cells[1], phone=cells[2],
                                       color=cells[3], valid_from=typed_day(cells[4], end=False),
                                       valid_until=typed_day(cells[5], end=True), reason=cells[6]))
        except ActionError as exc:
            problems.append((reader.line_num, exc.message))
    return rows, problems, None


@bp.post("/import")
@desk_staff
def upload() -> ResponseReturnValue:
    """Import a CSV: every row is checked first; one bad row and nothing is written, each one named."""
    if not PlainForm().validate():
        return _page(status=400, import_error=_("The form expired. Please try again."))
    try:
        text = uploaded_csv()
    except UploadRefused as exc:
        return _page(status=422, import_error=exc.message)
    rows, problems, error = _read_rows(text)
    if error:
        return _page(status=422, import_error=error)
    try:
        if problems:
            raise cars.ImportRefused(problems + cars.check_rows(current_site().id, rows))
        added, changed = cars.import_rows(current_user, rows)
    except cars.ImportRefused as exc:
        return _page(status=422, import_error=exc.message, problems=sorted(exc.problems))
    except ActionError as exc:
        return _page(status=422, import_error=exc.message)
    flash(_("Import done: %(added)s cars added, %(changed)s changed.", added=added, changed=changed),
          "success")
    return redirect(url_for("desk_vehicles.listing"))
