"""The offline mode's pure parts: the durable spool, the cache's decision, the outage test."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError

from device_adapters import spool as spool_module
from device_adapters.offline import is_outage
from device_adapters.plate_cache import KnownCar, PlateCache, Snapshot
from device_adapters.spool import Spool, read
from gate.domain.events import PlateRead
from gate.services.camera_lanes import BarrierRef, CameraLane

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LANE = CameraLane(site_id=1, camera_id=2, lane_id=3, gate_id=4, barrier=BarrierRef(5, "car-in", 1, 3))


def _record(n: int) -> dict:
    return {"key": f"demo/anpr-in/e{n}", "type": "plate", "payload": "{\"plate\": \"粤B12345\"}"}


def test_append_is_fsynced_before_it_returns(tmp_path, monkeypatch):
    """Protects durability: each append fsyncs the file (and a new file's directory) before returning."""
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(spool_module.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    spool = Spool(tmp_path / "spool")
    spool.append(_record(1))
    first = len(synced)
    assert first >= 2  # the new file's directory entry and the record
    spool.append(_record(2))
    assert len(synced) == first + 1
    spool.seal()
    assert [r["key"] for r in read(spool.files()[0])] == ["demo/anpr-in/e1", "demo/anpr-in/e2"]


def test_torn_last_line_is_ignored(tmp_path):
    """Protects crash recovery: a record whose write never finished (no newline yet) is skipped,
    the rest read."""
    spool = Spool(tmp_path)
    spool.append(_record(1))
    spool.append(_record(2))
    spool.seal()
    path = spool.files()[0]
    with open(path, "ab") as f:
        f.write(json.dumps(_record(3)).encode())  # whole, but the newline never reached the disk
    assert [r["key"] for r in read(path)] == ["demo/anpr-in/e1", "demo/anpr-in/e2"]
    with open(path, "ab") as f:
        f.write(b'\n{"key": "demo/anpr-in/e4", "ty')  # cut in the middle
    assert [r["key"] for r in read(path)][-1] == "demo/anpr-in/e3"


def test_seal_rotates_and_remove_deletes(tmp_path):
    """Protects replay: sealed files are the ones replayed, new appends go to a new file, replayed ones go."""
    spool = Spool(tmp_path)
    spool.append(_record(1))
    assert spool.sealed() == []  # still being written
    spool.seal()
    spool.append(_record(2))
    first, second = spool.files()
    assert spool.sealed() == [first]
    spool.remove(first)
    assert spool.files() == [second]
    assert [r["key"] for r in spool.records()] == ["demo/anpr-in/e2"]
    assert (second.stat().st_mode & 0o777) == 0o600  # plates are personal data
    spool.seal()


def _read(plate: str, *, confidence: float = 0.95, direction: str = "in", at: datetime = NOW,
          device: str = "anpr-in") -> PlateRead:
    return PlateRead("demo", device, f"e-{plate}-{at.timestamp()}", plate, confidence, direction, at)


@pytest.fixture
def cache() -> PlateCache:
    cars = {"粤B12345": KnownCar(10, 20, None, False),
            "粤B99999": KnownCar(11, 21, NOW - timedelta(minutes=1), False),  # registration ended
            "粤B66666": KnownCar(12, 22, None, True)}  # a resident's car on the blocklist
    cache = PlateCache()
    cache.snapshot = Snapshot({"anpr-in": LANE, "anpr-x": CameraLane(1, 9, None, None, None)}, cars, NOW)
    return cache


def _decide(cache: PlateCache, read: PlateRead, stale: bool = False):
    return cache.decide(read, at=read.at, stale=stale, min_confidence=0.8, debounce=timedelta(seconds=15))


def test_offline_opens_only_for_known_resident_cars(cache):
    """Protects the gate while the database is away: only a resident car in the cache opens it."""
    opened = _decide(cache, _read("粤B12345"))
    assert (opened.action, opened.reason, opened.found) == ("open", "resident", (10, 20))
    assert _decide(cache, _read("京A88888")).reason == "unknown"
    leaving = _read("京A88888", direction="out", at=NOW + timedelta(minutes=1))
    assert _decide(cache, leaving).reason == "no_entry"
    assert _decide(cache, _read("粤B99999")).action == "prompt"  # ended during the outage
    assert _decide(cache, _read("粤B66666")).reason == "blocked"
    unsure = _read("粤B12345", confidence=0.5, at=NOW + timedelta(hours=1))
    assert _decide(cache, unsure).reason == "low_confidence"
    assert _decide(cache, _read("粤B12345", at=NOW + timedelta(hours=2)), stale=True).reason == "stale"
    assert _decide(cache, _read("粤B12345", device="anpr-x")).reason == "no_barrier"


def test_offline_repeat_read_opens_once(cache):
    """Protects against double openings offline: the same car on the same camera within the
    window is one arrival."""
    assert _decide(cache, _read("粤B12345")).action == "open"
    assert _decide(cache, _read("粤B12345", at=NOW + timedelta(seconds=3))).reason == "repeat"
    assert _decide(cache, _read("粤B12345", at=NOW + timedelta(seconds=60))).action == "open"


def test_unknown_camera_is_refused(cache):
    """Protects the topology: a camera the cache does not know decides nothing."""
    with pytest.raises(ValueError):
        _decide(cache, _read("粤B12345", device="ghost"))


def test_only_connection_errors_are_outages():
    """Protects against hiding bugs offline: only database connection errors switch the bridge
    to its cache."""
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert is_outage(down)
    try:
        try:
            raise down
        except OperationalError:
            raise PendingRollbackError("rolled back") from None
    except PendingRollbackError as later:
        assert is_outage(later)  # the savepoint's rollback failed after the connection dropped
    assert not is_outage(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_outage(ValueError("bad payload"))
