"""The plates a bridge may open for while the database is away: a snapshot of resident cars.

The snapshot is read with the live path's own statements (gate.services.plate_queries): the
resident-car select and the blocklist test with their `:plate` parameter bound to the vehicle's
plate column, so one query lists every car the live path would open for now, and the rules are
not written a second time. Only resident cars open offline: a visitor pass has counted uses and
an unknown car needs a guard, both of which need the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

from gate.domain.events import PlateRead
from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import Site
from gate.services import camera_lanes, plate_queries
from gate.services.camera_lanes import CameraLane


def _plate_bound(stmt, column):
    """The statement with its `:plate` parameter replaced by `column` (every plate at once)."""
    def swap(element):
        if isinstance(element, BindParameter) and element.key == "plate":
            return column
        return None
    return visitors.replacement_traverse(stmt, {}, swap)


_PLATE = plate_queries._V.plate
# The EXISTS of the live blocklist test, correlated to the resident car's plate.
_BLOCKED = _plate_bound(plate_queries._LISTED, _PLATE).selected_columns[0]
_RESIDENT_CARS = (_plate_bound(plate_queries._RESIDENT_CAR, _PLATE).limit(None)
                  .add_columns(_PLATE, plate_queries._V.valid_until, _BLOCKED.label("blocked")))


@dataclass(frozen=True)
class KnownCar:
    """A resident's car as the live path saw it at the last refresh."""

    vehicle_id: int
    unit_id: int
    valid_until: datetime | None
    blocked: bool

    def valid_at(self, at: datetime) -> bool:
        """True if its registration still runs at `at` (it may end during an outage)."""
        return self.valid_until is None or self.valid_until > at


@dataclass(frozen=True)
class Snapshot:
    """What the cache knows: cameras' lanes and resident cars, and when it was read."""

    lanes: dict[str, CameraLane] = field(default_factory=dict)
    cars: dict[str, KnownCar] = field(default_factory=dict)
    taken_at: datetime | None = None


@dataclass(frozen=True)
class OfflineDecision:
    """What the gate did with a read while the database was away."""

    action: str  # open | prompt | ignore, as vehicles.PlateDecision
    reason: str
    plate: str | None
    lane: CameraLane
    found: tuple[int, int] | None = None  # (vehicle id, unit id) of the resident car


def load(site: str, cameras: Iterable[str], now: datetime) -> Snapshot:
    """Read a snapshot (inside an app context): the cameras' lanes and the cars allowed in now."""
    site_id = db.session.scalar(select(Site.id).where(Site.code == site))
    if site_id is None:
        return Snapshot(taken_at=now)
    lanes = {code: lane for code in cameras
             if (lane := camera_lanes.camera_lane(site, code)) is not None}
    rows = db.session.connection().execute(
        _RESIDENT_CARS, {"site_id": site_id, "at": now, "which": "blocklist"})
    cars = {row.plate: KnownCar(row.id, row.unit_id, row.valid_until, bool(row.blocked)) for row in rows}
    return Snapshot(lanes, cars, now)


class PlateCache:
    """The latest snapshot, swapped whole on refresh, and the offline decision from it."""

    def __init__(self) -> None:
        """Start empty: nothing opens offline before the first refresh."""
        self.snapshot = Snapshot()
        self._decided: dict[tuple[str, str], datetime] = {}  # (camera, plate) -> last decision

    def refresh(self, site: str, cameras: Iterable[str], now: datetime) -> None:
        """Replace the snapshot with a fresh one from the database."""
        self.snapshot = load(site, cameras, now)

    def decide(self, read: PlateRead, *, at: datetime, stale: bool, min_confidence: float,
               debounce: timedelta) -> OfflineDecision:
        """Open only for a resident car in the snapshot; anything else waits for the guard.

        The checks keep the live path's order (vehicles._decide); a repeat read of the same car
        on the same camera within `debounce` is one arrival, as online.
        """
        snap = self.snapshot
        lane = snap.lanes.get(read.device)
        if lane is None:
            raise ValueError(f"camera {read.device!r} is not in the offline cache")
        try:
            plate = normalize_plate(read.plate)
        except ValueError:
            return OfflineDecision("prompt", "unreadable", None, lane)
        if read.confidence < min_confidence:
            return OfflineDecision("prompt", "low_confidence", plate, lane)
        if stale:
            return OfflineDecision("ignore", "stale", plate, lane)
        last = self._decided.get((read.device, plate))
        if last is not None and last > at - debounce:
            return OfflineDecision("ignore", "repeat", plate, lane)
        if len(self._decided) > 4096:  # forget arrivals long past the window
            self._decided = {k: t for k, t in self._decided.items() if t > at - debounce}
        self._decided[(read.device, plate)] = at
        car = snap.cars.get(plate)
        if car is not None and car.blocked:
            return OfflineDecision("prompt", "blocked", plate, lane)
        if car is None or not car.valid_at(at):
            return OfflineDecision("prompt", "no_entry" if read.direction == "out" else "unknown",
                                   plate, lane)
        if lane.barrier is None:
            return OfflineDecision("prompt", "no_barrier", plate, lane)
        return OfflineDecision("open", "resident", plate, lane, (car.vehicle_id, car.unit_id))
