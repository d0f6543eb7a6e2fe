"""What the bridge did, counted for Prometheus and served on GATE_METRICS_BIND (off when empty).

The bridge is one process (or one per GATE_BRIDGE_NAME), so plain in-memory counters are
right: Prometheus scrapes each bridge and sums. Labels are device ids, kinds and outcomes
from fixed vocabularies, never a plate, a name or a number read from a card.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gate.domain.events import Availability, BarrierAck, BarrierState, CardRead, PlateRead, Scan

log = logging.getLogger(__name__)
# No `_created` series beside each counter: they double the output and no dashboard reads them.
disable_created_metrics()
_EVENT_NAMES = {PlateRead: "plate", Scan: "scan", CardRead: "card", BarrierAck: "ack",
                BarrierState: "state", Availability: "availability"}

EVENTS = Counter("gatehouse_bridge_device_events", "Device events the bridge handled, by device "
                 "kind and event type.", ["kind", "event"], registry=None)
DECISIONS = Counter("gatehouse_bridge_plate_decisions", "Plate reads decided, by action "
                    "(open, prompt, ignore, duplicate) and reason.", ["action", "reason"], registry=None)
COMMANDS = Counter("gatehouse_bridge_barrier_commands_sent", "Barrier commands the bridge published.",
                   ["device"], registry=None)
OUTCOMES = Counter("gatehouse_bridge_barrier_command_outcomes", "How barrier commands the bridge sent "
                   "ended (done, rejected, expired, no_answer).", ["device", "outcome"], registry=None)
# From the moment the bridge took the plate event up to the command's publication: the
# decision and the commit that makes it durable. Gate opening is slow; 25 ms..5 s covers it.
LATENCY = Histogram("gatehouse_bridge_plate_to_command_seconds", "Seconds from a plate event taken up "
                    "by the bridge to its barrier command published.",
                    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=None)
ONLINE = Gauge("gatehouse_bridge_device_online", "1 when the device's availability topic last said "
               "online, 0 offline.", ["kind", "device"], registry=None)
METRICS = (EVENTS, DECISIONS, COMMANDS, OUTCOMES, LATENCY, ONLINE)

_lock = threading.Lock()
_sent: dict[str, str] = {}  # command id -> device, until its outcome is counted
_plate_started: dict[str, float] = {}  # command id -> when its plate event was taken up


def event_received(event: object) -> float:
    """Count one event handed to the services; returns the time it was taken up (monotonic)."""
    name = _EVENT_NAMES.get(type(event), type(event).__name__.lower())
    if isinstance(event, Availability):
        kind = event.kind
        ONLINE.labels(event.kind, event.device).set(1 if event.online else 0)
    else:
        kind = {"plate": "camera", "scan": "scanner", "card": "idreader"}.get(name, "barrier")
    EVENTS.labels(kind, name).inc()
    return time.monotonic()


def plate_decided(decision: object | None, started: float) -> None:
    """Count a plate decision (None: a redelivered event); time its command, if any."""
    if decision is None:
        DECISIONS.labels("duplicate", "duplicate").inc()
        return
    DECISIONS.labels(decision.action, decision.reason).inc()
    if decision.command is not None:
        with _lock:
            if len(_plate_started) > 10_000:  # commands whose burst failed are never sent: forget them
                _plate_started.clear()
            _plate_started[decision.command.id] = started


def command_sent(cmd: object) -> None:
    """Count a published barrier command; observe its latency if a plate asked for it."""
    COMMANDS.labels(cmd.device).inc()
    with _lock:
        started = _plate_started.pop(cmd.id, None)
        _sent[cmd.id] = cmd.device
    if started is not None:
        LATENCY.observe(time.monotonic() - started)


def command_outcome(command_id: str, outcome: str) -> None:
    """Count how a command the bridge sent ended."""
    with _lock:
        device = _sent.pop(command_id, None)
        _plate_started.pop(command_id, None)  # decided but dropped before sending (a failed commit)
    OUTCOMES.labels(device or "unknown", outcome).inc()


class _LinkCollector:
    """The bridge's connection, message and drop counters, read at scrape time."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge

    def collect(self):
        link = self.bridge.link
        connected = GaugeMetricFamily("gatehouse_bridge_connected", "1 while connected to the broker.")
        connected.add_metric([], 1 if link.connected.is_set() else 0)
        messages = CounterMetricFamily("gatehouse_bridge_messages", "MQTT messages received.")
        messages.add_metric([], link.messages)
        dropped = CounterMetricFamily("gatehouse_bridge_dropped", "Messages dropped, by reason.",
                                      labels=["reason"])
        for reason, count in sorted(dict(link.dropped).items()):
            dropped.add_metric([reason], count)
        pending = GaugeMetricFamily("gatehouse_bridge_commands_pending",
                                    "Barrier commands waiting for their ack.")
        pending.add_metric([], self.bridge.commander.pending())
        yield from (connected, messages, dropped, pending)


def serve(bind: str | None, bridge) -> object | None:
    """Serve this bridge's metrics on `host:port`; None when unset or the port is taken (logged)."""
    if not bind:
        return None
    host, _, port = bind.rpartition(":")
    registry = CollectorRegistry(auto_describe=True)
    for metric in METRICS:
        registry.register(metric)
    registry.register(_LinkCollector(bridge))
    try:
        server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    except OSError as exc:  # metrics are a convenience: the gate keeps working without them
        log.warning("metrics endpoint %s not started: %s", bind, exc)
        return None
    log.info("metrics on http://%s/metrics", bind)
    return server


def close(server: object | None) -> None:
    """Stop a server serve() started."""
    if server is not None:
        server.shutdown()
        server.server_close()
