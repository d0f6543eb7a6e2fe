"""The commander against forged and repeated acks, and its memory of the commands it issued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from device_adapters import commander as commander_module
from device_adapters.commander import Commander
from device_adapters.topics import Topics
from gate.domain.events import BarrierAck, BarrierCommand

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeLink:
    """Records what the commander publishes."""

    def __init__(self) -> None:
        self.published = []

    def publish(self, msg) -> None:
        self.published.append(msg)


def command(cid: str, device: str = "car-in", ttl: float = 5.0) -> BarrierCommand:
    now = datetime.now(UTC)
    return BarrierCommand(id=cid, site="demo", device=device, action="open", reason="test",
                          issued_at=now, expires_at=now + timedelta(seconds=ttl))


def ack(cid: str, device: str = "car-in", result: str = "done") -> BarrierAck:
    return BarrierAck(site="demo", device=device, command_id=cid, result=result, state="open", at=NOW)


def sent() -> tuple[Commander, list]:
    link = FakeLink()
    made = Commander(link, Topics("gatehouse", "demo"))
    outcomes: list = []
    made.send(command("c-1"), lambda outcome, state: outcomes.append(outcome))
    assert not link.published[0].retain
    return made, outcomes


def test_ack_for_unknown_command_settles_nothing(caplog):
    """Protects against forged acks: an ack for an id the commander never sent is dropped (and
    logged); the real command stays pending."""
    made, outcomes = sent()
    assert made.handle_ack_event(ack("no-such-command")) is False
    assert (outcomes, made.pending()) == ([], 1)
    assert "unknown or settled command" in caplog.text


def test_ack_from_another_barrier_settles_nothing(caplog):
    """Protects against an ack forged on another barrier's topic: the command's id is right but
    the ack came from car-out, not car-in, so it is dropped and the command stays pending."""
    made, outcomes = sent()
    assert made.handle_ack_event(ack("c-1", device="car-out")) is False
    assert (outcomes, made.pending()) == ([], 1)
    assert "wrong barrier" in caplog.text
    assert made.handle_ack_event(ack("c-1")) is True
    assert outcomes == ["done"]


def test_second_ack_changes_nothing():
    """Protects a settled outcome: a second ack (e.g. a forged `rejected` after `done`) is dropped."""
    made, outcomes = sent()
    assert made.handle_ack_event(ack("c-1")) is True
    assert made.handle_ack_event(ack("c-1", result="rejected")) is False
    assert outcomes == ["done"]


def test_issued_remembers_own_commands_until_they_expire(monkeypatch):
    """Protects the vendor relay's 'only our own commands' check: a command id is known for its
    own barrier until it expires, unknown for another barrier, and the memory stays bounded."""
    made, _ = sent()
    now = datetime.now(UTC)
    assert made.issued("c-1", "car-in", now)
    assert not made.issued("c-1", "car-out", now)
    assert not made.issued("c-2", "car-in", now)
    assert not made.issued("c-1", "car-in", now + timedelta(seconds=10))
    monkeypatch.setattr(commander_module, "ISSUED_MAX", 3)
    for i in range(5):
        made.send(command(f"b-{i}"), lambda outcome, state: None)
    assert [made.issued(f"b-{i}", "car-in") for i in range(5)] == [False, False, True, True, True]


def test_may_relay_own_commands_and_only_short_lived_foreign_ones():
    """Protects vendor barriers from forged live commands: the bridge relays its own commands; one
    from another process only if not dated in the future and living no longer than the TTL."""
    made, _ = sent()
    now = datetime.now(UTC)
    assert made.may_relay(command("c-1", ttl=5.0), 5.0, now)  # ours
    assert made.may_relay(command("kiosk-1", ttl=5.0), 5.0, now)  # the kiosk's, ordinary
    assert not made.may_relay(command("long-1", ttl=3600.0), 5.0, now)
    later = now + timedelta(minutes=5)
    future = BarrierCommand(id="future-1", site="demo", device="car-in", action="open", reason="x",
                            issued_at=later, expires_at=later + timedelta(seconds=5))
    assert not made.may_relay(future, 5.0, now)
