"""Car decisions end to end over a real Mosquitto: simulated ANPR cameras and barriers on both
lanes of the demo's car gate, the bridge deciding, and the kiosk showing what the guard must see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from device_adapters.bridge import Bridge
from device_adapters.simulator import Simulation
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, ParkingSession, User
from gate.models.types import utcnow
from gate.services import parking, passes, vehicle_lists
from tests.support import passes as support
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt

RESIDENT_CAR = "粤B12345"


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The app and bridge talk to this test's own broker."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=2.0)


@pytest.fixture
def gate(fresh_mosquitto):
    """The demo car gate: entry and exit barriers and cameras, all simulated."""
    with Simulation(fresh_mosquitto.url, site="demo", barriers=("car-in", "car-out"),
                    cameras=("anpr-in", "anpr-out"), travel_seconds=0.05) as simulation:
        yield simulation


@pytest.fixture
def bridge(app, gate):
    """The running bridge for the demo site."""
    running = Bridge(app).start()
    yield running
    running.stop()


def _plate_events(app) -> list[dict]:
    with app.app_context():
        rows = [dict(e.summary or {}, id=e.id) for e in db.session.scalars(
            select(DeviceEvent).where(DeviceEvent.kind == "plate").order_by(DeviceEvent.id))]
        db.session.remove()
        return rows


def _outcomes(app) -> list[tuple[str, str | None]]:
    with app.app_context():
        rows = [(r.device, r.outcome) for r in db.session.scalars(
            select(BarrierCommandRecord).order_by(BarrierCommandRecord.issued_at))]
        db.session.remove()
        return rows


def _decided(app, n: int) -> list[dict]:
    return wait_for(lambda: (rows := _plate_events(app)) and len(rows) >= n and rows,
                    what=f"{n} plate event(s)")


def _in_app(app, fn):
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def test_pass_plate_opens_inside_its_window_only(app, gate, bridge):
    """Protects visitor passes on cars over MQTT: inside its window the plate opens the entry
    barrier (ack done); the same pass moved out of its window prompts the guard and opens nothing."""
    def make():
        resident, user = support.host()
        return passes.create(resident, user, name="王五", plate="粤A54321").id

    pass_id = _in_app(app, make)
    gate.cameras["anpr-in"].publish_plate("粤A54321", confidence=0.95)
    wait_for(lambda: ("car-in", "done") in _outcomes(app), what="the entry barrier to open")

    def outside_window():
        from gate.models import VisitorPass

        visitor_pass = db.session.get(VisitorPass, pass_id)
        visitor_pass.uses = 0
        for event in db.session.scalars(select(DeviceEvent)):  # a new arrival, not a repeat
            event.received_at = utcnow() - timedelta(minutes=5)
        support.expire(visitor_pass)

    _in_app(app, outside_window)
    gate.cameras["anpr-in"].publish_plate("粤A54321", confidence=0.95, event_id="second-arrival")
    later = wait_for(lambda: [e for e in _plate_events(app) if e.get("reason") != "visitor_pass"],
                     what="the second read")
    assert (later[0]["decision"], later[0]["reason"]) == ("prompt", "unknown")
    assert len(_outcomes(app)) == 1


def test_vip_opens_and_the_kiosk_shows_the_salute(app, client, kiosk, gate, bridge):
    """Protects the leadership rule (seed §十四): a VIP car opens (ack done) and the kiosk's prompt
    feed carries the salute banner for it."""
    def add_vip():
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        vehicle_lists.add(supervisor, "vip", "京A00001", "集团总经理")

    _in_app(app, add_vip)
    kiosk.login()
    kiosk.start_shift()
    gate.cameras["anpr-in"].publish_plate("京A00001", confidence=0.97)
    wait_for(lambda: ("car-in", "done") in _outcomes(app), what="the entry barrier to open")
    items = client.get("/kiosk/vehicles/prompts.json").get_json()["items"]
    assert [(i["plate"], i["salute"]) for i in items] == [("京A00001", True)]
    assert "data-testid=\"salute-prompt\"" in items[0]["html"]


def test_low_confidence_read_prompts_the_guard(app, client, kiosk, gate, bridge):
    """Protects against OCR errors: a resident's plate read at 0.5 confidence opens nothing and
    appears on the kiosk as a prompt to check the plate."""
    kiosk.login()
    kiosk.start_shift()
    gate.cameras["anpr-in"].publish_plate(RESIDENT_CAR, confidence=0.5)
    [event] = _decided(app, 1)
    assert (event["decision"], event["reason"]) == ("prompt", "low_confidence")
    items = client.get("/kiosk/vehicles/prompts.json").get_json()["items"]
    assert [(i["plate"], i["reason"]) for i in items] == [(RESIDENT_CAR, "low_confidence")]
    assert _outcomes(app) == []


def test_repeated_reads_of_one_car_are_one_decision(app, gate, bridge):
    """Protects the barrier from a car idling under the camera: five reads (new event ids) within
    the debounce window give one opening and four recorded repeats."""
    camera = gate.cameras["anpr-in"]
    for n in range(5):
        camera.publish_plate(RESIDENT_CAR, confidence=0.95, event_id=f"idle-{n}")
    events = _decided(app, 5)
    assert sorted(e["reason"] for e in events) == ["repeat"] * 4 + ["resident"]
    wait_for(lambda: _outcomes(app) == [("car-in", "done")], what="one opening")


def test_overstaying_visitor_car_is_flagged(app, client, kiosk, gate, bridge):
    """Protects the overstay flag over MQTT: a pass car let in by the camera, still inside after its
    window, is marked on the kiosk's car list and in the open items."""
    def make():
        resident, user = support.host()
        return passes.create(resident, user, name="王五", plate="粤A54321").id

    _in_app(app, make)
    gate.cameras["anpr-in"].publish_plate("粤A54321", confidence=0.95)
    wait_for(lambda: ("car-in", "done") in _outcomes(app), what="the entry barrier to open")

    def window_ends():
        stay = db.session.scalars(select(ParkingSession)).one()
        stay.expected_until = utcnow() - timedelta(minutes=1)
        db.session.commit()
        return [s.plate for s in parking.overstaying(stay.site_id)]

    assert _in_app(app, window_ends) == ["粤A54321"]
    kiosk.login()
    kiosk.start_shift()
    page = client.get("/kiosk/vehicles/onsite?lang=en").get_data(as_text=True)
    assert 'data-plate="粤A54321" class="overdue" data-overstay="yes"' in page
    assert "Visitor car 粤A54321 is still inside" in client.get("/kiosk/?lang=en").get_data(as_text=True)


