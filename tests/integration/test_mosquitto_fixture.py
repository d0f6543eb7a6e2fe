"""The Mosquitto plugin (tests/plugins/mosquitto.py) gives tests a real, restartable broker.

The MQTT tests of the device adapters rely on these properties; if one of these tests
fails, fix the plugin or the environment before trusting any other MQTT test result.
Nothing here sleeps: every wait is a threading.Event with a timeout.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.plugins.mosquitto import MosquittoServer

pytestmark = pytest.mark.mqtt

TIMEOUT = 10.0


class Probe:
    """A paho-mqtt 2.x client whose callbacks set events the test can wait on."""

    def __init__(
        self,
        server: MosquittoServer,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
        subscribe_to: tuple[str, ...] = (),
    ) -> None:
        self.server = server
        self.subscribe_to = subscribe_to
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:12]}",
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        # Reconnect quickly after a broker restart (paho's loop thread does the retries).
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present: bool | None = None
        self.granted_qos: list[int] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._waiters: dict[bytes, threading.Event] = {}
        self._closed = False
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # Callbacks run on paho's network thread; they only record and signal.
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        self.session_present = flags.session_present
        if self.subscribe_to:
            client.subscribe([(topic, 1) for topic in self.subscribe_to])
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.disconnected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.granted_qos = [rc.value for rc in reason_codes]
        self.subscribed.set()

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append(message)
            waiter = self._waiters.get(message.payload)
        if waiter is not None:
            waiter.set()

    def expect(self, payload: bytes) -> threading.Event:
        """An event that is set once a message with this payload has arrived."""
        with self._lock:
            event = self._waiters.setdefault(payload, threading.Event())
            if any(m.payload == payload for m in self.messages):
                event.set()
        return event

    def message(self, payload: bytes) -> mqtt.MQTTMessage:
        with self._lock:
            return next(m for m in self.messages if m.payload == payload)

    def start(self) -> Probe:
        self.client.connect(self.server.host, self.server.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), f"no CONNACK from {self.server.url}"
        if self.subscribe_to:
            assert self.subscribed.wait(TIMEOUT), "no SUBACK"
            assert self.granted_qos == [1] * len(self.subscribe_to), self.granted_qos
        return self

    def publish_qos1(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=TIMEOUT)
        assert info.is_published(), f"no PUBACK for {topic}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.client.disconnect()
        self.client.loop_stop()
        # paho only closes its internal wake-up socket pair when the Client is garbage
        # collected (eclipse-paho/paho.mqtt.python#627); the callbacks above form a
        # reference cycle, so that happens at a random later GC and raises a
        # ResourceWarning, which this project's filterwarnings=error turns into a failure.
        # reinitialise() is the public call that closes every socket now.
        self.client.reinitialise()


@pytest.fixture
def probe() -> Iterator[Callable[..., Probe]]:
    """Factory for connected probes; every probe is disconnected after the test."""
    probes: list[Probe] = []

    def make(server: MosquittoServer, **kwargs) -> Probe:
        p = Probe(server, **kwargs)
        probes.append(p)
        return p.start()

    yield make
    for p in probes:
        p.close()


def unique_topic(kind: str) -> str:
    return f"gatehouse-test/{uuid.uuid4().hex[:8]}/{kind}"


def test_session_broker_delivers_qos1_message(
    mosquitto: MosquittoServer, probe: Callable[..., Probe]
) -> None:
    """Protects the shared `mosquitto` fixture: a running broker on the advertised URL that
    accepts a QoS 1 publish (PUBACK) and delivers it to a QoS 1 subscriber."""
    assert mosquitto.running
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    topic = unique_topic("camera/cam-1/plate")
    subscriber = probe(mosquitto, subscribe_to=(topic,))
    publisher = probe(mosquitto)

    arrived = subscriber.expect(b"\xe4\xba\xacA12345")
    publisher.publish_qos1(topic, "京A12345".encode())

    assert arrived.wait(TIMEOUT), f"message not delivered\n{mosquitto.log_text()}"
    message = subscriber.message(b"\xe4\xba\xacA12345")
    assert message.topic == topic
    assert message.qos == 1


def test_clients_reconnect_after_broker_restart(
    fresh_mosquitto: MosquittoServer, probe: Callable[..., Probe]
) -> None:
    """Protects `fresh_mosquitto.restart()`: the broker comes back on the same port and
    clients that auto-reconnect (as the device adapters do) exchange messages again."""
    topic = unique_topic("barrier/gate-1/command")
    subscriber = probe(fresh_mosquitto, subscribe_to=(topic,))
    publisher = probe(fresh_mosquitto)
    before = subscriber.expect(b"open-1")
    publisher.publish_qos1(topic, b"open-1")
    assert before.wait(TIMEOUT), "message not delivered before the restart"

    port = fresh_mosquitto.port
    for p in (subscriber, publisher):
        p.connected.clear()
        p.subscribed.clear()
    fresh_mosquitto.restart()

    assert fresh_mosquitto.running
    assert fresh_mosquitto.port == port
    for p in (subscriber, publisher):
        assert p.disconnected.wait(TIMEOUT), "client did not notice the broker going away"
        assert p.connected.wait(TIMEOUT), f"client did not reconnect\n{fresh_mosquitto.log_text()}"
    assert subscriber.subscribed.wait(TIMEOUT), "subscription not renewed after reconnect"

    after = subscriber.expect(b"open-2")
    publisher.publish_qos1(topic, b"open-2")
    assert after.wait(TIMEOUT), f"message not delivered after restart\n{fresh_mosquitto.log_text()}"


def test_queued_qos1_message_survives_broker_restart(
    fresh_mosquitto: MosquittoServer, probe: Callable[..., Probe]
) -> None:
    """Protects the plugin's persistence config: a QoS 1 message queued for an offline
    persistent session (clean_session=False) is still delivered after a broker restart,
    which is what lets a barrier receive a command sent while it was reconnecting."""
    topic = unique_topic("barrier/gate-2/command")
    client_id = f"barrier-{uuid.uuid4().hex[:8]}"

    offline = probe(
        fresh_mosquitto, client_id=client_id, clean_session=False, subscribe_to=(topic,)
    )
    offline.close()
    assert offline.disconnected.wait(TIMEOUT)

    probe(fresh_mosquitto).publish_qos1(topic, b"open-queued")
    fresh_mosquitto.restart()

    # Same client id, no new SUBSCRIBE: only the persisted session can deliver it.
    back = probe(fresh_mosquitto, client_id=client_id, clean_session=False)
    assert back.session_present is True, "broker forgot the persistent session"
    delivered = back.expect(b"open-queued")
    assert delivered.wait(TIMEOUT), f"queued message lost\n{fresh_mosquitto.log_text()}"
    assert back.message(b"open-queued").qos == 1
