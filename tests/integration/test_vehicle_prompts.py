"""Car prompts at the kiosk (SPEC §2.4): what the guard is asked about, and refusing or opening by hand."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from device_adapters import web_link
from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics
from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, ShiftBookEntry, User
from gate.models.types import utcnow
from gate.services import vehicle_lists, vehicles
from tests.support.kiosk import GUARD

pytestmark = pytest.mark.mqtt

UNKNOWN = "京A88888"


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The kiosk's web process talks to this test's broker; commands expire after 1 s."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=1.0)


@pytest.fixture(autouse=True)
def _close_link(app):
    yield
    web_link.close(app)


@pytest.fixture
def car_in(fresh_mosquitto):
    """The demo's vehicle entry barrier (the lane of camera anpr-in) as a simulator."""
    sim = SimulatedBarrier(fresh_mosquitto.url, Topics("gatehouse", "demo"), "car-in", travel_seconds=0.05)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def guard(kiosk):
    """Guard 1001 on shift, reading English."""
    kiosk.login(*GUARD)
    kiosk.start_shift()
    kiosk.client.get("/kiosk/?lang=en")
    return kiosk


def _plate(app, plate: str, confidence: float = 0.95, camera: str = "anpr-in") -> int | None:
    """The camera reads a plate (what the bridge does); the device event's id."""
    with app.app_context():
        event_id = f"evt-{uuid.uuid4().hex}"
        vehicles.handle_plate(PlateRead("demo", camera, event_id, plate, confidence, "in", utcnow()))
        found = db.session.scalars(select(DeviceEvent.id).where(DeviceEvent.event_id == event_id)).first()
        db.session.remove()
        return found


