"""Scale-out: two `gate bridge` processes with shared subscriptions on one site and one database.

Two real bridge processes (`gate bridge --shared`, as two systemd units with GATE_BRIDGE_SHARED
would run) on a real Mosquitto (MQTT 5 `$share/gatehouse/…`) and one database. Ten entry lanes,
each a native camera and barrier, and a hundred resident cars, one plate event each. Every event
must be decided once (one vehicle.read entry per event), every barrier must get one command per
car of its lane and no more, every command must get its outcome once, and both bridges must
have taken part.
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, insert, select

from device_adapters.topics import rfc3339
from gate.extensions import db
from gate.models import BridgeStatus, Resident, ShiftBookEntry, Vehicle
from gate.services import topology, transaction
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parents[2]
LANES, CARS = 10, 100


@pytest.fixture
def broker(fresh_mosquitto):
    """A broker of this test's own."""
    return fresh_mosquitto


def _lanes_site_text() -> str:
    """The demo estate plus LANES entry lanes, each with a native camera and barrier."""
    lines = ['[[posts]]', 'code = "scale"', 'name = "Scale-out post"', '',
             '[[posts.gates]]', 'code = "scale-car"', 'name = "Scale-out gate"', 'kind = "vehicle"']
    for i in range(LANES):
        lines += ['', '[[posts.gates.lanes]]', f'code = "l{i}"', 'direction = "in"',
                  '', '[[posts.gates.lanes.devices]]', 'kind = "barrier"', f'id = "bar-{i}"',
                  f'name = "Barrier {i}"', '', '[[posts.gates.lanes.devices]]', 'kind = "camera"',
                  f'id = "cam-{i}"', f'name = "Camera {i}"']
    demo = (ROOT / "gate" / topology.DEMO_FILE).read_text(encoding="utf-8")
    return demo + "\n" + "\n".join(lines) + "\n"


def _prepare(app) -> list[str]:
    """Add the lanes and one resident car per event; the plates."""
    plates = [f"粤D{i:05d}" for i in range(CARS)]
    with app.app_context():
        with transaction():
            topology.apply_topology(topology.parse_site_text(_lanes_site_text(), source="scale"))
        resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
        db.session.execute(insert(Vehicle), [
            {"site_id": resident.unit.site_id, "resident_id": resident.id, "plate": p} for p in plates])
        db.session.commit()
        db.session.remove()
    return plates


class Barriers:
    """Every barrier of the site at once: records each command and acknowledges it `done`."""

    def __init__(self, broker) -> None:
        self.commands: list[tuple[str, str]] = []  # (barrier, command id), in arrival order
        self.lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"barriers-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe("gatehouse/demo/barrier/+/command", qos=1)
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, msg) -> None:
        barrier = msg.topic.split("/")[3]
        command_id = json.loads(msg.payload)["id"]
        with self.lock:
            self.commands.append((barrier, command_id))
        ack = {"id": command_id, "result": "done", "state": "open", "at": rfc3339()}
        client.publish(f"gatehouse/demo/barrier/{barrier}/ack", json.dumps(ack), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _start_bridge(name: str, database_url: str, broker, tmp_path: Path, signing_key: Path):
    env = {**os.environ, "GATE_ENV": "production", "GATE_SECRET_KEY": secrets.token_hex(32),
           "GATE_DATABASE_URL": database_url, "GATE_MQTT_URL": broker.url, "GATE_SITE": "demo",
           "GATE_INSTANCE_PATH": str(tmp_path / "instance"), "GATE_SIGNING_KEY_PATH": str(signing_key),
           "GATE_HA_DISCOVERY": "false", "GATE_BRIDGE_SHARED": "true", "GATE_BRIDGE_NAME": name}
    log = tmp_path / f"bridge-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from gate.cli import main; main()", "bridge"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def _count(app, *where) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(ShiftBookEntry).where(*where))
        finally:
            db.session.remove()


def test_two_bridge_processes_split_events_each_handled_once(app, database_url, broker, tmp_path,
                                                             signing_key):
    """Protects scale-out (several `gate bridge` workers with GATE_BRIDGE_SHARED=true): the
    shared subscription hands each plate event to exactly one worker, so no car is decided
    twice, no barrier is sent a second command for one car, every command's ack reaches the
    worker that sent it (one outcome each), and the load is actually split."""
    plates = _prepare(app)
    barriers = Barriers(broker)
    bridges = [_start_bridge(name, database_url, broker, tmp_path, signing_key) for name in ("one", "two")]
    camera = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"cameras-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    try:
        for _, log in bridges:
            wait_for(lambda log=log: b"connected for site demo" in log.read_bytes(), timeout=60,
                     what=f"{log.name} to connect")
        camera.connect(broker.host, broker.port)
        camera.loop_start()
        for i, plate in enumerate(plates):
            body = {"event_id": uuid.uuid4().hex, "plate": plate, "confidence": 0.97,
                    "direction": "in", "at": rfc3339()}
            camera.publish(f"gatehouse/demo/camera/cam-{i % LANES}/plate",
                           json.dumps(body, ensure_ascii=False), qos=1).wait_for_publish(10)
        wait_for(lambda: _count(app, ShiftBookEntry.kind == "barrier.outcome") >= CARS, timeout=60,
                 what=f"{CARS} barrier outcomes")
    finally:
        camera.loop_stop()
        camera.disconnect()
        statuses = []
        for proc, log in bridges:
            proc.send_signal(signal.SIGTERM)
            try:
                statuses.append(proc.wait(20))
            except subprocess.TimeoutExpired:
                proc.kill()
                statuses.append(f"{log.name} hung")
        barriers.close()
    assert statuses == [0, 0], [log.read_text()[-2000:] for _, log in bridges]

    assert _count(app, ShiftBookEntry.kind == "vehicle.read") == CARS
    assert _count(app, ShiftBookEntry.kind == "barrier.command") == CARS
    assert _count(app, ShiftBookEntry.kind == "barrier.outcome") == CARS
    ids = [command_id for _, command_id in barriers.commands]
    assert len(ids) == CARS and len(set(ids)) == CARS, "a command was published twice"
    per_barrier = collections.Counter(barrier for barrier, _ in barriers.commands)
    assert per_barrier == {f"bar-{i}": CARS // LANES for i in range(LANES)}
    with app.app_context():
        handled = {row.name: row.messages for row in db.session.scalars(select(BridgeStatus))}
        db.session.remove()
    # Each worker counts the messages it handled: every ack (all workers get them), plus its share
    # of the shared subscriptions (plates, and the commands a vendor barrier would need relayed).
    # Both beyond the acks: both took part. The sum: each plate and command went to one worker.
    assert handled["one"] > CARS and handled["two"] > CARS, handled
    assert handled["one"] + handled["two"] == 2 * CARS + 2 * CARS, handled
