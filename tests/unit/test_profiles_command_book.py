"""CommandBook: the commands in flight that the vendor barrier profiles share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device_adapters.profiles.base import GRACE, SEEN_IDS, CommandBook, expiry_seconds
from gate.domain.events import BarrierAck, BarrierCommand

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


def cmd(cid: str = "c1", action: str = "open", ttl: float = 10, device: str = "b1") -> BarrierCommand:
    return BarrierCommand(cid, "demo", device, action, "test", T0, T0 + timedelta(seconds=ttl))


def test_repeat_id_is_refused_silently() -> None:
    """A QoS 1 redelivery of the same command id is admitted once and answers nothing more."""
    book = CommandBook("demo", "b1")
    assert book.admit(cmd(), T0) is True
    assert book.admit(cmd(), T0) is False
    assert book.due(T0) == []


def test_oldest_seen_id_is_forgotten_past_the_cap() -> None:
    """Only the last SEEN_IDS ids are remembered, so the memory stays bounded."""
    book = CommandBook("demo", "b1")
    for n in range(SEEN_IDS + 1):
        assert book.admit(cmd(f"c{n}"), T0)
    assert book.admit(cmd(f"c{SEEN_IDS}"), T0) is False
    assert book.admit(cmd("c0"), T0) is True


def test_expired_command_is_queued_as_expired() -> None:
    """A stale command is not admitted; its `expired` answer waits for the next due()."""
    book = CommandBook("demo", "b1")
    assert book.admit(cmd(ttl=0), T0) is False
    assert book.due(T0) == [BarrierAck("demo", "b1", "c1", "expired", None, T0)]
    assert book.due(T0) == []


def test_command_for_another_device_is_an_error() -> None:
    """A command routed to the wrong profile is refused loudly, never sent."""
    with pytest.raises(ValueError, match="given to b1"):
        CommandBook("demo", "b1").admit(cmd(device="b2"), T0)


def test_unsupported_command_is_queued_as_rejected_after_expiry_check() -> None:
    """An action the device cannot do is answered `rejected`, unless it is already `expired`."""
    book = CommandBook("demo", "b1")
    assert book.admit(cmd("c1", "close"), T0, supported=False) is False
    assert book.admit(cmd("c2", "close", ttl=0), T0, supported=False) is False
    assert book.due(T0) == [BarrierAck("demo", "b1", "c1", "rejected", None, T0),
                            BarrierAck("demo", "b1", "c2", "expired", None, T0)]


def test_settle_acks_only_matching_actions_in_order() -> None:
    """A device report acks every pending command it fulfils, oldest first, and no other."""
    book = CommandBook("demo", "b1")
    for cid, action in (("c1", "open"), ("c2", "close"), ("c3", "open")):
        book.expect(cid, cmd(cid, action))
    assert book.settle({"open"}, "open", T0) == [BarrierAck("demo", "b1", "c1", "done", "open", T0),
                                                 BarrierAck("demo", "b1", "c3", "done", "open", T0)]
    assert book.settle({"open"}, "open", T0) == []
    assert book.take("c2") == ("c2", "close")


def test_take_pops_by_vendor_key() -> None:
    """A reply is matched by the key we sent (Shelly's RPC id) and counts once."""
    book = CommandBook("demo", "b1")
    book.expect(7, cmd())
    assert book.take("7") is None
    assert book.take(7) == ("c1", "open")
    assert book.take(7) is None


def test_due_forgets_pending_after_grace_and_drains_queue() -> None:
    """A pending command outlives its expiry by GRACE, then goes; queued answers go out once."""
    book = CommandBook("demo", "b1")
    book.expect("c1", cmd("c1", ttl=5))
    book.expect("c2", cmd("c2", ttl=5))
    book.admit(cmd("c3", "close"), T0, supported=False)
    expires = T0 + timedelta(seconds=5)
    assert book.due(expires + GRACE - timedelta(microseconds=1)) == [
        BarrierAck("demo", "b1", "c3", "rejected", None, T0)]
    assert book.take("c1") == ("c1", "open")
    assert book.due(expires + GRACE) == []
    assert book.take("c2") is None


def test_expiry_seconds_rounds_up_to_at_least_one() -> None:
    """The MQTT expiry is never 0 (which would mean no expiry) and never cuts a command short."""
    assert expiry_seconds(cmd(ttl=0.2), T0) == 1
    assert expiry_seconds(cmd(ttl=10), T0) == 10
    assert expiry_seconds(cmd(ttl=10.1), T0) == 11
