"""Home Assistant MQTT cover profile, and discovery of our barriers in Home Assistant."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub

from device_adapters.profiles import ha_discovery as ha
from device_adapters.profiles.base import DeviceConfig
from device_adapters.profiles.ha_cover import HomeAssistantCoverProfile
from device_adapters.topics import Topics
from gate.domain.events import Availability, BarrierAck, BarrierCommand, BarrierState

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "ha_cover"
T = Topics("gatehouse", "demo")
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
CMD, STATE, AVAIL = "esphome/north-gate/cover/gate/command", "esphome/north-gate/cover/gate/state", \
    "esphome/north-gate/status"


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def make(**options) -> HomeAssistantCoverProfile:
    profile = HomeAssistantCoverProfile(
        DeviceConfig(site="demo", kind="barrier", id="b1", profile="ha_cover",
                     options={"command_topic": CMD, "state_topic": STATE, "availability_topic": AVAIL,
                              **options}), T)
    profile.clock = lambda: T0
    return profile


def cmd(action: str = "open", cid: str = "c1", ttl: float = 10) -> BarrierCommand:
    return BarrierCommand(cid, "demo", "b1", action, "test", T0, T0 + timedelta(seconds=ttl))


def state(profile: HomeAssistantCoverProfile, value: str) -> list:
    return profile.handle(STATE, fx(f"state_{value}.txt"), T0)


# --- the cover profile -----------------------------------------------------------------------

def test_subscriptions() -> None:
    """State and availability topics; no availability topic when the cover has none."""
    assert make().subscriptions() == [STATE, AVAIL]
    assert make(availability_topic=None).subscriptions() == [STATE]


@pytest.mark.parametrize(("action", "fixture"), [("open", "command_open.txt"),
                                                 ("close", "command_close.txt")])
def test_commands_publish_documented_payloads(action: str, fixture: str) -> None:
    """open/close → the cover's OPEN/CLOSE on its command topic, QoS 1, never retained."""
    [msg] = make().command(cmd(action))
    assert (msg.topic, msg.payload, msg.retain, msg.qos, msg.expiry_seconds) == (
        CMD, fx(fixture), False, 1, 10)


def test_opening_acks_pending_open() -> None:
    """`opening` reaches the target of an open: ack done/opening; later `open` is state only."""
    profile = make()
    profile.command(cmd())
    assert state(profile, "opening") == [BarrierAck("demo", "b1", "c1", "done", "opening", T0),
                                         BarrierState("demo", "b1", "opening", T0)]
    assert state(profile, "open") == [BarrierState("demo", "b1", "open", T0)]


def test_wrong_direction_does_not_ack() -> None:
    """While an open is pending, `closing` is reported but the command stays pending."""
    profile = make()
    profile.command(cmd())
    assert state(profile, "closing") == [BarrierState("demo", "b1", "closing", T0)]
    assert state(profile, "open")[0] == BarrierAck("demo", "b1", "c1", "done", "open", T0)


def test_closed_acks_pending_close() -> None:
    """`closed` acks a pending close."""
    profile = make()
    profile.command(cmd("close"))
    assert state(profile, "closed") == [BarrierAck("demo", "b1", "c1", "done", "closed", T0),
                                        BarrierState("demo", "b1", "closed", T0)]


def test_stopped_follows_home_assistant_rule() -> None:
    """`stopped` is closed after closing and open otherwise, as Home Assistant reads it."""
    profile = make()
    assert state(profile, "stopped") == [BarrierState("demo", "b1", "open", T0)]
    state(profile, "closing")
    assert state(profile, "stopped") == [BarrierState("demo", "b1", "closed", T0)]


def test_stopped_can_mean_fault() -> None:
    """With stopped_is_fault, an arm that halts is reported as a fault."""
    assert state(make(stopped_is_fault=True), "stopped") == [BarrierState("demo", "b1", "fault", T0)]


def test_unknown_and_empty_states_are_ignored() -> None:
    """`None` (unknown) and an empty payload carry no state, as in Home Assistant."""
    profile = make()
    assert state(profile, "none") == [] and profile.handle(STATE, b"", T0) == []