def _prompts(guard) -> list[dict]:
    response = guard.client.get("/kiosk/vehicles/prompts.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return response.get_json()["items"]


def _handled(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(ShiftBookEntry).where(
            ShiftBookEntry.kind == "vehicle.prompt_handled").order_by(ShiftBookEntry.seq)).all()
        found = [dict(json.loads(r.data), actor_id=r.actor_id) for r in rows]
        db.session.remove()
        return found


def _commands(app) -> list[BarrierCommandRecord]:
    with app.app_context():
        rows = db.session.scalars(select(BarrierCommandRecord)).all()
        db.session.remove()
        return rows


def _flash(response) -> str:
    found = re.findall(r'class="flash (\w+)"[^>]*>([^<]+)<', response.get_data(True))
    return f"{found[-1][0]}: {found[-1][1].strip()}" if found else ""


def _open(guard, event_id, reason="visitor", other="", **extra):
    data = {"reason": reason, "other": other, **extra}
    return guard.client.post(f"/kiosk/vehicles/{event_id}/open", data=data, follow_redirects=True)


def test_unknown_car_prompts_until_refused(app, guard):
    """Protects the unknown-car prompt: listed with plate, camera and reason; a refusal removes it,
    writes exactly one entry with the guard, shows the refusal script; a second refusal writes nothing."""
    event_id = _plate(app, UNKNOWN)
    items = _prompts(guard)
    assert [(i["id"], i["plate"], i["camera"], i["reason"], i["salute"]) for i in items] == [
        (event_id, UNKNOWN, "anpr-in", "unknown", False)]
    assert 'class="card vehicle-prompt unknown"' in items[0]["html"]
    assert "Unknown car" in items[0]["html"]
    page = guard.client.post(f"/kiosk/vehicles/{event_id}/refuse", follow_redirects=True)
    assert "cannot enter without a registration" in page.get_data(True)
    assert _prompts(guard) == []
    with app.app_context():
        guard_id = db.session.scalars(select(User.id).where(User.staff_no == GUARD[0])).one()
    handled = _handled(app)
    assert len(handled) == 1
    assert (handled[0]["device_event_id"], handled[0]["action"]) == (event_id, "refused")
    assert handled[0]["actor_id"] == guard_id
    again = guard.client.post(f"/kiosk/vehicles/{event_id}/refuse", follow_redirects=True)
    assert _flash(again).startswith("error:")
    assert len(_handled(app)) == 1


def test_open_by_hand_needs_a_reason(app, guard, car_in):
    """Protects SPEC §2.4: opening for a prompted car without a reason sends and writes nothing."""
    event_id = _plate(app, UNKNOWN)
    assert _flash(_open(guard, event_id, reason="other", other="")).startswith("error:")
    assert _commands(app) == [] and _handled(app) == [] and car_in.state == "closed"
    assert [i["id"] for i in _prompts(guard)] == [event_id]


def test_open_by_hand_opens_the_lane_barrier(app, guard, car_in):
    """Protects the manual opening: the camera's lane barrier opens, the guard sees 'done', and the
    prompt is handled with the command's id."""
    event_id = _plate(app, UNKNOWN)
    message = _flash(_open(guard, event_id))
    assert message.startswith("success:"), message
    assert car_in.state == "open"
    [command] = _commands(app)
    assert (command.device, command.source, command.outcome) == ("car-in", "manual", "done")
    assert UNKNOWN not in command.reason  # the reason goes into the chained book: no plate in it
    [handled] = _handled(app)
    assert "plate" not in handled
    assert (handled["device_event_id"], handled["action"]) == (event_id, "opened")
    assert handled["command_id"] == command.id
    assert _prompts(guard) == []


def test_broker_down_tells_guard_to_open_by_hand(app, guard):
    """Protects the guard when the broker is down: one clear message, nothing recorded, prompt kept."""
    event_id = _plate(app, UNKNOWN)
    app.config["GATE_MQTT_URL"] = "mqtt://127.0.0.1:1"
    message = _flash(_open(guard, event_id))
    assert message.startswith("error:") and "Open the barrier by hand" in message, message
    assert _commands(app) == [] and _handled(app) == []
    assert [i["id"] for i in _prompts(guard)] == [event_id]


def test_blocked_car_shows_blocked_and_needs_confirmation(app, guard, car_in):
    """Protects the blocklist: the prompt says blocked, and opening needs the extra confirmation."""
    with app.app_context():
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        vehicle_lists.add(supervisor, "blocklist", UNKNOWN, "车辆被盗报案")
        db.session.remove()
    event_id = _plate(app, UNKNOWN)
    [item] = _prompts(guard)
    assert item["reason"] == "blocked" and "vehicle-prompt blocked" in item["html"]
    assert "do not open" in item["html"] and 'name="confirm"' in item["html"]
    assert _flash(_open(guard, event_id)).startswith("error:")
    assert _commands(app) == [] and _handled(app) == []
    assert _flash(_open(guard, event_id, confirm="yes")).startswith("success:")
    assert car_in.state == "open"


def test_vip_salute_for_ten_seconds(app, guard, car_in):
    """Protects the salute rule (§十四): a leadership car is listed as a salute, then not after 10 s."""
    with app.app_context():
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        vehicle_lists.add(supervisor, "vip", "京A00001", "集团总经理")
        db.session.remove()
    event_id = _plate(app, "京A00001")
    [item] = _prompts(guard)
    assert (item["id"], item["salute"], item["reason"]) == (event_id, True, "vip")
    assert "salute-prompt" in item["html"] and "京A00001" in item["html"]
    with app.app_context():
        db.session.get(DeviceEvent, event_id).received_at = utcnow() - timedelta(seconds=11)
        db.session.commit()
        db.session.remove()
    assert _prompts(guard) == []


def test_residents_never_prompt_and_repeats_prompt_once(app, guard, car_in):
    """Protects the guard's attention: a resident's car is never a prompt, and a repeated read of an
    unknown car within the debounce window does not add a second prompt."""
    _plate(app, "粤B12345")
    assert _prompts(guard) == []
    first = _plate(app, UNKNOWN)
    _plate(app, UNKNOWN)
    assert [i["id"] for i in _prompts(guard)] == [first]


def test_pages_show_the_panel(app, guard):
    """Protects the panel's places: the kiosk home and the full page both poll prompts.json."""
    _plate(app, UNKNOWN)
    home = guard.client.get("/kiosk/").get_data(True)
    assert 'id="vehicle-prompts"' in home and "vehicles.js" in home
    full = guard.client.get("/kiosk/vehicles/").get_data(True)
    assert 'data-testid="vehicle-prompt"' in full and UNKNOWN in full


def test_register_as_visitor_carries_the_plate(app, kiosk):
    """Protects the car prompt's first action: the walk-in flow starts with the car's plate,
    which survives step 1 and is filled in on step 2."""
    kiosk.login()
    kiosk.start_shift()
    first = kiosk.client.get("/kiosk/visitors/new?plate=京A88888").get_data(True)
    assert 'name="plate" value="京A88888"' in first
    second = kiosk.client.post("/kiosk/visitors/new", data={"unit": "1-1-101", "plate": "京A88888",
                                                           "action": "unit"}).get_data(True)
    assert 'value="京A88888"' in second


def test_repeat_offender_is_highlighted_on_the_prompt(app, guard):
    """Protects seed §十二's repeat offenders at the gate: a car with violations in the last 90 days
    says so on its prompt; a car whose only violation is older does not."""
    from gate.services import violations

    with app.app_context():
        officer = db.session.scalars(select(User).where(User.staff_no == GUARD[0])).one()
        for _ in range(2):
            violations.record(officer.site_id, officer, "parking", UNKNOWN, "3号楼消防通道")
        old = violations.record(officer.site_id, officer, "parking", "京A66666", "地库B2")
        old.occurred_at = utcnow() - timedelta(days=91)
        db.session.commit()
        db.session.remove()
    _plate(app, UNKNOWN)
    _plate(app, "京A66666")
    items = {i["plate"]: i for i in _prompts(guard)}
    assert items[UNKNOWN]["violations"] == 2
    assert "Repeat offender: 2 violation(s)" in items[UNKNOWN]["html"]
    assert items["京A66666"]["violations"] == 0 and "Repeat offender" not in items["京A66666"]["html"]


def test_car_leaving_without_entry_is_explained(app, guard):
    """Protects the guard's reading of an exit prompt: a car at the exit that never came in is
    shown as such (not a raw code), on the exit camera's card."""
    with app.app_context():
        vehicles.handle_plate(PlateRead("demo", "anpr-out", f"evt-{uuid.uuid4().hex}", UNKNOWN, 0.95,
                                        "out", utcnow()))
        db.session.remove()
    [item] = _prompts(guard)
    assert (item["camera"], item["reason"], item["direction"]) == ("anpr-out", "no_entry", "out")
    assert item["reason_text"].startswith("Leaving, but never recorded coming in")
