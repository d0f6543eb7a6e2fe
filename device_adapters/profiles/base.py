"""The small interface every vendor profile implements (no network code: the bridge does I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from device_adapters.topics import Topics
from gate.domain.events import BarrierCommand, DeviceEvent

MAX_PAYLOAD = 64 * 1024  # bytes; anything larger from a device is refused unread


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
