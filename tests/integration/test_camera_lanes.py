"""The per-process cache of cameras' lanes and barriers (gate.services.camera_lanes).

Runs on SQLite and PostgreSQL (the `ctx` fixture) on the demo estate.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import select

from gate.extensions import db
from gate.models import Device, Lane
from gate.services import transaction
from gate.services.camera_lanes import camera_lane
from gate.services.topology import apply_topology, parse_site_text

DEMO_TEXT = (resources.files("gate") / "data" / "demo-site.toml").read_text(encoding="utf-8")
EXTRA_LANE = """
[[posts]]
code = "west"
name = "西门岗亭"

[[posts.gates]]
code = "west-car"
name = "西门车行道"
kind = "vehicle"

[[posts.gates.lanes]]
code = "in"
direction = "in"

[[posts.gates.lanes.devices]]
kind = "barrier"
id = "west-in"
name = "西门入口道闸"
profile = "native"

[[posts.gates.lanes.devices]]
kind = "camera"
id = "west-anpr"
name = "西门车牌相机"
profile = "native"
"""


def test_camera_lane_names_the_lane_barrier_and_gate(ctx):
    """Protects the plate path's one look-up: the barrier it opens is the one in the camera's lane."""
    place = camera_lane("demo", "anpr-in")
    camera = db.session.scalars(select(Device).where(Device.code == "anpr-in")).one()
    lane = db.session.get(Lane, camera.lane_id)
    assert (place.site_id, place.camera_id, place.lane_id, place.gate_id) == (
        camera.site_id, camera.id, lane.id, lane.gate_id)
    assert place.barrier.code == "car-in" and place.barrier.lane_id == lane.id
    assert camera_lane("demo", "no-such-camera") is None
    assert camera_lane("no-such-site", "anpr-in") is None


def test_new_camera_works_at_once_and_a_site_file_empties_the_cache(ctx):
    """Protects against a stale cache: a camera added by a site file opens its own lane's
    barrier at once, and a re-wired lane is seen right after the file is applied."""
    assert camera_lane("demo", "west-anpr") is None  # not cached: unknown cameras are looked up
    with transaction():
        apply_topology(parse_site_text(DEMO_TEXT + EXTRA_LANE))
    assert camera_lane("demo", "west-anpr").barrier.code == "west-in"
    # The same camera moved to the demo's entry lane: its cached answer must not survive.
    moved = EXTRA_LANE.replace('id = "west-anpr"', 'id = "west-anpr-old"')
    moved_text = DEMO_TEXT.replace('id = "anpr-in"', 'id = "west-anpr"') + moved
    with transaction():
        apply_topology(parse_site_text(moved_text))
    assert camera_lane("demo", "west-anpr").barrier.code == "car-in"
