"""One MQTT v5 connection per process: availability with last will, reconnects, routing, publishing.

Delivery is at least once and nothing acknowledged is lost: a QoS 1/2 message is acknowledged
to the broker only after its handlers have returned, and handlers return only once the event is
durable (committed to the database, or fsynced to the offline spool). The bridge's session is
persistent (stable client id, clean_start False, a session expiry), so the broker keeps what
arrives while the bridge is down and redelivers what it sent but never got an ack for; the
services drop the duplicates by event id.
"""

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
Token = tuple[int, int, int]  # (connection generation, mid, qos) of a message still to acknowledge


@dataclass(frozen=True)
class Route:
    """A subscription and the function its messages go to."""

    topic_filter: str
    handler: Handler
    shared: bool = False
    no_local: bool = False
    refuse_retained: bool = False  # commands: a retained one is a stale or planted replay


class MqttLink:
    """Connects, keeps `{prefix}/bridge/{name}/availability` true, and hands messages to routes.

    Messages are handled on one worker thread, in arrival order, so a slow database never
    stalls the network loop (keepalives) and one bad message never kills the link. Each
    QoS 1/2 message is acknowledged from that thread once its handlers are done (see _ack).
    """

    def __init__(self, url: str, availability_topic: str, client_id: str, *,
                 shared_group: str | None = None, ca_certs: str | None = None,
                 on_connected: Callable[[], None] | None = None, protocol: str = "5",
                 session_expiry: int = 0) -> None:
        """Prepare (not connect) the client; `shared_group` turns on shared subscriptions.

        `protocol` "5" (default) or "3.1.1": the demo's embedded broker speaks only 3.1.1,
        which has no shared subscriptions, no-local or message expiry. `session_expiry` > 0
        (the bridge): the broker keeps the session (subscriptions, messages not yet
        acknowledged) under `client_id`, which must then stay the same across restarts, for
        that many seconds (MQTT 5; 3.1.1: until the broker's persistent_client_expiration).
        0 (default; a web process, whose id changes with its pid): a clean session.
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
        self.session_expiry = max(0, int(session_expiry))
        # Acks must go out on the connection the message came in on: after a reconnect the
        # broker redelivers it (and may give its old mid to another message).
        self._ack_lock = threading.Lock()
        self._generation = 0
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id, manual_ack=True,
                             # 3.1.1: persistent unless session_expiry is 0 (MQTT 5: connect_async).
                             clean_session=None if self.v5 else self.session_expiry == 0,
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
              no_local: bool = False, refuse_retained: bool = False) -> None:
        """Send messages matching `topic_filter` to `handler` (add before start())."""
        self.routes.append(Route(topic_filter, handler, shared and bool(self.shared_group), no_local,
                                 refuse_retained))

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
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry
            # No session kept (expiry 0): start clean, so none left from an earlier run is reused.
            self.client.connect_async(self.args["host"], self.args["port"], keepalive=30,
                                      clean_start=self.session_expiry == 0, properties=props)
        else:
            self.client.connect_async(self.args["host"], self.args["port"], keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            self.stop(publish_stopped=False)
            raise ConnectionError(f"no connection to the MQTT broker at {self.args['host']}:"
                                  f"{self.args['port']} within {timeout:.0f} s")
        return self

    def stop(self, *, publish_stopped: bool = True) -> None:
        """Finish and acknowledge the queued messages, say `stopped` and disconnect cleanly.

        Messages that arrive meanwhile are left unacknowledged: the persistent session
        redelivers them on the next start.
        """
        self._stopping = True
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(10)
        if publish_stopped and self.connected.is_set():
            info = self.client.publish(self.availability_topic, "stopped", qos=1, retain=True)
            info.wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()
        self.client.reinitialise()  # paho keeps a socket pair open until this (a ResourceWarning)
        self.connected.clear()

    def drop(self, reason: str, topic: str, detail: str = "") -> None:
        """Count and log a message that was not acted on."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        log.warning("dropped message on %s: %s%s", topic, reason, f" ({detail})" if detail else "")

    # --- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            self._generation += 1
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
            self._queue.put(("__connected__", b"", None))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            self._generation += 1  # acks not yet sent are void: the broker redelivers those
        self.connected.clear()
        if not self._stopping:
            log.warning("lost the MQTT broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if self._stopping:
            return  # not acknowledged: redelivered to the next start
        if msg.retain and any(r.refuse_retained and mqtt.topic_matches_sub(r.topic_filter, msg.topic)
                              for r in self.routes):
            # Dropped before the queue (only this callback sees the flag), and acknowledged:
            # unacknowledged, the broker would deliver it again at every reconnect.
            self.drop("retained_command", msg.topic)
            if msg.qos:
                client.ack(msg.mid, msg.qos)
            return
        token = (self._generation, msg.mid, msg.qos) if msg.qos else None
        try:
            self._queue.put_nowait((msg.topic, msg.payload, token))
        except queue.Full:
            # Left unacknowledged (the broker redelivers it after a reconnect). The broker
            # sends at most its inflight window of unacknowledged messages, so only QoS 0 can
            # fill the queue.
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
                self._handle_burst(items)
            else:
                for topic, payload, token in items:
                    self._handle(topic, payload)
                    self._ack(token)
            if stop:
                return

    def _handle_burst(self, items: list[tuple[str, bytes, Token | None]]) -> None:
        """Handle queued messages in one group commit; acknowledge them after it."""
        try:
            with self.burst():
                for topic, payload, _ in items:
                    self._handle(topic, payload)
        except Exception:
            # The group commit failed, so none of it is durable: each message again on its own
            # (its own transaction, or the spool), and acknowledged after that.
            log.warning("a burst of %d messages failed; handling them one by one", len(items),
                        exc_info=True)
            for topic, payload, token in items:
                self._handle(topic, payload)
                self._ack(token)
            return
        for *_, token in items:
            self._ack(token)

    def _ack(self, token: Token | None) -> None:
        """Acknowledge one handled QoS 1/2 message, if it came in on the current connection.

        paho's ack() only queues the packet for the network thread (as publish() does), so it
        is safe from this thread. A message from an earlier connection is not acknowledged: the
        broker redelivers it and the services drop it as a duplicate.
        """
        if token is None:
            return
        generation, mid, qos = token
        with self._ack_lock:
            if generation == self._generation:
                self.client.ack(mid, qos)

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
            # A poison message: acknowledged all the same, or the broker would redeliver it
            # after every reconnect, forever.
            self.dropped["error"] = self.dropped.get("error", 0) + 1
            log.exception("error handling message on %s (dropped)", topic)
