"""Passes scanned by a device (SPEC §2.2): the bridge redeems them and opens the walk-in barrier.

A real Mosquitto, a running Bridge, the demo's `kiosk-cam` scanner and `walk-in` barrier simulated.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedBarrier, SimulatedScanner
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, PassUse, ShiftBookEntry, VisitorPass
from tests.support import passes as make
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt

COMMANDS = "gatehouse/demo/barrier/+/command"


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The test app talks to this test's broker, with short command deadlines."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_COMMAND_TTL_SECONDS=2.0)


@pytest.fixture
def devices(fresh_mosquitto):
    """The demo's pedestrian barrier and kiosk camera (a scanner device) as simulators."""
    topics = Topics("gatehouse", "demo")
    barrier = SimulatedBarrier(fresh_mosquitto.url, topics, "walk-in", travel_seconds=0.05).start()
    scanner = SimulatedScanner(fresh_mosquitto.url, topics, "kiosk-cam").start()
    yield barrier, scanner
    scanner.stop()
    barrier.stop()


@pytest.fixture
def bridge(app, devices):
    """A running bridge for the demo site."""
    running = Bridge(app).start()
    yield running
    running.stop()


@pytest.fixture
def commands(fresh_mosquitto):
    """Every barrier command published on the broker: [(topic, payload dict)]."""
    seen: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: seen.append((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(COMMANDS, qos=1)
    client.connect(fresh_mosquitto.host, fresh_mosquitto.port)
    client.loop_start()
    assert subscribed.wait(5), "could not subscribe to the command topics"
    yield seen
    client.disconnect()
    client.loop_stop()
    client.reinitialise()


@pytest.fixture
def logs(caplog, monkeypatch):
    """Everything our code logs at any level while the test runs (bridge threads included).

    Alembic's logging set-up (migrations ran for the template database) disables the loggers that
    existed then; they are switched back on for this test.
    """
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("device_adapters", "gate"):
            monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.DEBUG)
    return caplog


def _new_pass(app, **options) -> tuple[str, int]:
    with app.app_context():
        visitor_pass = make.visitor_pass(**options)
        found = make.token(visitor_pass), visitor_pass.id
        db.session.remove()
    return found


def _query(app, statement):
    with app.app_context():
        rows = db.session.execute(statement).all()
        db.session.remove()
    return rows


def _count(app, model, *where) -> int:
    return _query(app, select(func.count()).select_from(model).where(*where))[0][0]


def _pass_events(app) -> list[dict]:
    return [row[0] for row in _query(app, select(DeviceEvent.summary).where(DeviceEvent.kind == "pass"))]


def _settled(app, scanner) -> None:
    """Wait until the bridge handled everything published so far (it handles messages in order)."""
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    scanner.scan(marker)
    wait_for(lambda: _count(app, DeviceEvent, DeviceEvent.kind == "scan", DeviceEvent.summary.isnot(None))
             and marker in json.dumps([r[0] for r in _query(app, select(DeviceEvent.summary))]),
             what="the marker scan to be stored")


def test_pass_scan_opens_walk_in_barrier(app, devices, bridge, commands, logs):
    """Protects the device road of SPEC §2.2: a pass held to the kiosk camera opens the walk-in
    barrier (command on its topic, ack recorded), takes one use, and the token is neither stored
    nor logged."""
    barrier, scanner = devices
    text, pass_id = _new_pass(app)
    scanner.scan(text, event_id="cam-1")
    wait_for(lambda: [c for c in commands if c[0] == "gatehouse/demo/barrier/walk-in/command"],
             what="an open command for walk-in")
    [(topic, payload)] = commands
    assert payload["action"] == "open" and payload["reason"] == "visitor pass"
    outcome = wait_for(lambda: _query(app, select(BarrierCommandRecord.outcome).where(
        BarrierCommandRecord.id == payload["id"]))[0][0], what="the barrier's answer")
    assert outcome == "done" and barrier.state == "open"
    [(uses, use_source, use_device)] = _query(app, select(VisitorPass.uses, PassUse.source, PassUse.device)
                                              .join(PassUse, PassUse.pass_id == VisitorPass.id))
    assert (uses, use_source, use_device) == (1, "scanner", "kiosk-cam")
    [summary] = _pass_events(app)
    assert summary == {"source": "scanner", "outcome": "admitted", "pass_id": pass_id}
    stored = json.dumps([r[0] for r in _query(app, select(DeviceEvent.summary))])
    stored += json.dumps([r[0] for r in _query(app, select(ShiftBookEntry.data))])
    wait_for(lambda: "barrier command" in logs.text, what="the bridge's log line")  # logs are captured
    assert text not in stored and text not in logs.text


def test_same_event_twice_uses_once(app, devices, bridge, commands):
    """Protects idempotency: a redelivered scan (same event_id) of an unlimited pass is one use and
    one command, not two."""
    _, scanner = devices
    text, pass_id = _new_pass(app, uses="unlimited")
    scanner.scan(text, event_id="cam-dup")
    scanner.scan(text, event_id="cam-dup")
    wait_for(lambda: bridge.link.dropped.get("duplicate"), what="the duplicate to be dropped")
    _settled(app, scanner)
    assert _count(app, PassUse, PassUse.pass_id == pass_id) == 1
    assert _count(app, BarrierCommandRecord) == 1 and len(commands) == 1


def test_forged_pass_opens_nothing(app, devices, bridge, commands, logs):
    """Protects the gate from forgeries: a token signed with another key sends no command and
    leaves exactly one rejection entry (and the text nowhere)."""
    _, scanner = devices
    with app.app_context():
        forged = make.forged_with_other_key(make.visitor_pass())
        db.session.remove()
    scanner.scan(forged, event_id="cam-forged")
    _settled(app, scanner)
    assert _pass_events(app) == [{"source": "scanner", "outcome": "rejected", "reason": "forged",
                                  "pass_id": None}]
    assert _count(app, BarrierCommandRecord) == 0 and commands == []
    assert _count(app, ShiftBookEntry, ShiftBookEntry.kind == "pass.rejected") == 1
    assert _count(app, ShiftBookEntry, ShiftBookEntry.kind == "pass.used") == 0
    assert forged not in logs.text


def test_other_scans_are_stored_as_before(app, devices, bridge):
    """Protects the other scan uses (release slips, visitor slips): a text that is no pass is kept
    as a 'scan' event for the kiosk, as before, and opens nothing."""
    _, scanner = devices
    scanner.scan("SLIP-2024-000123", event_id="cam-slip")
    wait_for(lambda: _count(app, DeviceEvent, DeviceEvent.kind == "scan"), what="the scan stored")
    [(summary, event_id)] = _query(app, select(DeviceEvent.summary, DeviceEvent.event_id)
                                   .where(DeviceEvent.kind == "scan"))
    assert (summary, event_id) == ({"text": "SLIP-2024-000123"}, "cam-slip")
    assert _count(app, BarrierCommandRecord) == 0 and _pass_events(app) == []
