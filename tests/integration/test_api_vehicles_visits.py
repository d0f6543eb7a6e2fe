"""API: residents' cars (desk and supervisor manage, residents read theirs) and the visits list."""

from __future__ import annotations

from sqlalchemy import select

from gate.extensions import db
from gate.models import Vehicle, Visit
from gate.services import visitors, visits
from tests.support.api import ApiClient, error_code, make_key, neighbour
from tests.support.passes import user


def test_desk_adds_changes_and_ends_a_car(app, client):
    """Protects the car register over the API: add, change validity (PATCH keeps what is not
    sent), end; each refusal carries the service's code."""
    api = ApiClient(client, make_key(app, "desk")[1])
    added = api.post("/vehicles", json={"unit": "1-1-101", "plate": "粤b 54321", "color": "白",
                                        "valid_until": "2099-12-31", "reason": "second car"})
    assert added.status_code == 201, added.get_json()
    car = added.get_json()
    assert car["plate"] == "粤B54321" and car["unit"] == "1-1-101" and car["current"]
    taken = api.post("/vehicles", json={"unit": "1-1-101", "plate": "粤B54321"})
    assert taken.status_code == 422 and error_code(taken) == "plate_taken"
    unknown = api.post("/vehicles", json={"unit": "9-9-999", "plate": "粤B11111"})
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_unit"
    changed = api.patch(f"/vehicles/{car['id']}", json={"valid_from": "2030-01-01"})
    assert changed.status_code == 200
    assert changed.get_json()["valid_from"].startswith("2029-12-31T16:00")  # 00:00 in Shanghai
    assert changed.get_json()["valid_until"] == car["valid_until"] and changed.get_json()["color"] == "白"
    wrong = api.patch(f"/vehicles/{car['id']}", json={"valid_until": "2029-01-01"})
    assert wrong.status_code == 422 and error_code(wrong) == "bad_window"
    ended = api.post(f"/vehicles/{car['id']}/end", json={"reason": "sold"})
    assert ended.status_code == 200 and not ended.get_json()["current"]
    again = api.post(f"/vehicles/{car['id']}/end")
    assert again.status_code == 422 and error_code(again) == "ended"
    listed = api.get("/vehicles", query_string={"status": "ended"}).get_json()["items"]
    assert [v["plate"] for v in listed] == ["粤B54321"]
    assert api.get("/vehicles", query_string={"status": "sometimes"}).status_code == 400
    assert api.patch("/vehicles/999999", json={}).status_code == 404


def test_resident_reads_only_their_units_cars(app, client):
    """Protects households' cars: a resident key lists its unit's cars only, whatever it filters."""
    other = neighbour(app)
    desk = ApiClient(client, make_key(app, "desk")[1])
    assert desk.post("/vehicles", json={"unit": "1-1-102", "plate": "粤B11101",
                                        "resident_id": other}).status_code == 201
    resident = ApiClient(client, make_key(app, "resident", unit="1-1-101")[1])
    for query in ({}, {"q": "1-1-102"}, {"status": "all"}):
        plates = [v["plate"] for v in resident.get("/vehicles", query_string=query).get_json()["items"]]
        assert plates == ["粤B12345"], query
    everyone = [v["plate"] for v in desk.get("/vehicles").get_json()["items"]]
    assert sorted(everyone) == ["粤B11101", "粤B12345"]


def test_supervisor_manages_cars_too(app, client):
    """Protects the brief's scope: supervisor keys may change the register as the desk does."""
    api = ApiClient(client, make_key(app, "supervisor")[1])
    with app.app_context():
        car_id = db.session.scalars(select(Vehicle.id).where(Vehicle.plate == "粤B12345")).one()
    assert api.post(f"/vehicles/{car_id}/end").status_code == 200


def _visit(app, name: str = "王五") -> int:
    with app.app_context():
        identity = visitors.check_identity(name, "resident_id", "11010519491231002X")
        return visits.start(user("1001"), None, "1-1-101", identity, purpose="探亲").id


def test_visits_are_listed_newest_first_with_a_cursor(app, client):
    """Protects the visits list: filters, keyset pages, and no ID number in any form."""
    first, second, third = _visit(app), _visit(app, "李四"), _visit(app, "张三")
    api = ApiClient(client, make_key(app, "desk")[1])
    page = api.get("/visits", query_string={"limit": 2}).get_json()
    assert [v["id"] for v in page["items"]] == [third, second] and page["next_before"] == second
    rest = api.get("/visits", query_string={"limit": 2, "before": page["next_before"]}).get_json()
    assert [v["id"] for v in rest["items"]] == [first] and rest["next_before"] is None
    text = api.get("/visits").get_data(as_text=True)
    assert "11010519491231002X" not in text and "1002X" not in text
    assert api.get("/visits", query_string={"on_site": "true"}).get_json()["items"] == []
    with app.app_context():
        visit = db.session.get(Visit, first)
        visit.state = "admitted"
        db.session.commit()
    inside = api.get("/visits", query_string={"on_site": "true"}).get_json()["items"]
    assert [v["id"] for v in inside] == [first]
    unit = api.get("/visits", query_string={"unit": "1-1-102"}).get_json()["items"]
    assert unit == []
    assert error_code(api.get("/visits", query_string={"unit": "9-9-999"})) == "unknown_unit"
    swapped = api.get("/visits", query_string={"date_from": "2030-02-01", "date_to": "2030-01-01"})
    assert swapped.status_code == 422 and error_code(swapped) == "bad_range"
    assert api.get("/visits", query_string={"limit": 0}).status_code == 400
    assert api.get("/visits", query_string={"date_from": "1999-01-01"}).status_code == 400
