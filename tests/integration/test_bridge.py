"""The bridge on a real Mosquitto: plate reads become barrier commands with recorded outcomes."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedBarrier, SimulatedCamera
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, DeviceStatus, ShiftBookEntry
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt


@pytest.fixture
def broker(fresh_mosquitto):
    """A broker of this test's own, so retained states never leak between tests."""
    return fresh_mosquitto


@pytest.fixture
def app_config(app_config, broker):
    """The test app talks to this test's broker, with short command deadlines."""
    return dict(app_config, GATE_MQTT_URL=broker.url, GATE_COMMAND_TTL_SECONDS=1.0)


@pytest.fixture
def topics() -> Topics:
    """The demo site's topics."""
    return Topics("gatehouse", "demo")


@pytest.fixture
def devices(broker, topics, request):
    """The demo's entry barrier and camera as simulators; `fail_mode` via indirect param."""
    fail_mode = getattr(request, "param", None)
    barrier = SimulatedBarrier(broker.url, topics, "car-in", travel_seconds=0.05, fail_mode=fail_mode)
    camera = SimulatedCamera(broker.url, topics, "anpr-in")
    barrier.start()
    camera.start()
    yield barrier, camera
    camera.stop()
    barrier.stop()


@pytest.fixture
def bridge(app):
    """A running bridge for the demo site."""
    running = Bridge(app).start()
    yield running
    running.stop()


def _commands(app) -> list[BarrierCommandRecord]:
    with app.app_context():
        rows = db.session.scalars(select(BarrierCommandRecord)).all()
        db.session.remove()
        return rows


def _count(app, model, *where) -> int:
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(model).where(*where))
        db.session.remove()
        return n


def test_resident_car_opens_with_recorded_ack(app, devices, bridge):
    """Protects the main gate path: a resident's plate → command → simulator ack `done`, all in the book."""
    barrier, camera = devices
    camera.publish_plate("粤B12345", direction="in", confidence=0.96)
    rows = wait_for(lambda: [r for r in _commands(app) if r.outcome], what="command outcome")
    assert rows[0].outcome == "done" and rows[0].device == "car-in" and rows[0].source == "plate"
    wait_for(lambda: barrier.state == "open", what="barrier open")
    with app.app_context():
        kinds = [e.kind for e in db.session.scalars(select(ShiftBookEntry).order_by(ShiftBookEntry.seq))]
    wanted = {"barrier.command", "vehicle.read", "barrier.outcome"}
    assert [k for k in kinds if k in wanted] == ["barrier.command", "vehicle.read", "barrier.outcome"]


def test_same_event_twice_opens_once(app, devices, bridge):
    """Protects idempotency: a redelivered plate event (same event_id) gives one command."""
    _, camera = devices
    event_id = f"evt-{uuid.uuid4().hex[:8]}"
    camera.publish_plate("粤B12345", event_id=event_id)
    camera.publish_plate("粤B12345", event_id=event_id)
    wait_for(lambda: bridge.link.dropped.get("duplicate"), what="the duplicate to be dropped")
    assert len(_commands(app)) == 1


def test_unknown_car_prompts_guard_without_command(app, devices, bridge):
    """Protects the gate from strangers: an unregistered plate opens nothing."""
    _, camera = devices
    camera.publish_plate("京A88888")
    wait_for(lambda: _count(app, DeviceEvent, DeviceEvent.kind == "plate"), what="plate recorded")
    assert _commands(app) == []


@pytest.mark.parametrize("devices", ["silent"], indirect=True)
def test_silent_barrier_is_no_answer(app, devices, bridge):
    """Protects the guard's information: a barrier that never answers is `no_answer`, not `done`."""
    _, camera = devices
    camera.publish_plate("粤B12345")
    rows = wait_for(lambda: [r for r in _commands(app) if r.outcome], timeout=10, what="outcome")
    assert rows[0].outcome == "no_answer"


@pytest.mark.parametrize("devices", ["reject"], indirect=True)
def test_rejecting_barrier_is_rejected(app, devices, bridge):
    """Protects the distinction between a refusal and silence."""
    _, camera = devices
    camera.publish_plate("粤B12345")
    rows = wait_for(lambda: [r for r in _commands(app) if r.outcome], what="outcome")
    assert rows[0].outcome == "rejected"


def _raw_publish(url_client_args, topic: str, payload: bytes) -> None:
    host, port = url_client_args
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    client.reinitialise()


