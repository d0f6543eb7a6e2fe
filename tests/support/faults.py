"""Helpers of the fault tests: resident cars, a QoS 1 camera, `gate bridge` as a process, counts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, func, insert, select, text

from device_adapters.topics import rfc3339
from gate.extensions import db
from gate.models import DeviceEvent, Resident, ShiftBookEntry, Vehicle
from tests.plugins.mosquitto import MosquittoServer
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def add_resident_cars(app, count: int, prefix: str = "粤D") -> list[str]:
    """Register `count` cars of the demo resident (different plates: no debounce between them)."""
    plates = [f"{prefix}{i:05d}" for i in range(count)]
    with app.app_context():
        resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
        db.session.execute(insert(Vehicle), [
            {"site_id": resident.unit.site_id, "resident_id": resident.id, "plate": p} for p in plates])
        db.session.commit()
        db.session.remove()
    return plates


class Camera:
    """A camera publishing plate events with QoS 1; paho resends unacknowledged ones after a
    reconnect, as a camera with a persistent session and an outbox would."""

    def __init__(self, host: str, port: int, device: str = "anpr-in", site: str = "demo") -> None:
        self.topic = f"gatehouse/{site}/camera/{device}/plate"
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"fault-camera-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.max_queued_messages_set(0)  # unlimited: nothing is dropped while offline
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.acked: set[int] = set()  # mids the broker acknowledged (PUBACK)
        self.client.on_publish = lambda client, userdata, mid, *a: self.acked.add(mid)
        self.client.connect(host, port)
        self.client.loop_start()
        wait_for(self.connected.is_set, what="the camera to connect")
        self.sent: list[tuple[str, mqtt.MQTTMessageInfo]] = []

    def read(self, plate: str) -> str:
        """Publish one read of `plate`; its event id."""
        event_id = uuid.uuid4().hex
        body = {"event_id": event_id, "plate": plate, "confidence": 0.97, "direction": "in",
                "at": rfc3339()}
        info = self.client.publish(self.topic, json.dumps(body, ensure_ascii=False), qos=1)
        self.sent.append((event_id, info))
        return event_id

    def wait_all_delivered(self, timeout: float = 60) -> None:
        """Until the broker acknowledged every read (retransmitted after reconnects)."""
        # Not info.is_published(): it raises for a read queued while the broker was down.
        wait_for(lambda: all(info.mid in self.acked for _, info in self.sent), timeout=timeout,
                 what="the broker to acknowledge every plate event")

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def recorded(app, device: str = "anpr-in") -> Counter:
    """Plate events in the database by event id (a count above 1 would be a double)."""
    with app.app_context():
        try:
            rows = db.session.scalars(select(DeviceEvent.event_id).where(
                DeviceEvent.kind == "plate", DeviceEvent.device == device)).all()
            return Counter(rows)
        finally:
            db.session.remove()


def book_count(app, kind: str) -> int:
    """Shift-book entries of one kind."""
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                     .where(ShiftBookEntry.kind == kind))
        finally:
            db.session.remove()


def chain_ok(app) -> bool:
    """The demo site's shift-book chain verifies."""
    from gate.services import shiftbook

    with app.app_context():
        try:
            return shiftbook.verify("demo").ok
        finally:
            db.session.remove()


def bridge_env(database_url: str, broker_url: str, tmp_path: Path, signing_key: Path,
               **extra: str) -> dict[str, str]:
    """The environment of a production `gate bridge` on this database and broker."""
    return {**os.environ, "GATE_ENV": "production", "GATE_SECRET_KEY": secrets.token_hex(32),
            "GATE_DATABASE_URL": database_url, "GATE_MQTT_URL": broker_url, "GATE_SITE": "demo",
            "GATE_INSTANCE_PATH": str(tmp_path / "instance"),
            "GATE_SIGNING_KEY_PATH": str(signing_key), "GATE_HA_DISCOVERY": "false", **extra}


def start_bridge(env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `gate bridge` and wait until it says it is connected (its output goes to `log`)."""
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from gate.cli import main; main()", "bridge"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def connected() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gate bridge exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        return b"connected for site demo" in log.read_bytes()[start:]

    wait_for(connected, timeout=60, what="gate bridge to connect")
    return proc


@contextmanager
def writes_blocked(database_url: str) -> Iterator[None]:
    """Hold the database's write lock (SQLite) or device_event's (PostgreSQL) inside the block:
    the bridge's next commit waits, as behind a slow disk or a long transaction."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn, conn.begin():  # SQLite: BEGIN IMMEDIATE (gate/db_events.py)
            if engine.dialect.name == "postgresql":
                conn.execute(text("LOCK TABLE device_event IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


class SavingMosquitto(MosquittoServer):
    """A test broker that writes its persistence file after every change, so even a SIGKILL
    loses (almost) nothing it acknowledged: the set-up to use when power cuts are expected."""

    def _write_config(self) -> None:
        super()._write_config()
        with self.config_path.open("a", encoding="utf-8") as config:
            config.write("autosave_on_changes true\nautosave_interval 1\n")

    def kill(self) -> None:
        """Stop the broker with SIGKILL: no chance to save anything."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
