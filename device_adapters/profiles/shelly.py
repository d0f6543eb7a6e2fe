"""A Shelly Gen2+ relay (Plus/Pro/Gen3) wired to a gate controller's push-button input.

Follows shelly-api-docs gen2: `ComponentsAndServices/Mqtt` (RPC channel on `<topic_prefix>/rpc`,
answers on `<src>/rpc`, notifications on `<topic_prefix>/events/rpc`, `<topic_prefix>/online`
`true`/`false`, QoS 1 only), `General/RPCProtocol` (request `id`/`src`/`method`/`params`; response
`id`/`src`/`dst` with `result` or `error {code, message}`), `General/Notifications` (NotifyStatus)
and `ComponentsAndServices/Switch` (`Switch.Set` `{id, on, toggle_after}` → `{was_on}`).

* `open` sends `Switch.Set` with `on: true` and `toggle_after: pulse_seconds`, so the device
  releases the button itself. The RPC id is an int unique in this process (several bridges or
  devices may share `<src>/rpc`); a reply with an id we did not send is not ours and gives [].
* A `result` acks `done` with state `open`; an `error` acks `rejected`.
* `close` needs a second switch (`close_switch_id`, state `closing`: a safety loop may still
  stop the arm); without one it is answered `rejected`. That answer (and `expired` for a stale
  command) needs no device message, so it is queued for the next `pending_timeouts()` call.
* NotifyStatus `switch:<id>.output: true` reports the state too (a press on the device, or the
  notification of our own pulse: state is retained and idempotent, a repeat is harmless);
  `output: false` is the button released and reports nothing.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from device_adapters.profiles import register
from device_adapters.profiles.base import (
    CommandBook,
    DeviceConfig,
    Profile,
    Publish,
    dumps,
    expiry_seconds,
    load_json,
)
from device_adapters.topics import Topics
from gate.domain.events import Availability, BarrierAck, BarrierCommand, BarrierState, DeviceEvent

# Random start: a bridge restarted, or another bridge on the same `src`, never reuses an id.
_RPC_IDS = itertools.count(secrets.randbelow(1 << 30) + 1)
_RPC_LOCK = threading.Lock()


def _topic(value: Any, what: str) -> str:
    """A topic (prefix) from the options: no wildcards, no '$', no empty levels."""
    if (not isinstance(value, str) or not 0 < len(value) <= 300 or value.startswith("$")
            or any(c in value for c in "+#%?\0") or "" in value.split("/")):
        raise ValueError(f"option {what} is not a usable MQTT topic: {value!r}")
    return value


def _switch(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 99:
        raise ValueError(f"option {what} must be a switch id 0..99, got {value!r}")
    return value


@register
class ShellyGen2Profile(Profile):
    """A gate opened (and optionally closed) by Shelly Gen2+ `Switch.Set` pulses."""

    name = "shelly"
    kinds = ("barrier",)
    relays_commands = True

    def __init__(self, device: DeviceConfig, topics: Topics) -> None:
        """Read the topic prefix, switch ids, pulse length and RPC source from the options."""
        super().__init__(device, topics)
        self.prefix = _topic(self.option("prefix", required=True), "prefix")
        self.src = _topic(self.option("src", f"gatehouse-{device.site}"), "src")
        self.switch_id = _switch(self.option("switch_id", 0), "switch_id")
        close = self.option("close_switch_id")
        self.close_switch_id = None if close is None else _switch(close, "close_switch_id")
        if self.close_switch_id == self.switch_id:
            raise ValueError(f"device {device.id}: close_switch_id must differ from switch_id")
        pulse = self.option("pulse_seconds", 1)
        if isinstance(pulse, bool) or not isinstance(pulse, int | float) or not 0 < pulse <= 3600:
            raise ValueError(f"device {device.id}: pulse_seconds must be a number of seconds 0..3600")
        self.pulse_seconds = pulse
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._book = CommandBook(device.site, device.id)  # pending keyed by our int RPC id

    def subscriptions(self) -> list[str]:
        """Our RPC replies, the device's notifications and its online flag."""
        return [f"{self.src}/rpc", f"{self.prefix}/events/rpc", f"{self.prefix}/online"]

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[DeviceEvent]:
        """Turn an RPC reply, a NotifyStatus or the online flag into events."""
        d = self.device
        if topic == f"{self.prefix}/online":
            if len(payload) > 16 or payload.strip() not in (b"true", b"false"):
                raise ValueError(f"online must be true or false, got {payload[:16]!r}")
            return [Availability(d.site, d.kind, d.id, payload.strip() == b"true")]
        if topic == f"{self.src}/rpc":
            return self._reply(load_json(payload), now)
        if topic == f"{self.prefix}/events/rpc":
            return self._notification(load_json(payload), now)
        return []

    def _reply(self, frame: Any, now: datetime) -> list[DeviceEvent]:
        d = self.device
        if not isinstance(frame, dict) or "id" not in frame:
            raise ValueError("RPC reply must be a JSON object with an id")
        rpc_id = frame["id"]
        if isinstance(rpc_id, bool) or not isinstance(rpc_id, int | str):
            raise ValueError("RPC reply id must be a number or a string")
        if "error" in frame:
            error = frame["error"]
            if not isinstance(error, dict) or isinstance(error.get("code"), bool) \
                    or not isinstance(error.get("code"), int):
                raise ValueError("RPC error must be an object with an integer code")
            outcome = "rejected"
        elif "result" in frame:
            if not isinstance(frame["result"], dict):
                raise ValueError("RPC result must be a JSON object")
            outcome = "done"
        else:
            raise ValueError("RPC reply has neither result nor error")
        pending = self._book.take(rpc_id)  # our keys are ints: a string id is never found
        if pending is None:
            return []  # an answer to someone else's request (or one we already forgot)
        command_id, action = pending
        if outcome == "rejected":
            return [BarrierAck(d.site, d.id, command_id, "rejected", None, now)]
        state = "open" if action == "open" else "closing"
        return [BarrierAck(d.site, d.id, command_id, "done", state, now),
                BarrierState(d.site, d.id, state, now)]

    def _notification(self, frame: Any, now: datetime) -> list[DeviceEvent]:
        if not isinstance(frame, dict):
            raise ValueError("notification must be a JSON object")
        params = frame.get("params")
        if frame.get("method") != "NotifyStatus" or not isinstance(params, dict):
            return []  # NotifyEvent, NotifyFullStatus…: nothing a gate needs
        events: list[DeviceEvent] = []
        for switch, state in ((self.switch_id, "open"), (self.close_switch_id, "closing")):
            status = params.get(f"switch:{switch}") if switch is not None else None
            if isinstance(status, dict) and "output" in status:
                if not isinstance(status["output"], bool):
                    raise ValueError(f"switch:{switch}.output must be true or false")
                if status["output"]:
                    events.append(BarrierState(self.device.site, self.device.id, state, now))
        return events

    def command(self, cmd: BarrierCommand) -> list[Publish]:
        """A `Switch.Set` pulse on the open (or close) switch; other answers go to the queue."""
        now = self.clock()
        switch = self.switch_id if cmd.action == "open" else self.close_switch_id
        if not self._book.admit(cmd, now, supported=switch is not None):
            return []  # a redelivery must not pulse the relay again; the rest are answered by the book
        with _RPC_LOCK:
            rpc_id = next(_RPC_IDS)
        self._book.expect(rpc_id, cmd)
        frame = {"id": rpc_id, "src": self.src, "method": "Switch.Set",
                 "params": {"id": switch, "on": True, "toggle_after": self.pulse_seconds}}
        return [Publish(f"{self.prefix}/rpc", dumps(frame), retain=False, qos=1,
                        expiry_seconds=expiry_seconds(cmd, now))]

    def pending_timeouts(self, now: datetime) -> list[DeviceEvent]:
        """Drain queued answers and forget requests whose answer can no longer count."""
        return self._book.due(now)
