"""Simulated barrier, camera, scanner and ID reader speaking the SPEC §3 MQTT contract."""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt

from device_adapters.sim_device import (
    QOS,
    START_TIMEOUT,
    SimulatedDevice,
    preview,
)
from device_adapters.topics import Topics, check_name, parse_rfc3339, rfc3339

__all__ = [
    "SNAPSHOT_JPEG",
    "SimulatedBarrier",
    "SimulatedCamera",
    "SimulatedDevice",
    "SimulatedIdReader",
    "SimulatedScanner",
    "Simulation",
]

log = logging.getLogger(__name__)

# QoS 1 redeliveries arrive within seconds; remembering this many ids is plenty.
RECENT_COMMANDS = 1024


def _tiny_jpeg() -> bytes:
    """Build an 8x8 mid-grey baseline JPEG: one block whose coefficients are all zero."""

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    one_code = bytes([1] + [0] * 15)  # Huffman table with a single 1-bit code ("0")
    return b"".join([
        b"\xff\xd8",
        segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        segment(0xDB, b"\x00" + bytes([1] * 64)),  # quantisation table 0: all ones
        segment(0xC0, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01\x01\x11\x00"),
        segment(0xC4, b"\x00" + one_code + b"\x00"),  # DC table: symbol 0 = "difference 0"
        segment(0xC4, b"\x10" + one_code + b"\x00"),  # AC table: symbol 0 = end of block
        segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        b"\x3f",  # bits "0" (DC 0) and "0" (EOB), padded with ones
        b"\xff\xd9",
    ])


SNAPSHOT_JPEG = _tiny_jpeg()


class SimulatedBarrier(SimulatedDevice):
    """A barrier gate: absolute open/close commands, deduplicated, expiring, with travel time."""

    kind = "barrier"

    FAIL_MODES = (None, "reject", "silent")

    def __init__(self, url: str, topics: Topics, device_id: str, travel_seconds: float = 0.3,
                 initial_state: str = "closed", fail_mode: str | None = None) -> None:
        """Create a barrier that starts in ``initial_state`` (``open`` or ``closed``).

        ``fail_mode`` makes it misbehave for tests and drills: ``reject`` answers every command
        with ``rejected`` (a locked barrier), ``silent`` never answers (a hung controller).
        Going offline is ``crash()``.
        """
        super().__init__(url, topics, device_id)
        if fail_mode not in self.FAIL_MODES:
            raise ValueError(f"fail_mode must be one of {self.FAIL_MODES}, not {fail_mode!r}")
        self.fail_mode = fail_mode
        if initial_state not in ("open", "closed"):
            raise ValueError(f"initial_state must be 'open' or 'closed', not {initial_state!r}")
        self.travel_seconds = travel_seconds
        self.state = initial_state
        self._lock = threading.Lock()
        self._target: str | None = None  # "open"/"closed" while moving
        self._waiting: list[str] = []  # ids of commands acked when the motion ends
        self._timer: threading.Timer | None = None
        self._recent: OrderedDict[str, None] = OrderedDict()

    def subscriptions(self) -> list[str]:
        """The barrier's command topic."""
        return [self.topics.barrier_command(self.device_id)]

    def on_online(self) -> None:
        """Report the current state (retained) on every (re)connect, as a real device boots."""
        with self._lock:
            self._publish_state()

    def on_stop(self) -> None:
        """Settle any motion in progress at its target, unacknowledged, as if power were cut."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self._target is not None:
                # Commands in flight get no ack: the app reports "gate did not answer".
                self.state, self._target, self._timer, self._waiting = self._target, None, None, []

    def handle_message(self, msg: mqtt.MQTTMessage) -> None:
        """Validate one command and act on it (SPEC §3 rules)."""
        if not msg.payload:
            return  # an empty payload is how a wrongly retained command gets cleared
        if msg.retain:
            # Commands are never retained; a retained one is a stale replay (devices.md).
            log.warning("%r: retained command dropped: %s", self, preview(msg.payload))
            return
        try:
            command = json.loads(msg.payload)
        except ValueError:
            command = None
        command_id = command.get("id") if isinstance(command, dict) else None
        if not isinstance(command_id, str) or not command_id:
            log.warning("%r: malformed command dropped: %s", self, preview(msg.payload))
            return
        with self._lock:
            if command_id in self._recent:
                log.info("%r: duplicate command %s ignored", self, command_id)
                return
            self._recent[command_id] = None
            if len(self._recent) > RECENT_COMMANDS:
                self._recent.popitem(last=False)
            if self.fail_mode == "silent":
                log.info("%r: silent by fail_mode, command %s not answered", self, command_id)
                return
            if self.fail_mode == "reject":
                self._ack(command_id, "rejected")
                return
            action = command.get("action")
            try:
                expires_at = parse_rfc3339(command.get("expires_at"))
            except ValueError:
                expires_at = None
            if action not in ("open", "close") or expires_at is None:
                log.warning("%r: command rejected: %s", self, preview(msg.payload))
                self._ack(command_id, "rejected")
            elif expires_at <= datetime.now(UTC):
                self._ack(command_id, "expired")
            else:
                self._move(command_id, "open" if action == "open" else "closed")

    # The helpers below run with self._lock held.

    def _publish_state(self) -> None:
        payload = {"state": self.state, "at": rfc3339()}
        self.publish_json(self.topics.barrier_state(self.device_id), payload, retain=True)

    def _ack(self, command_id: str, result: str) -> None:
        payload = {"id": command_id, "result": result, "state": self.state, "at": rfc3339()}
        self.publish_json(self.topics.barrier_ack(self.device_id), payload)

    def _move(self, command_id: str, target: str) -> None:
        if self._target == target:  # already moving there: done when it arrives
            self._waiting.append(command_id)
            return
        if self._target is None and self.state == target:  # absolute: nothing to do
            self._ack(command_id, "done")
            return
        if self._target is not None and self._timer is not None:
            # Reversing: the superseded commands never completed.
            self._timer.cancel()
            for superseded in self._waiting:
                self._ack(superseded, "rejected")
        self._target, self._waiting = target, [command_id]
        self.state = "opening" if target == "open" else "closing"
        self._publish_state()
        # A timer thread, not a sleep, so paho's network loop keeps serving other messages.
        self._timer = threading.Timer(self.travel_seconds, self._arrive)
        self._timer.daemon = True
        self._timer.start()

    def _arrive(self) -> None:
        with self._lock:
            if threading.current_thread() is not self._timer or self._target is None:
                return  # superseded by a reversal after this timer fired
            self.state, self._target, self._timer = self._target, None, None
            self._publish_state()
            for command_id in self._waiting:
                self._ack(command_id, "done")
            self._waiting = []


class SimulatedCamera(SimulatedDevice):
    """An ANPR camera: plate events on demand and JPEG answers to snapshot requests."""

    kind = "camera"

    def subscriptions(self) -> list[str]:
        """The camera's snapshot request topic."""
        return [self.topics.snapshot_request(self.device_id)]

    def publish_plate(self, plate: str, direction: str = "in", confidence: float = 0.97,
                      event_id: str | None = None, color: str | None = "blue",
                      snapshot_url: str | None = None) -> str:
        """Report a plate read; returns its event_id."""
        if direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, not {confidence!r}")
        event_id = event_id or str(uuid.uuid4())
        payload: dict[str, Any] = {"event_id": event_id, "plate": plate}
        if color is not None:
            payload["color"] = color
        payload.update(confidence=confidence, direction=direction, at=rfc3339())
        if snapshot_url is not None:
            payload["snapshot_url"] = snapshot_url
        self.publish_json(self.topics.camera_plate(self.device_id), payload)
        return event_id

    def handle_message(self, msg: mqtt.MQTTMessage) -> None:
        """Answer a snapshot request with JPEG bytes on ``.../snapshot/{request id}``."""
        try:
            request = json.loads(msg.payload)
            request_id = check_name(request["id"], "snapshot request id")
        except (ValueError, TypeError, KeyError):
            log.warning("%r: malformed snapshot request dropped: %s", self, preview(msg.payload))
            return
        reply_topic = self.topics.snapshot_reply(self.device_id, request_id)
        self.client.publish(reply_topic, SNAPSHOT_JPEG, qos=QOS)


class SimulatedScanner(SimulatedDevice):
    """A QR/barcode scanner that reports whatever text it is given."""

    kind = "scanner"

    def scan(self, text: str, event_id: str | None = None) -> str:
        """Report a scan; returns its event_id."""
        event_id = event_id or str(uuid.uuid4())
        payload = {"event_id": event_id, "text": text, "at": rfc3339()}
        self.publish_json(self.topics.scanner_scan(self.device_id), payload)
        return event_id


class SimulatedIdReader(SimulatedDevice):
    """An ID-card reader that reports the cards it is given."""

    kind = "idreader"

    def card(self, name: str, id_number: str, event_id: str | None = None) -> str:
        """Report a card read; returns its event_id."""
        event_id = event_id or str(uuid.uuid4())
        payload = {"event_id": event_id, "name": name, "id_number": id_number, "at": rfc3339()}
        self.publish_json(self.topics.idreader_card(self.device_id), payload)
        return event_id


class Simulation:
    """A set of simulated devices on one site, started and stopped together."""

    def __init__(self, url: str, prefix: str = "gatehouse", site: str = "default",
                 barriers: Iterable[str] = (), cameras: Iterable[str] = (),
                 scanners: Iterable[str] = (), idreaders: Iterable[str] = (),
                 travel_seconds: float = 0.3, fail_modes: dict[str, str] | None = None) -> None:
        """Create (not connect) the devices named by id; fail_modes maps barrier id → mode."""
        self.url = url
        self.topics = Topics(prefix, site)
        modes = fail_modes or {}
        unknown = set(modes) - set(barriers := list(barriers))
        if unknown:
            raise ValueError(f"no simulated barrier named {', '.join(sorted(unknown))}")
        self.barriers = {i: SimulatedBarrier(url, self.topics, i, travel_seconds, fail_mode=modes.get(i))
                         for i in barriers}
        self.cameras = {i: SimulatedCamera(url, self.topics, i) for i in cameras}
        self.scanners = {i: SimulatedScanner(url, self.topics, i) for i in scanners}
        self.idreaders = {i: SimulatedIdReader(url, self.topics, i) for i in idreaders}

    @property
    def devices(self) -> list[SimulatedDevice]:
        """All devices of the simulation."""
        groups: list[dict[str, Any]] = [self.barriers, self.cameras, self.scanners, self.idreaders]
        return [device for group in groups for device in group.values()]

    def start(self, timeout: float = START_TIMEOUT) -> Simulation:
        """Connect all devices at once and wait until each is online; TimeoutError otherwise."""
        for device in self.devices:
            device.connect()
        deadline = time.monotonic() + timeout
        for device in self.devices:
            # One shared deadline: devices connect in parallel, so waiting in turn is fine.
            if not device.wait_until_ready(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise TimeoutError(f"{device!r} did not come online within {timeout} s")
        return self

    def stop(self) -> None:
        """Stop every device (each publishes retained `offline`)."""
        for device in self.devices:
            device.stop()

    def __enter__(self) -> Simulation:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
