"""Shelly Gen2+ profile: documented RPC frames in and out, notifications and the online flag."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_adapters.profiles.base import DeviceConfig
from device_adapters.profiles.shelly import ShellyGen2Profile
from device_adapters.topics import Topics
from gate.domain.events import Availability, BarrierAck, BarrierCommand, BarrierState

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "shelly"
T = Topics("gatehouse", "demo")
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
PREFIX = "shellyplus1-a8032ab12345"


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def fxj(name: str) -> dict:
    return json.loads(fx(name))


def make(device: str = "b1", **options) -> ShellyGen2Profile:
    profile = ShellyGen2Profile(
        DeviceConfig(site="demo", kind="barrier", id=device, profile="shelly",
                     options={"prefix": PREFIX, **options}), T)
    profile.clock = lambda: T0
    return profile


def cmd(action: str = "open", cid: str = "c1", ttl: float = 10, device: str = "b1") -> BarrierCommand:
    return BarrierCommand(cid, "demo", device, action, "test", T0, T0 + timedelta(seconds=ttl))


def reply(fixture: str, rpc_id: int) -> bytes:
    return json.dumps({**fxj(fixture), "id": rpc_id}).encode()


def sent_id(profile: ShellyGen2Profile, command: BarrierCommand) -> int:
    [msg] = profile.command(command)
    return json.loads(msg.payload)["id"]


def test_subscribes_to_replies_notifications_and_online() -> None:
    """Replies come on `<src>/rpc` (default gatehouse-<site>), the rest under the device prefix."""
    assert make().subscriptions() == ["gatehouse-demo/rpc", f"{PREFIX}/events/rpc", f"{PREFIX}/online"]


def test_open_publishes_documented_switch_set() -> None:
    """open → the documented Switch.Set frame with toggle_after on `<prefix>/rpc`, not retained."""
    [msg] = make().command(cmd())
    frame = json.loads(msg.payload)
    assert isinstance(frame["id"], int) and not isinstance(frame["id"], bool)
    assert {**frame, "id": 1} == fxj("rpc_request_switch_set.json")
    assert (msg.topic, msg.retain, msg.qos, msg.expiry_seconds) == (f"{PREFIX}/rpc", False, 1, 10)


def test_rpc_ids_are_unique_across_devices() -> None:
    """Two Shellies answering on the same `<src>/rpc` never share an id."""
    a, b = make("b1"), make("b2")
    assert sent_id(a, cmd()) != sent_id(b, cmd(device="b2"))


def test_result_reply_acks_done_open() -> None:
    """The documented `{"result": {"was_on": false}}` reply acks done with state open."""
    profile = make()
    rpc_id = sent_id(profile, cmd())
    assert profile.handle("gatehouse-demo/rpc", reply("rpc_response_switch_set.json", rpc_id), T0) == [
        BarrierAck("demo", "b1", "c1", "done", "open", T0), BarrierState("demo", "b1", "open", T0)]
    assert profile.handle("gatehouse-demo/rpc", reply("rpc_response_switch_set.json", rpc_id), T0) == []


def test_error_reply_acks_rejected() -> None:
    """An `error {code, message}` reply means the device refused: rejected, no state."""
    profile = make()
    rpc_id = sent_id(profile, cmd())
    assert profile.handle("gatehouse-demo/rpc", reply("rpc_response_error.json", rpc_id), T0) == [
        BarrierAck("demo", "b1", "c1", "rejected", None, T0)]


def test_replies_to_unknown_ids_are_not_ours() -> None:
    """A reply with an id we did not send (another device, another bridge) gives no events."""
    a, b = make("b1"), make("b2")
    rpc_id = sent_id(a, cmd())
    assert b.handle("gatehouse-demo/rpc", reply("rpc_response_switch_set.json", rpc_id), T0) == []
    assert a.handle("gatehouse-demo/rpc", reply("rpc_response_switch_set.json", rpc_id + 1), T0) == []
    assert a.handle("gatehouse-demo/rpc", json.dumps({**fxj("rpc_response_switch_set.json"),
                                                      "id": "x"}).encode(), T0) == []


def test_online_flag_gives_availability() -> None:
    """`<prefix>/online` true/false → Availability of our barrier."""
    profile = make()
    assert profile.handle(f"{PREFIX}/online", fx("online_true.txt"), T0) == [
        Availability("demo", "barrier", "b1", True)]
    assert profile.handle(f"{PREFIX}/online", fx("online_false.txt"), T0) == [
        Availability("demo", "barrier", "b1", False)]


def test_notify_status_output_on_reports_open() -> None:
    """NotifyStatus switch:0 output true (a press, or our pulse) reports open; false nothing."""
    profile = make()
    assert profile.handle(f"{PREFIX}/events/rpc", fx("events_rpc_notify_status_on.json"), T0) == [
        BarrierState("demo", "b1", "open", T0)]
    assert profile.handle(f"{PREFIX}/events/rpc", fx("events_rpc_notify_status_off.json"), T0) == []
    assert make(switch_id=1).handle(f"{PREFIX}/events/rpc", fx("events_rpc_notify_status_on.json"), T0) == []


def test_other_notifications_are_ignored() -> None:
    """NotifyEvent and status of other components are not gate events."""
    body = {"src": PREFIX, "method": "NotifyEvent", "params": {"ts": 1.0, "events": []}}
    assert make().handle(f"{PREFIX}/events/rpc", json.dumps(body).encode(), T0) == []
    body = {"method": "NotifyStatus", "params": {"ts": 1.0, "wifi": {"rssi": -60}}}
    assert make().handle(f"{PREFIX}/events/rpc", json.dumps(body).encode(), T0) == []


def test_close_without_close_switch_is_rejected_via_timeouts() -> None:
    """A pulse relay that opens cannot close: nothing is sent, the next tick answers rejected."""
    profile = make()
    assert profile.command(cmd("close")) == []
    assert profile.pending_timeouts(T0) == [BarrierAck("demo", "b1", "c1", "rejected", None, T0)]
    assert profile.pending_timeouts(T0) == []


def test_close_switch_pulses_and_acks_closing() -> None:
    """With close_switch_id 1 and pulse_seconds 2, close is Switch.Set id 1, toggle_after 2."""
    profile = make(close_switch_id=1, pulse_seconds=2)
    [msg] = profile.command(cmd("close"))
    frame = json.loads(msg.payload)
    assert frame["params"] == {"id": 1, "on": True, "toggle_after": 2} and msg.retain is False
    events = profile.handle("gatehouse-demo/rpc", reply("rpc_response_switch_set.json", frame["id"]), T0)
    assert events == [BarrierAck("demo", "b1", "c1", "done", "closing", T0),
                      BarrierState("demo", "b1", "closing", T0)]


def test_stale_and_redelivered_commands_are_not_sent() -> None:
    """An expired command is answered expired; a redelivered id is not sent again."""
    profile = make()
    assert profile.command(cmd(ttl=-1)) == []
    assert profile.pending_timeouts(T0) == [BarrierAck("demo", "b1", "c1", "expired", None, T0)]
    assert len(profile.command(cmd(cid="c2"))) == 1
    assert profile.command(cmd(cid="c2")) == []


def test_late_reply_after_expiry_is_dropped() -> None:
    """Once expiry (+1 s) has passed the request is forgotten; the waiter said no_answer."""
    profile = make()
    rpc_id = sent_id(profile, cmd(ttl=5))
    late = T0 + timedelta(seconds=7)
    assert profile.pending_timeouts(late) == []
    assert profile.handle("gatehouse-demo/rpc", reply("rpc_response_switch_set.json", rpc_id), late) == []


def test_custom_src() -> None:
    """A site may pick its own RPC source; replies are then expected on `<src>/rpc`."""
    profile = make(src="estate/gatehouse")
    assert "estate/gatehouse/rpc" in profile.subscriptions()
    [msg] = profile.command(cmd())
    assert json.loads(msg.payload)["src"] == "estate/gatehouse"


def test_other_topics_are_ignored() -> None:
    """Another Shelly's topics, or status topics we did not ask for, give no events."""
    profile = make()
    for topic in ("shellyplus1-other/online", "shellyplus1-other/events/rpc", f"{PREFIX}/status/switch:0",
                  "someone-else/rpc"):
        assert profile.handle(topic, b"true", T0) == []


