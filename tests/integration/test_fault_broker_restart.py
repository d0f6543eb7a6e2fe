"""Fault (a): the Mosquitto the test started is stopped and restarted while plate events flow.

The test's own Mosquitto with persistence on (persistence_location in tmp_path, saved on SIGTERM
and after every change: tests/support/faults.py SavingMosquitto), stopped with SIGTERM or
SIGKILL, the bridge, a simulated entry barrier and a camera publishing
QoS 1 plate events of different resident cars: a third before the stop, a third while the broker
is down (queued in the camera), a third after the restart. Real database, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from device_adapters.bridge import Bridge
from device_adapters.simulator import Simulation
from device_adapters.topics import parse_rfc3339
from gate.extensions import db
from gate.models import BarrierCommandRecord, Device, DeviceEvent
from gate.services import barriers
from tests.support.faults import (
    Camera,
    SavingMosquitto,
    add_resident_cars,
    book_count,
    chain_ok,
    recorded,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt

PHASE = 20  # plate events before the stop, while the broker is down, after the restart


@pytest.fixture
def broker(fresh_mosquitto, tmp_path):
    """This test's own broker, saving its state after every change (the plugin's fixture only
    checks that Mosquitto is installed)."""
    fresh_mosquitto.stop()
    server = SavingMosquitto(tmp_path / "saving-mosquitto", binary=fresh_mosquitto.binary).start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, broker):
    """The app and bridge talk to this test's own broker; commands live 2 s."""
    return dict(app_config, GATE_MQTT_URL=broker.url, GATE_COMMAND_TTL_SECONDS=2.0)


class BarrierWatch:
    """Every command a simulated barrier got, and each motion it made with the command's expiry."""

    def __init__(self, barrier) -> None:
        self.received: Counter = Counter()
        self.moves: list[tuple[str, datetime, datetime | None]] = []  # (id, when, expires_at)
        expiries: dict[str, datetime] = {}
        handle, move = barrier.handle_message, barrier._move

        def watched_handle(msg) -> None:
            try:
                body = json.loads(msg.payload)
                expiries[body["id"]] = parse_rfc3339(body["expires_at"])
            except (ValueError, KeyError, TypeError):
                body = {}
            handle(msg)
            if "id" in body:  # counted once handled, so a wait on it sees the motion too
                self.received[body["id"]] += 1

        def watched_move(command_id: str, target: str) -> None:
            self.moves.append((command_id, datetime.now(UTC), expiries.get(command_id)))
            move(command_id, target)

        barrier.handle_message, barrier._move = watched_handle, watched_move


def _stale_command(app, bridge: Bridge):
    """An `open` ordered while the broker is down: paho holds it and sends it after the restart."""
    with app.app_context():
        device = db.session.scalars(select(Device).where(Device.kind == "barrier",
                                                         Device.code == "car-in")).one()
        cmd = barriers.order(device, "open", "fault test: ordered during the outage", source="manual")
        db.session.remove()
    bridge._send(cmd)
    return cmd


def _commands_by_event(app) -> dict[str, str | None]:
    with app.app_context():
        try:
            rows = db.session.scalars(select(DeviceEvent).where(DeviceEvent.kind == "plate")).all()
            return {row.event_id: (row.summary or {}).get("command_id") for row in rows}
        finally:
            db.session.remove()


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_broker_restart_loses_doubles_and_replays_nothing(app, broker, stop):
    """Protects issue 12, 1a. The bridge's persistent session (stable client id, clean_start
    False, session expiry) and acks sent only after the commit: every plate event published with
    QoS 1 before, during and after a broker restart is recorded exactly once and decided once;
    no barrier moves twice for one event; and an `open` that waited out the outage past its TTL
    (GATE_COMMAND_TTL_SECONDS) is not executed by the barrier."""
    plates = add_resident_cars(app, 3 * PHASE)
    with Simulation(broker.url, site="demo", barriers=("car-in",),
                    travel_seconds=0.05) as simulation:
        watch = BarrierWatch(simulation.barriers["car-in"])
        bridge = Bridge(app).start()
        camera = Camera(broker.host, broker.port)
        try:
            sent = [camera.read(p) for p in plates[:PHASE]]
            # Mid-stream. SIGTERM: the broker saves its sessions; SIGKILL: only its autosaves count.
            broker.stop() if stop == "sigterm" else broker.kill()
            sent += [camera.read(p) for p in plates[PHASE:2 * PHASE]]
            stale = _stale_command(app, bridge)
            wait_for(lambda: datetime.now(UTC) > stale.expires_at, what="the command's TTL to pass")
            broker.start()
            sent += [camera.read(p) for p in plates[2 * PHASE:]]
            camera.wait_all_delivered()
            wait_for(lambda: sum(recorded(app).values()) >= len(sent), timeout=60,
                     what="every plate event after the restart")
            # Every command has its outcome (done, or no_answer when the barrier was still away).
            wait_for(lambda: _all_settled(app), timeout=30, what="every command's outcome")
            if not watch.received[stale.id]:
                # paho resent it before the barrier had resubscribed: send it again, so the
                # barrier is certain to get an expired command.
                bridge.commander.send(stale, lambda *_: None)
            wait_for(lambda: watch.received[stale.id], what="the stale command to reach the barrier")
        finally:
            camera.close()
            bridge.stop()

    counts = recorded(app)
    assert set(counts) == set(sent) and max(counts.values()) == 1
    assert book_count(app, "vehicle.read") == len(sent)
    commands = _commands_by_event(app)
    opened = [c for c in commands.values() if c is not None]
    assert len(opened) == len(set(opened)), "two events share a command"
    moved = Counter(command_id for command_id, _, _ in watch.moves)
    assert all(n == 1 for n in moved.values()), f"a barrier moved twice for one command: {moved}"
    assert not [m for m in watch.moves if m[2] is None or m[1] > m[2]], "a stale command moved it"
    assert stale.id not in moved
    assert set(moved) <= set(opened), "the barrier moved for a command no event ordered"
    assert chain_ok(app)


def _all_settled(app) -> bool:
    with app.app_context():
        try:
            return not db.session.scalars(select(BarrierCommandRecord.id).where(
                BarrierCommandRecord.outcome.is_(None))).first()
        finally:
            db.session.remove()
