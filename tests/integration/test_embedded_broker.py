"""The embedded amqtt broker of the one-command demo starts, relays QoS 1 and stops cleanly.

Nothing here sleeps: every wait is an Event or a queue with a timeout.
"""

from __future__ import annotations

import queue
import socket
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from device_adapters.embedded_broker import EmbeddedBroker
from device_adapters.mqtt_url import connect_args, make_client

TIMEOUT = 10.0


def _connected_client(url: str) -> tuple[mqtt.Client, threading.Event]:
    client = make_client(url, f"t-{uuid.uuid4().hex[:10]}")
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    args = connect_args(url)
    client.connect(args["host"], args["port"])
    client.loop_start()
    assert connected.wait(TIMEOUT), "client did not connect to the embedded broker"
    return client, connected


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


def test_starts_on_a_free_port_and_reports_its_url(broker: EmbeddedBroker) -> None:
    """port=0 picks a free port; .url names it, and the port accepts TCP right after start()."""
    assert broker.port > 0
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    with socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT):
        pass


def test_relays_a_qos1_message_between_two_clients(broker: EmbeddedBroker) -> None:
    """A QoS 1 publish from one paho client reaches another subscribed one, at QoS 1."""
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()
    published = threading.Event()
    subscriber, _ = _connected_client(broker.url)
    publisher, _ = _connected_client(broker.url)
    try:
        subscriber.on_message = lambda c, u, msg: received.put(msg)
        subscriber.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        subscriber.subscribe("demo/+/ping", qos=1)
        assert subscribed.wait(TIMEOUT)
        publisher.on_publish = lambda c, u, mid, rc, p: published.set()
        publisher.publish("demo/lane-1/ping", b"hello", qos=1)
        assert published.wait(TIMEOUT), "no PUBACK from the embedded broker"
        msg = received.get(timeout=TIMEOUT)
        assert (msg.topic, msg.payload, msg.qos) == ("demo/lane-1/ping", b"hello", 1)
    finally:
        for client in (subscriber, publisher):
            client.disconnect()
            client.loop_stop()


def test_stop_closes_the_port() -> None:
    """After stop() nothing listens on the port any more, so the demo leaves no broker behind."""
    broker = EmbeddedBroker().start()
    port = broker.port
    broker.stop()
    assert not broker.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_falls_back_to_a_free_port_when_the_requested_one_is_taken() -> None:
    """A demo must still start when 1883 (here: some busy port) is already used by Mosquitto."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with EmbeddedBroker(port=taken) as broker:
            assert broker.port not in (0, taken)
            client, _ = _connected_client(broker.url)
            client.disconnect()
            client.loop_stop()


def test_can_start_again_after_stop() -> None:
    """stop() leaves the object reusable: a second start() serves again on a (new) port."""
    broker = EmbeddedBroker()
    for _ in range(2):
        broker.start()
        try:
            client, _ = _connected_client(broker.url)
            client.disconnect()
            client.loop_stop()
        finally:
            broker.stop()
