"""The site topology file (gate/domain/topology.py): parsing, and errors an operator can act on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gate.domain.topology import (
    DEVICE_KINDS,
    DeviceSpec,
    TopologyError,
    load_topology,
    parse_topology,
    resolve_credentials,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO_FILE = ROOT / "gate" / "data" / "demo-site.toml"
DEMO_LINK = ROOT / "deploy" / "demo-site.toml"
EXAMPLE_FILE = ROOT / "deploy" / "site.example.toml"
SOURCE = "/etc/gatehouse/site.toml"
PROFILES = {"native": DEVICE_KINDS, "tasmota": ("barrier",), "frigate": ("camera",)}
# The vendor profiles the example uses, with the kinds SPEC §3 gives them; a registered
# profile's own `kinds` take precedence (test_example_file_is_accepted_by_the_profiles).
SPEC_PROFILES = {"native": DEVICE_KINDS, "tasmota": ("barrier",), "shelly": ("barrier",),
                 "ha_cover": ("barrier",), "frigate": ("camera",)}

GOOD = """\
[site]
code = "test"
name = "测试小区"
units = ["1-1-101", "2栋1单元502"]

[site.buildings]
"2" = "丁香楼"

[[posts]]
code = "east"
name = "东门岗亭"

[[posts.gates]]
code = "car"
name = "东门车行道"
kind = "vehicle"

[[posts.gates.lanes]]
code = "in"
direction = "in"

[[posts.gates.lanes.devices]]
kind = "barrier"
id = "car-in"
name = "入口道闸"
profile = "tasmota"
options = { topic = "tasmota_1", relay = 1 }

[[posts.gates.lanes.devices]]
kind = "camera"
id = "anpr-in"
name = "入口车牌相机"

[[posts.gates.lanes]]
code = "out"
direction = "out"

[[posts.gates.lanes.devices]]
kind = "barrier"
id = "car-out"
name = "出口道闸"
credentials = "env:GATE_DEV_CAR_OUT_PASSWORD"

[[posts.gates]]
code = "walk"
name = "东门人行道"
kind = "pedestrian"

[[posts.gates.lanes]]
code = "in"
direction = "both"

[[posts.gates.lanes.devices]]
kind = "scanner"
id = "kiosk-cam"
name = "岗亭扫码摄像头"

[[posts.gates.lanes.devices]]
kind = "barrier"
id = "walk-in"
name = "人行闸机"

