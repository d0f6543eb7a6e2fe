"""The simulated devices follow the SPEC §3 MQTT contract, checked against a real Mosquitto.

The app side of the contract relies on these behaviours (and the demo relies on the
simulator), so each test plays the app with a plain paho client. Every test uses its own
site, so retained messages of one test never leak into another on the shared broker.
Nothing sleeps: every wait is a queue or an Event with a timeout.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from device_adapters.mqtt_url import connect_args, make_client
from device_adapters.simulator import (
    SimulatedBarrier,
    SimulatedCamera,
    SimulatedScanner,
    Simulation,
)
from device_adapters.topics import Topics, parse_rfc3339, rfc3339
from tests.plugins.mosquitto import MosquittoServer

pytestmark = pytest.mark.mqtt

TIMEOUT = 10.0


class Listener:
    """The app's side: a paho client that queues every message per topic."""

    def __init__(self, url: str, *filters: str) -> None:
        self.client = make_client(url, f"app-{uuid.uuid4().hex[:12]}")
        self._queues: defaultdict[str, queue.Queue[mqtt.MQTTMessage]] = defaultdict(queue.Queue)
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in filters])
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._subscribed.set()
        self.client.on_message = lambda c, u, msg: self._queue(msg.topic).put(msg)
        args = connect_args(url)
        self.client.connect(args["host"], args["port"])
        self.client.loop_start()
        assert self._subscribed.wait(TIMEOUT), "listener did not subscribe"

    def _queue(self, topic: str) -> queue.Queue[mqtt.MQTTMessage]:
        with self._lock:  # defaultdict creation races between the test and paho's thread
            return self._queues[topic]

    def get(self, topic: str, timeout: float = TIMEOUT) -> mqtt.MQTTMessage:
        """The next message on ``topic``; fails the test after ``timeout``."""
        try:
            return self._queue(topic).get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing arrived on {topic} within {timeout} s")

    def get_json(self, topic: str) -> dict[str, Any]:
        return json.loads(self.get(topic).payload)

    def pending(self, topic: str) -> list[mqtt.MQTTMessage]:
        """Messages already received on ``topic`` and not yet taken."""
        items = []
        q = self._queue(topic)
        while not q.empty():
            items.append(q.get_nowait())
        return items

    def publish(self, topic: str, payload: bytes | str) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def command(action: str, expires_in: float = 30.0, command_id: str | None = None) -> dict[str, Any]:
    """A barrier command as the app sends it."""
    now = datetime.now(UTC)
    return {
        "id": command_id or str(uuid.uuid4()),
        "action": action,
        "reason": "test",
        "issued_at": rfc3339(now),
        "expires_at": rfc3339(now + timedelta(seconds=expires_in)),
    }


