"""The blocklist and the VIP list of plates: supervisors add and remove with who/why/when,
export and import them as CSV; the service desk reads.

Entries are looked up through the estate: another site's entry is a plain 404.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import and_, or_, select

from gate.extensions import db
from gate.models import Role, User, VehicleListEntry
from gate.models.estate import VEHICLE_LISTS
from gate.models.types import utcnow
from gate.services import ActionError, auth, vehicle_lists
from gate.services.sites import current_site
from kiosk_ui.csv_export import UploadRefused, csv_response, uncell, uploaded_csv
from kiosk_ui.forms import PlainForm
from kiosk_ui.helpers import first_day, last_day, localtime, typed_day

bp = Blueprint("vehicle_lists", __name__, url_prefix="/console/vehicles")
managers = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)
readers = auth.roles_required(Role.SUPERVISOR, Role.ADMIN, Role.SERVICE_DESK)

LIST_LABELS = {"blocklist": _l("Blocklist"), "vip": _l("VIP list")}
KEPT_FIELDS = ("plate", "color", "valid_from", "valid_until", "reason")
HISTORY_DAYS = 90
# CSV columns: the English name (always accepted on import) and the label written on export.
COLUMNS = (("list", _l("List")), ("plate", _l("Plate")), ("colour", _l("Colour")),
           ("valid from", _l("Valid from")), ("valid until", _l("Valid until")),
           ("reason", _l("Reason")), ("added by", _l("Added by")), ("added at", _l("Added at")),
           ("removed at", _l("Removed at")))
REQUIRED_COLUMNS = 6  # list … reason; the rest are written on export and ignored on import


def _which(source) -> str:
    which = (source.get("list") or "").strip()
    return which if which in VEHICLE_LISTS else "blocklist"





def _from_text(entry: VehicleListEntry) -> str:
    return first_day(entry.valid_from)


def _until_text(entry: VehicleListEntry) -> str:
    # valid_until is the first moment the entry no longer holds; show the last day it does.
    return last_day(entry.valid_until)


def _entries(site_id: int, which: str) -> tuple[list[VehicleListEntry], list[VehicleListEntry]]:
    """(current or upcoming entries, entries removed or expired in the last HISTORY_DAYS)."""
    now = utcnow()
    since = now - timedelta(days=HISTORY_DAYS)
    rows = list(db.session.scalars(select(VehicleListEntry).where(
        VehicleListEntry.site_id == site_id, VehicleListEntry.list == which,
        or_(VehicleListEntry.removed_at >= since,
            and_(VehicleListEntry.removed_at.is_(None),
                 or_(VehicleListEntry.valid_until.is_(None), VehicleListEntry.valid_until >= since))))
        .order_by(VehicleListEntry.added_at.desc(), VehicleListEntry.id.desc())))
    current = [e for e in rows if e.removed_at is None and (e.valid_until is None or e.valid_until > now)]
    past = [e for e in rows if e not in current]
    past.sort(key=lambda e: e.removed_at or e.valid_until, reverse=True)
    return current, past


def _people(entries: list[VehicleListEntry]) -> dict[int, User]:
    ids = {e.added_by for e in entries} | {e.removed_by for e in entries if e.removed_by}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _page(which: str, values: dict[str, str] | None = None, status: int = 200, *,
          error: str | None = None, import_error: str | None = None,
          problems: list[tuple[int, str]] | None = None):
    current, past = _entries(current_site().id, which)
    return render_template(
        "vehicle_lists/home.html", which=which, lists=LIST_LABELS, current=current, past=past,
        people=_people(current + past), since=HISTORY_DAYS, at=utcnow(), from_text=_from_text,
        until_text=_until_text, values=values or dict.fromkeys(KEPT_FIELDS, ""), error=error,
        import_error=import_error, problems=problems or [], form=PlainForm(),
        manage=current_user.role in (Role.SUPERVISOR, Role.ADMIN)), status


@bp.get("/")
@readers
def home():
    """The chosen list: current entries with who/why/when, the last 90 days of removed ones, forms."""
    return _page(_which(request.args))


@bp.post("/")
@managers
def add():
    """Add a plate to the chosen list; a refusal shows the form again with the reason and values."""
    which = _which(request.form)
    values = {key: request.form.get(key, "") for key in KEPT_FIELDS}
    if not PlainForm().validate():
        return _page(which, values, 400, error=_("The form expired. Please try again."))
    try:
        entry = vehicle_lists.add(current_user, which, values["plate"], values["reason"],
                                  color=values["color"],
                                  valid_from=typed_day(values["valid_from"], end=False),
                                  valid_until=typed_day(values["valid_until"], end=True))
    except ActionError as exc:
        return _page(which, values, 422, error=exc.message)
    flash(_("%(plate)s is now on the %(list)s.", plate=entry.plate, list=LIST_LABELS[which]), "success")
    return redirect(url_for("vehicle_lists.home", list=which))


@bp.post("/<int:entry_id>/remove")
@managers
def remove(entry_id: int):
    """Take an entry off its list; the row stays, with who removed it and when."""
    entry = db.session.get(VehicleListEntry, entry_id)
    if entry is None or entry.site_id != current_site().id:
        abort(404)
    if not PlainForm().validate():
        abort(400)
    try:
        vehicle_lists.remove(current_user, entry)
    except ActionError as exc:
        flash(exc.message, "error")
    else:
        flash(_("%(plate)s was removed from the %(list)s.", plate=entry.plate,
                list=LIST_LABELS[entry.list]), "success")
    return redirect(url_for("vehicle_lists.home", list=entry.list))


@bp.get("/export.csv")
@readers
def export():
    """The chosen list as shown (current and the last 90 days) as CSV for Excel, UTF-8 with BOM."""
    which = _which(request.args)
    current, past = _entries(current_site().id, which)
    people = _people(current + past)
    rows = [(e.list, e.plate, e.color or "", _from_text(e), _until_text(e), e.reason,
             people[e.added_by].display_name if e.added_by in people else "",
             localtime(e.added_at, "%Y-%m-%d %H:%M"), localtime(e.removed_at, "%Y-%m-%d %H:%M"))
            for e in current + past]
    return csv_response([label for _key, label in COLUMNS], rows,
                        f"vehicle-{which}-{utcnow():%Y%m%d}.csv")


def _header_ok(header: list[str]) -> bool:
    names = [c.strip().lstrip("\ufeff").lower() for c in header]
    while names and not names[-1]:
        names.pop()
    if not REQUIRED_COLUMNS <= len(names) <= len(COLUMNS):
        return False
    return all(name in (key, str(label).lower()) for name, (key, label) in zip(names, COLUMNS, strict=False))


def _read_rows(text: str) -> tuple[list[vehicle_lists.ImportRow], list[tuple[int, str]], str | None]:
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
        if len(rows) + len(problems) >= vehicle_lists.MAX_IMPORT_ROWS:
            return [], [], _("A file may hold at most %(n)s rows.", n=vehicle_lists.MAX_IMPORT_ROWS)
        cells = [uncell(c.strip()) for c in cells] + [""] * len(COLUMNS)
        which = cells[0].lower()
        try:
            if which not in VEHICLE_LISTS:
                raise ActionError("bad_list", _l("The list must be blocklist or vip."))
            if cells[8]:
                raise ActionError("removed", _l("This entry was removed: clear “removed at” or "
                                                "delete the row."))
            rows.append(vehicle_lists.ImportRow(
                reader.line_num, which, cells[1], cells[5], color=cells[2],
                valid_from=typed_day(cells[3], end=False), valid_until=typed_day(cells[4], end=True)))
        except ActionError as exc:
            problems.append((reader.line_num, exc.message))
    return rows, problems, None


@bp.post("/import")
@managers
def upload():
    """Import a CSV: every row is checked first; one bad row and nothing is added, each one named."""
    which = _which(request.form)
    if not PlainForm().validate():
        return _page(which, status=400, import_error=_("The form expired. Please try again."))
    try:
        text = uploaded_csv()
    except UploadRefused as exc:
        return _page(which, status=422, import_error=exc.message)
    rows, problems, error = _read_rows(text)
    if error:
        return _page(which, status=422, import_error=error)
    try:
        if problems:
            raise vehicle_lists.ImportRefused(problems + vehicle_lists.check_rows(current_user, rows))
        count = vehicle_lists.import_rows(current_user, rows)
    except vehicle_lists.ImportRefused as exc:
        return _page(which, status=422, import_error=exc.message, problems=sorted(exc.problems))
    except ActionError as exc:
        return _page(which, status=422, import_error=exc.message)
    flash(_("%(n)s plates imported.", n=count), "success")
    return redirect(url_for("vehicle_lists.home", list=which))