[[posts.gates.lanes.devices]]
kind = "idreader"
id = "id-reader"
name = "身份证阅读器"
credentials = "file:/etc/gatehouse/devices/id-reader.pw"
"""

CAR_IN = "posts[0].gates[0].lanes[0].devices[0]"
ANPR_IN = "posts[0].gates[0].lanes[0].devices[1]"
CAR_OUT = "posts[0].gates[0].lanes[1].devices[0]"
ID_READER = "posts[0].gates[1].lanes[0].devices[2]"


def parse(text: str = GOOD, **kwargs):
    kwargs.setdefault("profile_kinds", PROFILES)
    return parse_topology(text, SOURCE, **kwargs)


def variant(old: str, new: str, text: str = GOOD) -> str:
    assert text.count(old) == 1, f"test setup: {old!r} must occur once"
    return text.replace(old, new)


def error_of(text: str, **kwargs) -> TopologyError:
    with pytest.raises(TopologyError) as info:
        parse(text, **kwargs)
    return info.value


def test_good_file_parses_into_specs():
    """Protects the file format: every level, defaults (profile native, no options), units
    normalised and buildings named, so the bridge and apply_topology get what the file says."""
    topo = parse()
    assert (topo.code, topo.name) == ("test", "测试小区")
    assert [p.code for p in topo.posts] == ["east"]
    car, walk = topo.posts[0].gates
    assert (car.code, car.name, car.kind) == ("car", "东门车行道", "vehicle")
    assert [(lane.code, lane.direction) for lane in car.lanes] == [("in", "in"), ("out", "out")]
    assert (walk.kind, walk.lanes[0].direction) == ("pedestrian", "both")
    assert car.lanes[0].devices[0] == DeviceSpec(kind="barrier", id="car-in", name="入口道闸",
                                                 profile="tasmota",
                                                 options={"topic": "tasmota_1", "relay": 1})
    assert car.lanes[0].devices[1] == DeviceSpec(kind="camera", id="anpr-in", name="入口车牌相机")
    assert car.lanes[1].devices[0].credentials == "env:GATE_DEV_CAR_OUT_PASSWORD"
    assert [d.id for *_, d in topo.devices()] == ["car-in", "anpr-in", "car-out", "kiosk-cam",
                                                  "walk-in", "id-reader"]
    assert topo.units == ["1-1-101", "2-1-502"]
    assert (topo.building_name("1"), topo.building_name("2")) == ("1栋", "丁香楼")
    assert topo.source == SOURCE and len(topo.digest) == 64


@pytest.mark.parametrize("old, new, path, expected", [
    # unknown key (with a hint for a typo), missing key
    ('name = "入口道闸"', 'name = "入口道闸"\ncolour = "red"', f"{CAR_IN}.colour", "unknown key"),
    ('name = "入口车牌相机"', 'nmae = "入口车牌相机"', f"{ANPR_IN}.nmae", "did you mean 'name'?"),
    ('name = "入口车牌相机"', "", f"{ANPR_IN}.name", "missing key"),
    ('code = "east"\n', "", "posts[0].code", "missing key"),
    ('[site]\ncode = "test"', '[site]\nzone = 3\ncode = "test"', "site.zone", "unknown key"),
    ('[site]\n', 'version = 2\n[site]\n', "version", "unknown key"),
    # wrong types
    ('name = "东门车行道"', "name = 5", "posts[0].gates[0].name", "must be a string, not an integer"),
    ('name = "东门岗亭"', 'name = "  "', "posts[0].name", "must not be empty"),
    ('name = "东门岗亭"', f'name = "{"岗" * 121}"', "posts[0].name", "at most 120"),
    ("options = { topic = \"tasmota_1\", relay = 1 }", 'options = "topic=tasmota_1"',
     f"{CAR_IN}.options", "must be a table, not a string"),
    ('units = ["1-1-101", "2栋1单元502"]', 'units = "1-1-101"', "site.units", "must be an array"),
    ('units = ["1-1-101", "2栋1单元502"]', 'units = ["1-1-101", 2]', "site.units[1]",
     "must be a unit code string"),
    # ids are MQTT topic levels
    ('id = "car-in"', 'id = "Car In"', f"{CAR_IN}.id", "[a-z0-9_-]+"),
    ('code = "east"', 'code = "east/1"', "posts[0].code", "[a-z0-9_-]+"),
    ('code = "test"', 'code = "测试"', "site.code", "not a valid id"),
    ('id = "car-in"', f'id = "{"c" * 41}"', f"{CAR_IN}.id", "longer than 40"),
    # duplicates: device ids within a kind and across kinds (they are broker usernames)
    ('id = "car-out"', 'id = "car-in"', f"{CAR_OUT}.id", "already used by the barrier at " + CAR_IN),
    ('id = "id-reader"', 'id = "anpr-in"', f"{ID_READER}.id", "unique across all kinds"),
    ('code = "walk"', 'code = "car"', "posts[0].gates[1].code", "gate 'car' is already defined"),
    ('code = "out"', 'code = "in"', "posts[0].gates[0].lanes[1].code", "lane 'in' is already defined"),
    ('units = ["1-1-101", "2栋1单元502"]', 'units = ["1-1-101", "1栋1单元101"]', "site.units[1]",
     "unit 1-1-101 is listed twice"),
    # profiles and kinds
    ('profile = "tasmota"', 'profile = "tasmoto"', f"{CAR_IN}.profile",
     "unknown device profile 'tasmoto' (did you mean 'tasmota'?)"),
    ('name = "身份证阅读器"', 'name = "身份证阅读器"\nprofile = "tasmota"', f"{ID_READER}.profile",
     "profile 'tasmota' cannot drive idreader devices; it drives: barrier"),
    ('kind = "camera"', 'kind = "speaker"', f"{ANPR_IN}.kind", "unknown device kind 'speaker'"),
    ('kind = "vehicle"', 'kind = "truck"', "posts[0].gates[0].kind", "unknown gate kind 'truck'"),
    ('direction = "both"', 'direction = "sideways"', "posts[0].gates[1].lanes[0].direction",
     "unknown direction 'sideways'; use one of: in, out, both"),
    # units
    ('units = ["1-1-101", "2栋1单元502"]', 'units = ["1-1-101", "101"]', "site.units[1]",
     "building-entrance-room"),
    ('"2" = "丁香楼"', '"B2" = "丁香楼"', 'site.buildings.B2', "not a building number"),
    # secrets stay out of the file
    ('credentials = "env:GATE_DEV_CAR_OUT_PASSWORD"', 'credentials = "env:lower case"',
     f"{CAR_OUT}.credentials", "must be a reference"),
    ('credentials = "file:/etc/gatehouse/devices/id-reader.pw"', 'credentials = "file:relative.pw"',
     f"{ID_READER}.credentials", "file:/absolute/path"),
    ("relay = 1 }", 'relay = 1, password = "x" }', f"{CAR_IN}.options.password", "looks like a secret"),
])
def test_each_problem_names_file_key_path_and_what_is_wrong(old, new, path, expected):
    """Protects operators: every mistake in a site file is reported as `<file>: <key path>:
    <problem>`, so it can be found and fixed without reading code."""
    err = error_of(variant(old, new))
    line = next((ln for ln in err.lines() if ln.startswith(f"{SOURCE}: {path}: ")), None)
    assert line is not None, f"no problem reported at {path}: {err}"
    assert expected in line, line
    assert str(err).startswith(f"{SOURCE}: ")


def test_brief_example_path_for_a_profile_that_cannot_drive_the_kind():
    """Protects the key-path form the docs quote: posts[0].gates[1].lanes[0].devices[2].profile."""
    err = error_of(variant('name = "身份证阅读器"', 'name = "身份证阅读器"\nprofile = "frigate"'))
    assert err.path == "posts[0].gates[1].lanes[0].devices[2].profile"
    assert str(err) == (f"{SOURCE}: posts[0].gates[1].lanes[0].devices[2].profile: "
                        "profile 'frigate' cannot drive idreader devices; it drives: camera")


def test_pasted_secret_is_not_echoed():
    """Protects the secret an operator pasted into `credentials` by mistake: refused, and the
    error (which ends up in logs) does not repeat it."""
    err = error_of(variant('credentials = "env:GATE_DEV_CAR_OUT_PASSWORD"',
                           'credentials = "hunter2-s3cret"'))
    assert "hunter2" not in str(err)
    assert err.path == f"{CAR_OUT}.credentials"


def test_all_problems_are_reported_at_once():
    """Protects the fix-once workflow: independent mistakes are all listed, one line each."""
    text = variant('direction = "out"', 'direction = "up"',
                   variant('id = "kiosk-cam"', 'id = "Kiosk"'))
    err = error_of(text)
    assert [p.path for p in err.problems] == ["posts[0].gates[0].lanes[1].direction",
                                              "posts[0].gates[1].lanes[0].devices[0].id"]
    assert len(str(err).splitlines()) == 2


def test_toml_syntax_error_names_line_and_column():
    """Protects operators from a bare parser traceback: the file, line and column are named."""
    err = error_of(variant('kind = "vehicle"', "kind = vehicle"))
    line = GOOD.splitlines().index('kind = "vehicle"') + 1
    assert str(err).startswith(f"{SOURCE}: not valid TOML: ")
    assert f"line {line}, column 8" in str(err)


@pytest.mark.parametrize("text, path", [
    ('[site]\ncode = "x"\nname = "X"\n', "posts"),
    ('[site]\ncode = "x"\nname = "X"\n[[posts]]\ncode = "p"\nname = "P"\ngates = "car"\n', "posts[0].gates"),
    ('posts = []\n[site]\ncode = "x"\nname = "X"\n', "posts"),
    ('[[posts]]\ncode = "p"\nname = "P"\n', "site"),
])
def test_structure_problems_name_the_part(text, path):
    """Protects against applying an empty or mis-shaped file: a site needs its identity and a
    post, and gates/lanes/devices are arrays of tables ([[...]])."""
    err = error_of(text)
    assert err.path == path


def test_unknown_profile_names_the_known_ones():
    """Protects the operator who guesses a profile name: the error lists the real ones."""
    err = error_of(variant('profile = "tasmota"', 'profile = "hikvision"'),
                   known_profiles=["native", "tasmota"])
    assert err.lines() == [f"{SOURCE}: {CAR_IN}.profile: unknown device profile 'hikvision'; "
                           "known: native, tasmota"]


def test_profiles_unchecked_without_a_registry():
    """Protects the domain's independence: with no profile list given, any well-formed profile
    name passes (the caller that knows device_adapters checks it)."""
    topo = parse(variant('profile = "tasmota"', 'profile = "someday"'), profile_kinds=None)
    assert next(topo.devices())[3].profile == "someday"


def test_load_topology_names_the_file(tmp_path):
    """Protects `load_topology`: the path given is the name in every message; a missing file,
    non-UTF-8 bytes and a Windows BOM are handled."""
    path = tmp_path / "site.toml"
    path.write_text(variant('direction = "out"', 'direction = "up"'), encoding="utf-8")
    with pytest.raises(TopologyError) as info:
        load_topology(path, profile_kinds=PROFILES)
    assert str(info.value) == (f"{path}: posts[0].gates[0].lanes[1].direction: "
                               "unknown direction 'up'; use one of: in, out, both")
    with pytest.raises(TopologyError, match=r"site-missing\.toml: cannot read the file"):
        load_topology(tmp_path / "site-missing.toml")
    path.write_bytes(GOOD.encode("gbk"))
    with pytest.raises(TopologyError, match="not UTF-8 text"):
        load_topology(path)
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))
    assert load_topology(path, profile_kinds=PROFILES).code == "test"


def test_resolve_credentials_reads_env_and_file_without_leaking(tmp_path):
    """Protects device secrets: references resolve; errors name the variable or file only."""
    assert resolve_credentials("env:GATE_DEV_X", {"GATE_DEV_X": "pw-1"}) == "pw-1"
    secret = tmp_path / "dev.pw"
    secret.write_text("pw-2\n", encoding="utf-8")
    assert resolve_credentials(f"file:{secret}") == "pw-2"
    with pytest.raises(ValueError, match="GATE_DEV_Y is not set"):
        resolve_credentials("env:GATE_DEV_Y", {})
    with pytest.raises(ValueError, match="cannot read"):
        resolve_credentials(f"file:{tmp_path}/absent.pw")
    with pytest.raises(ValueError, match="not an 'env:NAME' or 'file:/path' reference"):
        resolve_credentials("plain-password")


def test_demo_file_is_the_spec_demo_estate():
    """Protects SPEC §4's demo estate, which docs and tests name: post east, gates car/walk,
    lanes and devices as listed, all native, and the units of demo.UNITS."""
    from gate.services import demo

    topo = load_topology(DEMO_FILE, known_profiles=["native"], profile_kinds={"native": DEVICE_KINDS})
    assert (topo.code, topo.name) == (demo.DEMO_SITE, "演示小区")
    assert [(p.code, p.name) for p in topo.posts] == [("east", "东门岗亭")]
    layout = [(g.code, g.name, g.kind, lane.code, lane.direction, d.kind, d.id, d.name, d.profile)
              for _post, g, lane, d in topo.devices()]
    assert layout == [
        ("car", "东门车行道", "vehicle", "in", "in", "barrier", "car-in", "入口道闸", "native"),
        ("car", "东门车行道", "vehicle", "in", "in", "camera", "anpr-in", "入口车牌相机", "native"),
        ("car", "东门车行道", "vehicle", "out", "out", "barrier", "car-out", "出口道闸", "native"),
        ("car", "东门车行道", "vehicle", "out", "out", "camera", "anpr-out", "出口车牌相机", "native"),
        ("walk", "东门人行道", "pedestrian", "in", "both", "barrier", "walk-in", "人行闸机", "native"),
        ("walk", "东门人行道", "pedestrian", "in", "both", "scanner", "kiosk-cam", "岗亭扫码摄像头",
         "native"),
    ]
    assert topo.units == demo.UNITS
    assert all(not d.options and d.credentials is None for *_, d in topo.devices())


def test_deploy_demo_file_is_the_packaged_one():
    """Protects against two demo files drifting apart: deploy/demo-site.toml is the package's."""
    assert DEMO_LINK.resolve() == DEMO_FILE.resolve()


