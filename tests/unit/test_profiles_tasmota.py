"""Tasmota relay profile: documented Tasmota payloads in, canonical events and commands out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_adapters.profiles.base import DeviceConfig
from device_adapters.profiles.tasmota import TasmotaRelayProfile
from device_adapters.topics import Topics
from gate.domain.events import Availability, BarrierAck, BarrierCommand, BarrierState

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "tasmota"
T = Topics("gatehouse", "demo")
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
DEV = "tasmota_5A3F21"


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def make(**options) -> TasmotaRelayProfile:
    profile = TasmotaRelayProfile(
        DeviceConfig(site="demo", kind="barrier", id="b1", profile="tasmota",
                     options={"topic": DEV, **options}), T)
    profile.clock = lambda: T0
    return profile


def cmd(action: str = "open", cid: str = "c1", ttl: float = 10, device: str = "b1") -> BarrierCommand:
    return BarrierCommand(cid, "demo", device, action, "test", T0, T0 + timedelta(seconds=ttl))


def test_subscribes_to_result_power_and_lwt() -> None:
    """Relay 1 is reported as POWER1, or POWER with one relay (SetOption26 0): both are heard."""
    assert set(make().subscriptions()) == {f"stat/{DEV}/RESULT", f"stat/{DEV}/POWER1",
                                           f"stat/{DEV}/POWER", f"tele/{DEV}/LWT"}


def test_open_publishes_documented_power_on() -> None:
    """open → `cmnd/<topic>/POWER1 ON`, QoS 1, never retained, expiring with the command."""
    [msg] = make().command(cmd())
    assert (msg.topic, msg.payload) == (f"cmnd/{DEV}/POWER1", fx("cmnd_POWER1_open.txt"))
    assert msg.retain is False and msg.qos == 1 and msg.expiry_seconds == 10


def test_expiry_is_rounded_up_and_at_least_one_second() -> None:
    """A command with 0.2 s left still gets a 1 s MQTT expiry, never 0 (which means none)."""
    [msg] = make().command(cmd(ttl=0.2))
    assert msg.expiry_seconds == 1 and msg.retain is False


@pytest.mark.parametrize(("topic", "fixture"), [
    (f"stat/{DEV}/POWER1", "stat_POWER_on.txt"),
    (f"stat/{DEV}/POWER", "stat_POWER_on.txt"),
    (f"stat/{DEV}/RESULT", "stat_RESULT_POWER_on.json"),
    (f"stat/{DEV}/RESULT", "stat_RESULT_POWER1_on.json"),
])
def test_power_on_acks_pending_open(topic: str, fixture: str) -> None:
    """Every documented form of "relay 1 is ON" acks the pending open as done/open."""
    profile = make()
    profile.command(cmd())
    now = T0 + timedelta(seconds=1)
    assert profile.handle(topic, fx(fixture), now) == [
        BarrierAck("demo", "b1", "c1", "done", "open", now), BarrierState("demo", "b1", "open", now)]
    assert profile.handle(topic, fx(fixture), now) == [BarrierState("demo", "b1", "open", now)]


def test_power_on_without_pending_reports_state_only() -> None:
    """A press on the device itself (nothing pending) still tells the guard the gate opened."""
    assert make().handle(f"stat/{DEV}/POWER1", b"ON", T0) == [BarrierState("demo", "b1", "open", T0)]


def test_off_is_button_release_unless_configured() -> None:
    """OFF after a pulse reports nothing; with off_means_closed it reports closed."""
    assert make().handle(f"stat/{DEV}/POWER1", fx("stat_POWER_off.txt"), T0) == []
    assert make(off_means_closed=True).handle(f"stat/{DEV}/POWER1", fx("stat_POWER_off.txt"), T0) == [
        BarrierState("demo", "b1", "closed", T0)]


def test_close_without_close_relay_is_rejected_via_timeouts() -> None:
    """A pulse relay that opens cannot close: nothing is sent, the next tick answers rejected."""
    profile = make()
    assert profile.command(cmd("close")) == []
    assert profile.pending_timeouts(T0) == [BarrierAck("demo", "b1", "c1", "rejected", None, T0)]
    assert profile.pending_timeouts(T0) == []


def test_close_relay_pulses_and_acks_closing() -> None:
    """With close_relay 2, close pulses POWER2 and its ON acks done with state closing."""
    profile = make(close_relay=2)
    [msg] = profile.command(cmd("close"))
    assert (msg.topic, msg.payload, msg.retain) == (f"cmnd/{DEV}/POWER2", b"ON", False)
    events = profile.handle(f"stat/{DEV}/RESULT", fx("stat_RESULT_POWER2_on.json"), T0)
    assert events == [BarrierAck("demo", "b1", "c1", "done", "closing", T0),
                      BarrierState("demo", "b1", "closing", T0)]


def test_stale_command_is_expired_not_sent() -> None:
    """A command already past its expiry never pulses the relay; it is answered expired."""
    profile = make()
    assert profile.command(cmd(ttl=-1)) == []
    assert profile.pending_timeouts(T0) == [BarrierAck("demo", "b1", "c1", "expired", None, T0)]


def test_redelivered_command_does_not_pulse_twice() -> None:
    """QoS 1 may deliver a command twice: the same id is sent once."""
    profile = make()
    assert len(profile.command(cmd())) == 1
    assert profile.command(cmd()) == []


def test_pending_is_forgotten_after_expiry() -> None:
    """After expiry (+1 s grace) a late ON reports state but no ack: the waiter said no_answer."""
    profile = make()
    profile.command(cmd(ttl=5))
    late = T0 + timedelta(seconds=7)
    assert profile.pending_timeouts(late) == []
    assert profile.handle(f"stat/{DEV}/POWER1", b"ON", late) == [BarrierState("demo", "b1", "open", late)]


def test_lwt_gives_availability() -> None:
    """tele/<topic>/LWT Online/Offline → Availability of our barrier."""
    profile = make()
    assert profile.handle(f"tele/{DEV}/LWT", fx("tele_LWT_online.txt"), T0) == [
        Availability("demo", "barrier", "b1", True)]
    assert profile.handle(f"tele/{DEV}/LWT", fx("tele_LWT_offline.txt"), T0) == [
        Availability("demo", "barrier", "b1", False)]


def test_result_of_other_commands_is_ignored() -> None:
    """RESULT also answers PulseTime, Status…: those are not power reports."""
    assert make().handle(f"stat/{DEV}/RESULT", fx("stat_RESULT_pulsetime.json"), T0) == []


def test_other_devices_are_ignored() -> None:
    """Messages of another Tasmota, or unrelated topics, give no events."""
    profile = make()
    profile.command(cmd())
    for topic in ("stat/tasmota_OTHER/POWER1", "stat/tasmota_OTHER/RESULT", "tele/tasmota_OTHER/LWT",
                  f"tele/{DEV}/STATE", "gatehouse/demo/barrier/b1/ack"):
        assert profile.handle(topic, b"ON", T0) == []
    assert profile.handle(f"stat/{DEV}/POWER2", b"ON", T0) == []  # not our relay


@pytest.mark.parametrize(("topic", "payload"), [
    (f"stat/{DEV}/RESULT", b"{not json"),
    (f"stat/{DEV}/RESULT", b'["POWER1", "ON"]'),
    (f"stat/{DEV}/RESULT", b'{"POWER1": 1}'),
    (f"stat/{DEV}/RESULT", b'{"POWER1": "MAYBE"}'),
    (f"stat/{DEV}/RESULT", b'{"POWER1": "' + b"O" * 70_000 + b'"}'),
    (f"stat/{DEV}/POWER1", b"BLINK"),
    (f"stat/{DEV}/POWER1", b"\xff\xfeON"),
    (f"stat/{DEV}/POWER1", b"ON" * 100),
    (f"tele/{DEV}/LWT", b"Sleeping"),
    (f"tele/{DEV}/LWT", b"\xc3\x28"),
])
def test_malformed_payloads_raise(topic: str, payload: bytes) -> None:
    """Non-JSON, wrong types, unknown words, huge or non-UTF-8 payloads are ValueErrors."""
    with pytest.raises(ValueError):
        make().handle(topic, payload, T0)


def test_custom_full_topic_and_prefixes() -> None:
    """FullTopic `tasmota/%topic%/%prefix%/` and renamed prefixes are honoured."""
    profile = make(full_topic="tasmota/%topic%/%prefix%/", cmnd_prefix="cmd", relay=3)
    [msg] = profile.command(cmd())
    assert msg.topic == f"tasmota/{DEV}/cmd/POWER3"
    assert set(profile.subscriptions()) == {f"tasmota/{DEV}/stat/RESULT", f"tasmota/{DEV}/stat/POWER3",
                                            f"tasmota/{DEV}/tele/LWT"}


@pytest.mark.parametrize("options", [
    {"topic": None}, {"topic": "a/b"}, {"topic": "dev#"}, {"relay": 0}, {"relay": True},
    {"close_relay": 1}, {"full_topic": "%topic%/"}, {"full_topic": "%prefix%/%topic%/%hostname%/"},
    {"full_topic": "+/%prefix%/%topic%/"}, {"stat_prefix": "st/at"},
])
def test_bad_options_are_refused(options: dict) -> None:
    """A site-file mistake (wildcards, bad relay numbers, unknown tokens) fails at load time."""
    base = {"topic": DEV, **options}
    if base["topic"] is None:
        del base["topic"]
    with pytest.raises(ValueError):
        TasmotaRelayProfile(DeviceConfig(site="demo", kind="barrier", id="b1", profile="tasmota",
                                         options=base), T)


def test_command_for_another_device_is_refused() -> None:
    """The bridge must never pulse this relay for another barrier's command."""
    with pytest.raises(ValueError):
        make().command(cmd(device="b2"))


def test_commands_are_never_retained() -> None:
    """Every message command() returns has retain False (a retained OPEN re-runs on reconnect)."""
    profile = make(close_relay=2)
    msgs = [m for i, a in enumerate(("open", "close", "open")) for m in profile.command(cmd(a, f"c{i}"))]
    assert msgs and all(m.retain is False for m in msgs)
