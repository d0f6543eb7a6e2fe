"""The production Mosquitto ACL (deploy/mosquitto/gatehouse.acl) on a real broker.

SPEC §3: "the app only accepts a device's events on that device's own topic, and deploy/ ships
a Mosquitto ACL that enforces it with per-device credentials". These tests start Mosquitto with
the authentication settings of deploy/mosquitto/gatehouse.conf (no anonymous clients, a password
file, the real ACL file) on a loopback port, with the users `gatehouse-bridge`, `anpr-in`,
`anpr-out` and `car-in`, and check with paho-mqtt clients what each may publish and read.

Absence is proven without sleeping: after the message that must not arrive, the same
connection publishes a legitimate marker; the broker handles one connection's messages in
order, so once the marker is delivered, the forbidden message would have been delivered before it.
"""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from tests.support.acl_broker import AclMosquitto, start_acl_broker
from tests.support.mqtt_clients import BAD_CREDENTIALS, NOT_AUTHORIZED, Client, Clients, marker

pytestmark = pytest.mark.mqtt

BRIDGE = "gatehouse-bridge"
USERS = (BRIDGE, "anpr-in", "anpr-out", "car-in")


def plate_topic(device: str) -> str:
    return f"gatehouse/demo/camera/{device}/plate"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AclMosquitto, dict[str, str]]]:
    """The broker and each user's password (random for this run)."""
    server, passwords = start_acl_broker(tmp_path_factory.mktemp("mosquitto-acl"), USERS)
    try:
        yield server, passwords
    finally:
        server.stop()


@pytest.fixture
def connect(broker):
    """Factory: a connected client for a user (with that user's password); closed after the test."""
    clients = Clients(*broker)
    yield clients
    clients.close_all()


def test_bridge_receives_a_camera_plate_on_its_own_topic(connect):
    """Protects the plate path through production auth: camera anpr-in, logged in with its own
    credentials, publishes on gatehouse/demo/camera/anpr-in/plate and the bridge receives it."""
    bridge = connect(BRIDGE, subscribe="gatehouse/#")
    camera = connect("anpr-in")
    payload = ('{"event_id":"e1","plate":"粤B12345","confidence":0.97,"direction":"in",'
               '"at":"2025-01-01T00:00:00.000Z"}').encode()
    assert camera.publish(plate_topic("anpr-in"), payload) == 0
    [message] = bridge.receive_until(payload)
    assert message.topic == plate_topic("anpr-in")


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt3.1.1", "mqtt5"])
def test_camera_cannot_publish_as_another_device(connect, protocol):
    """Protects against a compromised or misconfigured camera: anpr-in cannot report plates as
    anpr-out, command the car-in barrier, fake its state or raise site alerts; none of it
    reaches the bridge. MQTT 5 clients are told "not authorized" in the PUBACK."""
    bridge = connect(BRIDGE, subscribe="gatehouse/#")
    camera = connect("anpr-in", protocol=protocol)
    spoofs = [plate_topic("anpr-out"), "gatehouse/demo/barrier/car-in/command",
              "gatehouse/demo/barrier/car-in/state", "gatehouse/demo/alerts"]
    for topic in spoofs:
        reason = camera.publish(topic, b'{"spoof":true}')
        if protocol == mqtt.MQTTv5:
            assert reason == NOT_AUTHORIZED, f"{topic}: PUBACK reason {reason}"
    end = marker()
    assert camera.publish(plate_topic("anpr-in"), end) == 0
    received = bridge.receive_until(end)
    assert [m.topic for m in received] == [plate_topic("anpr-in")], "a spoofed message reached the bridge"


def test_devices_read_only_their_own_requests(connect):
    """Protects commands and snapshot requests from eavesdropping: a camera that subscribes to
    everything gets its own snapshot requests, not barrier commands or other cameras' requests."""
    bridge = connect(BRIDGE)
    camera = connect("anpr-in", subscribe="gatehouse/#")
    barrier = connect("car-in", subscribe="gatehouse/#")
    assert bridge.publish("gatehouse/demo/barrier/car-in/command", b'{"action":"open"}') == 0
    assert bridge.publish("gatehouse/demo/camera/anpr-out/snapshot/request", b'{"id":"r1"}') == 0
    own = b'{"id":"r2"}'
    assert bridge.publish("gatehouse/demo/camera/anpr-in/snapshot/request", own) == 0
    assert [m.topic for m in camera.receive_until(own)] == ["gatehouse/demo/camera/anpr-in/snapshot/request"]
    # ...and the barrier got its command, proving the command above was delivered at all.
    assert [m.topic for m in barrier.receive_until(b'{"action":"open"}')] == [
        "gatehouse/demo/barrier/car-in/command"]


@pytest.mark.parametrize("username, password", [
    (None, None),
    ("anpr-in", "wrong-password"),
    ("anpr-in", None),
    ("no-such-device", "whatever"),
], ids=["anonymous", "wrong-password", "no-password", "unknown-user"])
@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt3.1.1", "mqtt5"])
def test_clients_without_valid_credentials_are_refused(broker, username, password, protocol):
    """Protects per-device credentials: anonymous clients, wrong or missing passwords and
    unknown users are refused at CONNECT, before they can publish anything."""
    server, _ = broker
    client = Client(server, username, password, protocol=protocol)
    try:
        reason = client.connect()
    finally:
        client.close()
    assert reason.is_failure, f"{username!r} was let in"
    assert reason.value in (NOT_AUTHORIZED, BAD_CREDENTIALS), str(reason)


def test_camera_can_answer_a_snapshot_request_on_the_spec_topic(connect):
    """Protects snapshots (SPEC §3: the camera replies with JPEG bytes on .../snapshot/{id}):
    the ACL must let a camera publish its reply where the app listens for it."""
    bridge = connect(BRIDGE, subscribe="gatehouse/#")
    camera = connect("anpr-in")
    reply_topic = "gatehouse/demo/camera/anpr-in/snapshot/r-1234"
    camera.publish(reply_topic, b"\xff\xd8\xff\xe0 jpeg")
    end = marker()
    camera.publish(plate_topic("anpr-in"), end)
    assert reply_topic in [m.topic for m in bridge.receive_until(end)]
