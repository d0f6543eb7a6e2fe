"""A Tasmota relay wired to a gate controller's push-button input.

Follows tasmota/docs `docs/MQTT.md` (FullTopic `%prefix%/%topic%/`, prefixes `cmnd`/`stat`/`tele`,
`stat/<topic>/RESULT` `{"POWER1":"ON"}` and `stat/<topic>/POWER1` `ON`, retained `tele/<topic>/LWT`
`Online`/`Offline`) and `docs/Commands.md` (`Power<x>`, `PulseTime<x>`, `SetOption26`).

The relay is pulsed by the device itself: set `PulseTime<x>` on the Tasmota (e.g. `PulseTime1 10`
for 1 s), then `POWER<x> ON` presses the gate's button and Tasmota releases it. So:

* `open` sends `cmnd/<topic>/POWER<relay> ON` (never retained, MQTT v5 expiry = the command's).
* `stat/…/POWER<relay> ON` (or `RESULT {"POWER<relay>":"ON"}`; with one relay and the default
  `SetOption26 0` Tasmota says `POWER`) acks the pending opens `done` with state `open`. The
  state is reported even with nothing pending (the button on the device, or a late answer).
  Tasmota reports one change on both RESULT and POWER<x>; the second only repeats the state.
* `OFF` only means the button was released, so it reports nothing, unless the site says
  `off_means_closed: true`.
* `close` needs a second pulse relay (`close_relay`); its ON reports `closing`, not `closed`,
  because a safety loop may still stop the arm. Without one, `close` is answered `rejected`.
* Answers that need no device message (`rejected` above, `expired` for a stale command) go to
  a queue that the next `pending_timeouts()` call drains (within about a second), because
  `command()` can only return messages to publish.
* A pending command is forgotten 1 s after it expires; the waiting side reports `no_answer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from device_adapters.profiles import register
from device_adapters.profiles.base import (
    CommandBook,
    DeviceConfig,
    Profile,
    Publish,
    expiry_seconds,
    load_json,
)
from device_adapters.topics import Topics
from gate.domain.events import Availability, BarrierCommand, BarrierState, DeviceEvent

_TOKEN = re.compile(r"%[a-z]+%")


def _word(payload: bytes, limit: int = 64) -> str:
    """A short plain-text payload, stripped, or ValueError."""
    if len(payload) > limit:
        raise ValueError(f"payload of {len(payload)} bytes is too long for a plain value")
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8") from None


def _relay(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise ValueError(f"option {what} must be a relay number 1..32, got {value!r}")
    return value


def _on(value: str) -> bool:
    word = value.upper()
    if word in ("ON", "OFF"):
        return word == "ON"
    raise ValueError(f"power state must be ON or OFF (default StateText), got {value[:20]!r}")


@register
class TasmotaRelayProfile(Profile):
    """A gate opened (and optionally closed) by Tasmota relay pulses."""

    name = "tasmota"
    kinds = ("barrier",)
    relays_commands = True

    def __init__(self, device: DeviceConfig, topics: Topics) -> None:
        """Read the Tasmota topic, relays and FullTopic from the device's options."""
        super().__init__(device, topics)
        topic = self.option("topic", required=True)
        if not isinstance(topic, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", topic):
            raise ValueError(f"device {device.id}: Tasmota topic must be one word, got {topic!r}")
        full = self.option("full_topic", "%prefix%/%topic%/")
        if not isinstance(full, str) or "%prefix%" not in full or "%topic%" not in full:
            raise ValueError(f"device {device.id}: full_topic needs %prefix% and %topic%")
        if set(_TOKEN.findall(full)) - {"%prefix%", "%topic%"} or any(c in full for c in "+#\0"):
            raise ValueError(f"device {device.id}: full_topic may only use %prefix% and %topic%")
        full = full.replace("%topic%", topic) + ("" if full.endswith("/") else "/")

        def at(prefix_option: str, default: str, command: str) -> str:
            prefix = self.option(prefix_option, default)
            if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", prefix):
                raise ValueError(f"device {device.id}: option {prefix_option} is not a topic word")
            return full.replace("%prefix%", prefix) + command

        self.relay = _relay(self.option("relay", 1), "relay")
        close = self.option("close_relay")
        self.close_relay = None if close is None else _relay(close, "close_relay")
        if self.close_relay == self.relay:
            raise ValueError(f"device {device.id}: close_relay must differ from relay")
        self.off_means_closed = self.option("off_means_closed", False) is True
        self._cmnd = lambda command: at("cmnd_prefix", "cmnd", command)
        self.result_topic = at("stat_prefix", "stat", "RESULT")
        self.lwt_topic = at("tele_prefix", "tele", "LWT")
        self._keys: dict[str, str] = {}  # "POWER2" -> "open" / "close"
        for relay, role in ((self.relay, "open"), (self.close_relay, "close")):
            if relay is not None:
                self._keys[f"POWER{relay}"] = role
                if relay == 1:  # SetOption26 0 (default): one relay reports plain POWER
                    self._keys["POWER"] = role
        self._power_topics = {at("stat_prefix", "stat", key): role for key, role in self._keys.items()}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._book = CommandBook(device.site, device.id)  # pending keyed by command id

    def subscriptions(self) -> list[str]:
        """RESULT, the relays' POWER topics and the LWT."""
        return [self.result_topic, *self._power_topics, self.lwt_topic]

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[DeviceEvent]:
        """Turn a power report or the LWT into acks, state and availability."""
        d = self.device
        if topic == self.lwt_topic:
            word = _word(payload).lower()
            if word not in ("online", "offline"):
                raise ValueError(f"LWT must be Online or Offline, got {word[:20]!r}")
            return [Availability(d.site, d.kind, d.id, word == "online")]
        if topic in self._power_topics:
            return self._power(self._power_topics[topic], _on(_word(payload)), now)
        if topic != self.result_topic:
            return []
        body = load_json(payload)
        if not isinstance(body, dict):
            raise ValueError("RESULT must be a JSON object")
        events: list[DeviceEvent] = []
        for role in ("open", "close"):
            values = [body[k] for k, r in self._keys.items() if r == role and k in body]
            if values:  # RESULT also answers other commands (PulseTime, Status…): those are not ours
                if not isinstance(values[0], str):
                    raise ValueError("RESULT power value must be a string")
                events += self._power(role, _on(values[0]), now)
        return events

    def _power(self, role: str, on: bool, now: datetime) -> list[DeviceEvent]:
        d = self.device
        if not on:
            if role == "open" and self.off_means_closed:
                return [BarrierState(d.site, d.id, "closed", now)]
            return []
        state = "open" if role == "open" else "closing"
        return [*self._book.settle({role}, state, now), BarrierState(d.site, d.id, state, now)]

    def command(self, cmd: BarrierCommand) -> list[Publish]:
        """Pulse the open (or close) relay; answers that need no device go to the queue."""
        now = self.clock()
        relay = self.relay if cmd.action == "open" else self.close_relay
        if not self._book.admit(cmd, now, supported=relay is not None):
            return []  # a redelivery must not pulse the relay again; the rest are answered by the book
        self._book.expect(cmd.id, cmd)
        return [Publish(self._cmnd(f"POWER{relay}"), b"ON", retain=False, qos=1,
                        expiry_seconds=expiry_seconds(cmd, now))]

    def pending_timeouts(self, now: datetime) -> list[DeviceEvent]:
        """Drain queued answers and forget commands whose answer can no longer count."""
        return self._book.due(now)
