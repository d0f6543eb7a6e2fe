"""MQTT abuse (issue 12, item 4) on a real Mosquitto: spoofed topics, planted retained commands,
forged acks.

* The shipped ACL (deploy/mosquitto/gatehouse.acl with gatehouse.conf's authentication) refuses a
  device publishing as another device, on any command topic (retained or not), and reading
  other devices' commands. Each refusal is watched by a subscriber allowed to read the topic; a
  legitimate publish on the same topic after the refused one's PUBACK is the positive control
  (it must arrive, and the refused one would have arrived before it).
* A retained "open" planted on a command topic is never executed after the simulator and the
  bridge restart (native barrier and the vendor relays).
* Forged acks (unknown id, another barrier's topic, a second ack) settle nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select, update

from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics, rfc3339
from gate.extensions import db
from gate.models import BarrierCommandRecord, Device, ShiftBookEntry
from gate.services import barriers
from tests.support.acl_broker import AclMosquitto, start_acl_broker
from tests.support.mqtt_clients import NOT_AUTHORIZED, Client, Clients
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt

BRIDGE = "gatehouse-bridge"
# Username = device id (cameras, barriers) or Tasmota Topic (relays), as the ACL asks.
USERS = (BRIDGE, "anpr-in", "anpr-out", "car-in", "car-out", "tg1", "tg2")
DEVICES = ("anpr-in", "car-in", "tg1")  # one attacker per device profile: camera, barrier, relay
ALL = "#"


def canonical(kind: str, device: str, leaf: str) -> str:
    return f"gatehouse/demo/{kind}/{device}/{leaf}"


# --- the shipped ACL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AclMosquitto, dict[str, str]]]:
    """The production-configured broker and each user's password."""
    server, passwords = start_acl_broker(tmp_path_factory.mktemp("mosquitto-abuse"), USERS)
    try:
        yield server, passwords
    finally:
        server.stop()


@pytest.fixture
def connect(acl_broker):
    """Factory of connected clients per user; all closed after the test."""
    clients = Clients(*acl_broker)
    yield clients
    clients.close_all()


def assert_refused(connect, attacker: str, topic: str, observer: Client, legit: str, *,
                   retain: bool = False) -> None:
    """`attacker`'s publish on `topic` never reaches `observer`; `legit`'s publish there does."""
    bad = f"forged-by-{attacker}".encode()
    connect(attacker, protocol=mqtt.MQTTv5).publish(topic, bad, retain=retain)
    good = f"control-{topic}".encode()
    assert connect(legit).publish(topic, good) == 0
    arrived = [m.payload for m in observer.receive_until(good) if m.topic == topic]
    assert arrived == [good], f"{attacker} got {arrived} through on {topic}"


# (attacker, topic of another device, the user that may publish there, the reader watching it)
SPOOFS = [
    ("anpr-in", canonical("camera", "anpr-out", "plate"), "anpr-out", BRIDGE),
    ("anpr-in", canonical("camera", "anpr-out", "availability"), "anpr-out", BRIDGE),
    ("car-in", canonical("barrier", "car-out", "ack"), "car-out", BRIDGE),
    ("car-in", canonical("barrier", "car-out", "state"), "car-out", BRIDGE),
    ("tg1", "stat/tg2/POWER1", "tg2", BRIDGE),
    ("tg1", "tele/tg2/LWT", "tg2", BRIDGE),
]


@pytest.mark.parametrize("attacker, topic, owner, reader", SPOOFS,
                         ids=[f"{a}->{t}" for a, t, _, _ in SPOOFS])
def test_device_cannot_publish_as_another_device(connect, attacker, topic, owner, reader):
    """Protects each device's own topics: a camera cannot report another camera's plates, a
    barrier cannot ack or report state for another barrier, a relay cannot answer for another."""
    observer = connect(reader, subscribe=ALL)
    assert_refused(connect, attacker, topic, observer, owner)


# Every command topic the bridge writes, with a user allowed to read it (the watcher).
COMMAND_TOPICS = [
    (canonical("barrier", "car-out", "command"), "car-out"),
    (canonical("barrier", "car-in", "command"), "car-in"),
    ("cmnd/tg1/POWER1", "tg1"),
    ("cmnd/tg2/POWER1", "tg2"),
    (canonical("barrier", "car-in", "ha/set"), BRIDGE),
]


