"""API: a key of one estate never sees or changes anything of another estate in the same database."""

from __future__ import annotations

from sqlalchemy import select

from gate.extensions import db
from gate.models import Building, Resident, ShiftBookEntry, Unit
from gate.services import transaction
from gate.services.sites import create_site
from tests.support.api import ApiClient, make_key

SLIP = {"items": [{"description": "书柜", "count": 1}], "carrier_name": "周师傅",
        "carrier_phone": "13900000003"}


def _north(app) -> None:
    """A second estate with the same unit number as the demo's, and a household in it."""
    with app.app_context():
        with transaction():
            north = create_site("north", "North Gate Estate")
            building = Building(site_id=north.id, code="1", name="1栋")
            db.session.add(building)
            db.session.flush()
            unit = Unit(site_id=north.id, building_id=building.id, code="1-1-101")
            db.session.add(unit)
            db.session.flush()
            db.session.add(Resident(unit_id=unit.id, name="北先生", phone="13700000001"))
        db.session.remove()


def test_keys_of_two_estates_see_only_their_own(app, client):
    """Protects site isolation: records made through a key of estate "north" are invisible and
    unchangeable to demo's keys (404 or absent from lists), and the other way round; each
    estate's shift book gets its own entries."""
    _north(app)
    north_desk = ApiClient(client, make_key(app, "desk", site="north")[1])
    north_resident = ApiClient(client, make_key(app, "resident", site="north", unit="1-1-101")[1])
    north_boss = ApiClient(client, make_key(app, "supervisor", site="north")[1])
    demo_desk = ApiClient(client, make_key(app, "desk")[1])
    demo_boss = ApiClient(client, make_key(app, "supervisor")[1])

    north_pass = north_resident.post("/units/1-1-101/passes", json={"name": "北客"})
    assert north_pass.status_code == 201, north_pass.get_json()
    north_slip = north_desk.post("/units/1-1-101/slips", json=SLIP).get_json()
    north_car = north_desk.post("/vehicles", json={"unit": "1-1-101", "plate": "京A00001"}).get_json()
    demo_pass = demo_desk.post("/units/1-1-101/passes", json={"name": "演示客"}).get_json()

    # Same unit number, different estates: each key lists its own estate's passes only.
    assert [p["id"] for p in north_desk.get("/units/1-1-101/passes").get_json()["items"]] == \
        [north_pass.get_json()["id"]]
    assert [p["id"] for p in demo_desk.get("/units/1-1-101/passes").get_json()["items"]] == [demo_pass["id"]]
    assert [p["plate"] for p in north_desk.get("/vehicles").get_json()["items"]] == ["京A00001"]
    assert "京A00001" not in demo_desk.get("/vehicles").get_data(as_text=True)
    assert demo_desk.get(f"/slips/{north_slip['id']}").status_code == 404
    assert north_desk.get("/units/1-1-101/slips").get_json()["items"][0]["id"] == north_slip["id"]
    assert demo_desk.get("/units/1-1-101/slips").get_json()["items"] == []
    assert demo_desk.patch(f"/vehicles/{north_car['id']}", json={"color": "红"}).status_code == 404
    assert demo_desk.post(f"/vehicles/{north_car['id']}/end").status_code == 404
    assert demo_desk.post(f"/units/1-1-101/passes/{north_pass.get_json()['id']}/revoke").status_code == 404
    assert north_desk.post(f"/units/1-1-101/passes/{demo_pass['id']}/revoke").status_code == 404
    assert north_desk.get("/units/1-1-102/passes").status_code == 404  # a demo-only unit

    north_book = north_boss.get("/book", query_string={"limit": 200}).get_json()["items"]
    north_kinds = {e["kind"] for e in north_book}
    assert {"pass.created", "slip.applied", "resident_vehicle.added"} <= north_kinds
    demo_entries = demo_boss.get("/book", query_string={"kind": "slip.applied"}).get_json()["items"]
    assert demo_entries == []
    with app.app_context():
        north_pass_entry = db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.kind == "pass.created",
            ShiftBookEntry.data.contains(f'"pass_id":{north_pass.get_json()["id"]}'))).one()
        assert north_pass_entry.site == "north"
