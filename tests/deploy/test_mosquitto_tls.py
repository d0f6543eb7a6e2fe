"""The shipped Mosquitto configuration as a whole, TLS listener for the devices included.

deploy/mosquitto/gatehouse.conf is started with only its ports, certificate and file paths
rewritten (tests/support/acl_broker.py: start_shipped_broker) and a throw-away CA. Devices
connect over TLS on the device listener with their own accounts; the app connects on the
loopback listener. A device that does not trust the estate's CA, that gives a wrong password,
or that speaks plain MQTT to the TLS port, gets nowhere.
"""

from __future__ import annotations

import json
import queue
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support.acl_broker import ShippedMosquitto, start_shipped_broker

pytestmark = pytest.mark.mqtt

BRIDGE, CAMERA, RELAY = "gatehouse-bridge", "anpr-in", "car-in"
BAD_CREDENTIALS = 134  # MQTT 5 "Bad user name or password" (paho maps v3.1.1 CONNACK 4 to it)
NOT_AUTHORIZED = 135


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Iterator[tuple[ShippedMosquitto, dict[str, str], Path]]:
    """The shipped broker, each account's password, and the CA that signed its certificate."""
    server, passwords, ca = start_shipped_broker(tmp_path_factory.mktemp("shipped-mqtt"),
                                                 (BRIDGE, CAMERA, RELAY))
    yield server, passwords, ca
    server.stop()


class Device:
    """A paho client that records its CONNACK and the messages it receives."""

    def __init__(self, user: str, password: str, *, ca: Path | None) -> None:
        """Over TLS trusting `ca`; plain MQTT when `ca` is None."""
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"{user}-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(user, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.connack = threading.Event()
        self.reason: int | None = None
        self.messages: queue.Queue = queue.Queue()
        self.subscribed = threading.Event()
        self.disconnected = threading.Event()
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.reason = reason_code.value
        self.connack.set()

    def connect(self, port: int) -> Device:
        """Open the connection and wait for the broker's answer (CONNACK)."""
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connack.wait(10), "no CONNACK"
        return self

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_devices_over_tls_and_the_app_on_loopback(shipped):
    """Protects the production broker layout: a camera logs in over TLS with its own account and
    its plate reaches the app on the loopback listener; a Tasmota relay (username = its Topic)
    gets the app's POWER command over TLS and its answer reaches the app."""
    server, passwords, ca = shipped
    app = Device(BRIDGE, passwords[BRIDGE], ca=None).connect(server.port)
    camera = Device(CAMERA, passwords[CAMERA], ca=ca).connect(server.tls_port)
    relay = Device(RELAY, passwords[RELAY], ca=ca).connect(server.tls_port)
    try:
        assert (app.reason, camera.reason, relay.reason) == (0, 0, 0)
        app.client.subscribe([(f"gatehouse/demo/camera/{CAMERA}/plate", 1), (f"stat/{RELAY}/#", 1)])
        relay.client.subscribe(f"cmnd/{RELAY}/#", 1)
        assert app.subscribed.wait(5) and relay.subscribed.wait(5)
        plate = json.dumps({"event_id": uuid.uuid4().hex, "plate": "粤B12345"}).encode()
        camera.client.publish(f"gatehouse/demo/camera/{CAMERA}/plate", plate, qos=1).wait_for_publish(5)
        assert app.messages.get(timeout=5) == (f"gatehouse/demo/camera/{CAMERA}/plate", plate)
        app.client.publish(f"cmnd/{RELAY}/POWER1", b"ON", qos=1).wait_for_publish(5)
        assert relay.messages.get(timeout=5) == (f"cmnd/{RELAY}/POWER1", b"ON")
        relay.client.publish(f"stat/{RELAY}/POWER1", b"ON", qos=1).wait_for_publish(5)
        assert app.messages.get(timeout=5) == (f"stat/{RELAY}/POWER1", b"ON")
    finally:
        for device in (app, camera, relay):
            device.close()


def test_relay_cannot_answer_for_another_relay(shipped):
    """Protects vendor barriers: a Tasmota relay may only report as itself (stat/<its user>/…),
    so a hijacked relay cannot acknowledge another barrier's opening."""
    server, passwords, ca = shipped
    app = Device(BRIDGE, passwords[BRIDGE], ca=None).connect(server.port)
    relay = Device(RELAY, passwords[RELAY], ca=ca).connect(server.tls_port)
    try:
        app.client.subscribe("stat/#", 1)
        assert app.subscribed.wait(5)
        relay.client.publish("stat/car-out/POWER1", b"ON", qos=1).wait_for_publish(5)
        # Messages of one connection are delivered in order: once the marker is here, the
        # forbidden one would have arrived before it.
        relay.client.publish(f"stat/{RELAY}/POWER1", b"OFF", qos=1).wait_for_publish(5)
        assert app.messages.get(timeout=5) == (f"stat/{RELAY}/POWER1", b"OFF")
        assert app.messages.empty()
    finally:
        app.close()
        relay.close()


def test_device_without_the_estates_ca_is_refused(shipped):
    """Protects devices from a broker impostor: a client that was not given the estate's CA
    cannot complete the TLS handshake with the broker's certificate."""
    server, _, _ = shipped
    context = ssl.create_default_context()  # the system's CAs, as paho's tls_set() without ca_certs
    with socket.create_connection(("127.0.0.1", server.tls_port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="127.0.0.1").close()


@pytest.mark.parametrize("user", [CAMERA, "nobody"])
def test_wrong_password_over_tls_is_refused(shipped, user):
    """Protects the device listener: TLS alone admits nobody; a wrong password (or an unknown
    user) is refused at CONNECT."""
    server, _, ca = shipped
    device = Device(user, "wrong-password", ca=ca).connect(server.tls_port)
    try:
        assert device.reason in (BAD_CREDENTIALS, NOT_AUTHORIZED), device.reason
    finally:
        device.close()


def test_plain_mqtt_on_the_device_port_is_refused(shipped):
    """Protects the passwords: the device port never falls back to plain MQTT, where they would
    cross the network in clear."""
    server, passwords, _ = shipped
    device = Device(CAMERA, passwords[CAMERA], ca=None)
    device.client.connect("127.0.0.1", server.tls_port)
    device.client.loop_start()
    try:
        assert device.disconnected.wait(10), "the broker kept a plain connection on its TLS port"
        assert device.reason is None  # closed without ever accepting the CONNECT
    finally:
        device.close()
