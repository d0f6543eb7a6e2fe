"""Hostile MQTT payloads for every device profile and the canonical SPEC §3 contract.

A device (or whoever holds its credentials) can publish anything on its topics. For each
profile, arbitrary bytes, arbitrary JSON and mutations of the documented vendor payloads
(tests/fixtures/vendors: a key dropped, a value of the wrong type, huge or non-finite numbers,
timestamps before 1970 or after 9999, unicode, deep nesting) must give either valid
canonical events or ValueError, the one rejection the bridge handles (it logs and drops).
Anything else would reach the bridge's catch-all; an invalid event would reach the database.
Events that the bridge republishes in the canonical dialect must survive render → parse.
Pure logic: no broker, no database.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from device_adapters import contract
from device_adapters.profiles import ha_discovery
from device_adapters.profiles.base import MAX_PAYLOAD, DeviceConfig, Profile, load_json
from device_adapters.profiles.frigate import FrigateLprProfile
from device_adapters.profiles.ha_cover import HomeAssistantCoverProfile
from device_adapters.profiles.native import NativeProfile
from device_adapters.profiles.shelly import ShellyGen2Profile
from device_adapters.profiles.tasmota import TasmotaRelayProfile
from device_adapters.topics import Topics, rfc3339
from gate.domain.events import (
    ACK_RESULTS,
    BARRIER_ACTIONS,
    BARRIER_STATES,
    Availability,
    BarrierAck,
    BarrierCommand,
    BarrierState,
    CardRead,
    PlateRead,
    Scan,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vendors"
T = Topics("gatehouse", "demo")
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
TASMOTA, SHELLY = "tasmota_5A3F21", "shellyplus1-a8032ab12345"
# These run once per profile (8 of them): 250 examples each keep the file under a minute.
props = settings(database=None, deadline=None, max_examples=250)


# --- the profiles under test, each with commands pending so replies reach the ack code ----------
def _device(kind: str, device_id: str, profile: str, **options: Any) -> DeviceConfig:
    return DeviceConfig(site="demo", kind=kind, id=device_id, profile=profile, options=options)


def _pending(profile: Profile) -> list[int]:
    """Send an open and a close so acks can be produced; the vendor RPC ids used (Shelly)."""
    profile.clock = lambda: T0  # type: ignore[attr-defined]
    ids = []
    for n, action in enumerate(BARRIER_ACTIONS):
        cmd = BarrierCommand(f"c{n}", "demo", profile.device.id, action, "test", T0,
                             T0 + timedelta(seconds=10))
        for msg in profile.command(cmd):
            body = msg.payload.decode()
            if body.startswith("{"):
                ids.append(json.loads(body)["id"])
    return ids


def make(name: str) -> tuple[Profile, list[int]]:
    """A fresh profile (they keep state) and the RPC ids it is waiting for."""
    if name.startswith("native-"):
        kind = name.removeprefix("native-")
        return NativeProfile(_device(kind, f"{kind[0]}1", "native"), T), []
    if name == "frigate":
        return FrigateLprProfile(_device("camera", "cam-in", "frigate", camera="front_door", direction="in",
                                         snapshot_base_url="http://nvr:5000"), T), []
    profile: Profile
    if name == "tasmota":
        profile = TasmotaRelayProfile(_device("barrier", "b2", "tasmota", topic=TASMOTA, close_relay=2), T)
    elif name == "shelly":
        profile = ShellyGen2Profile(_device("barrier", "b3", "shelly", prefix=SHELLY, close_switch_id=1), T)
    else:
        profile = HomeAssistantCoverProfile(_device(
            "barrier", "b4", "ha_cover", command_topic="gate/set", state_topic="gate/state",
            availability_topic="gate/avail"), T)
    return profile, _pending(profile)


NAMES = ["native-barrier", "native-camera", "native-scanner", "native-idreader",
         "frigate", "tasmota", "shelly", "ha_cover"]

# Documented payloads (vendor fixtures, and canonical ones built by the contract's encoders),
# by profile, with the topic each arrives on.
_ID = "11010519491231002X"
_CANONICAL = {
    "native-barrier": [
        ("gatehouse/demo/barrier/b1/ack",
         contract.encode_ack(BarrierAck("demo", "b1", "c0", "done", "open", T0))),
        ("gatehouse/demo/barrier/b1/state", contract.encode_state(BarrierState("demo", "b1", "closed", T0))),
        ("gatehouse/demo/barrier/b1/availability", b"online"),
    ],
    "native-camera": [
        ("gatehouse/demo/camera/c1/plate", contract.encode_plate(PlateRead(
            "demo", "c1", "e1", "粤B12345", 0.93, "in", T0, color="blue", snapshot_url="http://c1/s.jpg"))),
        ("gatehouse/demo/camera/c1/availability", b"offline"),
    ],
    "native-scanner": [("gatehouse/demo/scanner/s1/scan", json.dumps(
        {"event_id": "e1", "text": "GP1ABC", "at": rfc3339(T0)}).encode())],
    "native-idreader": [("gatehouse/demo/idreader/i1/card", json.dumps(
        {"event_id": "e1", "name": "王五", "id_number": _ID, "at": rfc3339(T0)},
        ensure_ascii=False).encode())],
}
_VENDOR_TOPICS = {
    "frigate": {"events": "frigate/events", "tracked_object_update": "frigate/tracked_object_update",
                "available": "frigate/available"},
    "tasmota": {"stat_RESULT": f"stat/{TASMOTA}/RESULT", "stat_POWER": f"stat/{TASMOTA}/POWER",
                "tele_LWT": f"tele/{TASMOTA}/LWT"},
    "shelly": {"rpc_response": "gatehouse-demo/rpc", "events_rpc": f"{SHELLY}/events/rpc",
               "online": f"{SHELLY}/online"},
    "ha_cover": {"state": "gate/state", "availability": "gate/avail"},
}


def _samples(name: str) -> list[tuple[str, bytes]]:
    if name in _CANONICAL:
        return _CANONICAL[name]
    found = []
    for path in sorted((FIX / name).glob("*.*")):
        topic = next((t for stem, t in _VENDOR_TOPICS[name].items() if path.name.startswith(stem)), None)
        if topic is not None:
            found.append((topic, path.read_bytes()))
    assert found, name
    return found


SAMPLES = {name: _samples(name) for name in NAMES}


# --- what may come out ------------------------------------------------------------------------
def _text(value: object, limit: int) -> None:
    assert isinstance(value, str) and 0 < len(value) <= limit and value.strip(), value
    value.encode("utf-8")  # no lone surrogates: the database must be able to store it


def _time(value: object) -> None:
    assert isinstance(value, datetime) and value.utcoffset() == timedelta(0), value


def check_event(profile: Profile, event: object) -> None:
    """One event is valid for the device that produced it, and survives the canonical dialect."""
    d = profile.device
    assert (event.site, event.device) == ("demo", d.id), event  # type: ignore[attr-defined]
    if isinstance(event, PlateRead):
        assert d.kind == "camera"
        _text(event.event_id, 64)
        _text(event.plate, 40)
        _time(event.at)
        assert type(event.confidence) is float and math.isfinite(event.confidence)
        assert 0 <= event.confidence <= 1 and event.direction in ("in", "out")
        for value, limit in ((event.color, 20), (event.snapshot_url, 1000)):
            assert value is None or _text(value, limit) is None
        again = contract.parse_plate("demo", d.id, contract.encode_plate(event))
        assert again == PlateRead(**{**vars(event), "at": _ms(event.at)})
    elif isinstance(event, BarrierAck):
        assert d.kind == "barrier" and event.result in ACK_RESULTS
        assert event.state is None or event.state in BARRIER_STATES
        _text(event.command_id, 64)
        _time(event.at)
        assert contract.parse_ack("demo", d.id, contract.encode_ack(event)) == BarrierAck(
            **{**vars(event), "at": _ms(event.at)})
    elif isinstance(event, BarrierState):
        assert d.kind == "barrier" and event.state in BARRIER_STATES
        _time(event.at)
        assert contract.parse_state("demo", d.id, contract.encode_state(event)).state == event.state
    elif isinstance(event, Availability):
        assert event.kind == d.kind and isinstance(event.online, bool)
        assert contract.parse_availability(b"online" if event.online else b"offline") is event.online
    elif isinstance(event, Scan):
        assert d.kind == "scanner"
        _text(event.event_id, 64)
        _text(event.text, 2048)
        _time(event.at)
    elif isinstance(event, CardRead):
        assert d.kind == "idreader"
        _text(event.event_id, 64)
        _text(event.name, 80)
        _text(event.id_number, 40)
    else:
        raise AssertionError(f"not a device event: {event!r}")


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def feed(name: str, topic: str, payload: bytes, profile: Profile | None = None) -> None:
    """Hand one message to the profile (default: a fresh one): ValueError or valid events only."""
    profile = profile or make(name)[0]
    try:
        events = profile.handle(topic, payload, T0)
    except ValueError:
        return
    if topic not in profile.subscriptions():
        assert events == [], (topic, events)  # a device is trusted only on its own topics
    for event in events:
        check_event(profile, event)


# --- inputs -----------------------------------------------------------------------------------
KEYS = ["event_id", "plate", "confidence", "direction", "at", "color", "snapshot_url", "id", "result",
        "state", "text", "name", "id_number", "action", "reason", "issued_at", "expires_at", "type",
        "after", "before", "camera", "label", "recognized_license_plate", "recognized_license_plate_score",
        "start_time", "has_snapshot", "score", "timestamp", "method", "params", "switch:0", "switch:1",
        "output", "error", "code", "POWER", "POWER1", "POWER2", "src", "false_positive"]
WORDS = ["in", "out", "open", "close", "closed", "opening", "closing", "fault", "done", "rejected",
         "expired", "front_door", "car", "lpr", "new", "update", "end", "NotifyStatus", "ON", "OFF", "on",
         "online", "offline", "c0", "c1", "粤B12345", _ID, "1607123955.475377-mxklsc"]
TIMES = ["2026-11-27T08:00:00Z", "1969-12-31T23:59:59Z", "1900-01-01T00:00:00+08:00",
         "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "10000-01-01T00:00:00Z",
         "2026-02-30T00:00:00Z", "2026-11-27T08:00:00", "２０２６-11-27T08:00:00Z"]
# Numbers that break naive code: too big for a float, non-finite, negative, epoch edges.
NUMBERS = [10**400, -(10**400), 2**63, -1, 0, 1, 2, 0.5, -0.0, 1e308, -1e308, 5e-324, math.nan,
           math.inf, -math.inf, 2**33, 253402300800, -62135596801, 1607123955.475377]
STRINGS = ["", " ", "\u3000", "\x00", "\n", "\ud800", "a" * 70, "x" * 600, "é" * 30, "\u202e粤B12345",
           "../../etc", "%s%n", "null", "NaN"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.sampled_from(NUMBERS), st.sampled_from(WORDS + TIMES + STRINGS), st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), kids,
                                           max_size=6)),
    max_leaves=24)


def dumps(value: Any) -> bytes:
    """JSON as a careless device writes it: NaN/Infinity literals allowed, any unicode."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def _paths(value: Any, here: tuple = ()) -> list[tuple]:
    found = [here]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*here, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*here, i))
    return found


