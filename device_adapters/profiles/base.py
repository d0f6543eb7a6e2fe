"""The small interface every vendor profile implements (no network code: the bridge does I/O)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from device_adapters.topics import Topics
from gate.domain.events import BarrierAck, BarrierCommand, DeviceEvent

MAX_PAYLOAD = 64 * 1024  # bytes; anything larger from a device is refused unread
GRACE = timedelta(seconds=1)  # same grace the commander gives an answer after expiry
SEEN_IDS = 256  # recent command ids remembered, so a QoS 1 redelivery is not sent twice


@dataclass(frozen=True)
class Publish:
    """One MQTT message the bridge should send. Commands are never retained."""

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 1
    expiry_seconds: int | None = None  # MQTT v5 Message Expiry Interval


@dataclass(frozen=True)
class DeviceConfig:
    """One device from the site file: our id for it, its kind, profile and vendor options."""

    site: str
    kind: str
    id: str
    profile: str = "native"
    options: Mapping[str, Any] = field(default_factory=dict)
    gate: str | None = None
    lane: str | None = None
    name: str | None = None


class Profile:
    """Translate between one device's own MQTT dialect and the contract's events and commands.

    A profile is pure translation: `subscriptions()` says which vendor topics it needs,
    `handle()` turns one received message into zero or more domain events, `command()` turns a
    barrier command into the messages to send, and `on_connect()` lists what to publish after
    (re)connecting. Malformed input raises ValueError with a reason; the bridge logs and drops it.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device: DeviceConfig, topics: Topics) -> None:
        """Check the device is of a kind this profile handles, and keep its settings."""
        if device.kind not in self.kinds:
            raise ValueError(f"profile {self.name!r} cannot drive a {device.kind} ({device.id})")
        self.device = device
        self.topics = topics

    def option(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        """A vendor option from the site file; a missing required one is a ValueError naming it."""
        if key in self.device.options:
            return self.device.options[key]
        if required:
            raise ValueError(f"device {self.device.id}: profile {self.name} needs option {key!r}")
        return default

    def subscriptions(self) -> list[str]:
        """Topic filters this device's messages arrive on."""
        return []

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[DeviceEvent]:
        """Translate one received message; [] when it is not for this device."""
        return []

    def command(self, cmd: BarrierCommand) -> list[Publish]:
        """Messages that carry out a barrier command (barrier profiles only)."""
        raise ValueError(f"profile {self.name!r} has no barrier commands")

    def on_connect(self) -> list[Publish]:
        """Messages to publish after each (re)connect, e.g. Home Assistant discovery."""
        return []

    def pending_timeouts(self, now: datetime) -> list[DeviceEvent]:
        """Events due because time passed (e.g. a synthesised ack); called about once a second."""
        return []


class CommandBook:
    """A vendor barrier's commands in flight: ids seen, answers due, pending until the device replies."""

    def __init__(self, site: str, device: str) -> None:
        """An empty book for one barrier."""
        self.site, self.device = site, device
        # command() runs on the link's worker thread, due() on the bridge's ticker
        self._lock = threading.Lock()
        self._pending: dict[str | int, tuple[str, str, datetime]] = {}  # key -> (command id, action, expiry)
        self._queue: list[DeviceEvent] = []
        self._seen: OrderedDict[str, None] = OrderedDict()

    def admit(self, cmd: BarrierCommand, now: datetime, *, supported: bool = True) -> bool:
        """True for a new, live, doable command; False for a repeat, else queue `expired` or `rejected`."""
        if cmd.device != self.device:
            raise ValueError(f"command for {cmd.device} given to {self.device}")
        with self._lock:
            if cmd.id in self._seen:
                return False  # a redelivered command must not reach the device again
            self._seen[cmd.id] = None
            while len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
            if cmd.expires_at > now and supported:
                return True
            # answers that need no device wait for due(): command() can only return messages
            result = "expired" if cmd.expires_at <= now else "rejected"
            self._queue.append(BarrierAck(self.site, self.device, cmd.id, result, None, now))
        return False

    def expect(self, key: str | int, cmd: BarrierCommand) -> None:
        """Wait for the device's answer to cmd, known by key (the command id, or a vendor request id)."""
        with self._lock:
            self._pending[key] = (cmd.id, cmd.action, cmd.expires_at)

    def settle(self, actions: Collection[str], state: str, now: datetime) -> list[BarrierAck]:
        """Acks `done` with state for every pending command whose action is one of actions."""
        with self._lock:
            keys = [k for k, (_, action, _) in self._pending.items() if action in actions]
            done = [self._pending.pop(k)[0] for k in keys]
        return [BarrierAck(self.site, self.device, cid, "done", state, now) for cid in done]

    def take(self, key: str | int) -> tuple[str, str] | None:
        """The pending (command id, action) known by key, now answered; None if not ours or forgotten."""
        with self._lock:
            pending = self._pending.pop(key, None)
        if pending is None:
            return None
        command_id, action, _ = pending
        return command_id, action

    def due(self, now: datetime) -> list[DeviceEvent]:
        """Drain queued answers and forget commands whose answer can no longer count."""
        with self._lock:
            for key in [k for k, (_, _, expires) in self._pending.items() if expires + GRACE <= now]:
                del self._pending[key]
            events, self._queue = self._queue, []
        return events


def expiry_seconds(cmd: BarrierCommand, now: datetime) -> int:
    """The MQTT v5 expiry for a command's message: rounded up, at least 1 (0 would mean never)."""
    return max(1, int((cmd.expires_at - now).total_seconds() + 0.999))


def load_json(payload: bytes) -> Any:
    """Decode a JSON payload from a device, or raise ValueError saying what is wrong."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is larger than {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"payload is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:  # "[[[[…" fits in MAX_PAYLOAD but not on Python's stack
        raise ValueError("payload is nested too deeply") from None


def in_range(value: Any, low: float, high: float) -> bool:
    """True for a JSON number (not a bool) from low to high; NaN, infinities and huge ints are not."""
    # No math.isfinite: it raises OverflowError on ints beyond a float (10**400). Python compares
    # ints and floats exactly, and NaN or an infinity never lies between two finite bounds.
    return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


def require(obj: Any, key: str, kind: type | tuple[type, ...], where: str = "payload") -> Any:
    """obj[key] of the given type, or a ValueError naming the field."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be a JSON object")
    if key not in obj:
        raise ValueError(f"{where} has no {key!r}")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ValueError(f"{where}.{key} has the wrong type (bool)")
    if not isinstance(value, kind):
        raise ValueError(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON for publishing."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
