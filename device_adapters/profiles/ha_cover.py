"""A gate that speaks the Home Assistant MQTT cover dialect (e.g. an ESPHome or Zigbee2MQTT opener).

Follows home-assistant.io `source/_integrations/cover.mqtt.markdown`: commands `payload_open`
`OPEN` / `payload_close` `CLOSE` on `command_topic`; `state_topic` values `open`, `opening`,
`closed`, `closing` and `stopped` (each renamable with `state_open` … `state_stopped`); an empty
state payload is ignored and `None` means unknown; `availability_topic` with `payload_available`
`online` / `payload_not_available` `offline`.

* A state that reaches the target while a command is pending acks it `done` with that state:
  `opening`/`open` for open, `closing`/`closed` for close. Every state is also reported.
* `stopped` is what covers that cannot report open/closed send when they stop. Like Home
  Assistant, we read it as `closed` after `closing` and `open` otherwise; a site whose opener
  sends `stopped` only when the arm halts half-way sets `stopped_is_fault: true` (→ `fault`).
* A stale command is answered `expired` without publishing; that answer is queued for the next
  `pending_timeouts()` call (command() can only return messages). A pending command is
  forgotten 1 s after it expires; the waiting side reports `no_answer`.

Home Assistant discovery of our own barriers lives in `ha_discovery.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from device_adapters.profiles import register
from device_adapters.profiles.base import CommandBook, DeviceConfig, Profile, Publish, expiry_seconds
from device_adapters.topics import Topics
from gate.domain.events import Availability, BarrierCommand, BarrierState, DeviceEvent

REACHES = {"open": ("opening", "open"), "close": ("closing", "closed")}


def _topic(value: Any, what: str) -> str:
    """A full topic from the options: no wildcards, no '$', no empty levels."""
    if (not isinstance(value, str) or not 0 < len(value) <= 300 or value.startswith("$")
            or any(c in value for c in "+#\0") or "" in value.split("/")):
        raise ValueError(f"option {what} is not a usable MQTT topic: {value!r}")
    return value


def _text(payload: bytes, limit: int = 256) -> str:
    """A short plain-text payload, stripped, or ValueError."""
    if len(payload) > limit:
        raise ValueError(f"payload of {len(payload)} bytes is too long for a cover value")
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8") from None


@register
class HomeAssistantCoverProfile(Profile):
    """A gate driven like a Home Assistant MQTT cover."""

    name = "ha_cover"
    kinds = ("barrier",)
    relays_commands = True

    def __init__(self, device: DeviceConfig, topics: Topics) -> None:
        """Read the cover's topics, command payloads and state values from the options."""
        super().__init__(device, topics)
        self.command_topic = _topic(self.option("command_topic", required=True), "command_topic")
        self.state_topic = _topic(self.option("state_topic", required=True), "state_topic")
        avail = self.option("availability_topic")
        self.availability_topic = None if avail is None else _topic(avail, "availability_topic")

        def word(key: str, default: str) -> str:
            value = self.option(key, default)
            if not isinstance(value, str) or not value.strip() or len(value) > 64:
                raise ValueError(f"device {device.id}: option {key} must be a short text")
            return value.strip()

        self.payloads = {"open": word("payload_open", "OPEN"), "close": word("payload_close", "CLOSE")}
        self.available = {word("payload_available", "online"): True,
                          word("payload_not_available", "offline"): False}
        self.states = {word(f"state_{s}", s): s for s in ("open", "opening", "closed", "closing")}
        self.stopped = word("state_stopped", "stopped")
        if len(self.states) < 4 or self.stopped in self.states or len(self.available) < 2:
            raise ValueError(f"device {device.id}: state and availability values must be distinct")
        self.stopped_is_fault = self.option("stopped_is_fault", False) is True
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # Only handle() reads and writes it, always on the link's one worker thread: no lock needed.
        self._last: str | None = None
        self._book = CommandBook(device.site, device.id)  # pending keyed by command id

    def subscriptions(self) -> list[str]:
        """The state topic, and the availability topic if there is one."""
        return [self.state_topic] + ([self.availability_topic] if self.availability_topic else [])

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[DeviceEvent]:
        """Turn a cover state or availability message into acks, state and availability."""
        d = self.device
        if topic == self.availability_topic:
            text = _text(payload)
            if text not in self.available:
                raise ValueError(f"availability must be one of {sorted(self.available)}, got {text[:20]!r}")
            return [Availability(d.site, d.kind, d.id, self.available[text])]
        if topic != self.state_topic:
            return []
        text = _text(payload)
        if text in ("", "None"):
            return []  # Home Assistant: empty is ignored, "None" resets to unknown
        if text != self.stopped and text not in self.states:
            raise ValueError(f"unknown cover state {text[:20]!r}")
        if text != self.stopped:
            state = self.states[text]
        elif self.stopped_is_fault:
            state = "fault"
        else:
            state = "closed" if self._last == "closing" else "open"
        self._last = state
        reached = [action for action, states in REACHES.items() if state in states]
        return [*self._book.settle(reached, state, now), BarrierState(d.site, d.id, state, now)]

    def command(self, cmd: BarrierCommand) -> list[Publish]:
        """The cover's OPEN or CLOSE payload on its command topic (never retained)."""
        now = self.clock()
        if not self._book.admit(cmd, now):
            return []  # a redelivery is not sent again; a stale one is answered expired
        self._book.expect(cmd.id, cmd)
        return [Publish(self.command_topic, self.payloads[cmd.action].encode(), retain=False, qos=1,
                        expiry_seconds=expiry_seconds(cmd, now))]

    def pending_timeouts(self, now: datetime) -> list[DeviceEvent]:
        """Drain queued answers and forget commands whose answer can no longer count."""
        return self._book.due(now)
