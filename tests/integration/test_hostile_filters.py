"""SQL injection strings and hostile bytes in every filter and search, on SQLite and PostgreSQL.

FILTERS lists every GET route whose query parameters filter or search (console, desk, kiosk,
CSV exports, the unit typeahead, the API's lists); a route added with a filter belongs here.
Each parameter gets classic injection strings, LIKE wildcards, a very long string and an
impossible date, then NUL and bytes that are not UTF-8.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from sqlalchemy import func, inspect, select

from gate.extensions import db
from gate.models import (
    ReleaseSlip,
    Resident,
    ShiftBookEntry,
    Unit,
    User,
    Vehicle,
    Violation,
    Visit,
    Visitor,
    VisitorPass,
)
from gate.services.demo import LOGINS
from tests.support.api import make_key
from tests.support.kiosk import KioskActions

HOSTILE = ["' OR '1'='1", "1' OR 1=1 --", "1; DROP TABLE visit;--", "%' --", "\\", "_%", "%", "_",
           "1-1-1_1", "1%", "' UNION SELECT password_hash FROM \"user\" --", "x" * 5000, "2026-13-45",
           "-1", "99999999999999999999", "²", "１２", "粤B%"]
# Searches drop punctuation from plates ("粤b·123") and fold full-width digits, so these still
# name a real plate fragment or unit prefix ("1", "粤B", "2") and may rightly match.
FRAGMENTS = {"1%", "-1", "²", "１２", "粤B%"}
BAD_BYTES = ["%00", "1-1%00", "%C3%28", "%FF%FE", "%E4%B8"]  # raw, as a client could send them
INTACT = (Unit, Resident, Vehicle, Visit, Visitor, VisitorPass, ReleaseSlip, Violation, User)


def _csv_rows(response) -> int:
    return len(list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))) - 1


def _items(response) -> int:
    return len(response.get_json()["items"])


def _json_list(response) -> int:
    return len(response.get_json())


def _marked(pattern: str) -> Callable:
    """Counts the result rows of a page by their data-testid."""
    return lambda response: len(re.findall(pattern, response.get_data(as_text=True)))


@dataclass(frozen=True)
class Filter:
    """A GET route, who calls it, the parameters it reads, and which of them are searches."""

    who: str  # admin (console and desk), guard (kiosk), desk or supervisor (API keys)
    path: str
    params: tuple[str, ...]
    search: tuple[str, ...] = ()  # a hostile value here must match nothing
    rows: Callable | None = None  # counts the result rows of a 200 answer
    known: dict[str, str] = field(default_factory=dict)  # a value that does match (non-vacuous)


BOOK = ("from", "to", "kind", "guard", "post", "gate", "plate", "unit", "visitor", "idh", "before")
API_BOOK = ("date_from", "date_to", "kind", "guard", "post", "gate", "plate", "unit", "visitor",
            "id_hash", "before", "limit")
VIOLATIONS = ("state", "type", "plate", "from", "to")
FILTERS = [
    Filter("admin", "/console/", ("kind", "actor")),
    Filter("admin", "/console/book/", BOOK, ("plate", "unit", "visitor", "kind", "idh")),
    Filter("admin", "/console/book/export.csv", BOOK, ("plate", "unit", "visitor", "kind", "idh"),
           _csv_rows, {"kind": "shift.start"}),
    Filter("admin", "/console/violations/", VIOLATIONS, ("plate",)),
    Filter("admin", "/console/violations/export.csv", VIOLATIONS, ("plate", "state", "type"), _csv_rows),
    Filter("admin", "/console/shifts/", ("post", "from", "to", "state")),
    Filter("admin", "/console/charts/", ("day", "post", "from", "to")),
    Filter("admin", "/console/charts/traffic.svg", ("day", "post")),
    Filter("admin", "/console/charts/waits.svg", ("day", "post")),
    Filter("admin", "/console/charts/violations.svg", ("from", "to")),
    Filter("admin", "/console/charts/daily.pdf", ("post", "day")),
    Filter("admin", "/console/orders/", ("post", "state")),
    Filter("admin", "/console/vehicles/", ("list",)),
    Filter("admin", "/console/vehicles/export.csv", ("list",)),
    Filter("admin", "/desk/", ("unit",), ("unit",), _marked('data-testid="unit-card"'),
           {"unit": "1-1"}),
    Filter("admin", "/desk/vehicles/", ("q", "status", "unit"), ("q",),
           _marked(r'data-testid="car-\d+"'), {"q": "1-1-101"}),
    Filter("admin", "/desk/vehicles/export.csv", ("q", "status"), ("q",), _csv_rows, {"q": "粤B123"}),
    Filter("admin", "/desk/slips/", ("status", "from", "to", "unit")),
    Filter("admin", "/desk/slips/export.csv", ("status", "from", "to", "unit"), ("unit",), _csv_rows),
    Filter("admin", "/desk/slips/new", ("unit",)),
    Filter("admin", "/desk/residents/new", ("unit",)),
    Filter("admin", "/desk/workers/new", ("unit",)),
    Filter("guard", "/kiosk/", ("post_id",)),
    Filter("guard", "/kiosk/visitors/units", ("q",), ("q",), _json_list, {"q": "1-1"}),
    Filter("guard", "/kiosk/visitors/new", ("plate",)),
    Filter("guard", "/kiosk/violations/new", ("type", "plate", "place", "note", "camera")),
    Filter("guard", "/kiosk/violations/repeat", ("plate",)),
    Filter("desk", "/api/v1/vehicles", ("q", "status"), ("q",), _items, {"q": "1-1-101"}),
    Filter("desk", "/api/v1/visits", ("date_from", "date_to", "unit", "state", "on_site", "before",
                                      "limit"), ("unit",), _items),
    Filter("supervisor", "/api/v1/book", API_BOOK, ("plate", "unit", "visitor", "kind", "id_hash"), _items),
]


@pytest.fixture
def callers(app):
    """A signed-in test client (or an API key's headers) per kind of caller."""
    admin, guard = app.test_client(), app.test_client()
    KioskActions(admin).login_staff(*LOGINS["admin"])
    kiosk = KioskActions(guard)
    kiosk.login()
    kiosk.start_shift()
    keys = {role: make_key(app, role)[1] for role in ("desk", "supervisor")}
    api = app.test_client()
    return {"admin": (admin, {}), "guard": (guard, {}),
            **{role: (api, {"Authorization": f"Bearer {key}"}) for role, key in keys.items()}}


def _get(callers, spec: Filter, param: str, raw_value: str):
    client, headers = callers[spec.who]
    response = client.get(f"{spec.path}?{param}={raw_value}", headers=headers)
    response.get_data()
    response.close()  # a streamed answer (CSV, PDF) keeps its transaction open until closed
    return response


def _counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                  for model in INTACT}
        counts["tables"] = len(inspect(db.session.connection()).get_table_names())
        db.session.remove()
    return counts


