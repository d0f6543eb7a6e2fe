"""What devices tell us and what we tell barriers, as plain typed values (no MQTT here).

Vendor profiles translate their payloads into these; the bridge hands them to the services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

BARRIER_ACTIONS = ("open", "close")
BARRIER_STATES = ("open", "opening", "closed", "closing", "fault")
ACK_RESULTS = ("done", "rejected", "expired")
# What the kiosk is told; no_answer is ours (no ack before the timeout), the rest come from devices.
OUTCOMES = ("done", "rejected", "expired", "no_answer")
DEVICE_KINDS = ("barrier", "camera", "scanner", "idreader")


@dataclass(frozen=True)
class BarrierCommand:
    """An absolute open/close order with a deadline after which the barrier must ignore it."""

    id: str
    site: str
    device: str
    action: str
    reason: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class BarrierAck:
    """A barrier's answer to one command."""

    site: str
    device: str
    command_id: str
    result: str
    state: str | None
    at: datetime


@dataclass(frozen=True)
class BarrierState:
    """Where a barrier is now (retained by the device)."""

    site: str
    device: str
    state: str
    at: datetime


@dataclass(frozen=True)
class Availability:
    """A device (or bridge) came online or went offline."""

    site: str
    kind: str
    device: str
    online: bool


@dataclass(frozen=True)
class PlateRead:
    """An ANPR camera read a plate. `plate` is as read; services normalise it."""

    site: str
    device: str
    event_id: str
    plate: str
    confidence: float
    direction: str
    at: datetime
    color: str | None = None
    snapshot_url: str | None = None


@dataclass(frozen=True)
class Scan:
    """A QR scanner (or the kiosk camera) read a code."""

    site: str
    device: str
    event_id: str
    text: str = field(repr=False)  # may be a pass token, a bearer credential: never in a log line
    at: datetime


@dataclass(frozen=True)
class CardRead:
    """An ID-card reader read a card. The clear number must never be logged or stored."""

    site: str
    device: str
    event_id: str
    name: str
    id_number: str = field(repr=False)
    at: datetime | None = None


DeviceEvent = BarrierAck | BarrierState | Availability | PlateRead | Scan | CardRead