_NEST = "\x00nest\x00"  # stands for the deeply nested value until the document is dumped


@st.composite
def mutated(draw: st.DrawFn, name: str) -> tuple[Profile, str, bytes]:
    """A profile waiting for answers, and one of its documented payloads with hostile edits."""
    profile, rpc_ids = make(name)
    topic, payload = draw(st.sampled_from(SAMPLES[name]))
    try:
        doc = json.loads(payload)
    except ValueError:  # a plain-text payload: edit the bytes
        edit = draw(st.sampled_from(["case", "pad", "junk", "cut", "huge"]))
        if edit == "case":
            return profile, topic, payload.swapcase()
        if edit == "pad":
            return profile, topic, draw(st.sampled_from([b" ", b"\n", b"\x00", b"\xff"])) + payload + b"\r\n"
        if edit == "junk":
            return profile, topic, payload + draw(st.binary(min_size=1, max_size=8))
        if edit == "cut":
            return profile, topic, payload[:draw(st.integers(0, max(0, len(payload) - 1)))]
        return profile, topic, payload * (MAX_PAYLOAD // max(1, len(payload)) + 1)
    if rpc_ids and isinstance(doc, dict) and "id" in doc:
        doc["id"] = draw(st.sampled_from(rpc_ids))  # answer what the profile really sent
    nested = None
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        edit = draw(st.sampled_from(["drop", "replace", "nest"]))
        if edit == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif edit == "nest" and nested is None:
            # Spliced in as bytes: building it as Python lists would overflow the test's own stack.
            depth = draw(st.integers(1, 20000))
            nested = b"[" * depth + dumps(parent[path[-1]]) + b"]" * depth
            parent[path[-1]] = _NEST
        else:
            parent[path[-1]] = draw(json_values)
    body = dumps(doc)
    return profile, topic, body if nested is None else body.replace(dumps(_NEST), nested, 1)


def topics_for(name: str) -> st.SearchStrategy[str]:
    """The profile's own topics, other devices' and sites' topics, and any text."""
    profile, _ = make(name)
    own = profile.subscriptions()
    foreign = ["gatehouse/demo/barrier/b9/ack", "gatehouse/other/camera/c1/plate", "gatehouse/demo/camera/c1",
               "frigate/events/x", f"stat/{TASMOTA}/POWER3", "gate/state/", "gatehouse/demo/camera/c1/plate/"]
    return st.one_of(st.sampled_from(own), st.sampled_from(foreign + own), st.text(max_size=30))


# --- the properties ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_documented_payloads_give_valid_events(name: str) -> None:
    """Protects the baseline the mutations start from: each documented payload gives valid events."""
    for topic, payload in SAMPLES[name]:
        feed(name, topic, payload)


@pytest.mark.parametrize("name", NAMES)
@props
@given(data=st.data())
def test_arbitrary_bytes(name: str, data: st.DataObject) -> None:
    """Protects the bridge from any byte string on any topic: ValueError or valid events only."""
    payload = data.draw(st.one_of(st.binary(max_size=300), st.sampled_from(
        [b"", b"\xff\xfe", b"\x00" * 10, b"online\x00", b"NaN", b"1e999", b"-0", b"[]", b"\"\\ud800\""])))
    feed(name, data.draw(topics_for(name)), payload)


@pytest.mark.parametrize("name", NAMES)
@props
@given(data=st.data())
def test_arbitrary_json(name: str, data: st.DataObject) -> None:
    """Protects the bridge from well-formed JSON of any shape: ValueError or valid events only."""
    feed(name, data.draw(topics_for(name)), dumps(data.draw(json_values)))


@pytest.mark.parametrize("name", NAMES)
@props
@given(data=st.data())
def test_mutated_documented_payloads(name: str, data: st.DataObject) -> None:
    """Protects against near-miss payloads (a key dropped, a wrong type, huge numbers, NaN, pre-1970
    or year-10000 times, unicode, deep nesting): ValueError or valid events, never a crash."""
    profile, topic, payload = data.draw(mutated(name))
    feed(name, topic, payload, profile)


@pytest.mark.parametrize("depth", [10, 5000, 30000])
def test_deeply_nested_json_is_a_value_error(depth: int) -> None:
    """Protects the link's worker: JSON nested past Python's recursion limit is refused as ValueError
    (was RecursionError, which escaped every parser's ValueError handling)."""
    payload = b"[" * depth + b"]" * depth
    assert len(payload) <= MAX_PAYLOAD
    if depth < 100:
        assert load_json(payload) is not None
        return
    with pytest.raises(ValueError):
        load_json(payload)


# Regression examples, each a bug these properties found: (profile, topic, payload, refused?).
# refused=False: the payload is simply not a plate read (an empty list), not an error.
_PLATE_AT = b',"direction":"in","at":"2026-01-01T00:00:00Z"}'
_LPR = b'{"type":"lpr","camera":"front_door","id":"o1",'
BUGS = [
    # OverflowError: an integer too large for a float, in math.isfinite
    ("native-camera", "gatehouse/demo/camera/c1/plate",
     b'{"event_id":"e","plate":"x","confidence":1' + b"0" * 400 + _PLATE_AT, True),
    # OverflowError from astimezone: a legal local time whose UTC instant is past year 9999
    ("native-camera", "gatehouse/demo/camera/c1/plate",
     b'{"event_id":"e","plate":"x","confidence":1,"direction":"in","at":"9999-12-31T23:59:59-01:00"}', True),
    # a blank plate (and any blank text) was accepted
    ("native-camera", "gatehouse/demo/camera/c1/plate",
     b'{"event_id":"e","plate":"   ","confidence":1' + _PLATE_AT, True),
    # a lone surrogate, which no database can store as text
    ("native-camera", "gatehouse/demo/camera/c1/plate", b'{"event_id":"e\\ud800","plate":"x","confidence":1'
     + _PLATE_AT, True),
    # NUL in a scan: PostgreSQL refuses \u0000 in text and JSONB
    ("native-scanner", "gatehouse/demo/scanner/s1/scan",
     b'{"event_id":"e","text":"a\\u0000b","at":"2026-01-01T00:00:00Z"}', True),
    # an ack state outside the contract was passed on (into a String(20) column)
    ("native-barrier", "gatehouse/demo/barrier/b1/ack",
     b'{"id":"c0","result":"done","state":"banana","at":"2026-01-01T00:00:00Z"}', True),
    # a newline in a command id forges log lines
    ("native-barrier", "gatehouse/demo/barrier/b1/ack",
     b'{"id":"c0\\nFAKE LOG LINE","result":"done","at":"2026-01-01T00:00:00Z"}', True),
    # TypeError: a list as label is unhashable in `label not in self.labels`
    ("frigate", "frigate/events",
     b'{"type":"new","after":{"camera":"front_door","label":["car"],"recognized_license_plate":"A"}}', False),
    # OverflowError on a huge score, and on a huge timestamp
    ("frigate", "frigate/tracked_object_update", _LPR + b'"plate":"A1","score":1' + b"0" * 400 + b"}", True),
    ("frigate", "frigate/tracked_object_update",
     _LPR + b'"plate":"A1","score":1,"timestamp":1' + b"0" * 400 + b"}", True),
    # a blank plate, and a control character that went into the event id
    ("frigate", "frigate/tracked_object_update", _LPR + b'"plate":" ","score":1}', True),
    ("frigate", "frigate/tracked_object_update", _LPR + b'"plate":"A\\u00001","score":1}', True),
]


@pytest.mark.parametrize(("name", "topic", "payload", "refused"), BUGS)
def test_regressions(name: str, topic: str, payload: bytes, refused: bool) -> None:
    """Protects the fixes listed in the docs: each payload once raised a non-ValueError or was accepted."""
    profile, _ = make(name)
    if refused:
        with pytest.raises(ValueError):
            profile.handle(topic, payload, T0)
    else:
        assert profile.handle(topic, payload, T0) == []


# --- canonical round trips ----------------------------------------------------------------------
_ids = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1, max_size=64)
_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                 max_size=40).filter(str.strip)
_moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@props
@given(st.builds(BarrierCommand, _ids, st.just("demo"), st.just("b1"), st.sampled_from(BARRIER_ACTIONS),
                 st.text(max_size=40).filter(lambda s: "\x00" not in s), _moments, _moments))