@pytest.fixture
def topics() -> Topics:
    return Topics("gatehouse", f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def listener(mosquitto: MosquittoServer, topics: Topics) -> Iterator[Listener]:
    """Subscribed to every device topic of the test's site before any device starts."""
    probe = Listener(mosquitto.url, topics.device_filter())
    yield probe
    probe.close()


def start_barrier(mosquitto: MosquittoServer, topics: Topics, travel: float = 0.05) -> SimulatedBarrier:
    return SimulatedBarrier(mosquitto.url, topics, "b1", travel_seconds=travel).start()


@pytest.fixture
def barrier(mosquitto: MosquittoServer, topics: Topics, listener: Listener) -> Iterator[SimulatedBarrier]:
    barrier = start_barrier(mosquitto, topics)
    # A booting barrier reports where it is; tests start from that known state.
    assert listener.get_json(topics.barrier_state("b1"))["state"] == "closed"
    yield barrier
    barrier.stop()


def send(listener: Listener, topics: Topics, payload: dict[str, Any] | bytes) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    listener.publish(topics.barrier_command("b1"), raw)


def retained(url: str, topic: str) -> bytes:
    """The retained payload a newly subscribing client gets on ``topic``."""
    fresh = Listener(url, topic)
    try:
        msg = fresh.get(topic)
        assert msg.retain, f"{topic} is not retained"
        return msg.payload
    finally:
        fresh.close()


def test_open_acks_done_and_retains_open(mosquitto: MosquittoServer, topics: Topics, listener: Listener,
                                         barrier: SimulatedBarrier) -> None:
    """`open` moves opening → open and acks `done` with the final state; the state is retained."""
    cmd = command("open")
    send(listener, topics, cmd)
    ack = listener.get_json(topics.barrier_ack("b1"))
    assert ack["id"] == cmd["id"] and ack["result"] == "done" and ack["state"] == "open"
    parse_rfc3339(ack["at"])
    states = [json.loads(m.payload)["state"] for m in listener.pending(topics.barrier_state("b1"))]
    assert states == ["opening", "open"]
    assert json.loads(retained(mosquitto.url, topics.barrier_state("b1")))["state"] == "open"


def test_duplicate_command_gets_exactly_one_ack(topics: Topics, listener: Listener,
                                                barrier: SimulatedBarrier) -> None:
    """QoS 1 redelivers: the same command id twice must act and ack once, not twice."""
    first = command("open")
    send(listener, topics, first)
    send(listener, topics, first)
    # A later command's ack bounds the wait: any second ack of `first` would come before it.
    sentinel = command("open")
    send(listener, topics, sentinel)
    acks = [listener.get_json(topics.barrier_ack("b1"))["id"] for _ in range(2)]
    assert acks == [first["id"], sentinel["id"]]
    assert listener.pending(topics.barrier_ack("b1")) == []


def test_expired_command_is_refused_without_moving(topics: Topics, listener: Listener,
                                                   barrier: SimulatedBarrier) -> None:
    """A stale command (e.g. queued through an outage) acks `expired` and never opens the gate."""
    stale = command("open", expires_in=-1)
    send(listener, topics, stale)
    ack = listener.get_json(topics.barrier_ack("b1"))
    assert (ack["id"], ack["result"], ack["state"]) == (stale["id"], "expired", "closed")
    sentinel = command("close")  # absolute no-op; its ack bounds the wait for state messages
    send(listener, topics, sentinel)
    assert listener.get_json(topics.barrier_ack("b1"))["id"] == sentinel["id"]
    assert listener.pending(topics.barrier_state("b1")) == []
    assert barrier.state == "closed"


def test_close_is_absolute_never_a_toggle(topics: Topics, listener: Listener,
                                          barrier: SimulatedBarrier) -> None:
    """Closing a closed barrier is `done` at once and leaves it closed; it must not toggle open."""
    for _ in range(2):
        cmd = command("close")
        send(listener, topics, cmd)
        ack = listener.get_json(topics.barrier_ack("b1"))
        assert (ack["id"], ack["result"], ack["state"]) == (cmd["id"], "done", "closed")
    assert listener.pending(topics.barrier_state("b1")) == []


def test_open_twice_opens_once(topics: Topics, listener: Listener, barrier: SimulatedBarrier) -> None:
    """A second `open` on an open barrier is `done` without another opening movement."""
    for _ in range(2):
        send(listener, topics, command("open"))
        assert listener.get_json(topics.barrier_ack("b1"))["state"] == "open"
    states = [json.loads(m.payload)["state"] for m in listener.pending(topics.barrier_state("b1"))]
    assert states == ["opening", "open"]


def test_reversal_rejects_the_superseded_command(mosquitto: MosquittoServer, topics: Topics,
                                                 listener: Listener) -> None:
    """`close` during opening reverses; the `open` never completed, so it is not acked `done`."""
    barrier = start_barrier(mosquitto, topics, travel=3.0)
    try:
        assert listener.get_json(topics.barrier_state("b1"))["state"] == "closed"
        opening, closing = command("open"), command("close")
        send(listener, topics, opening)
        assert listener.get_json(topics.barrier_state("b1"))["state"] == "opening"
        send(listener, topics, closing)
        first, second = (listener.get_json(topics.barrier_ack("b1")) for _ in range(2))
        assert (first["id"], first["result"]) == (opening["id"], "rejected")
        assert (second["id"], second["result"], second["state"]) == (closing["id"], "done", "closed")
    finally:
        barrier.stop()


def test_restart_mid_travel_reports_settled_state(mosquitto: MosquittoServer, topics: Topics,
                                                  listener: Listener) -> None:
    """A barrier stopped while opening comes back reporting `open`, and open is then a no-op."""
    barrier = start_barrier(mosquitto, topics, travel=30.0)
    try:
        state_topic = topics.barrier_state("b1")
        assert listener.get_json(state_topic)["state"] == "closed"
        send(listener, topics, command("open"))
        assert listener.get_json(state_topic)["state"] == "opening"
        barrier.stop()
        barrier.start()
        assert listener.get_json(state_topic)["state"] == "open"
        again = command("open")
        send(listener, topics, again)
        ack = listener.get_json(topics.barrier_ack("b1"))
        assert (ack["id"], ack["result"], ack["state"]) == (again["id"], "done", "open")
    finally:
        barrier.stop()


@pytest.mark.parametrize(
    ("payload", "acked"),
    [
        ({"id": "x1", "action": "toggle", "expires_at": "2999-01-01T00:00:00Z"}, True),
        ({"id": "x2", "action": "open"}, True),  # no expiry: cannot be judged stale
        ({"id": "x3", "action": "open", "expires_at": "soon"}, True),
        (b"{not json", False),
        ({"action": "open", "expires_at": "2999-01-01T00:00:00Z"}, False),  # no id to ack
        (b"\xff\xfe", False),
    ],
)
def test_bad_commands_are_rejected_or_dropped(topics: Topics, listener: Listener,
                                              barrier: SimulatedBarrier,
                                              payload: dict[str, Any] | bytes, acked: bool) -> None:
    """Unknown actions and bad fields get `rejected`; payloads without an id are dropped."""
    send(listener, topics, payload)
    sentinel = command("close")
    send(listener, topics, sentinel)
    acks = [listener.get_json(topics.barrier_ack("b1"))]
    if acked:
        assert isinstance(payload, dict)
        assert (acks[0]["id"], acks[0]["result"]) == (payload["id"], "rejected")
        acks.append(listener.get_json(topics.barrier_ack("b1")))
    assert acks[-1]["id"] == sentinel["id"]
    assert listener.pending(topics.barrier_state("b1")) == []


def test_retained_command_is_not_replayed_at_boot(mosquitto: MosquittoServer, topics: Topics,
                                                  listener: Listener) -> None:
    """A command someone wrongly retained must not open the gate when the barrier (re)connects."""
    stray = command("open", expires_in=600)
    topic = topics.barrier_command("b1")
    listener.client.publish(topic, json.dumps(stray), qos=1, retain=True).wait_for_publish(TIMEOUT)
    try:
        barrier = start_barrier(mosquitto, topics)
    finally:
        # Clear the retained command (empty retained payload) so nothing else trips over it.
        listener.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(TIMEOUT)
    try:
        sentinel = command("close")
        send(listener, topics, sentinel)
        ack = listener.get_json(topics.barrier_ack("b1"))
        assert (ack["id"], ack["result"], ack["state"]) == (sentinel["id"], "done", "closed")
        assert barrier.state == "closed"
    finally:
        barrier.stop()


def test_unclean_disconnect_leaves_retained_offline(mosquitto: MosquittoServer, topics: Topics,
                                                    listener: Listener) -> None:
    """Power loss (TCP drop, no DISCONNECT) makes the broker publish the retained `offline` will."""
    barrier = start_barrier(mosquitto, topics)
    topic = topics.availability("barrier", "b1")
    assert listener.get(topic).payload == b"online"
    barrier.crash()
    assert listener.get(topic).payload == b"offline"
    assert retained(mosquitto.url, topic) == b"offline"
    barrier.stop()  # a no-op after crash(): must not raise


def test_clean_stop_leaves_retained_offline(mosquitto: MosquittoServer, topics: Topics,
                                            listener: Listener) -> None:
    """A clean stop discards the will, so the device must publish retained `offline` itself."""
    barrier = start_barrier(mosquitto, topics)
    topic = topics.availability("barrier", "b1")
    assert listener.get(topic).payload == b"online"
    barrier.stop()
    assert listener.get(topic).payload == b"offline"
    assert retained(mosquitto.url, topic) == b"offline"


def test_camera_plate_event_has_contract_fields(mosquitto: MosquittoServer, topics: Topics,
                                                listener: Listener) -> None:
    """publish_plate sends event_id, plate, color, confidence, direction and at on the plate topic."""
    with SimulatedCamera(mosquitto.url, topics, "c1") as camera:
        event_id = camera.publish_plate("京A12345", direction="out", confidence=0.8)
        msg = listener.get(topics.camera_plate("c1"))
    event = json.loads(msg.payload.decode("utf-8"))
    assert not msg.retain and msg.qos == 1
    assert event.keys() == {"event_id", "plate", "color", "confidence", "direction", "at"}
    assert event["event_id"] == event_id
    assert (event["plate"], event["direction"], event["confidence"]) == ("京A12345", "out", 0.8)
    assert event["color"] == "blue"
    assert abs(parse_rfc3339(event["at"]) - datetime.now(UTC)) < timedelta(seconds=TIMEOUT)


def test_camera_answers_snapshot_request_with_jpeg(mosquitto: MosquittoServer, topics: Topics,
                                                   listener: Listener) -> None:
    """A snapshot request {"id"} is answered with JPEG bytes on .../snapshot/{id}."""
    request_id = str(uuid.uuid4())
    with SimulatedCamera(mosquitto.url, topics, "c1"):
        listener.publish(topics.snapshot_request("c1"), json.dumps({"id": request_id}))
        reply = listener.get(topics.snapshot_reply("c1", request_id))
    assert reply.payload.startswith(b"\xff\xd8") and reply.payload.endswith(b"\xff\xd9")


def test_scanner_scan_event(mosquitto: MosquittoServer, topics: Topics, listener: Listener) -> None:
    """scan() publishes {"event_id", "text", "at"} on the scanner's own scan topic."""
    with SimulatedScanner(mosquitto.url, topics, "s1") as scanner:
        event_id = scanner.scan("GH1:pass:abc")
        event = listener.get_json(topics.scanner_scan("s1"))
    assert (event["event_id"], event["text"]) == (event_id, "GH1:pass:abc")


def test_simulation_starts_all_devices_online_and_stops_them(mosquitto: MosquittoServer, topics: Topics,
                                                             listener: Listener) -> None:
    """Simulation.start() returns only when every device has published `online`."""
    sim = Simulation(mosquitto.url, topics.prefix, topics.site,
                     barriers=["b1", "b2"], cameras=["c1"], scanners=["s1"])
    kinds = [("barrier", "b1"), ("barrier", "b2"), ("camera", "c1"), ("scanner", "s1")]
    with sim:
        for kind, device_id in kinds:
            assert retained(mosquitto.url, topics.availability(kind, device_id)) == b"online"
    for kind, device_id in kinds:
        assert retained(mosquitto.url, topics.availability(kind, device_id)) == b"offline"


def test_simulation_start_times_out_without_a_broker(topics: Topics) -> None:
    """With no broker, start() gives up after its timeout with TimeoutError instead of hanging."""
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"mqtt://127.0.0.1:{sock.getsockname()[1]}"
    sim = Simulation(url, topics.prefix, topics.site, barriers=["b1"], cameras=["c1"])
    with pytest.raises(TimeoutError):
        sim.start(timeout=0.5)
    assert not any(device.ready.is_set() for device in sim.devices)
