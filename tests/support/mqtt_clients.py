"""paho-mqtt test clients that record CONNACK, SUBACK and PUBACK reason codes and messages.

Used by the ACL and MQTT abuse tests. Absence of a message is proven without sleeping: after
the publish that must not arrive, a legitimate marker is published (after the forbidden one's
PUBACK, or on the same connection); once the marker is delivered, the forbidden message would
have been delivered before it.
"""

from __future__ import annotations

import queue
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.plugins.mosquitto import MosquittoServer

TIMEOUT = 10.0
NOT_AUTHORIZED = 135  # MQTT 5 reason code "Not authorized" (paho maps v3.1.1 CONNACK 5 to it too)
BAD_CREDENTIALS = 134  # "Bad user name or password"


class Client:
    """A paho-mqtt 2.x client that records CONNACK, PUBACK reason codes and messages."""

    def __init__(self, server: MosquittoServer, username: str | None, password: str | None, *,
                 protocol: int = mqtt.MQTTv311) -> None:
        self.server = server
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"acl-test-{uuid.uuid4().hex[:10]}", protocol=protocol)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack = threading.Event()
        self.connect_reason: mqtt.ReasonCode | None = None
        self.subscribed = threading.Event()
        self.granted: list[int] = []
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.puback: dict[int, int] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_publish = self._on_publish
        self._closed = False

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connect_reason = reason_code
        self.connack.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.granted = [rc.value for rc in reason_codes]
        self.subscribed.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acked:
            self.puback[mid] = reason_code.value
            self._acked.notify_all()

    def connect(self) -> mqtt.ReasonCode:
        """Connect and wait for the CONNACK; returns its reason code."""
        self.client.connect(self.server.host, self.server.port, keepalive=30)
        self.client.loop_start()
        assert self.connack.wait(TIMEOUT), f"no CONNACK\n{self.server.log_text()}"
        assert self.connect_reason is not None
        return self.connect_reason

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for the SUBACK granting it."""
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(TIMEOUT), "no SUBACK"
        assert self.granted == [1], f"subscription to {topic} not granted at QoS 1: {self.granted}"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish at QoS 1 and wait for the PUBACK; returns its reason code (0 = success)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self.puback, TIMEOUT), f"no PUBACK for {topic}"
            return self.puback[info.mid]

    def receive_until(self, payload: bytes) -> list[mqtt.MQTTMessage]:
        """Every message received up to and including the one with this payload."""
        seen = []
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"{payload!r} never arrived; got {[m.topic for m in seen]}\n"
                                     f"{self.server.log_text()[-4000:]}") from None
            seen.append(message)
            if message.payload == payload:
                return seen

    def close(self) -> None:
        """Disconnect and release paho's sockets."""
        if self._closed:
            return
        self._closed = True
        self.client.disconnect()
        self.client.loop_stop()
        # Closes paho's socket pair now (eclipse-paho/paho.mqtt.python#627); see
        # tests/integration/test_mosquitto_fixture.py.
        self.client.reinitialise()


def marker() -> bytes:
    """A unique, valid plate payload that ends a receive_until()."""
    return f'{{"event_id":"marker-{uuid.uuid4().hex}","plate":"粤B12345"}}'.encode()


class Clients:
    """Factory of connected clients for the users of one broker (their passwords); close_all() after."""

    def __init__(self, server: MosquittoServer, passwords: dict[str, str]) -> None:
        self.server, self.passwords = server, passwords
        self.made: list[Client] = []

    def __call__(self, user: str, *, protocol: int = mqtt.MQTTv311, subscribe: str | None = None) -> Client:
        """A client logged in as `user`, connected (and subscribed to `subscribe`, if given)."""
        client = Client(self.server, user, self.passwords[user], protocol=protocol)
        self.made.append(client)
        reason = client.connect()
        assert not reason.is_failure, f"{user} refused: {reason}\n{self.server.log_text()[-4000:]}"
        if subscribe:
            client.subscribe(subscribe)
        return client

    def close_all(self) -> None:
        """Close every client made."""
        for client in self.made:
            client.close()