def test_renamed_state_and_command_values() -> None:
    """state_open/payload_open options let a device with other words (e.g. upper case) fit."""
    profile = make(state_open="OPEN", state_closed="CLOSED", payload_open="UP")
    [msg] = profile.command(cmd())
    assert msg.payload == b"UP"
    assert profile.handle(STATE, b"OPEN", T0)[0] == BarrierAck("demo", "b1", "c1", "done", "open", T0)
    with pytest.raises(ValueError):
        profile.handle(STATE, b"open", T0)


def test_availability() -> None:
    """online/offline on the availability topic → Availability of our barrier."""
    profile = make()
    assert profile.handle(AVAIL, fx("availability_online.txt"), T0) == [
        Availability("demo", "barrier", "b1", True)]
    assert profile.handle(AVAIL, fx("availability_offline.txt"), T0) == [
        Availability("demo", "barrier", "b1", False)]


def test_other_topics_are_ignored() -> None:
    """Another cover's topics give no events."""
    for topic in ("esphome/south-gate/cover/gate/state", CMD, "esphome/south-gate/status"):
        assert make().handle(topic, b"open", T0) == []


def test_stale_redelivered_and_forgotten_commands() -> None:
    """Expired → answered expired; same id twice → sent once; after expiry no ack any more."""
    profile = make()
    assert profile.command(cmd(ttl=-1)) == []
    assert profile.pending_timeouts(T0) == [BarrierAck("demo", "b1", "c1", "expired", None, T0)]
    assert len(profile.command(cmd(cid="c2", ttl=5))) == 1 and profile.command(cmd(cid="c2")) == []
    assert profile.pending_timeouts(T0 + timedelta(seconds=7)) == []
    assert state(profile, "open") == [BarrierState("demo", "b1", "open", T0)]


@pytest.mark.parametrize(("topic", "payload"), [
    (STATE, b"ajar"), (STATE, b"\xff\xfe"), (STATE, b"open" * 100), (AVAIL, b"maybe"), (AVAIL, b"\x80"),
])
def test_malformed_payloads_raise(topic: str, payload: bytes) -> None:
    """Unknown states, huge or non-UTF-8 payloads are ValueErrors."""
    with pytest.raises(ValueError):
        make().handle(topic, payload, T0)


@pytest.mark.parametrize("options", [
    {"command_topic": "a/+/set"}, {"state_topic": "a/#"}, {"availability_topic": ""},
    {"state_open": "closed"}, {"payload_available": "offline"}, {"payload_open": 1},
])
def test_bad_options_are_refused(options: dict) -> None:
    """Wildcard topics or clashing state values fail at load time."""
    with pytest.raises(ValueError):
        make(**options)


def test_required_topics() -> None:
    """command_topic and state_topic are required."""
    with pytest.raises(ValueError, match="command_topic"):
        HomeAssistantCoverProfile(DeviceConfig(site="demo", kind="barrier", id="b1", profile="ha_cover",
                                               options={"state_topic": STATE}), T)


def test_commands_are_never_retained() -> None:
    """Every message command() returns has retain False."""
    profile = make()
    msgs = [m for i, a in enumerate(("open", "close")) for m in profile.command(cmd(a, f"c{i}"))]
    assert len(msgs) == 2 and all(m.retain is False for m in msgs)


# --- discovery of our barriers ---------------------------------------------------------------

GATES = [{"id": "north-in", "kind": "barrier", "name": "北门入口"}, {"id": "south_out", "kind": "barrier"},
         {"id": "cam1", "kind": "camera", "name": "not a gate"}]


