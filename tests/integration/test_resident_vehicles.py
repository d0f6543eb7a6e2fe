"""Residents' cars at the service desk: the desk adds, changes, ends, exports and imports them;
what is registered here decides at the barrier."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import Resident, ShiftBookEntry, Unit, User, Vehicle
from gate.models.types import utcnow
from gate.services import ActionError, sites, transaction, vehicle_lists, vehicles
from gate.services import resident_vehicles as cars
from tests.support.kiosk import GUARD

BASE = "/desk/vehicles/"
HEADER = "plate,unit,resident phone,colour,valid from,valid until,reason"
LOGINS = {"service_desk": ("desk", "desk-demo"), "admin": ("admin", "admin-demo"),
          "supervisor": ("supervisor", "supervisor-demo"), "resident": ("13800000001", "resident-demo")}


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _resident(unit_code: str, name: str, phone: str, *, owner: bool = True, moved_out: bool = False) -> int:
    """Register a resident in a demo unit; returns the id."""
    unit = db.session.scalars(select(Unit).where(Unit.code == unit_code)).one()
    resident = Resident(unit_id=unit.id, name=name, phone=phone, is_owner=owner,
                        moved_out_at=utcnow() - timedelta(days=1) if moved_out else None)
    db.session.add(resident)
    db.session.commit()
    return resident.id


def _cars(app=None) -> list[tuple]:
    """(plate, unit, valid_until is None, resident id) of every vehicle row, readable after the request."""
    def rows():
        return [(v.plate, v.resident.unit.code, v.valid_until is None, v.resident_id)
                for v in db.session.scalars(select(Vehicle).order_by(Vehicle.id))]
    if app is None:
        return rows()
    with app.app_context():
        return rows()


def _entries(app=None) -> list[tuple[str, dict]]:
    def rows():
        return [(e.kind, json.loads(e.data)) for e in db.session.scalars(
            select(ShiftBookEntry).where(ShiftBookEntry.kind.startswith("resident_vehicle."))
            .order_by(ShiftBookEntry.seq))]
    if app is None:
        return rows()
    with app.app_context():
        return rows()


def _read(plate: str, camera: str = "anpr-in") -> PlateRead:
    """A clear camera read now; use the other camera to read the same car again within the debounce."""
    return PlateRead("demo", camera, f"evt-{uuid.uuid4().hex}", plate, 0.95, "in", utcnow())


# --- the service -------------------------------------------------------------------------------

@pytest.fixture
def en(app):
    """An English request context for calling services directly and reading their messages."""
    with app.test_request_context(), force_locale("en"):
        yield app

def test_added_car_opens_and_ended_car_does_not(en):
    """Protects the point of the page: a car added at the desk opens the barrier at the camera, and
    once ended it is a stranger again; the row stays, and the shift book holds ids only."""
    desk = _user("desk")
    _resident("1-1-102", "李女士", "13900000002")
    car = cars.add(desk.site_id, "1栋1单元102", None, "粤b·54321", "白色", None, None, "车位租赁", desk)
    assert (car.plate, car.color, car.reason, car.added_by) == ("粤B54321", "白色", "车位租赁", desk.id)
    assert vehicles.handle_plate(_read("粤B54321")).reason == "resident"
    cars.end(car, desk, "车已卖")
    assert car.valid_until is not None and car.changed_by == desk.id and car.reason == "车已卖"
    assert vehicles.handle_plate(_read("粤B54321", "anpr-out")).reason == "unknown"
    assert ("粤B54321", "1-1-102", False, car.resident_id) in _cars()
    unit_id = car.resident.unit_id
    assert _entries() == [("resident_vehicle.added", {"vehicle_id": car.id, "unit_id": unit_id}),
                          ("resident_vehicle.ended", {"vehicle_id": car.id, "unit_id": unit_id})]
    with pytest.raises(ActionError, match="already ended"):
        cars.end(car, desk)


def test_resident_is_picked_by_id_phone_name_or_owner(en):
    """Protects the right household member: id, phone (also masked, as exported) or name pick the
    resident within the unit; empty picks the owner living there, not a tenant or a leaver."""
    desk = _user("desk")
    _resident("1-1-102", "旧业主", "13900000009", moved_out=True)
    tenant = _resident("1-1-102", "租客", "13900000003", owner=False)
    owner = _resident("1-1-102", "业主", "13900000004")
    unit = sites.unit_by_code(desk.site_id, "1-1-102")
    assert cars.pick_resident(unit, None).id == owner
    assert cars.pick_resident(unit, tenant).id == tenant
    assert cars.pick_resident(unit, "139 0000 0003").id == tenant
    assert cars.pick_resident(unit, "139****0003").id == tenant
    assert cars.pick_resident(unit, "业主").id == owner
    with pytest.raises(ActionError, match="No resident"):
        cars.pick_resident(unit, "13800000001")  # lives in 1-1-101, not here


def _refusal_setup() -> None:
    _resident("1-1-102", "李女士", "13900000002")
    _resident("1-1-201", "搬走了", "13900000005", moved_out=True)
    vehicle_lists.add(_user("supervisor"), "blocklist", "粤B77777", "车辆被盗报案")


@pytest.mark.parametrize("unit, who, plate, days, code, message", [
    ("1-1-102", None, "ABC", None, "bad_plate", "not a valid plate"),
    ("1-1-102", None, "粤B·12345", None, "plate_taken", "registered to unit 1-1-101"),
    ("1-1-102", None, "粤B77777", None, "blocklisted", "Ask the supervisor"),
    ("1-1-201", None, "粤B54321", None, "no_resident", "Nobody lives in unit 1-1-201"),
    ("1-1-201", "13900000005", "粤B54321", None, "moved_out", "moved out"),
    ("1-1-102", None, "粤B54321", (10, 5), "bad_window", "end must come after the start"),
    ("1-1-102", None, "粤B54321", (-10, -5), "already_over", "already passed"),
    ("9-9-909", None, "粤B54321", None, "unknown_unit", "does not exist"),
    ("1-1-102", "13811112222", "粤B54321", None, "unknown_resident", "No resident"),
])
def test_refusals_write_nothing(en, unit, who, plate, days, code, message):
    """Protects the register from bad cars: each rule refuses with its own message and leaves no row
    and no shift-book entry (garbage plates, a plate another unit has, a blocklisted plate, a
    leaver, a back-to-front or past window, an unknown unit or resident)."""
    _refusal_setup()
    before = _cars()
    start, end = (utcnow() + timedelta(days=d) for d in days) if days else (None, None)
    with pytest.raises(ActionError, match=message) as caught:
        cars.add(_user("desk").site_id, unit, who, plate, "", start, end, "", _user("desk"))
    assert caught.value.code == code
    assert _cars() == before and _entries() == []


def test_ended_plate_can_be_registered_again_elsewhere(en):
    """Protects resale and re-registration: an ended plate (unique per site) is taken over by its
    new household, keeping the one row whose story the shift book tells by vehicle id."""
    desk = _user("desk")
    demo_car = db.session.scalars(select(Vehicle).where(Vehicle.plate == "粤B12345")).one()
    cars.end(demo_car, desk, "卖给2-1-101")
    buyer = _resident("2-1-101", "买家", "13900000006")
    again = cars.add(desk.site_id, "2-1-101", None, "粤B12345", "", None, None, "", desk)
    assert again.id == demo_car.id and again.resident_id == buyer and again.valid_until is None
    assert vehicles.handle_plate(_read("粤B12345")).reason == "resident"
    assert [kind for kind, _data in _entries()] == ["resident_vehicle.ended", "resident_vehicle.added"]


def test_change_updates_and_refuses_an_ended_car(en):
    """Protects changes: a later start keeps the car shut until then; a bad window or an ended car is
    refused without writing."""
    desk = _user("desk")
    car = db.session.scalars(select(Vehicle).where(Vehicle.plate == "粤B12345")).one()
    cars.change(car, utcnow() + timedelta(days=3), None, "黑色", "月卡续费", desk)
    assert (car.color, car.reason, car.changed_by) == ("黑色", "月卡续费", desk.id)
    assert vehicles.handle_plate(_read("粤B12345")).reason == "unknown"
    with pytest.raises(ActionError, match="end must come after"):
        cars.change(car, utcnow() + timedelta(days=3), utcnow() + timedelta(days=1), "", "", desk)
    cars.end(car, desk)
    with pytest.raises(ActionError, match="has ended"):
        cars.change(car, None, None, "", "", desk)
    assert [kind for kind, _data in _entries()] == ["resident_vehicle.changed", "resident_vehicle.ended"]


# --- the pages ---------------------------------------------------------------------------------

def _login(client, kiosk, role: str) -> None:
    if role == "guard":
        assert kiosk.login(*GUARD).status_code == 302
    else:
        assert kiosk.login_staff(*LOGINS[role]).status_code == 302
    client.get("/desk/?lang=en")


@pytest.fixture
def desk(client, kiosk):
    """The service desk signed in, pages in English."""
    _login(client, kiosk, "service_desk")
    return client


def _import(client, text: str, encoding: str = "utf-8-sig"):
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cars.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode()
    body += text.encode(encoding) + f"\r\n--{boundary}--\r\n".encode()
    return client.post(f"{BASE}import", data=body, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.mark.parametrize("role, reads, writes", [
    ("service_desk", True, True), ("admin", True, True), ("supervisor", True, False),
    ("guard", False, False), ("resident", False, False)])
def test_who_may_read_and_change(app, client, kiosk, role, reads, writes):
    """Protects the register: the desk and admins change it; supervisors only read and export (as on
    the other desk pages); guards and residents get 403; a refused write leaves nothing written."""
    with app.app_context():
        car_id = db.session.scalars(select(Vehicle.id)).one()
    _login(client, kiosk, role)
    for path in (BASE, f"{BASE}export.csv"):
        assert (client.get(path).status_code == 200) is reads, path
    expected = {True: {302, 200}, False: {403}}[writes]
    assert client.get(f"{BASE}{car_id}/change").status_code in expected
    before = _cars(app)
    add = client.post(BASE, data={"plate": "粤B54321", "unit": "1-1-101"})
    ended = client.post(f"{BASE}{car_id}/end")
    imported = _import(client, f"{HEADER}\n粤B66666,1-1-101,,,,,\n")
    assert {add.status_code, ended.status_code, imported.status_code} <= expected
    if not writes:
        assert _cars(app) == before and _entries(app) == []


def test_add_shows_in_the_list_and_refusal_keeps_values(app, desk):
    """Protects the add form: a good car lands in the list with who added it; a refused one shows
    the reason by the form (422) with the typed values, and writes nothing."""
    response = desk.post(BASE, data={"plate": "粤B54321", "unit": "1-1-101", "color": "白色",
                                     "valid_until": "2030-12-31", "reason": "第二辆车"})
    assert response.status_code == 302
    page = desk.get(f"{BASE}?q=54321").get_data(True)
    assert "粤B54321</strong>" in page and "白色" in page and "– 2030-12-31" in page and "客服小陈" in page
    assert "粤B12345</strong>" not in page
    assert "粤B12345</strong>" in desk.get(f"{BASE}?q=1-1-101").get_data(True)
    before = _cars(app)
    refused = desk.post(BASE, data={"plate": "粤B12345", "unit": "1-1-102", "color": "红色"})
    page = refused.get_data(True)
    assert refused.status_code == 422 and 'data-testid="form-error"' in page and "1-1-101" in page
    assert 'value="红色"' in page and _cars(app) == before and len(_entries(app)) == 1


def test_change_and_end_pages(app, desk):
    """Protects the change page: saving changes the car; ending moves it to the ended list, it stops
    opening the gate, and the change link disappears."""
    with app.app_context():
        car_id = db.session.scalars(select(Vehicle.id)).one()
    assert "粤B12345" in desk.get(f"{BASE}{car_id}/change").get_data(True)
    assert desk.post(f"{BASE}{car_id}/change", data={"color": "蓝色", "valid_until": "2031-01-31"}
                     ).status_code == 302
    bad = desk.post(f"{BASE}{car_id}/change", data={"valid_until": "31/01/2031"})
    assert bad.status_code == 422 and "year-month-day" in bad.get_data(True)
    assert desk.post(f"{BASE}{car_id}/end", data={"reason": "卖车"}).status_code == 302
    page = desk.get(f"{BASE}?status=ended").get_data(True)
    assert f'data-testid="ended-{car_id}"' in page and f'data-testid="change-{car_id}"' not in page
    assert "ended by 客服小陈" in page
    assert f'data-testid="car-{car_id}"' not in desk.get(BASE).get_data(True)
    with app.app_context():
        assert vehicles.handle_plate(_read("粤B12345")).reason == "unknown"
    assert [k for k, _d in _entries(app)] == ["resident_vehicle.changed", "resident_vehicle.ended"]


def test_another_sites_car_is_404(app, desk):
    """Protects estates from each other: another site's car cannot be opened, changed or ended."""
    with app.app_context():
        with transaction():
            site = sites.create_site("other", "别的小区")
            db.session.flush()
            demo = db.session.scalars(select(Vehicle)).one()
            car = Vehicle(site_id=site.id, resident_id=demo.resident_id, plate="粤B99999")
            db.session.add(car)
        car_id = car.id
    assert desk.get(f"{BASE}{car_id}/change").status_code == 404
    assert desk.post(f"{BASE}{car_id}/end").status_code == 404
    assert "粤B99999" not in desk.get(f"{BASE}?status=all").get_data(True)


