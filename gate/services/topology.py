"""Loading the site file (GATE_SITE_FILE) and applying it to the database.

The file is parsed and validated by gate.domain.topology; here the device profiles of
device_adapters are checked (each device's options are handed to its profile, which refuses
what it cannot use), and `apply_topology` upserts the site's posts, gates, lanes, devices,
buildings and units inside the caller's transaction. Nothing is deleted: rows the file no
longer names are reported as `missing_from_file` (devices are also taken off their lane), because
the shift book and history refer to them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sqlalchemy import select

from gate.domain.topology import Problem, SiteTopology, TopologyError, load_topology, parse_topology
from gate.extensions import db
from gate.models import Building, Device, Gate, Lane, Post, Site, Unit
from gate.services import camera_lanes, shiftbook, sites

PARTS = ("site", "posts", "gates", "lanes", "devices", "buildings", "units")
DEMO_FILE = "data/demo-site.toml"  # inside the gate package; deploy/demo-site.toml links to it


def profile_registry() -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The registered device profiles and the device kinds each drives."""
    from device_adapters.profiles import names, profile_class

    known = names()
    return known, {name: tuple(profile_class(name).kinds) for name in known}


def check_profiles(topo: SiteTopology, prefix: str = "gatehouse") -> None:
    """Hand every device's options to its profile; TopologyError names each device it refuses."""
    from device_adapters.profiles import DeviceConfig, profile_class
    from device_adapters.topics import Topics

    topics = Topics(prefix, topo.code)
    problems = []
    for p, post in enumerate(topo.posts):
        for g, gate in enumerate(post.gates):
            for la, lane in enumerate(gate.lanes):
                for d, dev in enumerate(lane.devices):
                    config = DeviceConfig(site=topo.code, kind=dev.kind, id=dev.id, profile=dev.profile,
                                          options=dev.options, gate=gate.code, lane=lane.code, name=dev.name)
                    try:
                        profile_class(dev.profile)(config, topics)
                    except ValueError as exc:
                        path = f"posts[{p}].gates[{g}].lanes[{la}].devices[{d}].options"
                        problems.append(Problem(path, str(exc)))
    if problems:
        raise TopologyError(topo.source, problems)


def load_site_file(path: str | os.PathLike[str], prefix: str = "gatehouse") -> SiteTopology:
    """Read a site file and check it against the registered device profiles."""
    known, kinds = profile_registry()
    topo = load_topology(path, known_profiles=known, profile_kinds=kinds)
    check_profiles(topo, prefix)
    return topo


def parse_site_text(text: str, source: str = "<string>", prefix: str = "gatehouse") -> SiteTopology:
    """Like `load_site_file`, for text already read."""
    known, kinds = profile_registry()
    topo = parse_topology(text, source, known_profiles=known, profile_kinds=kinds)
    check_profiles(topo, prefix)
    return topo


def demo_topology() -> SiteTopology:
    """The demo estate's site file, shipped in the package (gate/data/demo-site.toml)."""
    resource = resources.files("gate") / DEMO_FILE
    return parse_site_text(resource.read_text(encoding="utf-8"), source=str(resource))


@dataclass
class AppliedTopology:
    """What `apply_topology` did: counts per part, what the file no longer names, the entry."""

    site: Site
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    missing_from_file: dict[str, list[str]] = field(
        default_factory=lambda: {"posts": [], "gates": [], "lanes": [], "devices": []})
    entry_seq: int | None = None

    @property
    def changed(self) -> bool:
        """True when anything was added or updated (then a shift-book entry was written)."""
        return any(self.created.values()) or any(self.updated.values())