@example(BarrierCommand("c1", "demo", "b1", "open", "", T0, T0 + timedelta(seconds=5)))  # "" was refused
@example(BarrierCommand("c1", "demo", "b1", "open", "x", T0, T0))  # an empty window was accepted
def test_command_render_parse_round_trip(cmd: BarrierCommand) -> None:
    """Protects relayed commands: what the app renders parses back unchanged (times to the ms);
    a window that ends before it starts is refused."""
    payload = contract.encode_command(cmd)
    if _ms(cmd.expires_at) <= _ms(cmd.issued_at):
        with pytest.raises(ValueError, match="expires_at"):
            contract.parse_command("demo", "b1", payload)
        return
    again = contract.parse_command("demo", "b1", payload)
    assert again == BarrierCommand(cmd.id, "demo", "b1", cmd.action, cmd.reason,
                                   _ms(cmd.issued_at), _ms(cmd.expires_at))


@props
@given(st.builds(PlateRead, st.just("demo"), st.just("c1"), _ids, _texts,
                 st.floats(0, 1), st.sampled_from(["in", "out"]), _moments,
                 st.one_of(st.none(), _texts.map(lambda s: s[:20]).filter(str.strip)),
                 st.one_of(st.none(), _ids.map(lambda s: "http://cam/" + s))))
