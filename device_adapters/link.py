"""One MQTT v5 connection per process: availability with last will, reconnects, routing, publishing."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from device_adapters.mqtt_url import connect_args
from device_adapters.profiles.base import Publish

# At most this many queued messages are handled together (one group commit in the bridge).
BURST_MAX = 32

log = logging.getLogger(__name__)
Handler = Callable[[str, bytes], None]


@dataclass(frozen=True)
class Route:
    """A subscription and the function its messages go to."""

    topic_filter: str
    handler: Handler
    shared: bool = False
    no_local: bool = False


class MqttLink:
    """Connects, keeps `{prefix}/bridge/{name}/availability` true, and hands messages to routes.

    Messages are handled on one worker thread, in arrival order, so a slow database never
    stalls the network loop (keepalives, acks) and one bad message never kills the link.
    """

    def __init__(self, url: str, availability_topic: str, client_id: str, *,
                 shared_group: str | None = None, ca_certs: str | None = None,
                 on_connected: Callable[[], None] | None = None, protocol: str = "5") -> None:
        """Prepare (not connect) the client; `shared_group` turns on shared subscriptions.

        `protocol` "5" (default) or "3.1.1": the demo's embedded broker speaks only 3.1.1,
        which has no shared subscriptions, no-local or message expiry.
        """
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"MQTT protocol must be '5' or '3.1.1', not {protocol!r}")
        self.v5 = protocol == "5"
        if shared_group and not self.v5:
            raise ValueError("shared subscriptions need MQTT 5")
        self.args = connect_args(url)
        self.availability_topic = availability_topic
        self.shared_group = shared_group
        self.routes: list[Route] = []
        self.on_connected = on_connected
        # Optional context manager the messages of one burst are handled in (the bridge's group
        # commit); None: one by one.
        self.burst: Callable[[], AbstractContextManager[None]] | None = None
        self.connected = threading.Event()
        self.dropped: dict[str, int] = {}
        self.messages = 0
        self._queue: queue.Queue = queue.Queue(maxsize=10_000)
        self._worker: threading.Thread | None = None
        self._stopping = False
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id,
                             protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311)
        if self.args["username"] is not None:
            client.username_pw_set(self.args["username"], self.args["password"])
        if self.args["tls"]:
            client.tls_set(ca_certs=ca_certs)
        client.will_set(availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._sub_mid: int | None = None
        self.client = client

    def route(self, topic_filter: str, handler: Handler, *, shared: bool = False,
              no_local: bool = False) -> None:
        """Send messages matching `topic_filter` to `handler` (add before start())."""
        self.routes.append(Route(topic_filter, handler, shared and bool(self.shared_group), no_local))

    def publish(self, msg: Publish) -> mqtt.MQTTMessageInfo:
        """Publish one message (QoS 1 by default); commands carry an MQTT v5 expiry."""
        props = None
        if msg.expiry_seconds is not None and self.v5:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int(msg.expiry_seconds))
        return self.client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain,
                                   properties=props)

    def start(self, timeout: float = 10.0) -> MqttLink:
        """Connect and wait until the broker accepted us; raise ConnectionError otherwise."""
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="mqtt-link-worker", daemon=True)
        self._worker.start()
        if self.v5:
            self.client.connect_async(self.args["host"], self.args["port"], keepalive=30,
                                      clean_start=True)
        else:
            self.client.connect_async(self.args["host"], self.args["port"], keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            self.stop(publish_stopped=False)
            raise ConnectionError(f"no connection to the MQTT broker at {self.args['host']}:"
                                  f"{self.args['port']} within {timeout:.0f} s")
        return self

    def stop(self, *, publish_stopped: bool = True) -> None:
        """Say `stopped`, disconnect cleanly and finish the queued messages."""
        self._stopping = True
        if publish_stopped and self.connected.is_set():
            info = self.client.publish(self.availability_topic, "stopped", qos=1, retain=True)
            info.wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()
        self.client.reinitialise()  # paho keeps a socket pair open until this (a ResourceWarning)
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(10)
        self.connected.clear()

    def drop(self, reason: str, topic: str, detail: str = "") -> None:
        """Count and log a message that was not acted on."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        log.warning("dropped message on %s: %s%s", topic, reason, f" ({detail})" if detail else "")

    # --- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason_code)
            return
        sock = client.socket()
        if sock is not None and hasattr(sock, "setsockopt"):
            # paho leaves Nagle on: a command right after a PUBACK would wait for the broker's
            # delayed ACK (~40 ms on Linux). Gate commands are tiny and must leave at once.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        subs = []
        for r in self.routes:
            topic = f"$share/{self.shared_group}/{r.topic_filter}" if r.shared else r.topic_filter
            if self.v5:
                subs.append((topic, SubscribeOptions(qos=1, noLocal=r.no_local and not r.shared)))
            else:
                subs.append((topic, 1))
        log.info("connected to MQTT broker %s:%s", self.args["host"], self.args["port"])
        if subs:
            # Ready only once the broker confirmed the subscriptions (see _on_subscribe):
            # before that, events published to us would be lost.
            self._sub_mid = client.subscribe(subs)[1]
        else:
            self._ready()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if getattr(code, "is_failure", False)]
        if failed:
            log.warning("the broker refused %d subscription(s): %s", len(failed), failed)
        if mid == self._sub_mid:
            self._ready()

    def _ready(self) -> None:
        self.connected.set()
        if self.on_connected is not None:
            self._queue.put(("__connected__", b""))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("lost the MQTT broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            self._queue.put_nowait((msg.topic, msg.payload))
        except queue.Full:
            self.drop("overload", msg.topic)

    # --- worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            burst = [self._queue.get()]
            # Messages that queued up meanwhile are handled as one burst (see `burst`).
            while burst[-1] is not None and len(burst) < BURST_MAX:
                try:
                    burst.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = burst[-1] is None
            items = [item for item in burst if item is not None]
            if len(items) > 1 and self.burst is not None:
                self._safely("burst", self._handle_burst, items)
            else:
                for item in items:
                    self._handle(*item)
            if stop:
                return

    def _handle_burst(self, items: list[tuple[str, bytes]]) -> None:
        with self.burst():
            for item in items:
                self._handle(*item)

    def _handle(self, topic: str, payload: bytes) -> None:
        if topic == "__connected__":
            self._safely(topic, self.on_connected)
            return
        self.messages += 1
        handlers = [r.handler for r in self.routes if mqtt.topic_matches_sub(r.topic_filter, topic)]
        if not handlers:
            self.drop("unrouted", topic)
        for handler in handlers:
            self._safely(topic, handler, topic, payload)

    def _safely(self, topic: str, call: Callable, *args) -> None:
        try:
            call(*args)
        except Exception:  # one bad message must never stop the bridge
            self.dropped["error"] = self.dropped.get("error", 0) + 1
            log.exception("error handling message on %s", topic)
