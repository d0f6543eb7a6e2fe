"""Base class of the simulated devices: connection, availability with last will, start/stop."""

from __future__ import annotations

import json
import logging
import socket
import threading
from types import TracebackType
from typing import Any, ClassVar

import paho.mqtt.client as mqtt

from device_adapters.mqtt_url import connect_args, make_client
from device_adapters.topics import Topics, check_name

log = logging.getLogger(__name__)

QOS = 1  # SPEC §3: all device messages are QoS 1
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
KEEPALIVE = 15


def dumps(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as the contract's payloads are sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def preview(payload: bytes) -> str:
    """A short printable excerpt of a payload for log lines."""
    return repr(payload[:120]) + ("..." if len(payload) > 120 else "")


class SimulatedDevice:
    """MQTT plumbing shared by the simulated devices: availability, last will, start/stop."""

    kind: ClassVar[str] = ""

    def __init__(self, url: str, topics: Topics, device_id: str) -> None:
        """Create the (not yet connected) client with `offline` as its retained last will."""
        self.url = url
        self.topics = topics
        self.device_id = check_name(device_id, "device id")
        self.availability_topic = topics.availability(self.kind, device_id)
        self.client = self._new_client()
        self.ready = threading.Event()  # set once subscribed and `online` is acknowledged
        self._sub_mid: int | None = None
        self._online_mid: int | None = None
        self._running = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.topics.site}/{self.device_id}>"

    def _new_client(self) -> mqtt.Client:
        client_id = f"sim-{self.topics.site}-{self.kind}-{self.device_id}"
        will = (self.availability_topic, "offline", True)
        client = make_client(self.url, client_id, will=will)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def _release_client(self) -> None:
        # paho's loop_start() makes a socket pair that loop_stop() never closes, and a second
        # loop_start() would leak it; reinitialise() closes every socket of the old client.
        self.client.reinitialise()
        self.client = self._new_client()
        self.ready.clear()

    # -- hooks for subclasses ------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        """Topics the device listens on."""
        return []

    def on_online(self) -> None:
        """Called on each (re)connect just before `online` is published."""

    def on_stop(self) -> None:
        """Called before the device disconnects (cleanly or not)."""

    def handle_message(self, msg: mqtt.MQTTMessage) -> None:
        """Handle one incoming message; the default drops it with a warning."""
        log.warning("%r: unexpected message on %s dropped", self, msg.topic)

    # -- lifecycle -----------------------------------------------------------------------

    def connect(self) -> None:
        """Begin connecting in paho's network thread; does not wait."""
        if self._running:
            return
        args = connect_args(self.url)
        self._running = True
        self.client.connect_async(args["host"], args["port"], keepalive=KEEPALIVE)
        self.client.loop_start()

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """Wait until the device is subscribed and has published `online`."""
        return self.ready.wait(timeout)

    def start(self, timeout: float = START_TIMEOUT) -> SimulatedDevice:
        """Connect and block until the device is online; TimeoutError otherwise."""
        self.connect()
        if not self.wait_until_ready(timeout):
            self.stop()
            raise TimeoutError(f"{self!r} did not come online at {self.url} within {timeout} s")
        return self

    def stop(self) -> None:
        """Publish retained `offline`, then disconnect cleanly."""
        if not self._running:
            return
        self._running = False
        self.on_stop()
        if self.client.is_connected():
            info = self.client.publish(self.availability_topic, "offline", qos=QOS, retain=True)
            try:
                info.wait_for_publish(STOP_TIMEOUT)
            except (RuntimeError, ValueError) as exc:  # connection went away meanwhile
                log.warning("%r: could not publish offline: %s", self, exc)
        self.client.disconnect()
        self.client.loop_stop()
        self._release_client()

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT, as on power loss; the will fires."""
        if not self._running:
            return
        self._running = False
        self.on_stop()
        # Stop the network thread first so it neither notices the closed socket nor reconnects.
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._release_client()

    def __enter__(self) -> SimulatedDevice:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- paho callbacks (network thread) -------------------------------------------------

    def publish_json(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        """Publish a JSON payload at QoS 1 (queued by paho while disconnected)."""
        self.client.publish(topic, dumps(payload), qos=QOS, retain=retain)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("%r: broker refused connection: %s", self, reason_code)
            return
        topics = self.subscriptions()
        if topics:
            _, self._sub_mid = client.subscribe([(topic, QOS) for topic in topics])
        else:
            self._announce()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any,
                      properties: Any) -> None:
        if mid != self._sub_mid:
            return
        if any(code.is_failure for code in reason_codes):
            # Without its subscriptions the device cannot work; do not claim to be online.
            log.error("%r: subscription refused: %s", self, reason_codes)
            return
        self._announce()

    def _announce(self) -> None:
        self.on_online()
        info = self.client.publish(self.availability_topic, "online", qos=QOS, retain=True)
        self._online_mid = info.mid

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any,
                    properties: Any) -> None:
        if mid == self._online_mid:
            self.ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle_message(msg)
        except Exception:  # an exception here would kill paho's network thread
            log.exception("%r: error handling message on %s", self, msg.topic)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self.ready.clear()
        if self._running:
            log.warning("%r: connection lost (%s); paho will reconnect", self, reason_code)