@pytest.mark.parametrize("retain", [False, True], ids=["live", "retained"])
@pytest.mark.parametrize("topic, reader", COMMAND_TOPICS, ids=[t for t, _ in COMMAND_TOPICS])
@pytest.mark.parametrize("attacker", DEVICES)
def test_device_cannot_publish_commands(connect, attacker, topic, reader, retain):
    """Protects the barriers from a compromised device: no camera, barrier or relay may publish on
    any command topic (its own included), live or retained for a later subscriber. The retained
    case subscribes the watcher after the attempt, so a stored command would be handed to it."""
    if retain:
        connect(attacker, protocol=mqtt.MQTTv5).publish(topic, b"forged-retained", retain=True)
        observer = connect(reader, subscribe=topic)
        good = f"control-{topic}".encode()
        assert connect(BRIDGE).publish(topic, good) == 0
        arrived = [m.payload for m in observer.receive_until(good) if m.topic == topic]
        assert arrived == [good], f"{attacker} left {arrived} retained on {topic}"
    else:
        assert_refused(connect, attacker, topic, connect(reader, subscribe=topic), BRIDGE)


@pytest.mark.parametrize("attacker", DEVICES)
def test_vendor_command_topics_without_a_section_are_refused(connect, attacker):
    """Protects Shelly RPC topics (no user section in the shipped ACL until the operator adds
    one): a device's publish there is refused ("not authorized" in its MQTT 5 PUBACK)."""
    client = connect(attacker, protocol=mqtt.MQTTv5)
    assert client.publish("shelly-car-out/rpc", b'{"method":"Switch.Set"}') == NOT_AUTHORIZED
    assert client.publish("esphome/north-walk/cover/set", b"OPEN") == NOT_AUTHORIZED


@pytest.mark.parametrize("reader, own_command", [
    ("car-in", canonical("barrier", "car-in", "command")),
    ("tg1", "cmnd/tg1/POWER1"),
    ("anpr-in", canonical("camera", "anpr-in", "snapshot/request")),
])
def test_device_cannot_read_other_devices_commands(connect, reader, own_command):
    """Protects commands from eavesdropping: a device subscribed to everything receives its own
    commands (the control) and none addressed to other barriers or relays."""
    spy = connect(reader, subscribe=ALL)
    bridge = connect(BRIDGE)
    for topic, _ in COMMAND_TOPICS:
        if topic != own_command:
            assert bridge.publish(topic, b"for-someone-else") == 0
    own = f"control-{own_command}".encode()
    assert bridge.publish(own_command, own) == 0
    arrived = [(m.topic, m.payload) for m in spy.receive_until(own)
               if m.payload in (own, b"for-someone-else")]
    assert arrived == [(own_command, own)], f"{reader} read {arrived}"


