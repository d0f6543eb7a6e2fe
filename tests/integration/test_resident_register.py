"""Registering residents: the desk form, the CSV import, `gate resident`, and the API.

A resident registered here is a real household: the desk can then register their car and
give them a portal activation code. A refused registration or import writes nothing.
"""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Resident, ShiftBookEntry, ShiftBookHead, Unit, User, Vehicle
from gate.services import ActionError
from gate.services import household_register as register
from gate.services.resident_vehicles import ImportRefused
from tests.integration.test_cli import assert_one_sentence_error, run_gate
from tests.support.api import ApiClient, error_code, make_key
from tests.support.second_site import build_north

HEADER = "unit,name,phone,owner"


def _state(app=None) -> tuple[int, int]:
    """(resident rows, the demo shift book's head seq): unchanged means nothing was written."""
    def read():
        count = db.session.scalar(select(func.count()).select_from(Resident))
        return count, db.session.get(ShiftBookHead, "demo").seq
    if app is None:
        return read()
    with app.app_context():
        try:
            return read()
        finally:
            db.session.remove()


def _registered(app) -> list[tuple[str, str, str, bool]]:
    """(unit, name, phone, is_owner) of every resident but the demo's own, in id order."""
    with app.app_context():
        rows = [(r.unit.code, r.name, r.phone, r.is_owner) for r in db.session.scalars(
            select(Resident).where(Resident.phone != "13800000001").order_by(Resident.id))]
        db.session.remove()
    return rows


def _entries(app) -> list[dict]:
    with app.app_context():
        rows = [json.loads(e.data) for e in db.session.scalars(
            select(ShiftBookEntry).where(ShiftBookEntry.kind == "resident.registered")
            .order_by(ShiftBookEntry.seq))]
        db.session.remove()
    return rows


@pytest.fixture
def en(app):
    """An English request context for calling the service directly and reading its messages."""
    with app.test_request_context(), force_locale("en"):
        yield app


@pytest.fixture
def desk(app, kiosk):
    """The test client signed in as the demo's service desk."""
    assert kiosk.login_staff("desk", "desk-demo").status_code == 302
    return kiosk.client


def _desk_user() -> User:
    return db.session.scalars(select(User).where(User.username == "desk")).one()


def _upload(client, text: str, encoding: str = "utf-8-sig"):
    from io import BytesIO

    return client.post("/desk/residents/import?lang=en",
                       data={"file": (BytesIO(text.encode(encoding)), "r.csv")},
                       content_type="multipart/form-data")


# --- the desk form and what a registered resident can then do --------------------------------

def test_registered_resident_gets_a_car_and_an_activation_code(app, desk):
    """Protects the point of registering: before it the desk cannot add a car for an empty unit;
    after it (through the desk's form) the car is registered to that resident and an activation
    code is issued for them."""
    car = {"plate": "粤B24680", "unit": "1-2-301", "resident": "", "color": "", "valid_from": "",
           "valid_until": "", "reason": ""}
    assert desk.post("/desk/vehicles/", data=car).status_code == 422  # nobody lives there yet
    form = desk.get("/desk/residents/new?unit=1-2-301")
    assert form.status_code == 200 and 'value="1-2-301"' in form.get_data(as_text=True)
    response = desk.post("/desk/residents/new", data={"unit": "1-2-301", "name": " 孙女士 ",
                                                      "phone": "139 0000 1234", "tenancy": "tenant"})
    assert response.status_code == 302 and "/desk/?unit=1-2-301" in response.headers["Location"]
    page = desk.get(response.headers["Location"]).get_data(as_text=True)
    assert "孙女士" in page and "139****1234" in page
    assert _registered(app) == [("1-2-301", "孙女士", "13900001234", False)]
    assert desk.post("/desk/vehicles/", data=car).status_code == 302
    with app.app_context():
        resident = db.session.scalars(select(Resident).where(Resident.phone == "13900001234")).one()
        resident_id = resident.id
        assert [v.resident_id for v in db.session.scalars(
            select(Vehicle).where(Vehicle.plate == "粤B24680"))] == [resident_id]
        db.session.remove()
    card = desk.post(f"/desk/residents/{resident_id}/activation")
    assert card.status_code == 200 and card.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("unit, name, phone, code", [
    ("1-1", "孙女士", "13900001234", "bad_unit"),
    ("9-9-909", "孙女士", "13900001234", "unknown_unit"),
    ("1-2-301", "孙女士", "2345", "bad_phone"),
    ("1-2-301", "孙女士", "", "bad_phone"),
    ("1-2-301", "   ", "13900001234", "name_required"),
    ("1-2-301", "孙\x07女士", "13900001234", "bad_text"),
    ("1-1-101", "陈太太", "138-0000-0001", "duplicate_resident"),
])
def test_refusals_write_nothing(en, unit, name, phone, code):
    """Protects the household register: a wrong unit, phone or name, or a second current resident
    of the unit with the same phone, is refused with its code and leaves no row and no entry."""
    before = _state()
    with pytest.raises(ActionError) as refused:
        register.register(_desk_user(), unit, name, phone, True)
    assert refused.value.code == code and refused.value.message
    assert _state() == before