@pytest.mark.parametrize("topic, payload, reason", [
    ("gatehouse/demo/camera/anpr-in/plate", b"{not json", "malformed"),
    ("gatehouse/demo/camera/anpr-in/plate", b'{"event_id": 5, "plate": "x"}', "malformed"),
    ("gatehouse/demo/camera/anpr-in/plate", b"\xff\xfe\x00", "malformed"),
    ("gatehouse/demo/camera/anpr-in/plate", b"x" * 100_000, "malformed"),
    ("gatehouse/demo/camera/ghost-cam/plate", b"{}", "unknown_device"),
    ("gatehouse/demo/barrier/car-in/ack", b'{"id": "nope", "result": "done", "at": "2026-01-01T00:00:00Z"}',
     None),
])
def test_bad_input_is_dropped_and_bridge_lives(app, devices, bridge, broker, topic, payload, reason):
    """Protects the bridge from bad devices: each bad message is logged and counted, and the
    bridge still opens for the next good read."""
    _raw_publish((broker.host, broker.port), topic, payload)
    if reason:
        wait_for(lambda: bridge.link.dropped.get(reason), what=f"a '{reason}' drop")
    _, camera = devices
    camera.publish_plate("粤B12345")
    wait_for(lambda: [r for r in _commands(app) if r.outcome == "done"], what="a later good read")


def test_availability_recorded(app, devices, bridge):
    """Protects /healthz and the guard's view: device availability reaches the database."""
    barrier, _ = devices
    wait_for(lambda: _count(app, DeviceStatus, DeviceStatus.device == "car-in",
                            DeviceStatus.online.is_(True)), what="car-in online")
    barrier.crash()
    wait_for(lambda: _count(app, DeviceStatus, DeviceStatus.device == "car-in",
                            DeviceStatus.online.is_(False)), what="car-in offline (last will)")
    assert _count(app, ShiftBookEntry, ShiftBookEntry.kind == "device.offline") >= 1


def test_two_shared_bridges_handle_each_event_once(app, broker, topics):
    """Protects scale-out: with shared subscriptions, each event is handled by exactly one bridge."""
    camera = SimulatedCamera(broker.url, topics, "anpr-in").start()
    first = Bridge(app, name="one", shared=True).start()
    second = Bridge(app, name="two", shared=True).start()
    try:
        for i in range(30):
            camera.publish_plate(f"京A{10000 + i}", event_id=f"shared-{i}")
        wait_for(lambda: _count(app, DeviceEvent, DeviceEvent.kind == "plate") == 30, timeout=20,
                 what="30 plate events")
        wait_for(lambda: first.link.messages + second.link.messages >= 30, what="messages counted")
        assert first.link.dropped.get("duplicate", 0) + second.link.dropped.get("duplicate", 0) == 0
        assert first.link.messages > 0 and second.link.messages > 0
        assert _count(app, ShiftBookEntry, ShiftBookEntry.kind == "vehicle.read") == 30
    finally:
        second.stop()
        first.stop()
        camera.stop()


def test_no_command_is_ever_retained(app, devices, bridge, broker):
    """Protects against ghost openings after a restart: command topics never carry a retained message."""
    _, camera = devices
    camera.publish_plate("粤B12345")
    wait_for(lambda: [r for r in _commands(app) if r.outcome], what="outcome")
    retained = []
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: retained.append(m.topic) if m.retain else None
    got_marker = threading.Event()
    client.message_callback_add("gatehouse/demo/barrier/car-in/state",
                                lambda c, u, m: got_marker.set())
    client.connect(broker.host, broker.port)
    client.subscribe([("gatehouse/+/barrier/+/command", 1), ("gatehouse/demo/barrier/car-in/state", 1)])
    client.loop_start()
    try:
        assert got_marker.wait(5), "retained state should arrive"  # retained messages came
        assert not [t for t in retained if t.endswith("/command")]
    finally:
        client.disconnect()
        client.loop_stop()
        client.reinitialise()


def test_healthz_reports_bridge_and_devices(app, devices, bridge, broker):
    """Protects monitoring: /healthz shows the broker connection, devices and dropped counts."""
    _raw_publish((broker.host, broker.port), "gatehouse/demo/camera/anpr-in/plate", b"{bad")
    wait_for(lambda: bridge.link.dropped.get("malformed"), what="a malformed drop")

    def health():
        body = app.test_client().get("/healthz").get_json()
        bridges = [b for b in body["bridges"] if b["name"] == "main" and b["dropped"].get("malformed")]
        return body if bridges and bridges[0]["connected"] else None

    body = wait_for(health, timeout=15, what="bridge status in /healthz")
    devices_by_id = {d["id"]: d for d in body["devices"]}
    assert devices_by_id["car-in"]["online"] is True
    assert devices_by_id["car-in"]["last_message_at"]


def test_blocked_car_stays_closed_and_raises_an_alert(app, devices, bridge, broker):
    """Protects the blocklist over MQTT: a listed car gets no command, and an alert goes out on
    the site's alerts topic for supervisors and other systems."""
    import json

    from gate.models import User
    from gate.services import vehicle_lists

    with app.app_context():
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        vehicle_lists.add(supervisor, "blocklist", "粤B12345", "车辆被盗报案")
        db.session.remove()
    alerts: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: alerts.append(json.loads(m.payload))
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.subscribe("gatehouse/demo/alerts", 1)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        _, camera = devices
        camera.publish_plate("粤B12345", direction="in", confidence=0.96)
        wait_for(lambda: alerts, what="the alert")
        assert alerts[0]["kind"] == "blocked_vehicle" and alerts[0]["text"] == "粤B12345"
        assert _commands(app) == []
    finally:
        client.disconnect()
        client.loop_stop()