def test_export_then_import_round_trip(app, desk):
    """Protects the CSV round trip: the export (UTF-8 BOM, masked phones, formula cells neutralised)
    imports back as is: first as updates of the same cars, then, after they were ended, as the
    same registrations again, in one transaction with one shift-book entry each time."""
    with app.app_context():
        _resident("1-1-102", "李女士", "13900000002", owner=False)
    desk.post(BASE, data={"plate": "粤B54321", "unit": "1-1-102", "resident": "李女士", "color": "白色",
                          "valid_from": "2030-01-01", "valid_until": "2030-12-31", "reason": "=月卡"})
    response = desk.get(f"{BASE}export.csv")
    body = response.get_data()
    assert response.mimetype == "text/csv" and body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert ",".join(rows[0]).lower() == HEADER
    assert rows[1:] == [["粤B12345", "1-1-101", "138****0001", "", "", "", ""],
                        ["粤B54321", "1-1-102", "139****0002", "白色", "2030-01-01", "2030-12-31", "'=月卡"]]
    text = body.decode("utf-8-sig")
    assert _import(desk, text).status_code == 302
    snapshot = _cars(app)
    with app.app_context():
        ids = list(db.session.scalars(select(Vehicle.id).order_by(Vehicle.id)))
    for car_id in ids:
        desk.post(f"{BASE}{car_id}/end")
    response = _import(desk, text)
    assert response.status_code == 302, response.get_data(True)
    assert _cars(app) == snapshot
    imports = [data for kind, data in _entries(app) if kind == "resident_vehicle.imported"]
    assert imports == [{"added": [], "changed": ids}, {"added": ids, "changed": []}]
    with app.app_context():
        assert db.session.get(Vehicle, ids[1]).reason == "=月卡"
        assert vehicles.handle_plate(_read("粤B12345")).reason == "resident"