@example(PlateRead("demo", "c1", "e", "粤B12345", 5e-324, "in", datetime(999, 1, 1, tzinfo=UTC)))
def test_plate_render_parse_round_trip(read: PlateRead) -> None:
    """Protects republished plate reads: render → parse gives the same read (times to the ms)."""
    assert contract.parse_plate("demo", "c1", contract.encode_plate(read)) == PlateRead(
        **{**vars(read), "at": _ms(read.at)})


@pytest.mark.parametrize("state", BARRIER_STATES)
def test_ha_state_message_reads_back_through_ha_cover(state: str) -> None:
    """Protects the Home Assistant mirror: our state message, read as an HA cover reads it, is our state."""
    msg = ha_discovery.state_message(T, "b1", state)
    profile, _ = make("ha_cover")
    events = profile.handle("gate/state", msg.payload, T0)
    if state == "fault":
        assert events == []  # "None": unknown in Home Assistant's words
    else:
        assert [e.state for e in events if isinstance(e, BarrierState)] == [state]


@props
@given(st.one_of(st.binary(max_size=20), st.sampled_from([b"OPEN", b"CLOSE", b" OPEN\n", b"STOP", b"open"])))
def test_ha_set_is_an_action_or_value_error(payload: bytes) -> None:
    """Protects Home Assistant commands: only OPEN/CLOSE become actions."""
    try:
        action = ha_discovery.parse_ha_set(payload)
    except ValueError:
        return
    assert action in BARRIER_ACTIONS and payload.strip() in (b"OPEN", b"CLOSE")
    assert ha_discovery.config(T, "b1", "Gate")["payload_" + action].encode() == payload.strip()