# --- retained commands after a restart ------------------------------------------------------


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """Talk to this test's own broker (retained messages stay in it)."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=30.0)


@pytest.fixture
def attacker(fresh_mosquitto) -> Iterator[Client]:
    """A client with full rights on the test broker (what an attacker who got in could do)."""
    client = Client(fresh_mosquitto, None, None)
    client.connect()
    yield client
    client.close()


def fresh_open(command_id: str) -> bytes:
    """A well-formed, unexpired open command, as an attacker would plant it."""
    now = datetime.now(UTC)
    return json.dumps({"id": command_id, "action": "open", "reason": "planted", "issued_at": rfc3339(now),
                       "expires_at": rfc3339(now + timedelta(seconds=25))}).encode()


def restart(bridge: Bridge, app) -> Bridge:
    """Stop the bridge and start a new one, as after a reboot."""
    bridge.stop()
    return Bridge(app).start()


def order(app, device_code: str, action: str):
    with app.app_context():
        device = db.session.scalars(select(Device).where(Device.code == device_code)).one()
        cmd = barriers.order(device, action, "test", source="kiosk")
        db.session.remove()
    return cmd


def test_retained_open_is_never_executed_by_a_native_barrier(app, fresh_mosquitto, attacker):
    """Protects against a planted retained open: the simulated barrier and the bridge restart and
    subscribe again, the broker hands them the retained command, and the barrier never opens nor
    acks it. The control: a live close afterwards is carried out and acked."""
    topics = Topics("gatehouse", "demo")
    assert attacker.publish(topics.barrier_command("car-in"), fresh_open("planted-1"), retain=True) == 0
    attacker.subscribe(topics.barrier_ack("car-in"))
    barrier = SimulatedBarrier(fresh_mosquitto.url, topics, "car-in", travel_seconds=0.01).start()
    bridge = Bridge(app).start()
    try:
        barrier.stop()
        barrier = SimulatedBarrier(fresh_mosquitto.url, topics, "car-in", travel_seconds=0.01).start()
        bridge = restart(bridge, app)
        control = order(app, "car-in", "close")
        assert bridge.commander.send_and_wait(control)[0] == "done"
        acks = _acks_until(attacker, control.id)
        assert acks == [control.id], f"the planted command was acted on: {acks}"
        assert barrier.state == "closed"
    finally:
        bridge.stop()
        barrier.stop()


def _acks_until(client: Client, command_id: str) -> list[str]:
    """Ids of the acks received up to and including the one for `command_id`."""
    ids: list[str] = []
    while not ids or ids[-1] != command_id:
        message = client.messages.get(timeout=10)
        ids.append(json.loads(message.payload)["id"])
    return ids


def test_bridge_never_leaves_a_command_retained(app, fresh_mosquitto, attacker):
    """Protects against the bridge planting its own stale command: after it commanded a barrier,
    a client subscribing later gets no stored command, only the live control message after it."""
    topics = Topics("gatehouse", "demo")
    barrier = SimulatedBarrier(fresh_mosquitto.url, topics, "car-out", travel_seconds=0.01).start()
    bridge = Bridge(app).start()
    try:
        assert bridge.commander.send_and_wait(order(app, "car-out", "open"))[0] == "done"
        late = Client(fresh_mosquitto, None, None)
        try:
            late.connect()
            late.subscribe(topics.device_filter("barrier", "command"))
            assert attacker.publish(topics.barrier_command("car-in"), b"control") == 0
            assert [m.payload for m in late.receive_until(b"control")] == [b"control"]
        finally:
            late.close()
    finally:
        bridge.stop()
        barrier.stop()


# profile, options, is the message an OPEN of the relay (else the control's CLOSE)
VENDORS = {
    "tasmota": ({"topic": "tg1", "close_relay": 2}, "cmnd/tg1/#",
                lambda topic, payload: topic == "cmnd/tg1/POWER1"),
    "shelly": ({"prefix": "shelly-car-out", "close_switch_id": 1}, "shelly-car-out/rpc",
               lambda topic, payload: json.loads(payload)["params"]["id"] == 0),
    "ha_cover": ({"command_topic": "esphome/car-out/cover/set", "state_topic": "esphome/car-out/cover/state"},
                 "esphome/car-out/cover/set", lambda topic, payload: payload == b"OPEN"),
}


@pytest.mark.parametrize("profile", list(VENDORS))
def test_retained_open_is_never_relayed_to_a_vendor_barrier(app, attacker, profile):
    """Protects vendor barriers (whose firmware may obey retained messages): a retained open planted
    on the canonical command topic is not relayed by the bridge, neither at its first start nor
    after a restart. The control: the bridge's own close afterwards is relayed."""
    options, relay_filter, is_open = VENDORS[profile]
    with app.app_context():
        db.session.execute(update(Device).where(Device.code == "car-out").values(
            profile=profile, options=options))
        db.session.commit()
    assert attacker.publish(canonical("barrier", "car-out", "command"), fresh_open("planted-2"),
                            retain=True) == 0
    attacker.subscribe(relay_filter)
    bridge = Bridge(app).start()
    try:
        bridge = restart(bridge, app)
        # The broker hands the bridge the retained command when it subscribes, so before the
        # control below: had it been relayed, it would be the first message the relay sees.
        bridge.commander.send(order(app, "car-out", "close"), lambda outcome, state: None)
        first = attacker.messages.get(timeout=10)
        assert not is_open(first.topic, first.payload), f"the planted open was relayed: {first.payload!r}"
        # Refused at least once: the bridge's session may hand it over twice (redelivered
        # from the stopped bridge's session, and again as retained on subscribe).
        assert bridge.link.dropped.get("retained_command", 0) >= 1
    finally:
        bridge.stop()


