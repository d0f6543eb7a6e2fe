"""The bridge's group commit: device events that queued up together are written by one commit,
each still all-or-nothing, and no barrier opens before its record is durable. Real Mosquitto,
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, func, select

from device_adapters.bridge import Bridge
from device_adapters.simulator import Simulation
from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent
from gate.models.types import utcnow
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt

RESIDENT_CAR = "粤B12345"


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The app and bridge talk to this test's own broker."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=2.0)


@pytest.fixture
def bridge(app, fresh_mosquitto):
    """The running bridge, with simulated barriers on both car lanes."""
    with Simulation(fresh_mosquitto.url, site="demo", barriers=("car-in", "car-out"),
                    travel_seconds=0.05):
        running = Bridge(app).start()
        yield running
        running.stop()


def _read(camera: str, direction: str, plate: str = RESIDENT_CAR) -> PlateRead:
    return PlateRead("demo", camera, f"evt-{uuid.uuid4().hex}", plate, 0.95, direction, utcnow())


def _count(app, model, *where) -> int:
    """Committed rows, read through a plain engine of its own: not the burst's session, and
    without the app's BEGIN IMMEDIATE, so it reads beside an open SQLite write."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    stmt = select(func.count()).select_from(model).where(*where)
    raw = engine.raw_connection()  # a DB-API connection: no SQLAlchemy "begin" hook
    try:
        cursor = raw.cursor()
        cursor.execute(str(stmt.compile(engine, compile_kwargs={"literal_binds": True})))
        return cursor.fetchone()[0]
    finally:
        raw.close()
        engine.dispose()


def test_burst_commits_once_and_sends_commands_after(app, bridge):
    """Protects 'no opening without a durable record' under group commit: inside a burst the
    decisions are made but neither committed nor sent; a bad event in the middle is dropped
    alone; after the burst both records are committed and both barriers answer."""
    with bridge._burst():
        bridge._dispatch(_read("anpr-in", "in"), relay=False)
        bridge._dispatch(_read("no-such-camera", "in"), relay=False)  # rejected, rest stands
        bridge._dispatch(_read("anpr-out", "out"), relay=False)
        assert [c.device for c in bridge._local.outbox] == ["car-in", "car-out"]
        assert bridge.commander.pending() == 0  # nothing sent yet
        assert _count(app, BarrierCommandRecord) == 0  # nothing durable yet
    assert bridge.link.dropped.get("rejected") == 1
    assert _count(app, DeviceEvent, DeviceEvent.kind == "plate") == 2
    wait_for(lambda: _count(app, BarrierCommandRecord, BarrierCommandRecord.outcome == "done") == 2,
             what="both barriers to acknowledge")


def test_failed_burst_opens_nothing(app, bridge):
    """Protects against a barrier opening for a decision that was never stored: when the
    burst's commit fails, its commands are dropped with it."""
    with pytest.raises(RuntimeError), bridge._burst():
        bridge._dispatch(_read("anpr-in", "in"), relay=False)
        assert len(bridge._local.outbox) == 1
        raise RuntimeError("database went away before the commit")
    assert bridge.commander.pending() == 0
    assert _count(app, BarrierCommandRecord) == 0
    assert _count(app, DeviceEvent) == 0


def test_burst_over_mqtt_decides_every_event_once(app, bridge, fresh_mosquitto):
    """Protects against lost or doubled events when plate reads arrive faster than one commit
    each: 40 reads of different cars published at once are each recorded once and opened once."""
    import json

    import paho.mqtt.client as mqtt

    from device_adapters.topics import rfc3339
    from gate.models import Resident, Vehicle

    plates = [f"粤B8{i:04d}" for i in range(40)]
    with app.app_context():
        resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
        db.session.add_all(Vehicle(site_id=resident.unit.site_id, resident_id=resident.id, plate=p)
                           for p in plates)
        db.session.commit()
        db.session.remove()
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    host, port = fresh_mosquitto.url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.loop_start()
    try:
        infos = [client.publish("gatehouse/demo/camera/anpr-in/plate", json.dumps({
            "event_id": f"burst-{i}", "plate": plate, "confidence": 0.97, "direction": "in",
            "at": rfc3339()}, ensure_ascii=False), qos=1) for i, plate in enumerate(plates)]
        for info in infos:
            info.wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    wait_for(lambda: _count(app, BarrierCommandRecord, BarrierCommandRecord.outcome.is_not(None)) == 40,
             what="40 openings with their outcomes", timeout=30)
    assert _count(app, DeviceEvent, DeviceEvent.kind == "plate") == 40
    with app.app_context():
        from gate.services import shiftbook

        assert shiftbook.verify("demo").ok
        db.session.remove()