def apply_topology(topo: SiteTopology, *, actor_id: int | None = None) -> AppliedTopology:
    """Make the database match the file, inside the caller's transaction; idempotent.

    Creates the site if missing, then adds or updates posts, gates, lanes and devices by their
    codes, and adds missing buildings and units. Devices the file no longer lists are not
    deleted; they are taken off their lane and listed in `missing_from_file` (so are posts,
    gates and lanes, which are left as they are). One `site.topology` shift-book entry is
    written when something changed, with the counts.
    """
    camera_lanes.forget()
    site = db.session.scalars(select(Site).where(Site.code == topo.code)).first()
    if site is None:
        site = sites.create_site(topo.code, topo.name)
        site.address = topo.address
        result = AppliedTopology(site)
        result.created["site"] = 1
    else:
        result = AppliedTopology(site)
        if _assign(site, name=topo.name, address=topo.address):
            result.updated["site"] = 1
    up = _Upserter(result)

    posts = {p.code: p for p in db.session.scalars(select(Post).where(Post.site_id == site.id))}
    gates = {g.code: g for g in db.session.scalars(select(Gate).where(Gate.site_id == site.id))}
    lanes = {(la.gate_id, la.code): la for la in db.session.scalars(
        select(Lane).join(Gate, Lane.gate_id == Gate.id).where(Gate.site_id == site.id))}
    devices = {(d.kind, d.code): d
               for d in db.session.scalars(select(Device).where(Device.site_id == site.id))}
    in_file: dict[str, set[Any]] = {"posts": set(), "gates": set(), "lanes": set(), "devices": set()}

    for post_spec in topo.posts:
        post = up.row("posts", posts, post_spec.code, Post, {"site_id": site.id, "code": post_spec.code},
                      name=post_spec.name)
        in_file["posts"].add(post_spec.code)
        for gate_spec in post_spec.gates:
            gate = up.row("gates", gates, gate_spec.code, Gate, {"site_id": site.id, "code": gate_spec.code},
                          post_id=post.id, name=gate_spec.name, kind=gate_spec.kind)
            in_file["gates"].add(gate_spec.code)
            for lane_spec in gate_spec.lanes:
                lane = up.row("lanes", lanes, (gate.id, lane_spec.code), Lane,
                              {"gate_id": gate.id, "code": lane_spec.code}, direction=lane_spec.direction)
                in_file["lanes"].add((gate.id, lane_spec.code))
                for dev in lane_spec.devices:
                    up.row("devices", devices, (dev.kind, dev.id), Device,
                           {"site_id": site.id, "kind": dev.kind, "code": dev.id},
                           lane_id=lane.id, name=dev.name, profile=dev.profile,
                           options=dict(dev.options) or None, credentials=dev.credentials)
                    in_file["devices"].add((dev.kind, dev.id))

    gate_codes = {g.id: g.code for g in gates.values()}
    missing = result.missing_from_file
    missing["posts"] = sorted(code for code in posts if code not in in_file["posts"])
    missing["gates"] = sorted(code for code in gates if code not in in_file["gates"])
    missing["lanes"] = sorted(f"{gate_codes[gid]}/{code}" for gid, code in lanes
                              if (gid, code) not in in_file["lanes"])
    for key in sorted(devices):
        if key in in_file["devices"]:
            continue
        missing["devices"].append("/".join(key))
        if _assign(devices[key], lane_id=None):
            result.updated["devices"] += 1

    _buildings_and_units(topo, site, up)
    db.session.flush()
    if result.changed:
        entry = shiftbook.append("site.topology", {
            "site_id": site.id, "file_digest": topo.digest, "created": result.created,
            "updated": result.updated, "missing_from_file": result.missing_from_file,
        }, actor_id=actor_id, site=site.code)
        result.entry_seq = entry.seq
    return result


def _buildings_and_units(topo: SiteTopology, site: Site, up: _Upserter) -> None:
    buildings = {b.code: b for b in db.session.scalars(select(Building).where(Building.site_id == site.id))}
    known_units = set(db.session.scalars(select(Unit.code).where(Unit.site_id == site.id)))
    wanted = list(dict.fromkeys([code.split("-")[0] for code in topo.units] + list(topo.buildings)))
    for code in wanted:
        if code in buildings:
            # Only a name the file states overrides one given in the app.
            if code in topo.buildings and _assign(buildings[code], name=topo.buildings[code]):
                up.result.updated["buildings"] += 1
            continue
        up.row("buildings", buildings, code, Building, {"site_id": site.id, "code": code},
               name=topo.building_name(code))
    for code in topo.units:
        if code not in known_units:
            db.session.add(Unit(site_id=site.id, building_id=buildings[code.split("-")[0]].id, code=code))
            known_units.add(code)
            up.result.created["units"] += 1


class _Upserter:
    """Create-or-update rows by key, counting what changed."""

    def __init__(self, result: AppliedTopology):
        self.result = result

    def row(self, part: str, existing: dict[Any, Any], key: Any, model: type, identity: dict[str, Any],
            **values: Any) -> Any:
        row = existing.get(key)
        if row is None:
            row = model(**identity, **values)
            db.session.add(row)
            db.session.flush()  # ids are needed by the rows below it
            existing[key] = row
            self.result.created[part] += 1
        elif _assign(row, **values):
            self.result.updated[part] += 1
        return row


def _assign(row: Any, **values: Any) -> bool:
    """Set the attributes that differ; True if any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed
