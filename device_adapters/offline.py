"""The bridge's offline mode: the database is away, the gate keeps working.

When the live plate path fails because the database cannot be reached, the bridge decides
from the plate cache (device_adapters.plate_cache: resident cars open, anything else waits for
the guard), sends the barrier command through its commander as online, and spools the event
and its decision durably (device_adapters.spool) before the message is acknowledged. A thread
probes the database every GATE_OFFLINE_PROBE_SECONDS; once it answers, the spool is replayed
(device_adapters.replay) and only then does the bridge decide online again, so reads are
written in the order they happened. While online, the same thread refreshes the cache every
GATE_OFFLINE_CACHE_REFRESH_SECONDS: never per message.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from device_adapters import contract, metrics, replay
from device_adapters.plate_cache import OfflineDecision, PlateCache
from device_adapters.spool import Spool
from gate.domain.events import BarrierCommand, PlateRead
from gate.extensions import db
from gate.models.types import utcnow

if TYPE_CHECKING:
    from device_adapters.bridge import Bridge

log = logging.getLogger(__name__)


def is_outage(exc: BaseException | None) -> bool:
    """True if `exc`, or an error that led to it, says the database cannot be reached.

    OperationalError and InterfaceError are SQLAlchemy's wrappers of the driver's connection
    errors (refused, reset, closed, SQLite's file gone or locked); any other DBAPI error counts
    only when SQLAlchemy found the connection dead. A constraint or programming error is not an
    outage and must not be hidden by deciding offline.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class OfflineMode:
    """Switches one bridge between the live path and the cache, spool and replay."""

    def __init__(self, bridge: Bridge) -> None:
        """Prepare the spool directory and an empty cache; nothing runs before start()."""
        cfg = bridge.app.config
        self.bridge = bridge
        # One folder per bridge name: bridges sharing a machine never replay each other's file.
        base = cfg.get("GATE_OFFLINE_DIR") or Path(bridge.app.instance_path) / "spool"
        self.spool = Spool(Path(base) / bridge.name)
        self.cache = PlateCache()
        self.probe_every = float(cfg.get("GATE_OFFLINE_PROBE_SECONDS", 5))
        self.refresh_every = float(cfg.get("GATE_OFFLINE_CACHE_REFRESH_SECONDS", 60))
        self.active = False  # deciding from the cache
        self.replays = 0  # completed replays (tests wait on it)
        self._keys: set[str] = set()  # events spooled in this outage: a redelivery opens nothing
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Replay what a previous run left in the spool, read the cache, start the probe thread."""
        self._stop.clear()
        if self.spool.files():
            self.active = True  # replayed before anything is decided online: order is kept
            self._keys = {str(r.get("key")) for r in self.spool.records()}
            self._resume()
        else:
            self._refresh()
        self._thread = threading.Thread(target=self._run, name="bridge-offline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the probe thread and close the spool file."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            self.spool.seal()

    def _run(self) -> None:
        refresh_at = time.monotonic() + self.refresh_every
        while not self._stop.is_set():
            wait = self.probe_every if self.active else max(0.0, refresh_at - time.monotonic())
            if self._wake.wait(wait):
                self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.active:
                    self._resume()
                elif time.monotonic() >= refresh_at:
                    self._refresh()
            except Exception:  # a bug in replay must not end the probing; stay offline
                log.exception("offline mode: replay or refresh failed")
            if not self.active and time.monotonic() >= refresh_at:
                refresh_at = time.monotonic() + self.refresh_every

    # --- the database ------------------------------------------------------------------

    def _refresh(self) -> None:
        cameras = [code for (kind, code) in self.bridge.profiles if kind == "camera"]
        with self.bridge.app.app_context():
            try:
                self.cache.refresh(self.bridge.site, cameras, utcnow())
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning("offline cache kept: the database did not answer (%s)", type(exc).__name__)
            finally:
                db.session.remove()

    def _resume(self) -> bool:
        """If the database answers: replay the spool, then decide online again."""
        with self.bridge.app.app_context():
            try:
                db.session.execute(text("SELECT 1"))
                db.session.remove()
                while True:
                    with self._lock:
                        self.spool.seal()  # appends from now on go to a new file
                        files = self.spool.files()
                        if not files:
                            self.active = False
                            self._keys.clear()
                            break
                    for path in files:
                        replay.replay_file(path, self.bridge.topics)
                        self.spool.remove(path)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.info("database still unreachable (%s); deciding offline", type(exc).__name__)
                return False
            finally:
                db.session.remove()
        self.replays += 1
        log.warning("database reachable again: spool replayed, deciding online")
        self.bridge.alert("database_online", "", None)
        self._refresh()
        return True

    def go_offline(self, exc: BaseException) -> None:
        """Decide from the cache from now on, until the probe finds the database again."""
        with self._lock:
            if self.active:
                return
            self.active = True
        log.warning("database unreachable (%s): deciding plates from the offline cache",
                    type(exc).__name__)
        self.bridge.alert("database_offline", "", None)
        self._wake.set()

    # --- plate reads -------------------------------------------------------------------

    def plate(self, event: PlateRead, online: Callable[[PlateRead], None]) -> None:
        """Decide a read online; from the cache while the database is away or on finding it so.

        Returns only once an offline decision is fsynced to the spool (the message may then be
        acknowledged to the broker).
        """
        if not self.active:
            try:
                online(event)
                return
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.go_offline(exc)
        if not self._decide(event):
            self.plate(event, online)  # the database came back meanwhile

    def _decide(self, event: PlateRead) -> bool:
        """Decide from the cache, spool, then command; False if no longer offline."""
        from gate.services import barriers, vehicles

        cfg = self.bridge.app.config
        now = utcnow()
        at, stale = vehicles.read_time(event, now)
        key = f"{event.site}/{event.device}/{event.event_id}"
        with self._lock:
            if not self.active:
                return False
            if key in self._keys:
                self.bridge.link.drop("duplicate", f"{event.device}/{event.event_id}")
                return True
            decision = self.cache.decide(
                event, at=at, stale=stale, min_confidence=cfg.get("GATE_PLATE_MIN_CONFIDENCE", 0.8),
                debounce=timedelta(seconds=cfg.get("GATE_PLATE_DEBOUNCE_SECONDS", 15)))
            cmd = None
            if decision.action == "open":
                cmd = BarrierCommand(str(uuid.uuid4()), event.site, decision.lane.barrier.code, "open",
                                     f"resident vehicle ({event.direction})", now,
                                     now + barriers.command_ttl())
            self.spool.append(self._record(key, event, decision, at, now, cmd))
            self._keys.add(key)
        if cmd is not None:
            self.bridge.commander.send(cmd, self._outcome(cmd.id))
            metrics.command_sent(cmd)
        elif decision.action == "prompt":
            kind = "blocked_vehicle" if decision.reason == "blocked" else "offline_vehicle"
            self.bridge.alert(kind, decision.plate or "", event.device)
        log.info("plate read %s on %s/%s decided offline: %s, %s", event.event_id[:64], event.site,
                 event.device, decision.action, decision.reason)
        return True

    def _record(self, key: str, event: PlateRead, decision: OfflineDecision, at, now,
                cmd: BarrierCommand | None) -> dict:
        return {"type": "plate", "key": key, "topic": self.bridge.topics.camera_plate(event.device),
                "payload": contract.encode_plate(event).decode(), "received_at": now.isoformat(),
                "decision": {"action": decision.action, "reason": decision.reason,
                             "plate": decision.plate, "at": at.isoformat(),
                             "found": list(decision.found) if decision.found else None,
                             "command": replay.command_record(cmd) if cmd else None}}

    def _outcome(self, command_id: str) -> Callable[[str, str | None], None]:
        """Where an offline command's outcome goes: the spool while offline, else the database."""
        def record(outcome: str, state: str | None) -> None:
            with self._lock:
                if self.active:
                    self.spool.append({"type": "outcome", "key": f"outcome/{command_id}",
                                       "command_id": command_id, "outcome": outcome, "state": state,
                                       "received_at": utcnow().isoformat()})
                    metrics.command_outcome(command_id, outcome)
                    return
            self.bridge.outcome_recorder(command_id)(outcome, state)

        return record
