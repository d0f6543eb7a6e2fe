"""deploy/mosquitto/estate-to-centre.conf between two real Mosquittos.

Both brokers run the shipped gatehouse.conf (tests/support/acl_broker.py: TLS listener for
devices, loopback listener for the app, throw-away CA). The estate's broker gets the shipped
bridge connection, rewritten only where it names the machine (the centre's address and port,
the CA file, the password) and with a shorter reconnect pause; the centre's ACL gets the estate
account its header describes. A plate published on the estate reaches the centre, a command
published at the centre reaches the estate's barrier, a plate published while the centre is
down arrives once it is back, and the centre cannot inject device events into the estate.
"""

from __future__ import annotations

import queue
import re
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support.acl_broker import ACL_FILE, device_ca, start_shipped_broker

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_CONF = ROOT / "deploy" / "mosquitto" / "estate-to-centre.conf"
SITE, ESTATE_USER, APP = "lvyuan", "estate-lvyuan", "gatehouse-bridge"
LINK_STATE = f"gatehouse/{SITE}/bridge/centre/state"


def _centre_acl(folder: Path) -> Path:
    """The shipped ACL plus the estate account exactly as the bridge config's header gives it."""
    header = re.findall(r"(?m)^#   ((?:user|topic) .+)$", BRIDGE_CONF.read_text(encoding="utf-8"))
    assert header == [f"user {ESTATE_USER}", f"topic readwrite gatehouse/{SITE}/#"], header
    path = folder / "centre.acl"
    path.write_text(ACL_FILE.read_text(encoding="utf-8") + "\n" + "\n".join(header) + "\n", encoding="utf-8")
    return path


def _bridge_text(centre_port: int, ca: Path, password: str) -> str:
    text = BRIDGE_CONF.read_text(encoding="utf-8")
    for pattern, value in [
        (r"(?m)^address \S+$", f"address 127.0.0.1:{centre_port}"),
        (r"(?m)^bridge_cafile \S+$", f"bridge_cafile {ca}"),
        (r"(?m)^remote_password \S+$", f"remote_password {password}"),
        (r"(?m)^restart_timeout .+$", "restart_timeout 1 2"),  # the test need not wait 30 s
    ]:
        text, count = re.subn(pattern, value, text)
        assert count == 1, f"{BRIDGE_CONF.name} no longer has {pattern!r}: update this test"
    return "\n" + text


class Client:
    """A paho client that queues what it receives; over TLS when given the CA."""

    def __init__(self, port: int, user: str, password: str, *, ca: Path | None = None,
                 client_id: str | None = None, persistent: bool = False) -> None:
        self.messages: queue.Queue = queue.Queue()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"{user}-{uuid.uuid4().hex[:6]}",
                                  clean_session=not persistent)
        self.client.username_pw_set(user, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def subscribe(self, *filters: str) -> Client:
        self.subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self.subscribed.wait(5)
        return self

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def expect(self, topic: str, payload: bytes, timeout: float = 10) -> None:
        """The next message on `topic` (others are skipped) must carry `payload`."""
        while True:
            got = self.messages.get(timeout=timeout)
            if got[0] == topic:
                assert got[1] == payload, got
                return

    def until(self, topic: str, payload: bytes, timeout: float = 20) -> None:
        """Skip messages until `payload` arrives on `topic` (the link's state goes 0, 1, …)."""
        while self.messages.get(timeout=timeout) != (topic, payload):
            pass

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def brokers(tmp_path):
    """(estate, centre, passwords of both, CA): the estate bridged to the centre."""
    ca_files = device_ca(tmp_path / "certs")
    centre, centre_pw, ca = start_shipped_broker(tmp_path / "centre", (APP, ESTATE_USER), ca_files=ca_files,
                                                 acl_file=_centre_acl(tmp_path))
    try:
        estate, estate_pw, _ = start_shipped_broker(
            tmp_path / "estate", (APP, "anpr-in", "car-in"), ca_files=ca_files,
            extra=_bridge_text(centre.tls_port, ca, centre_pw[ESTATE_USER]))
    except BaseException:
        centre.stop()
        raise
    yield estate, centre, {"centre": centre_pw, "estate": estate_pw}, ca
    estate.stop()
    centre.stop()


def test_estate_and_centre_exchange_events_and_commands(brokers):
    """Protects many estates on one centre: the estate's device events and availability go out
    to the centre, where the bridge workers decide; the centre's barrier commands come in to the
    estate's barrier; a plate read while the link is down is queued and delivered after; and the
    centre cannot publish device events into the estate (directions, not a free-for-all)."""
    estate, centre, pw, ca = brokers
    watcher = Client(estate.port, APP, pw["estate"][APP]).subscribe(LINK_STATE, f"gatehouse/{SITE}/camera/#")
    # The centre's app keeps a persistent session, as a bridge worker's subscription outlives a
    # broker restart there.
    centre_app = Client(centre.port, APP, pw["centre"][APP], client_id="centre-app", persistent=True)
    camera = Client(estate.tls_port, "anpr-in", pw["estate"]["anpr-in"], ca=ca)
    barrier = Client(estate.tls_port, "car-in", pw["estate"]["car-in"], ca=ca)
    try:
        watcher.until(LINK_STATE, b"1")
        centre_app.subscribe(f"gatehouse/{SITE}/#")
        barrier.subscribe(f"gatehouse/{SITE}/barrier/car-in/command")

        plate = f'{{"event_id": "{uuid.uuid4().hex}", "plate": "B12345"}}'.encode()
        camera.publish(f"gatehouse/{SITE}/camera/anpr-in/plate", plate)
        centre_app.expect(f"gatehouse/{SITE}/camera/anpr-in/plate", plate)

        command = f'{{"id": "{uuid.uuid4().hex}", "action": "open"}}'.encode()
        centre_app.publish(f"gatehouse/{SITE}/barrier/car-in/command", command)
        barrier.expect(f"gatehouse/{SITE}/barrier/car-in/command", command)

        # The centre publishing a plate (a device event) must not reach the estate: marker after.
        centre_app.publish(f"gatehouse/{SITE}/camera/anpr-in/plate", b"forged at the centre")
        marker = b"marker"
        camera.publish(f"gatehouse/{SITE}/camera/anpr-in/plate", marker)
        assert watcher.messages.get(timeout=10) == (f"gatehouse/{SITE}/camera/anpr-in/plate", plate)
        assert watcher.messages.get(timeout=10) == (f"gatehouse/{SITE}/camera/anpr-in/plate", marker)
        # The centre's app sees its own message, then the marker (PUBACKed before it was sent).
        centre_app.expect(f"gatehouse/{SITE}/camera/anpr-in/plate", b"forged at the centre")
        centre_app.expect(f"gatehouse/{SITE}/camera/anpr-in/plate", marker)

        centre.stop()
        watcher.until(LINK_STATE, b"0")
        queued = f'{{"event_id": "{uuid.uuid4().hex}", "plate": "B54321"}}'.encode()
        camera.publish(f"gatehouse/{SITE}/camera/anpr-in/plate", queued)
        centre.start()
        watcher.until(LINK_STATE, b"1")
        # QoS 1 is at least once: a message in flight at the stop may come again first (the
        # bridge workers claim each event id once).
        centre_app.until(f"gatehouse/{SITE}/camera/anpr-in/plate", queued)
    finally:
        for client in (watcher, centre_app, camera, barrier):
            client.close()