def test_import_reads_gb18030(app, desk):
    """Protects uploads saved by Excel in China (GB18030, not UTF-8): they import the same."""
    with app.app_context():
        _resident("1-1-102", "李女士", "13900000002")
    assert _import(desk, f"{HEADER}\n粤B54321,1栋1单元102,,银色,,,车位租赁\n", "gb18030").status_code == 302
    with app.app_context():
        car = db.session.scalars(select(Vehicle).where(Vehicle.plate == "粤B54321")).one()
        assert (car.color, car.reason, car.resident.name) == ("银色", "车位租赁", "李女士")


def test_import_with_a_bad_row_writes_nothing_and_names_each_line(app, desk):
    """Protects all-or-nothing: with any bad row nothing is written, and each bad row is listed with
    its line number and what is wrong; the good rows are not named."""
    with app.app_context():
        _resident("1-1-102", "李女士", "13900000002")
        vehicle_lists.add(_user("supervisor"), "blocklist", "粤B77777", "车辆被盗报案")
    text = (f"{HEADER}\n粤B54321,1-1-102,,,,,\n"
            "ABC,1-1-102,,,,,\n"
            "粤B12345,1-1-102,,,,,\n"
            "粤B77777,1-1-102,,,,,\n"
            "粤B66666,1-1-201,,,,,\n"
            "粤B88888,1-1-102,,,2030/01/01,,\n"
            "粤B·54321,1-1-102,,,,,\n")
    response = _import(desk, text)
    page = response.get_data(True)
    assert response.status_code == 422 and 'data-testid="import-problems"' in page
    for line in (3, 4, 5, 6, 7, 8):
        assert f'data-testid="problem-{line}"' in page
    assert 'data-testid="problem-2"' not in page
    assert "Line 3: That is not a valid plate" in page and "unit 1-1-101" in page
    assert "Ask the supervisor" in page and "Nobody lives in unit 1-1-201" in page
    assert len(_cars(app)) == 1 and _entries(app) == []


@pytest.mark.parametrize("text, message", [
    ("粤B54321,1-1-101,,,,,\n", "header"),
    (HEADER + "\n", "no rows"),
    (HEADER + "\n" + "".join(f"粤B{n:05d},1-1-101,,,,,\n" for n in range(2001)), "at most 2000"),
])
def test_import_refuses_bad_files(app, desk, text, message):
    """Protects the import limits: no header, no rows or more than 2000 rows refuse the whole file."""
    response = _import(desk, text)
    assert response.status_code == 422 and message in response.get_data(True)
    assert len(_cars(app)) == 1 and _entries(app) == []


def test_desk_home_links_here(desk):
    """Protects discoverability: the service desk home leads to residents' cars."""
    page = desk.get("/desk/").get_data(True)
    assert 'data-testid="vehicles-link"' in page and BASE in page