def test_the_known_values_do_match(callers):
    """Protects the other tests from passing vacuously: a search the demo data does match
    returns rows, so "no rows for a hostile value" means the filter worked."""
    for spec in FILTERS:
        for param, value in spec.known.items():
            response = _get(callers, spec, param, quote(value))
            assert response.status_code == 200, (spec.path, param)
            assert spec.rows(response) > 0, (spec.path, param, value)


def test_injection_strings_in_every_filter(app, callers):
    """Protects every filter and search from SQL injection and LIKE wildcards: for each hostile
    string in each parameter, no 500; a search (typed text) matches nothing, so `%` or `_`
    never stand for "anything" (gate.services.like) and `' OR '1'='1` returns no extra rows;
    and afterwards every table is there with the same rows."""
    before = _counts(app)
    wrong = []
    for spec in FILTERS:
        for param in spec.params:
            for value in HOSTILE:
                try:
                    response = _get(callers, spec, param, quote(value, safe=""))
                except Exception as exc:  # the test app re-raises what would be a 500
                    wrong.append((spec.path, param, value[:40], repr(exc)[:120]))
                    continue
                where = (spec.path, param, value[:40], response.status_code)
                if response.status_code >= 500 or (
                        param in spec.search and value not in FRAGMENTS and spec.rows is not None
                        and response.status_code == 200 and spec.rows(response) != 0):
                    wrong.append(where)
    assert not wrong, "\n".join(map(str, wrong))
    assert _counts(app) == before


def test_nul_and_undecodable_bytes_in_every_filter(callers):
    """Protects every route from NUL and non-UTF-8 input through one guard (kiosk_ui.query_guard):
    each parameter with such bytes answers 400 (JSON with a code under /api/, the error page
    elsewhere), never a 500 from PostgreSQL and never a search for U+FFFD."""
    for spec in FILTERS:
        for param in spec.params:
            for raw in BAD_BYTES:
                response = _get(callers, spec, param, raw)
                assert response.status_code == 400, (spec.path, param, raw, response.status_code)
                if spec.path.startswith("/api/"):
                    assert response.get_json()["error"]["code"] == "invalid_request"


def test_nul_in_a_form_field_is_refused(callers):
    """Protects forms the same way as query strings: a NUL in a posted field is a 400 before the
    view (and the database) sees it."""
    client, _headers = callers["admin"]
    response = client.post("/desk/vehicles/", data={"unit": "1-1-101", "plate": "粤B\x0054321"})
    assert response.status_code == 400


def test_like_wildcards_match_only_themselves(app, callers):
    """Protects the LIKE searches (gate.services.like): `_` and `%` typed into a unit or plate
    search are literal characters, so `1-1-1_1` does not find 1-1-101 and `%` finds nothing,
    while the literal prefix does find it."""
    checks = [(f, p) for f in FILTERS for p in f.known if p in ("q", "unit")]
    assert len(checks) >= 5
    for spec, param in checks:
        for value, expected in (("1-1-1_1", 0), ("%", 0), ("_", 0), ("1-1-10%", 0), ("1-1-10", None)):
            response = _get(callers, spec, param, quote(value, safe=""))
            if spec.path.startswith("/desk/vehicles/export") and value == "1-1-10":
                continue  # the export's known value is a plate, not a unit
            assert response.status_code == 200, (spec.path, value)
            found = spec.rows(response)
            assert found == expected if expected is not None else found > 0, (spec.path, value, found)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShiftBookEntry)) > 0