def test_moved_out_phone_may_register_again(en):
    """Protects people who come back: only a *current* resident with the phone blocks the unit."""
    demo = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
    from gate.services import activation

    activation.move_out(_desk_user(), demo)
    again = register.register(_desk_user(), "1-1-101", "陈先生", "13800000001", True)
    assert again.id != demo.id and again.moved_out_at is None


def test_entry_holds_references_not_name_or_phone(app, en):
    """Protects privacy of the shift book (kept for years, never edited): the entry names the
    resident, unit and tenancy by reference; neither the name nor the phone is in it."""
    resident = register.register(_desk_user(), "2-1-502", "周先生", "13700002222", False)
    entry = db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.kind == "resident.registered")).one()
    assert json.loads(entry.data) == {"resident_id": resident.id, "unit_id": resident.unit_id,
                                      "is_owner": False}
    assert entry.actor_id == _desk_user().id
    assert "周先生" not in entry.data and "13700002222" not in entry.data and "2222" not in entry.data


def test_desk_form_shows_what_to_fix_and_keeps_values(desk, app):
    """Protects the desk's form: a refusal comes back as one message with the typed values kept."""
    before = _state(app)
    response = desk.post("/desk/residents/new?lang=en", data={"unit": "1-2-301", "name": "孙女士",
                                                              "phone": "12345", "tenancy": "owner"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "11-digit mobile number" in page
    assert 'value="孙女士"' in page and 'value="1-2-301"' in page
    assert _state(app) == before


@pytest.mark.parametrize("login, allowed", [(("supervisor", "supervisor-demo"), True),
                                            (("13800000001", "resident-demo"), False)])
def test_who_may_register(app, kiosk, login, allowed):
    """Protects the roles the brief sets: supervisors may register (and stay on the form, having
    no desk home); residents are refused and nothing is written."""
    assert kiosk.login_staff(*login).status_code == 302
    before = _state(app)
    response = kiosk.client.post("/desk/residents/new", data={"unit": "1-2-301", "name": "孙女士",
                                                              "phone": "13900001234"})
    if allowed:
        assert response.status_code == 302
        assert "/desk/residents/new?unit=1-2-301" in response.headers["Location"]
        assert _registered(app) == [("1-2-301", "孙女士", "13900001234", True)]
    else:
        assert response.status_code == 403 and _state(app) == before


# --- CSV import --------------------------------------------------------------------------------

def test_import_is_all_or_nothing_with_line_numbers(app, desk):
    """Protects a site's first load: one bad row and nothing is written; every bad row is named by
    its line number and reason, a household twice in the file included; fixed, all rows go in
    with one entry each."""
    before = _state(app)
    bad = "\n".join([HEADER, "1-2-301,孙女士,13900001234,yes", "9-9-909,钱先生,13900005678,no",
                     "", "2-1-101,,13900000003,是", "2-1-101,吴女士,13900000004,maybe",
                     "1-2-301,孙女士二,139-0000-1234,否", "1-1-101,陈太太,13800000001,no"])
    response = _upload(desk, bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was imported" in page
    for line in (3, 5, 6, 7, 8):
        assert f'data-testid="problem-{line}"' in page, line
    assert 'data-testid="problem-2"' not in page
    assert "The same unit and phone are on line 2." in page and "yes or no" in page
    assert _state(app) == before

    good = "\n".join([HEADER, "1-2-301,孙女士,13900001234,yes", "2-1-101,钱先生,13900005678,否",
                      "2-1-101,吴女士,13900000004,0", "3-2-1801,郑先生,+86 139 0000 0005,"])
    response = _upload(desk, good, "gb18030")
    assert response.status_code == 302
    assert _registered(app) == [("1-2-301", "孙女士", "13900001234", True),
                                ("2-1-101", "钱先生", "13900005678", False),
                                ("2-1-101", "吴女士", "13900000004", False),
                                ("3-2-1801", "郑先生", "13900000005", True)]
    entries = _entries(app)
    assert len(entries) == 4 and [e["is_owner"] for e in entries] == [True, False, False, True]
    assert _state(app)[1] == before[1] + 4


def test_import_refuses_whole_file_problems(app, desk):
    """Protects against half-understood files: a wrong header, no rows or too many rows is one
    clear message and nothing written."""
    before = _state(app)
    wrong = _upload(desk, "房号,姓名\n1-2-301,孙女士")
    assert wrong.status_code == 422 and "unit, name, phone, owner" in wrong.get_data(as_text=True)
    empty = _upload(desk, HEADER + "\n\n")
    assert empty.status_code == 422 and "no rows" in empty.get_data(as_text=True)
    rows = [f"1-2-301,住户{i},139{i:08d},yes" for i in range(register.MAX_IMPORT_ROWS + 1)]
    many = "\n".join([HEADER, *rows])
    too_many = _upload(desk, many)
    assert too_many.status_code == 422 and "at most 2000 rows" in too_many.get_data(as_text=True)
    assert _state(app) == before


def test_template_imports_back_in_both_languages(app, desk):
    """Protects the template: the header downloaded (Chinese desk screen) imports as it is."""
    template = desk.get("/desk/residents/import/template.csv?lang=zh_CN")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    text = template.data.decode("utf-8-sig").strip()
    assert text.count(",") == 3 and len(text.splitlines()) == 1
    response = _upload(desk, text + "\r\n1-2-301,孙女士,13900001234,是\r\n")
    assert response.status_code == 302
    assert _registered(app) == [("1-2-301", "孙女士", "13900001234", True)]


def test_import_service_counts_rows_read_badly(en):
    """Protects the service's all-or-nothing rule for callers that parse themselves (the CLI):
    lines the reader could not read refuse the file with the others."""
    rows, problems = register.read_csv(f"{HEADER}\n1-2-301,孙女士,13900001234,perhaps\n"
                                       "2-1-101,钱先生,13900005678,no\n")
    assert [p[0] for p in problems] == [2] and len(rows) == 1
    before = _state()
    with pytest.raises(ImportRefused) as refused:
        register.import_rows(_desk_user(), rows, problems)
    assert [line for line, _message in refused.value.problems] == [2]
    assert _state() == before


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def gate_env(database_url, tmp_path, signing_key) -> dict:
    """Environment pointing the CLI at this test's demo database."""
    return {"GATE_DATABASE_URL": database_url, "GATE_INSTANCE_PATH": str(tmp_path / "inst"),
            "GATE_SIGNING_KEY_PATH": str(signing_key), "GATE_SITE": "demo"}


@pytest.mark.parametrize("command", [["resident"], ["resident", "add"], ["resident", "import"]])
def test_resident_commands_have_help(tmp_path, command):
    """Protects operators: `gate resident` and its commands explain themselves with --help."""
    result = run_gate(*command, "--help", env={"GATE_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_cli_add_and_its_errors(app, gate_env):
    """Protects `gate resident add`: it registers (actor: the system, no user) and a wrong phone
    or a duplicate is one sentence with a non-zero exit and nothing written."""
    result = run_gate("resident", "add", "--unit", "1-2-301", "--name", "孙女士", "--phone",
                      "13900001234", "--tenant", env=gate_env)
    assert result.returncode == 0, result.stderr
    assert "unit 1-2-301 (tenant)" in result.stdout
    assert _registered(app) == [("1-2-301", "孙女士", "13900001234", False)]
    with app.app_context():
        entry = db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.kind == "resident.registered")).one()
        assert entry.actor_id is None
        db.session.remove()
    before = _state(app)
    assert_one_sentence_error(run_gate("resident", "add", "--unit", "1-2-301", "--name", "孙女士",
                                       "--phone", "13900001234", env=gate_env), "already has this phone")
    assert_one_sentence_error(run_gate("resident", "add", "--unit", "1-2-301", "--name", "x",
                                       "--phone", "123", env=gate_env), "11-digit")
    assert_one_sentence_error(run_gate("resident", "add", "--unit", "9-9-909", "--name", "x",
                                       "--phone", "13900000009", env=gate_env), "9-9-909")
    assert _state(app) == before


def test_cli_import_and_its_errors(app, gate_env, tmp_path):
    """Protects `gate resident import`: a bad file names each bad line and writes nothing (exit 1,
    no traceback); a good file registers every row."""
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n1-2-301,孙女士,13900001234,yes\n2-1-101,钱先生,12,no\n", encoding="utf-8")
    before = _state(app)
    result = run_gate("resident", "import", str(bad), env=gate_env)
    assert_one_sentence_error(result, "Nothing was imported")
    assert "\n  line 3: " in result.stderr and "11-digit" in result.stderr
    assert "line 2" not in result.stderr
    assert _state(app) == before
    header_only = tmp_path / "wrong.csv"
    header_only.write_text("plate,unit\n", encoding="utf-8")
    assert_one_sentence_error(run_gate("resident", "import", str(header_only), env=gate_env),
                              "unit, name, phone, owner")
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n1-2-301,孙女士,13900001234,yes\n2-1-101,钱先生,13900005678,否\n",
                    encoding="utf-8")
    result = run_gate("resident", "import", str(good), env=gate_env)
    assert result.returncode == 0, result.stderr
    assert "Registered 2 residents" in result.stdout
    assert [r[:2] for r in _registered(app)] == [("1-2-301", "孙女士"), ("2-1-101", "钱先生")]


# --- the API -----------------------------------------------------------------------------------

def test_api_add_and_list(app, client):
    """Protects the API: a desk key registers a resident and lists the unit with phones masked;
    a duplicate is 422 with its stable code; a supervisor key may list too."""
    desk_api = ApiClient(client, make_key(app, "desk")[1])
    created = desk_api.post("/units/1-2-301/residents", json={"name": "孙女士", "phone": "13900001234",
                                                              "is_owner": False})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["unit"] == "1-2-301" and body["phone"] == "139****1234" and body["is_owner"] is False
    assert body["portal_account"] is False and body["moved_out_at"] is None
    again = desk_api.post("/units/1-2-301/residents", json={"name": "孙女士", "phone": "13900001234"})
    assert again.status_code == 422 and error_code(again) == "duplicate_resident"
    boss = ApiClient(client, make_key(app, "supervisor")[1])
    listed = boss.get("/units/1-2-301/residents")
    assert listed.status_code == 200
    assert [(r["id"], r["name"], r["phone"]) for r in listed.get_json()["items"]] == [
        (body["id"], "孙女士", "139****1234")]
    assert "13800000001" not in desk_api.get("/units/1-1-101/residents").get_data(as_text=True)


def test_api_scopes_and_sites(app, client):
    """Protects who reaches a household register over the API: a resident key is refused (403)
    even for its own unit; another estate's unit is 404 for a demo key; nothing is written."""
    build_north(app)
    resident_api = ApiClient(client, make_key(app, "resident", unit="1-1-101")[1])
    desk_api = ApiClient(client, make_key(app, "desk")[1])
    before = _state(app)
    assert resident_api.get("/units/1-1-101/residents").status_code == 403
    refused = resident_api.post("/units/1-1-101/residents", json={"name": "陈太太", "phone": "13900001111"})
    assert refused.status_code == 403
    for response in (desk_api.get("/units/8-8-808/residents"),
                     desk_api.post("/units/8-8-808/residents", json={"name": "x", "phone": "13900001111"})):
        assert response.status_code == 404 and error_code(response) == "not_found"
    bad = desk_api.post("/units/1-2-301/residents", json={"name": "", "phone": "13900001111"})
    assert bad.status_code == 400
    assert _state(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Unit).where(Unit.code == "8-8-808")) == 1
        db.session.remove()
