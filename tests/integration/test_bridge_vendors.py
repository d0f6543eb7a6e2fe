"""The bridge with Home Assistant and a Tasmota relay on a real Mosquitto, and a broker restart."""

from __future__ import annotations

import json
import queue
import threading

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select, update

from device_adapters import web_link
from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedBarrier, SimulatedCamera
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import BarrierCommandRecord, Device
from gate.services import barriers
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt
REQUIRED_HA_KEYS = {"unique_id", "command_topic", "state_topic", "device_class", "availability_topic",
                    "dev", "o", "payload_open", "payload_close"}


@pytest.fixture(params=["sqlite"])
def backend(request):
    """MQTT behaviour does not depend on the database; test_bridge.py covers PostgreSQL."""
    return request.param


@pytest.fixture
def broker(fresh_mosquitto):
    """A broker of this test's own (these tests restart it or leave retained messages)."""
    return fresh_mosquitto


@pytest.fixture
def app_config(app_config, broker):
    """Talk to this test's broker."""
    return dict(app_config, GATE_MQTT_URL=broker.url, GATE_COMMAND_TTL_SECONDS=2.0)


class Listener:
    """A plain MQTT client that collects what arrives on some topics."""

    def __init__(self, broker, *filters: str):
        self.messages: queue.Queue = queue.Queue()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        assert subscribed.wait(5)

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def take(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        return [self.messages.get(timeout=timeout) for _ in range(count)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client.reinitialise()


@pytest.fixture
def listen(broker):
    made: list[Listener] = []

    def factory(*filters: str) -> Listener:
        made.append(Listener(broker, *filters))
        return made[-1]

    yield factory
    for listener in made:
        listener.close()


def test_home_assistant_discovery_and_commands(app, broker, listen):
    """Protects the Home Assistant integration: gates appear (valid configs, re-sent on HA's birth
    message), and HA's OPEN is an ordinary recorded command that the barrier carries out."""
    topics = Topics("gatehouse", "demo")
    barrier = SimulatedBarrier(broker.url, topics, "car-in", travel_seconds=0.05).start()
    bridge = Bridge(app).start()
    ha = listen("homeassistant/cover/+/config", "gatehouse/demo/barrier/car-in/ha/state")
    try:
        configs = {}
        while len(configs) < 3:
            topic, payload = ha.messages.get(timeout=5)
            if topic.endswith("/config"):
                configs[topic] = json.loads(payload)
        for config in configs.values():
            assert REQUIRED_HA_KEYS <= set(config), config
            assert config["device_class"] == "gate"
        ha.publish("homeassistant/status", "online")
        again = [t for t, _ in ha.take(3, timeout=8) if t.endswith("/config")]
        assert again
        ha.publish("gatehouse/demo/barrier/car-in/ha/set", "OPEN")
        wait_for(lambda: barrier.state == "open", what="barrier opened by Home Assistant")

        def outcome():
            with app.app_context():
                row = db.session.scalars(select(BarrierCommandRecord)).first()
                db.session.remove()
                return row if row and row.outcome else None

        row = wait_for(outcome, what="recorded outcome")
        assert (row.source, row.outcome) == ("home_assistant", "done")
    finally:
        bridge.stop()
        barrier.stop()


def test_tasmota_relay_through_the_bridge(app, broker, listen):
    """Protects the vendor path: our command becomes Tasmota's POWER1 ON, its stat reply becomes
    a canonical `done` ack, and the outcome is recorded."""
    with app.app_context():
        db.session.execute(update(Device).where(Device.code == "car-out").values(
            profile="tasmota", options={"topic": "tasmota_gate1"}))
        db.session.commit()
    relay = listen("cmnd/tasmota_gate1/#")
    # The relay answers like Tasmota: stat/<topic>/POWER1 ON, then OFF after its PulseTime.
    relay.client.message_callback_add("cmnd/tasmota_gate1/POWER1", lambda c, u, m: (
        c.publish("stat/tasmota_gate1/POWER1", "ON", qos=1),
        c.publish("stat/tasmota_gate1/POWER1", "OFF", qos=1)))
    acks = listen("gatehouse/demo/barrier/car-out/ack")
    bridge = Bridge(app).start()
    try:
        with app.app_context():
            device = db.session.scalars(select(Device).where(Device.code == "car-out")).one()
            outcome = barriers.operate(device, "open", "测试", web_link.commander(app), source="kiosk")
        assert outcome == "done"
        topic, payload = acks.take(1)[0]
        assert json.loads(payload)["result"] == "done"
    finally:
        web_link.close(app)
        bridge.stop()


def test_bridge_survives_broker_restart(app, broker):
    """Protects 'reconnect with backoff': after the broker restarts, plate reads work again."""
    topics = Topics("gatehouse", "demo")
    barrier = SimulatedBarrier(broker.url, topics, "car-in", travel_seconds=0.05).start()
    bridge = Bridge(app).start()
    try:
        broker.restart()
        wait_for(lambda: bridge.link.connected.is_set(), timeout=40, what="bridge reconnected")
        camera = SimulatedCamera(broker.url, topics, "anpr-in").start()

        def opened():
            camera.publish_plate("粤B12345")
            with app.app_context():
                rows = db.session.scalars(select(BarrierCommandRecord).where(
                    BarrierCommandRecord.outcome == "done")).all()
                db.session.remove()
            return rows

        wait_for(opened, timeout=30, interval=2.0, what="an opening after the restart")
        camera.stop()
    finally:
        bridge.stop()
        barrier.stop()


def test_stale_command_is_not_relayed(app, broker, listen):
    """Protects against late openings: an expired command for a vendor barrier is answered
    `expired` and never reaches the relay."""
    with app.app_context():
        db.session.execute(update(Device).where(Device.code == "car-out").values(
            profile="tasmota", options={"topic": "tasmota_gate1"}))
        db.session.commit()
    relay = listen("cmnd/tasmota_gate1/#", "gatehouse/demo/barrier/car-out/ack")
    bridge = Bridge(app).start()
    try:
        stale = json.dumps({"id": "old-1", "action": "open", "reason": "test",
                            "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:00:05Z"})
        relay.publish("gatehouse/demo/barrier/car-out/command", stale)
        topic, payload = relay.take(1)[0]
        assert topic == "gatehouse/demo/barrier/car-out/ack"
        assert json.loads(payload)["result"] == "expired"
        wait_for(lambda: bridge.link.dropped.get("stale_command") == 1, what="the stale drop counted")
        assert relay.messages.empty()  # nothing was sent to cmnd/tasmota_gate1/…
    finally:
        bridge.stop()