def test_discovery_configs_are_retained_and_complete() -> None:
    """Each barrier gets a retained cover config with every field HA needs; cameras are skipped."""
    msgs = ha.discovery_messages(T, GATES)
    assert [m.topic for m in msgs] == ["homeassistant/cover/gatehouse_demo_north-in/config",
                                       "homeassistant/cover/gatehouse_demo_south_out/config"]
    for msg, gate in zip(msgs, GATES, strict=False):
        assert msg.retain is True and msg.qos == 1
        body = json.loads(msg.payload.decode("utf-8"))
        uid = f"gatehouse_demo_{gate['id']}"
        assert re.fullmatch(r"[a-zA-Z0-9_-]+", uid) and body["unique_id"] == uid
        assert "name" in body and body["device_class"] == "gate"
        assert body["command_topic"] == f"gatehouse/demo/barrier/{gate['id']}/ha/set"
        assert body["state_topic"] == f"gatehouse/demo/barrier/{gate['id']}/ha/state"
        assert body["availability_topic"] == T.availability("barrier", gate["id"])
        assert (body["payload_available"], body["payload_not_available"]) == ("online", "offline")
        assert (body["payload_open"], body["payload_close"], body["payload_stop"]) == ("OPEN", "CLOSE", None)
        assert body["qos"] == 1 and body["retain"] is False
        assert body["dev"] == {"ids": [uid], "name": gate.get("name", gate["id"]), "mf": "Gatehouse"}
        assert body["o"] == {"name": "gatehouse"}
        assert body["default_entity_id"] == f"cover.{uid}"


def test_discovery_uses_documented_abbreviations() -> None:
    """Our `dev` and `o` keys are among those in HA's documented discovery example."""
    example = json.loads(fx("discovery_single_component_example.json"))
    body = json.loads(ha.discovery_messages(T, GATES[:1])[0].payload)
    assert set(body["dev"]) <= set(example["dev"]) and set(body["o"]) <= set(example["o"])


def test_discovery_accepts_device_configs() -> None:
    """The bridge may pass its DeviceConfig objects directly."""
    device = DeviceConfig(site="demo", kind="barrier", id="b1", profile="tasmota", name="东门")
    [msg] = ha.discovery_messages(T, [device])
    assert json.loads(msg.payload)["dev"]["name"] == "东门"


def test_bad_gate_ids_are_refused() -> None:
    """An id that could smuggle a topic level or wildcard is a ValueError."""
    for gate in ({"id": "a/b"}, {"id": "x+"}, {"name": "no id"}):
        with pytest.raises(ValueError):
            ha.discovery_messages(T, [gate])


def test_removal_is_empty_retained_payload() -> None:
    """Removing a gate publishes an empty retained payload on its config topic."""
    msgs = ha.removal_messages(T, GATES)
    assert [m.topic for m in msgs] == [m.topic for m in ha.discovery_messages(T, GATES)]
    assert all(m.payload == b"" and m.retain is True for m in msgs)


def test_should_republish_on_birth_only() -> None:
    """Configs are re-sent when HA says online on homeassistant/status, not otherwise."""
    assert ha.should_republish(ha.HA_STATUS_TOPIC, fx("homeassistant_status_online.txt"))
    assert ha.should_republish("homeassistant/status", "online")
    assert not ha.should_republish("homeassistant/status", b"offline")
    assert not ha.should_republish("zigbee2mqtt/bridge/state", b"online")


def test_parse_ha_set() -> None:
    """HA's OPEN/CLOSE become our actions; STOP and anything else are refused."""
    assert ha.parse_ha_set(fx("command_open.txt")) == "open"
    assert ha.parse_ha_set(b"CLOSE") == "close"
    for bad in (b"STOP", b"open", b"", b"\xff", b"OPEN" * 10):
        with pytest.raises(ValueError):
            ha.parse_ha_set(bad)


def test_ha_set_topic_round_trip() -> None:
    """The bridge's filter matches every barrier's set topic and gives the device id back."""
    topic = ha.ha_set_topic(T, "north-in")
    assert topic_matches_sub(ha.ha_set_filter(T), topic)
    assert ha.ha_set_device(T, topic) == "north-in"
    assert ha.ha_set_device(T, "gatehouse/demo/barrier/a/b/ha/set") is None
    assert ha.ha_set_device(T, "gatehouse/other/barrier/b1/ha/set") is None


def test_state_message_uses_ha_words() -> None:
    """Our states map to HA's; fault becomes None (unknown); the state is retained."""
    msg = ha.state_message(T, "b1", "opening")
    assert (msg.topic, msg.payload, msg.retain) == ("gatehouse/demo/barrier/b1/ha/state", b"opening", True)
    assert ha.state_message(T, "b1", "fault").payload == b"None"
    with pytest.raises(ValueError):
        ha.state_message(T, "b1", "ajar")