def test_exit_without_entry(app, gate, bridge):
    """Protects the exit lane: a resident's car seen only leaving is let out (ack done) and kept as an
    exit-only stay; a stranger seen only leaving prompts the guard and the exit stays shut."""
    out = gate.cameras["anpr-out"]
    out.publish_plate(RESIDENT_CAR, direction="out", confidence=0.95)
    wait_for(lambda: ("car-out", "done") in _outcomes(app), what="the exit barrier to open")
    out.publish_plate("京A99999", direction="out", confidence=0.95)
    events = _decided(app, 2)
    assert (events[1]["decision"], events[1]["reason"]) == ("prompt", "no_entry")
    assert _outcomes(app) == [("car-out", "done")]

    def stays():
        return [(s.plate, s.entered_at is None, s.left_at is not None)
                for s in db.session.scalars(select(ParkingSession))]

    assert _in_app(app, stays) == [(RESIDENT_CAR, True, True)]


def test_entry_then_exit_over_both_lanes(app, gate, bridge):
    """Protects the full stay: a resident's car enters and leaves through the two lanes, both
    barriers open with done, and the stay is closed with both times."""
    gate.cameras["anpr-in"].publish_plate(RESIDENT_CAR, confidence=0.95)
    wait_for(lambda: ("car-in", "done") in _outcomes(app), what="the entry barrier to open")
    gate.cameras["anpr-out"].publish_plate(RESIDENT_CAR, direction="out", confidence=0.95)
    wait_for(lambda: ("car-out", "done") in _outcomes(app), what="the exit barrier to open")

    def stay():
        row = db.session.scalars(select(ParkingSession)).one()
        return row.entered_at is not None, row.left_at is not None, row.closed_by

    assert _in_app(app, stay) == (True, True, "camera")


def test_messy_or_garbage_plate_text(app, gate, bridge, fresh_mosquitto):
    """Protects the decision from camera text: a resident plate sent as "粤b.I2345 " (lowercase,
    dot, I for 1) still opens; garbage prompts as unreadable; a read published under another
    estate's topics is not taken for this estate's camera."""
    import paho.mqtt.publish as publish

    publish.single("gatehouse/other/camera/anpr-in/plate", hostname=fresh_mosquitto.host,
                   port=fresh_mosquitto.port, payload=(
                       '{"event_id": "x1", "plate": "粤B12345", "confidence": 0.99, "direction": "in",'
                       ' "at": "2026-11-27T00:00:00Z"}').encode())
    gate.cameras["anpr-in"].publish_plate("@@##!!", confidence=0.99)
    gate.cameras["anpr-in"].publish_plate("粤b.I2345 ", confidence=0.95)
    events = _decided(app, 2)
    assert [(e["decision"], e["reason"], e["plate"]) for e in events] == [
        ("prompt", "unreadable", None), ("open", "resident", RESIDENT_CAR)]
    wait_for(lambda: _outcomes(app) == [("car-in", "done")], what="one opening")
