"""Registering residents (households) at the service desk: one by one, or a CSV when a site starts.

A resident registered here can then have cars (gate.services.resident_vehicles), an activation
code for the portal (gate.services.activation) and visitor passes. The shift book gets one
`resident.registered` entry per resident with references only (resident, unit, owner or
tenant): the name and the phone stay in the resident row, which erasure and retention reach,
while the chain is kept for years and cannot be edited.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import lazy_gettext as _

from gate.domain.units import normalize_phone
from gate.extensions import db
from gate.models import Resident, Unit, User
from gate.services import ActionError, shiftbook, sites, transaction
from gate.services.resident_vehicles import MAX_IMPORT_ROWS, ImportRefused
from gate.services.sites import current_site
from gate.services.visitors import clean_text

MAX_NAME = 80  # the column's length
# CSV columns: the English name (always accepted) and the label the template is written with.
COLUMNS = (("unit", _("Unit")), ("name", _("Name")), ("phone", _("Phone")), ("owner", _("Owner")))
# The owner column: yes for the owner, no for a tenant; empty means owner, as on the desk's form.
YES = frozenset({"yes", "y", "true", "1", "是", "业主", "owner"})
NO = frozenset({"no", "n", "false", "0", "否", "租户", "tenant"})


@dataclass(frozen=True)
class Checked:
    """A resident that passed every rule, ready to be written."""

    unit: Unit
    name: str
    phone: str
    is_owner: bool


@dataclass(frozen=True)
class ResidentRow:
    """One line of an uploaded file: `line` is its line number, for messages."""

    line: int
    unit: str
    name: str
    phone: str
    is_owner: bool = True


def _site_id(desk: User | None) -> int:
    """The desk user's site, or for the command line (no user) the site this process serves."""
    if desk is not None:
        return desk.site_id
    site = current_site()
    if site is None:
        raise ActionError("no_site", _("This site is not set up yet."))
    return site.id


def phone_of(text: str) -> str:
    """The resident's mobile as 11 digits, or one clear ActionError."""
    try:
        return normalize_phone(text)
    except ValueError:
        raise ActionError("bad_phone", _("Enter the resident's 11-digit mobile number, e.g. "
                                         "13800000000.")) from None


def check(site_id: int, unit_code: str, name: str, phone: str, is_owner: bool, *,
          units: dict[str, Unit] | None = None) -> Checked:
    """Every rule for registering a resident; ActionError names the first one broken.

    `units` caches units by the code as typed, so a file of 2000 rows asks for each unit once.
    """
    unit = units.get(unit_code) if units is not None else None
    if unit is None:
        unit = sites.unit_by_code(site_id, unit_code)
        if units is not None:
            units[unit_code] = unit
    clean = clean_text(name, MAX_NAME)
    if not clean:
        raise ActionError("name_required", _("Enter the resident's name."))
    number = phone_of(phone)
    if any(r.phone == number and r.moved_out_at is None for r in unit.residents):
        raise ActionError("duplicate_resident", _("A resident of unit %(unit)s already has this phone "
                                                  "number.", unit=unit.code))
    return Checked(unit, clean, number, bool(is_owner))


def _write(desk: User | None, checked: Checked) -> Resident:
    resident = Resident(unit=checked.unit, name=checked.name, phone=checked.phone,
                        is_owner=checked.is_owner)
    db.session.add(resident)
    db.session.flush()
    shiftbook.append("resident.registered", {"resident_id": resident.id, "unit_id": checked.unit.id,
                                             "is_owner": checked.is_owner},
                     actor_id=desk.id if desk is not None else None)
    return resident


def register(desk: User | None, unit_code: str, name: str, phone: str, is_owner: bool) -> Resident:
    """Register a resident of a unit of this site, in one transaction with its shift-book entry.

    `desk` is who registers (None from the command line: the entry's actor is the system).
    """
    checked = check(_site_id(desk), unit_code, name, phone, is_owner)
    with transaction():
        return _write(desk, checked)


def listing(unit: Unit) -> list[Resident]:
    """The unit's residents, those living there first, owners before tenants."""
    return sorted(unit.residents, key=lambda r: (r.moved_out_at is not None, not r.is_owner, r.id))


