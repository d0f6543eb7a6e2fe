"""Send barrier commands on the canonical topic and match the acks that come back."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from device_adapters import contract
from device_adapters.profiles.base import Publish
from device_adapters.topics import Topics
from gate.domain.events import BarrierAck, BarrierCommand

log = logging.getLogger(__name__)
Outcome = Callable[[str, str | None], None]
ACK_GRACE = timedelta(seconds=1)  # after expiry, how long an answer may still be on its way
# Ids of commands this process sent, remembered (bounded) until they expire: the bridge relays
# to vendor barriers only its own commands, and checking this set costs no database query.
ISSUED_MAX = 4096
CLOCK_SKEW = timedelta(seconds=2)  # between the web process's clock and the bridge's (one machine)


class Commander:
    """Implements gate.services.barriers.BarrierPort over an MqttLink."""

    def __init__(self, link, topics: Topics) -> None:
        """Use `link.publish` for commands; acks arrive through `handle_ack`."""
        self.link = link
        self.topics = topics
        self._pending: dict[str, tuple[datetime, Outcome, str]] = {}  # id: (deadline, outcome, device)
        self._issued: OrderedDict[str, tuple[datetime, str]] = OrderedDict()  # id: (expiry, device)
        self._lock = threading.Lock()

    def send(self, cmd: BarrierCommand, on_outcome: Outcome) -> None:
        """Publish the command (never retained, MQTT v5 expiry); on_outcome is called once."""
        with self._lock:
            self._pending[cmd.id] = (cmd.expires_at + ACK_GRACE, on_outcome, cmd.device)
            self._issued[cmd.id] = (cmd.expires_at, cmd.device)
            while len(self._issued) > ISSUED_MAX:
                self._issued.popitem(last=False)
        ttl = (cmd.expires_at - datetime.now(UTC)).total_seconds()
        self.link.publish(Publish(self.topics.barrier_command(cmd.device),
                                  contract.encode_command(cmd), retain=False, qos=1,
                                  expiry_seconds=max(1, int(ttl + 0.999))))

    def send_and_wait(self, cmd: BarrierCommand) -> tuple[str, str | None]:
        """Publish and block until the outcome (for web requests, never the MQTT thread)."""
        done = threading.Event()
        result: list[tuple[str, str | None]] = []

        def finish(outcome: str, state: str | None) -> None:
            result.append((outcome, state))
            done.set()

        self.send(cmd, finish)
        wait = (cmd.expires_at + ACK_GRACE - datetime.now(UTC)).total_seconds()
        if not done.wait(max(0.0, wait)):
            self._resolve(cmd.id, "no_answer", None)
            done.wait(1)
        return result[0]

    def handle_ack(self, topic: str, payload: bytes) -> None:
        """Route for `{prefix}/{site}/barrier/+/ack`: resolve the matching pending command."""
        parsed = self.topics.parse(topic)
        if parsed is None or parsed[0] != "barrier" or parsed[2] != "ack":
            return
        self.handle_ack_event(contract.parse_ack(self.topics.site, parsed[1], payload))

    def handle_ack_event(self, ack: BarrierAck) -> bool:
        """Resolve a pending command from an ack; False for an unknown or already settled one,
        or one from another barrier than the command's (a forged ack: logged and dropped)."""
        with self._lock:
            entry = self._pending.get(ack.command_id)
        if entry is None:
            log.warning("ack from %s for unknown or settled command %.64r dropped",
                        ack.device, ack.command_id)
            return False
        if entry[2] != ack.device:
            log.warning("ack from %s for command %s of %s dropped (wrong barrier)",
                        ack.device, ack.command_id, entry[2])
            return False
        return self._resolve(ack.command_id, ack.result, ack.state)

    def issued(self, command_id: str, device: str, now: datetime | None = None) -> bool:
        """Whether this process sent this command to this barrier and it has not expired yet."""
        now = now or datetime.now(UTC)
        with self._lock:
            while self._issued and next(iter(self._issued.values()))[0] + ACK_GRACE <= now:
                self._issued.popitem(last=False)  # roughly oldest first: one TTL for all
            known = self._issued.get(command_id)
        return known is not None and known[0] > now and known[1] == device

    def may_relay(self, cmd: BarrierCommand, ttl_seconds: float, now: datetime) -> bool:
        """Whether the bridge may relay this command to a vendor barrier: its own (no query on the
        hot path), or another process's (the kiosk's) dated now-ish and living no longer than the
        TTL allows, so a forged far-future or long-lived one is refused."""
        if self.issued(cmd.id, cmd.device, now):
            return True
        lifetime = cmd.expires_at - cmd.issued_at
        return cmd.issued_at <= now + CLOCK_SKEW and lifetime <= timedelta(seconds=ttl_seconds) + CLOCK_SKEW

    def tick(self, now: datetime | None = None) -> None:
        """Report `no_answer` for commands whose ack did not come in time."""
        now = now or datetime.now(UTC)
        with self._lock:
            late = [cid for cid, (deadline, *_) in self._pending.items() if deadline <= now]
        for cid in late:
            self._resolve(cid, "no_answer", None)

    def pending(self) -> int:
        """How many commands are waiting for an answer."""
        with self._lock:
            return len(self._pending)

    def _resolve(self, command_id: str, outcome: str, state: str | None) -> bool:
        with self._lock:
            entry = self._pending.pop(command_id, None)
        if entry is None:
            return False
        entry[1](outcome, state)
        return True
