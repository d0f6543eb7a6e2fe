"""Which lane, gate and barrier a camera serves: read once and kept for a few seconds.

The plate → barrier path asked the database for the site, the camera, its lane and the lane's
barrier on every read (four queries of data that changes when a site file is applied). The
answer is kept per process for GATE_TOPOLOGY_CACHE_SECONDS; a camera not in the cache is always
looked up, so a newly added camera works at once, and applying a site file in this process
empties the cache. Another process (the bridge) sees a re-wired lane within that many seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import aliased

from gate.extensions import db
from gate.models import Device, Lane, Site

_KEY = "gate.camera_lanes"


@dataclass(frozen=True)
class BarrierRef:
    """What a barrier order needs to know of a barrier, without a database session."""

    id: int
    code: str
    site_id: int
    lane_id: int | None
    kind: str = "barrier"


@dataclass(frozen=True)
class CameraLane:
    """A camera's place in the site: its site, lane, gate and the lane's barrier."""

    site_id: int
    camera_id: int
    lane_id: int | None
    gate_id: int | None
    barrier: BarrierRef | None


def _look_up(site: str, camera: str) -> CameraLane | None:
    barrier = aliased(Device)
    row = db.session.execute(
        select(Site.id, Device.id, Device.lane_id, Lane.gate_id, barrier.id, barrier.code)
        .join(Device, Device.site_id == Site.id)
        .outerjoin(Lane, Lane.id == Device.lane_id)
        .outerjoin(barrier, (barrier.lane_id == Device.lane_id) & (barrier.kind == "barrier"))
        .where(Site.code == site, Device.kind == "camera", Device.code == camera)
        .order_by(barrier.id).limit(1)).first()
    if row is None:
        return None
    site_id, camera_id, lane_id, gate_id, barrier_id, barrier_code = row
    ref = BarrierRef(barrier_id, barrier_code, site_id, lane_id) if barrier_id is not None else None
    return CameraLane(site_id, camera_id, lane_id, gate_id, ref)


def camera_lane(site: str, camera: str) -> CameraLane | None:
    """The camera's lane and barrier (cached); None if no such camera at the site."""
    cache: dict = current_app.extensions.setdefault(_KEY, {})
    ttl = current_app.config.get("GATE_TOPOLOGY_CACHE_SECONDS", 30)
    now = time.monotonic()
    hit = cache.get((site, camera))
    if hit is not None and hit[0] > now:
        return hit[1]
    found = _look_up(site, camera)
    if found is not None and ttl > 0:
        cache[(site, camera)] = (now + ttl, found)
    return found


def forget() -> None:
    """Empty this process's cache (the site's topology has just changed)."""
    current_app.extensions.pop(_KEY, None)