def test_forged_live_command_is_not_relayed(app, attacker):
    """Protects vendor barriers from a live command the bridge did not issue: one valid for an hour
    (beyond GATE_COMMAND_TTL_SECONDS) and one dated in the future are not relayed. The control:
    the bridge's own close afterwards is relayed, and is the first thing the relay sees."""
    options, relay_filter, is_open = VENDORS["tasmota"]
    with app.app_context():
        db.session.execute(update(Device).where(Device.code == "car-out").values(
            profile="tasmota", options=options))
        db.session.commit()
    attacker.subscribe(relay_filter)
    bridge = Bridge(app).start()
    try:
        now, later = datetime.now(UTC), datetime.now(UTC) + timedelta(minutes=5)
        for cid, issued, expires in (("long-1", now, now + timedelta(hours=1)),
                                     ("future-1", later, later + timedelta(seconds=5))):
            forged = json.dumps({"id": cid, "action": "open", "reason": "forged",
                                 "issued_at": rfc3339(issued), "expires_at": rfc3339(expires)}).encode()
            assert attacker.publish(canonical("barrier", "car-out", "command"), forged) == 0
        bridge.commander.send(order(app, "car-out", "close"), lambda outcome, state: None)
        first = attacker.messages.get(timeout=10)
        assert not is_open(first.topic, first.payload), f"a forged open was relayed: {first.topic}"
        assert bridge.link.dropped.get("foreign_command") == 2
    finally:
        bridge.stop()


# --- forged acks ------------------------------------------------------------------------------


def outcome_of(app, command_id: str) -> tuple[str | None, int]:
    """(outcome, number of its shift-book outcome entries) as stored."""
    with app.app_context():
        row = db.session.get(BarrierCommandRecord, command_id)
        entries = db.session.scalar(select(func.count()).select_from(ShiftBookEntry).where(
            ShiftBookEntry.kind == "barrier.outcome", ShiftBookEntry.data.contains(command_id)))
        db.session.remove()
    return row.outcome if row else None, entries


def forged_ack(command_id: str, result: str = "done") -> bytes:
    return json.dumps({"id": command_id, "result": result, "state": "open", "at": rfc3339()}).encode()


def test_forged_acks_settle_nothing(app, fresh_mosquitto, attacker):
    """Protects the shift book from forged acks: for a command to a barrier that never answers, an
    ack with the right id on another barrier's topic and an ack for an unknown id change nothing;
    the command ends as no_answer. A second ack for a settled command does not alter it."""
    topics = Topics("gatehouse", "demo")
    silent = SimulatedBarrier(fresh_mosquitto.url, topics, "car-in", fail_mode="silent").start()
    honest = SimulatedBarrier(fresh_mosquitto.url, topics, "car-out", travel_seconds=0.01).start()
    bridge = Bridge(app).start()
    try:
        app.config["GATE_COMMAND_TTL_SECONDS"] = 3.0
        hung = order(app, "car-in", "open")
        bridge._send(hung)  # the bridge's own path: outcome recorded in the database
        assert attacker.publish(topics.barrier_ack("car-out"), forged_ack(hung.id)) == 0
        assert attacker.publish(topics.barrier_ack("car-in"), forged_ack("no-such-command")) == 0
        wait_for(lambda: outcome_of(app, hung.id)[0], what="the hung command's outcome")
        assert outcome_of(app, hung.id) == ("no_answer", 1)

        done = order(app, "car-out", "open")
        bridge._send(done)
        wait_for(lambda: outcome_of(app, done.id)[0], what="the honest command's outcome")
        assert attacker.publish(topics.barrier_ack("car-out"), forged_ack(done.id, "rejected")) == 0
        control = order(app, "car-out", "close")
        bridge._send(control)
        wait_for(lambda: outcome_of(app, control.id)[0], what="the control's outcome")
        assert outcome_of(app, done.id) == ("done", 1)
    finally:
        bridge.stop()
        honest.stop()
        silent.stop()