def test_demo_file_passes_the_registered_profiles():
    """Protects `gate demo`: the packaged file is accepted with the real profile registry."""
    from gate.services.topology import demo_topology

    assert [d.id for *_, d in demo_topology().devices()] == [
        "car-in", "anpr-in", "car-out", "anpr-out", "walk-in", "kiosk-cam"]


def test_example_file_parses():
    """Protects the documented example (deploy/site.example.toml): it is a valid site file
    showing every device kind and the vendor profiles of SPEC §3."""
    topo = load_topology(EXAMPLE_FILE, profile_kinds=SPEC_PROFILES)
    devices = [d for *_, d in topo.devices()]
    assert {d.kind for d in devices} == set(DEVICE_KINDS)
    assert {d.profile for d in devices} == set(SPEC_PROFILES)
    frigate = [d for d in devices if d.profile == "frigate"]
    assert all({"camera", "direction"} <= set(d.options) for d in frigate)
    assert all(d.credentials is None or d.credentials.startswith(("env:", "file:/")) for d in devices)


def test_example_file_is_accepted_by_the_profiles():
    """Protects operators who copy the example: the registered vendor profiles accept its
    devices' kinds and options. Devices whose profile is not registered yet are reported."""
    from device_adapters.profiles import DeviceConfig, profile_class
    from device_adapters.topics import Topics
    from gate.services.topology import profile_registry

    known, kinds = profile_registry()
    topo = load_topology(EXAMPLE_FILE, profile_kinds={**SPEC_PROFILES, **kinds})
    topics = Topics("gatehouse", topo.code)
    unregistered = set()
    for _post, gate, lane, d in topo.devices():
        if d.profile not in known:
            unregistered.add(d.profile)
            continue
        profile_class(d.profile)(DeviceConfig(site=topo.code, kind=d.kind, id=d.id, profile=d.profile,
                                              options=d.options, gate=gate.code, lane=lane.code), topics)
    assert not unregistered, f"the example names profiles nobody registered: {sorted(unregistered)}"


def test_device_kinds_agree_with_the_contract():
    """Protects one list of device kinds: the file, the topics and the database agree."""
    from device_adapters.topics import KINDS
    from gate.models.estate import DEVICE_KINDS as MODEL_KINDS

    assert DEVICE_KINDS == KINDS == MODEL_KINDS


def test_domain_module_needs_no_framework():
    """Protects gate.domain purity: the parser imports no Flask, SQLAlchemy or device_adapters."""
    code = ("import sys, gate.domain.topology; "
            "print(sorted(m for m in ('flask', 'sqlalchemy', 'device_adapters') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_profile_refusing_options_is_named_with_the_device_path():
    """Protects the bridge from starting with a device it cannot drive: options the real
    profile refuses (here a Tasmota barrier without its topic) fail when the file is loaded,
    naming the device's options and the reason."""
    from gate.services.topology import parse_site_text

    text = variant('options = { topic = "tasmota_1", relay = 1 }', "options = { relay = 1 }")
    with pytest.raises(TopologyError) as info:
        parse_site_text(text, SOURCE)
    assert info.value.path == f"{CAR_IN}.options"
    assert str(info.value).startswith(f"{SOURCE}: {CAR_IN}.options: ")
    assert "topic" in str(info.value)
