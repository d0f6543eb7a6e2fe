"""Applying a site file to the database (gate.services.topology.apply_topology).

Runs on SQLite and PostgreSQL (the `ctx` fixture), each test on a fresh copy of the demo
database, which `gate demo` itself built from gate/data/demo-site.toml.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Building, Device, Gate, Lane, Post, ShiftBookEntry, Site, Unit
from gate.services import ActionError, shiftbook, transaction
from gate.services.topology import apply_topology, demo_topology, parse_site_text

DEMO_TEXT = (resources.files("gate") / "data" / "demo-site.toml").read_text(encoding="utf-8")
EXPECTED_DEVICES = [
    ("car", "in", "barrier", "car-in", "入口道闸"),
    ("car", "in", "camera", "anpr-in", "入口车牌相机"),
    ("car", "out", "barrier", "car-out", "出口道闸"),
    ("car", "out", "camera", "anpr-out", "出口车牌相机"),
    ("walk", "in", "barrier", "walk-in", "人行闸机"),
    ("walk", "in", "scanner", "kiosk-cam", "岗亭扫码摄像头"),
]


def layout(site_code: str) -> list[tuple]:
    """The site's devices with where they are, as stored."""
    rows = db.session.execute(
        select(Gate.code, Lane.code, Device.kind, Device.code, Device.name)
        .select_from(Device).join(Site, Device.site_id == Site.id)
        .outerjoin(Lane, Device.lane_id == Lane.id).outerjoin(Gate, Lane.gate_id == Gate.id)
        .where(Site.code == site_code).order_by(Device.id))
    return [tuple(r) for r in rows]


def topology_entries(site_code: str) -> list[ShiftBookEntry]:
    return list(db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.site == site_code, ShiftBookEntry.kind == "site.topology")
        .order_by(ShiftBookEntry.seq)))


def entry_count(site_code: str) -> int:
    return db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                             .where(ShiftBookEntry.site == site_code))


def apply(topo):
    with transaction():
        return apply_topology(topo)


def device_block(kind: str, device_id: str, name: str) -> str:
    """A device's lines as written in the demo file."""
    return (f'[[posts.gates.lanes.devices]]\nkind = "{kind}"\nid = "{device_id}"\nname = "{name}"\n'
            'profile = "native"\n')


def edited(old: str, new: str) -> str:
    assert DEMO_TEXT.count(old) == 1, f"test setup: {old!r} must occur once in the demo file"
    return DEMO_TEXT.replace(old, new)


def test_demo_estate_is_built_from_the_file(ctx):
    """Protects `gate demo` after the move to the site file: the stable names of SPEC §4 (post
    east, gates car/walk, lanes, devices, units) are in the database, recorded by one entry."""
    assert layout("demo") == EXPECTED_DEVICES
    site = db.session.scalars(select(Site).where(Site.code == "demo")).one()
    assert site.is_demo and site.name == "演示小区"
    assert [(p.code, p.name) for p in site.posts] == [("east", "东门岗亭")]
    gates = {g.code: (g.name, g.kind, g.post.code, [(la.code, la.direction) for la in g.lanes])
             for g in site.posts[0].gates}
    assert gates == {"car": ("东门车行道", "vehicle", "east", [("in", "in"), ("out", "out")]),
                     "walk": ("东门人行道", "pedestrian", "east", [("in", "both")])}
    units = db.session.scalars(select(Unit.code).where(Unit.site_id == site.id).order_by(Unit.id)).all()
    assert units == ["1-1-101", "1-1-102", "1-1-201", "1-2-301", "2-1-101", "2-1-502", "3-2-1801"]
    buildings = db.session.execute(select(Building.code, Building.name).where(Building.site_id == site.id)
                                   .order_by(Building.id)).all()
    assert [tuple(b) for b in buildings] == [("1", "1栋"), ("2", "2栋"), ("3", "3栋")]
    assert all(d.profile == "native" for d in db.session.scalars(select(Device)))
    [entry] = topology_entries("demo")
    assert json.loads(entry.data)["created"]["devices"] == 6


def test_reapplying_the_demo_file_changes_nothing(ctx):
    """Protects idempotency: applying an unchanged file writes nothing, not even an entry."""
    before = entry_count("demo")
    result = apply(demo_topology())
    assert not result.changed and result.entry_seq is None
    assert set(result.created.values()) == {0} and set(result.updated.values()) == {0}
    assert result.missing_from_file == {"posts": [], "gates": [], "lanes": [], "devices": []}
    assert entry_count("demo") == before
    assert layout("demo") == EXPECTED_DEVICES


def test_apply_to_a_new_site_creates_it_once(ctx):
    """Protects setting up a real estate from its file: the site, its shift book and all rows
    are created with one `site.topology` entry holding the counts; a second apply is a no-op
    and the new site's chain verifies."""
    topo = dataclasses.replace(demo_topology(), code="fresh", name="新小区")
    first = apply(topo)
    assert first.site.code == "fresh" and not first.site.is_demo
    assert first.created == {"site": 1, "posts": 1, "gates": 2, "lanes": 3, "devices": 6,
                             "buildings": 3, "units": 7}
    assert layout("fresh") == EXPECTED_DEVICES
    [entry] = topology_entries("fresh")
    data = json.loads(entry.data)
    assert entry.seq == first.entry_seq == 2  # after site.created
    assert data["created"] == first.created and data["file_digest"] == topo.digest
    assert data["missing_from_file"] == {"posts": [], "gates": [], "lanes": [], "devices": []}

    second = apply(topo)
    assert not second.changed and second.site.id == first.site.id
    assert len(topology_entries("fresh")) == 1 and entry_count("fresh") == 2
    assert shiftbook.verify(site="fresh").ok
    assert layout("demo") == EXPECTED_DEVICES  # the other site is untouched


