"""Frigate LPR profile: documented Frigate payloads in, canonical plate reads out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_adapters import contract
from device_adapters.profiles.base import DeviceConfig
from device_adapters.profiles.frigate import FrigateLprProfile
from device_adapters.topics import Topics
from gate.domain.events import Availability, PlateRead

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vendors" / "frigate"
T = Topics("gatehouse", "demo")
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
OBJ = "1607123955.475377-mxklsc"
START = datetime.fromtimestamp(1607123955.475377, UTC)


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def edited(name: str, **after) -> bytes:
    body = json.loads(fx(name))
    body["after"].update(after)
    return json.dumps(body, ensure_ascii=False).encode()


def make(camera: str = "front_door", **options) -> FrigateLprProfile:
    return FrigateLprProfile(DeviceConfig(site="demo", kind="camera", id="cam-in", profile="frigate",
                                          options={"camera": camera, "direction": "in", **options}), T)


def test_subscriptions() -> None:
    """events, tracked_object_update and available under the topic prefix."""
    assert make().subscriptions() == ["frigate/events", "frigate/tracked_object_update", "frigate/available"]
    assert make(topic_prefix="nvr1").subscriptions()[0] == "nvr1/events"


def test_car_event_gives_plate_read() -> None:
    """A car's recognized_license_plate becomes a PlateRead keyed by object and plate."""
    [read] = make().handle("frigate/events", fx("events_update_car.json"), T0)
    assert read == PlateRead("demo", "cam-in", f"frigate-{OBJ}-ABC12345", "ABC12345", 0.933451, "in",
                             START, snapshot_url=f"/api/events/{OBJ}/snapshot.jpg")