@pytest.mark.parametrize(("topic", "payload"), [
    ("gatehouse-demo/rpc", b"not json"),
    ("gatehouse-demo/rpc", b"[1, 2]"),
    ("gatehouse-demo/rpc", b'{"result": {}}'),
    ("gatehouse-demo/rpc", b'{"id": true, "result": {}}'),
    ("gatehouse-demo/rpc", b'{"id": 1, "result": [false]}'),
    ("gatehouse-demo/rpc", b'{"id": 1, "error": "broken"}'),
    ("gatehouse-demo/rpc", b'{"id": 1, "error": {"code": "x", "message": "m"}}'),
    ("gatehouse-demo/rpc", b'{"id": 1, "src": "x"}'),
    ("gatehouse-demo/rpc", b"\xff" * 10),
    ("gatehouse-demo/rpc", b'{"id": 1, "result": {"pad": "' + b"x" * 70_000 + b'"}}'),
    (f"{PREFIX}/events/rpc", b'{"method": "NotifyStatus", "params": {"switch:0": {"output": "on"}}}'),
    (f"{PREFIX}/events/rpc", b'"NotifyStatus"'),
    (f"{PREFIX}/online", b"yes"),
    (f"{PREFIX}/online", b"true" * 10),
])
def test_malformed_payloads_raise(topic: str, payload: bytes) -> None:
    """Non-JSON, frames without id, wrong types, huge or non-UTF-8 payloads are ValueErrors."""
    with pytest.raises(ValueError):
        make().handle(topic, payload, T0)


@pytest.mark.parametrize("options", [
    {"prefix": "shelly/#"}, {"prefix": "$SYS"}, {"prefix": ""}, {"src": "a+b"}, {"switch_id": -1},
    {"switch_id": "0"}, {"close_switch_id": 0}, {"pulse_seconds": 0}, {"pulse_seconds": True},
])
def test_bad_options_are_refused(options: dict) -> None:
    """A site-file mistake (wildcards, bad ids, a zero pulse) fails at load time."""
    with pytest.raises(ValueError):
        ShellyGen2Profile(DeviceConfig(site="demo", kind="barrier", id="b1", profile="shelly",
                                       options={"prefix": PREFIX, **options}), T)


def test_missing_prefix_is_refused() -> None:
    """The device's topic prefix is required."""
    with pytest.raises(ValueError, match="prefix"):
        ShellyGen2Profile(DeviceConfig(site="demo", kind="barrier", id="b1", profile="shelly"), T)


def test_commands_are_never_retained() -> None:
    """Every message command() returns has retain False (a retained OPEN re-runs on reconnect)."""
    profile = make(close_switch_id=1)
    msgs = [m for i, a in enumerate(("open", "close", "open")) for m in profile.command(cmd(a, f"c{i}"))]
    assert len(msgs) == 3 and all(m.retain is False for m in msgs)