# --- import ------------------------------------------------------------------------------------

def owner_of(text: str) -> bool:
    """The owner column: yes/no, 1/0, 是/否 (empty means owner); ActionError otherwise."""
    value = (text or "").strip().lower()
    if not value or value in YES:
        return True
    if value in NO:
        return False
    raise ActionError("bad_owner", _("The owner column must be yes or no (是 or 否)."))


def _names(key: str, label: object) -> set[str]:
    names = {key}
    for locale in ("en", "zh_CN"):  # a template saved in either language imports anywhere
        with force_locale(locale):
            names.add(str(label).lower())
    return names


def header_ok(header: Sequence[str]) -> bool:
    """True if the row is the template's header (English names or labels, in column order)."""
    names = [c.strip().lstrip("\ufeff").lower() for c in header]
    while names and not names[-1]:
        names.pop()
    return len(names) == len(COLUMNS) and all(
        name in _names(key, label) for name, (key, label) in zip(names, COLUMNS, strict=True))


def read_csv(text: str) -> tuple[list[ResidentRow], list[tuple[int, str]]]:
    """Rows of a CSV file's text, and (line, problem) for rows that cannot be read at all.

    ActionError for the whole file: no header, or more than MAX_IMPORT_ROWS rows.
    """
    reader = csv.reader(io.StringIO(text))
    header = next((row for row in reader if any(c.strip() for c in row)), None)
    if header is None or not header_ok(header):
        raise ActionError("bad_header", _("The first row must be the header: %(columns)s.",
                                          columns=", ".join(key for key, _label in COLUMNS)))
    rows: list[ResidentRow] = []
    problems: list[tuple[int, str]] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(problems) >= MAX_IMPORT_ROWS:
            raise ActionError("too_many_rows", _("A file may hold at most %(n)s rows.", n=MAX_IMPORT_ROWS))
        cells = [c.strip() for c in cells] + [""] * len(COLUMNS)
        try:
            rows.append(ResidentRow(reader.line_num, cells[0], cells[1], cells[2], owner_of(cells[3])))
        except ActionError as exc:
            problems.append((reader.line_num, exc.message))
    return rows, problems


def _check_rows(site_id: int, rows: Sequence[ResidentRow]) -> tuple[list[Checked], list[tuple[int, str]]]:
    units: dict[str, Unit] = {}
    checked: list[Checked] = []
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[int, str], int] = {}
    for row in rows:
        try:
            one = check(site_id, row.unit, row.name, row.phone, row.is_owner, units=units)
        except ActionError as exc:
            problems.append((row.line, exc.message))
            continue
        key = (one.unit.id, one.phone)
        if key in seen:
            problems.append((row.line, str(_("The same unit and phone are on line %(line)s.",
                                             line=seen[key]))))
        seen.setdefault(key, row.line)
        checked.append(one)
    return checked, problems


def check_rows(site_id: int, rows: Sequence[ResidentRow]) -> list[tuple[int, str]]:
    """What is wrong with each row, as register() would say, plus a unit and phone twice in the file."""
    return _check_rows(site_id, rows)[1]


def import_rows(desk: User | None, rows: Sequence[ResidentRow],
                problems: Sequence[tuple[int, str]] = ()) -> list[Resident]:
    """Register every row in one transaction, or nothing: ImportRefused names each bad line.

    `problems` are lines read_csv could not read; they refuse the file together with the rest.
    Each resident gets its own `resident.registered` entry, the same as one registered at the
    desk, so the shift book found by unit (book search) shows imported households too.
    """
    if len(rows) + len(problems) > MAX_IMPORT_ROWS:
        raise ActionError("too_many_rows", _("A file may hold at most %(n)s rows.", n=MAX_IMPORT_ROWS))
    if not rows and not problems:
        raise ActionError("no_rows", _("The file has no rows under the header."))
    checked, found = _check_rows(_site_id(desk), rows)
    if problems or found:
        raise ImportRefused(sorted([*problems, *found]))
    with transaction():  # every row passed: write them all, or (on any error) none
        return [_write(desk, one) for one in checked]