def test_plate_read_fits_the_canonical_contract() -> None:
    """The read survives encode/parse of the SPEC §3 plate payload unchanged (limits included)."""
    [read] = make().handle("frigate/events", fx("events_update_car_cn.json"), T0)
    again = contract.parse_plate("demo", "cam-in", contract.encode_plate(read))
    assert again.event_id == read.event_id and again.plate == read.plate and again.at == read.at.replace(
        microsecond=read.at.microsecond // 1000 * 1000)


def test_chinese_plate_passes_unchanged() -> None:
    """京A12345 read by Frigate's small model reaches services as is (they normalise)."""
    [read] = make().handle("frigate/events", fx("events_update_car_cn.json"), T0)
    assert read.plate == "京A12345" and read.event_id == f"frigate-{OBJ}-京A12345"


def test_sub_label_is_not_a_plate() -> None:
    """A known plate's sub_label ("John's Car") is a name: the plate text is what we report."""
    [read] = make().handle("frigate/events", fx("events_update_car.json"), T0)
    assert read.plate == "ABC12345" and "John" not in read.event_id


def test_documented_person_event_is_ignored() -> None:
    """The documented example is a person: plates are only taken from vehicle labels."""
    assert make().handle("frigate/events", fx("events_update_documented.json"), T0) == []
    assert len(make(labels=["person"]).handle("frigate/events", fx("events_update_documented.json"), T0)) == 1


def test_event_without_plate_or_for_other_camera_is_ignored() -> None:
    """No plate yet, another camera, or a false positive: no read."""
    assert make().handle("frigate/events", fx("events_new_car_no_plate.json"), T0) == []
    assert make("back_gate").handle("frigate/events", fx("events_update_car.json"), T0) == []
    assert make().handle("frigate/events", edited("events_update_car.json", false_positive=True), T0) == []


def test_repeated_updates_share_one_event_id() -> None:
    """Every update of one tracked object with the same plate, on both topics, is one event_id."""
    profile = make("driveway_cam")
    via_event = profile.handle("frigate/events", edited("events_update_car.json", camera="driveway_cam",
                                                        recognized_license_plate="123ABC"), T0)
    via_update = profile.handle("frigate/tracked_object_update", fx("tracked_object_update_lpr.json"), T0)
    again = profile.handle("frigate/tracked_object_update", fx("tracked_object_update_lpr.json"), T0)
    assert via_event[0].event_id == via_update[0].event_id == again[0].event_id == f"frigate-{OBJ}-123ABC"


def test_tracked_object_update_lpr() -> None:
    """The documented lpr update gives a read at its timestamp, with no snapshot it can vouch for."""
    profile = make("driveway_cam")
    [read] = profile.handle("frigate/tracked_object_update", fx("tracked_object_update_lpr.json"), T0)
    assert read == PlateRead("demo", "cam-in", f"frigate-{OBJ}-123ABC", "123ABC", 0.95, "in",
                             datetime.fromtimestamp(1607123958.748393, UTC))


@pytest.mark.parametrize("fixture", ["tracked_object_update_face.json",
                                     "tracked_object_update_description.json"])
def test_other_tracked_object_updates_are_ignored(fixture: str) -> None:
    """Face and description updates are not plates."""
    assert make("front_door_cam").handle("frigate/tracked_object_update", fx(fixture), T0) == []


def test_min_score_drops_weak_reads() -> None:
    """Reads below min_score are dropped on both topics."""
    profile = make("driveway_cam", min_score=0.96)
    assert profile.handle("frigate/tracked_object_update", fx("tracked_object_update_lpr.json"), T0) == []
    assert make(min_score=0.94).handle("frigate/events", fx("events_update_car.json"), T0) == []


def test_missing_start_time_uses_now_and_snapshot_base() -> None:
    """Without start_time the read is stamped now; snapshot_base_url makes the URL absolute."""
    profile = make(snapshot_base_url="http://nvr:5000/")
    [read] = profile.handle("frigate/events", edited("events_update_car.json", start_time=None), T0)
    assert read.at == T0 and read.snapshot_url == f"http://nvr:5000/api/events/{OBJ}/snapshot.jpg"


@pytest.mark.parametrize(("fixture", "online"), [
    ("available_online.txt", True), ("available_offline.txt", False), ("available_stopped.txt", False)])
def test_available_gives_camera_availability(fixture: str, online: bool) -> None:
    """frigate/available online/offline/stopped → Availability of our camera."""
    expected = [Availability("demo", "camera", "cam-in", online)]
    assert make().handle("frigate/available", fx(fixture), T0) == expected


def test_other_topics_are_ignored() -> None:
    """Another Frigate prefix or per-camera topics give no events."""
    for topic in ("nvr2/events", "frigate/front_door/car", "frigate/reviews"):
        assert make().handle(topic, fx("events_update_car.json"), T0) == []


@pytest.mark.parametrize(("topic", "payload"), [
    ("frigate/events", b"{oops"),
    ("frigate/events", b"[]"),
    ("frigate/events", b'{"type": "update"}'),
    ("frigate/events", b'{"type": "moved", "after": {}}'),
    ("frigate/events", edited("events_update_car.json", recognized_license_plate_score=1.7)),
    ("frigate/events", edited("events_update_car.json", recognized_license_plate_score="0.9")),
    ("frigate/events", edited("events_update_car.json", recognized_license_plate=12345)),
    ("frigate/events", edited("events_update_car.json", recognized_license_plate="A" * 21)),
    ("frigate/events", edited("events_update_car.json", id="../../etc/passwd")),
    ("frigate/events", edited("events_update_car.json", start_time="yesterday")),
    ("frigate/events", edited("events_update_car.json", start_time=float("nan"))),
    ("frigate/events", b"\xff\xfe{}"),
    ("frigate/events", b'{"pad": "' + b"x" * 70_000 + b'"}'),
    ("frigate/tracked_object_update", b'{"type": "lpr", "camera": "front_door", "id": "x", "plate": "A1"}'),
    ("frigate/tracked_object_update", b'{"type": "lpr", "camera": "front_door", "id": 5, "plate": "A1",'
                                      b' "score": 0.9}'),
    ("frigate/tracked_object_update", b'"lpr"'),
    ("frigate/available", b"sleeping"),
    ("frigate/available", b"online" * 20),
])
def test_malformed_payloads_raise(topic: str, payload: bytes) -> None:
    """Non-JSON, wrong types, out-of-range scores, unsafe ids, huge or non-UTF-8 payloads are ValueErrors."""
    with pytest.raises(ValueError):
        make().handle(topic, payload, T0)


@pytest.mark.parametrize("options", [
    {"direction": "up"}, {"direction": None}, {"camera": "front door"}, {"camera": None},
    {"min_score": 2}, {"topic_prefix": "frigate/#"}, {"labels": "car"},
])
def test_bad_options_are_refused(options: dict) -> None:
    """Direction is required (Frigate cannot know the lane); bad names fail at load time."""
    base = {"camera": "front_door", "direction": "in", **options}
    base = {k: v for k, v in base.items() if v is not None}
    with pytest.raises(ValueError):
        FrigateLprProfile(DeviceConfig(site="demo", kind="camera", id="cam-in", profile="frigate",
                                       options=base), T)