def test_changed_names_and_places_are_updated(ctx):
    """Protects editing the file: renamed devices and gates, a changed lane direction and a
    device moved to another lane are updated in place (same rows, so history still points at
    them), with one entry counting the updates."""
    car_in_id = db.session.scalars(select(Device.id).where(Device.code == "car-in")).one()
    text = edited('name = "入口道闸"', 'name = "入口道闸(新)"')
    text = text.replace('name = "东门车行道"', 'name = "东门机动车道"')
    text = text.replace('code = "out"\ndirection = "out"', 'code = "out"\ndirection = "both"')
    # move the walk-in barrier's block into the car/out lane (after car-out)
    walk_in = device_block("barrier", "walk-in", "人行闸机")
    car_out = device_block("barrier", "car-out", "出口道闸")
    assert walk_in in text and car_out in text
    text = text.replace(walk_in, "").replace(car_out, car_out + "\n" + walk_in)
    before = entry_count("demo")

    result = apply(parse_site_text(text, "edited-demo.toml"))

    assert result.updated == {"site": 0, "posts": 0, "gates": 1, "lanes": 1, "devices": 2,
                              "buildings": 0, "units": 0}
    assert set(result.created.values()) == {0}
    assert entry_count("demo") == before + 1
    assert json.loads(topology_entries("demo")[-1].data)["updated"] == result.updated
    car_in = db.session.get(Device, car_in_id)
    assert car_in.name == "入口道闸(新)"
    assert db.session.scalars(select(Gate.name).where(Gate.code == "car")).one() == "东门机动车道"
    assert ("car", "out", "barrier", "walk-in", "人行闸机") in layout("demo")
    assert not apply(parse_site_text(text, "edited-demo.toml")).changed


def test_removed_device_is_reported_not_deleted(ctx):
    """Protects history: a device dropped from the file keeps its row (commands and events
    refer to it), is taken off its lane and is reported as missing_from_file, in the result
    and in the entry; applying again reports it again but writes nothing."""
    device_id = db.session.scalars(select(Device.id).where(Device.code == "anpr-out")).one()
    text = edited(device_block("camera", "anpr-out", "出口车牌相机"), "")

    result = apply(parse_site_text(text, "smaller-demo.toml"))

    assert result.missing_from_file["devices"] == ["camera/anpr-out"]
    assert result.updated["devices"] == 1  # taken off its lane
    device = db.session.get(Device, device_id)
    assert device is not None and device.lane_id is None and device.name == "出口车牌相机"
    data = json.loads(topology_entries("demo")[-1].data)
    assert data["missing_from_file"]["devices"] == ["camera/anpr-out"]

    before = entry_count("demo")
    again = apply(parse_site_text(text, "smaller-demo.toml"))
    assert not again.changed and again.missing_from_file["devices"] == ["camera/anpr-out"]
    assert entry_count("demo") == before

    back = apply(demo_topology())  # put back in the file: on its lane again
    assert back.missing_from_file["devices"] == [] and back.updated["devices"] == 1
    assert layout("demo") == EXPECTED_DEVICES


def test_removed_gate_is_reported_and_kept(ctx):
    """Protects shifts and entries that name a gate: a gate dropped from the file stays, and
    it, its lane and its devices are reported as missing_from_file."""
    walk_gate = DEMO_TEXT[DEMO_TEXT.index("# --- Pedestrian gate"):]
    result = apply(parse_site_text(DEMO_TEXT.replace(walk_gate, ""), "no-walk.toml"))
    assert result.missing_from_file == {"posts": [], "gates": ["walk"], "lanes": ["walk/in"],
                                        "devices": ["barrier/walk-in", "scanner/kiosk-cam"]}
    assert db.session.scalars(select(Gate).where(Gate.code == "walk")).one().lanes
    assert db.session.scalar(select(func.count()).select_from(Post)) == 1


def test_new_units_and_named_buildings_are_added(ctx):
    """Protects the unit list: units the file adds appear (normalised), buildings named in
    the file get that name, and units already there are left alone."""
    text = edited('"3-2-1801"]', '"3-2-1801", "4栋1单元101"]\n\n[site.buildings]\n"4" = "4栋 (海棠楼)"\n')
    result = apply(parse_site_text(text, "more-units.toml"))
    assert (result.created["units"], result.created["buildings"]) == (1, 1)
    unit = db.session.scalars(select(Unit).where(Unit.code == "4-1-101")).one()
    assert db.session.get(Building, unit.building_id).name == "4栋 (海棠楼)"


def test_failed_apply_leaves_nothing(ctx):
    """Protects the caller's transaction: when the action fails after apply_topology, the
    topology changes and their entry are rolled back together."""
    before = entry_count("demo")
    text = edited('name = "入口道闸"', 'name = "临时名字"')
    with pytest.raises(ActionError), transaction():
        apply_topology(parse_site_text(text, "x.toml"))
        raise ActionError("test", "refused after the apply")
    assert entry_count("demo") == before
    assert db.session.scalars(select(Device.name).where(Device.code == "car-in")).one() == "入口道闸"
