"""The bridge process: devices' MQTT messages in, service calls and barrier commands out.

Callbacks stay thin: a message is translated by its device's profile into typed events, and
each event is handed to the same service functions the web views call, inside an app context.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select

from device_adapters import chores, contract, metrics
from device_adapters.commander import Commander
from device_adapters.link import MqttLink
from device_adapters.offline import OfflineMode
from device_adapters.profiles import ha_discovery, profile_class
from device_adapters.profiles.base import DeviceConfig, Profile, Publish
from device_adapters.topics import Topics, rfc3339
from gate.domain.events import Availability, BarrierAck, BarrierState, CardRead, PlateRead, Scan
from gate.extensions import db
from gate.models import Device, Site
from gate.models.types import utcnow

log = logging.getLogger(__name__)
STATUS_EVERY = 5.0  # seconds between BridgeStatus writes
DEVICE_EVENTS = {"camera": "plate", "scanner": "scan", "idreader": "card"}


class Bridge:
    """Connects the site's configured devices to the services."""

    def __init__(self, app: Flask, *, url: str | None = None, name: str | None = None,
                 shared: bool | None = None) -> None:
        """Load the site's devices and their profiles; nothing connects until start()."""
        self.app = app
        cfg = app.config
        self.deadline_checks = 0  # completed overdue checks (tests wait on it)
        self.site = cfg["GATE_SITE"]
        self.name = name or cfg.get("GATE_BRIDGE_NAME") or "main"
        self.topics = Topics(cfg["GATE_MQTT_PREFIX"], self.site)
        url = url or cfg.get("GATE_MQTT_URL")
        if not url:
            raise ValueError("GATE_MQTT_URL is not set: the bridge needs a broker")
        shared = cfg.get("GATE_BRIDGE_SHARED", False) if shared is None else shared
        self.link = MqttLink(url, self.topics.bridge_availability(self.name),
                             # Stable across restarts: the broker keeps this bridge's session
                             # (and the events that arrive while it is down) under this id.
                             f"gatehouse-bridge-{self.site}-{self.name}",
                             shared_group="gatehouse" if shared else None,
                             on_connected=self._on_connected,
                             protocol=cfg.get("GATE_MQTT_PROTOCOL", "5"),
                             # Shared: no session kept. Mosquitto would queue a down worker's
                             # share of the events for it instead of giving them to the others.
                             session_expiry=0 if shared else
                             cfg.get("GATE_MQTT_SESSION_EXPIRY_SECONDS", 86400))
        self.commander = Commander(self.link, self.topics)
        self.offline = OfflineMode(self)  # the database away: plate cache, spool, replay
        self.link.burst = self._burst
        self._local = threading.local()  # .outbox: commands held until their burst commits
        self.profiles: dict[tuple[str, str], Profile] = {}
        with app.app_context():
            self._load_devices()
        self._routes()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._metrics = None  # the GATE_METRICS_BIND server while running

    # --- set-up ----------------------------------------------------------------------------

    def _load_devices(self) -> None:
        site = db.session.scalars(select(Site).where(Site.code == self.site)).first()
        if site is None:
            raise ValueError(f"site {self.site!r} does not exist; run 'gate demo' or load a site file")
        for device in db.session.scalars(select(Device).where(Device.site_id == site.id)):
            options = dict(device.options or {})
            config = DeviceConfig(site=self.site, kind=device.kind, id=device.code,
                                  profile=device.profile or "native", options=options,
                                  name=device.name)
            self.profiles[(device.kind, device.code)] = profile_class(config.profile)(config, self.topics)
        db.session.remove()

    def _routes(self) -> None:
        t, link = self.topics, self.link
        # Device events: shared, so several bridges split them (each event handled once).
        for kind, leaf in DEVICE_EVENTS.items():
            link.route(t.device_filter(kind, leaf), self._on_canonical, shared=True)
        # Commands: shared; only vendor barriers need relaying (native ones listen themselves).
        link.route(t.device_filter("barrier", "command"), self._on_command, shared=True,
                   refuse_retained=True)  # ours never are retained
        # Acks go to every bridge: only the issuer has the pending command. no_local: we
        # republish vendor barriers' acks and state ourselves and hand them over directly.
        link.route(t.device_filter("barrier", "ack"), self._on_canonical, no_local=True)
        link.route(t.device_filter("barrier", "state"), self._on_canonical, no_local=True)
        link.route(t.device_filter("+", "availability"), self._on_canonical, no_local=True)
        if self.app.config.get("GATE_HA_DISCOVERY", True):
            link.route(ha_discovery.HA_STATUS_TOPIC, self._on_ha_status)
            link.route(ha_discovery.ha_set_filter(t), self._on_ha_set, shared=True)
        for profile in self.profiles.values():
            if profile.name != "native":
                for topic_filter in profile.subscriptions():
                    link.route(topic_filter,
                               lambda topic, payload, p=profile: self._on_vendor(p, topic, payload))

    def start(self, timeout: float = 10.0) -> Bridge:
        """Connect and start the once-a-second housekeeping."""
        self.offline.start()  # a spool left by a previous run is replayed before anything new
        self.link.start(timeout)
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="bridge-tick", daemon=True)
        self._ticker.start()
        self._metrics = metrics.serve(self.app.config.get("GATE_METRICS_BIND"), self)
        return self

    def stop(self) -> None:
        """Publish `stopped` and disconnect cleanly."""
        self._stop.set()
        metrics.close(self._metrics)
        self._metrics = None
        if self._ticker is not None:
            self._ticker.join(5)
        self.link.stop()
        self.offline.stop()
        chores.write_status(self, connected=False)

    # --- incoming --------------------------------------------------------------------------

    def _on_connected(self) -> None:
        for profile in self.profiles.values():
            for msg in profile.on_connect():
                self.link.publish(msg)
        self._publish_discovery()

    # --- Home Assistant --------------------------------------------------------------------

    def _barrier_configs(self) -> list[DeviceConfig]:
        return [p.device for (kind, _), p in self.profiles.items() if kind == "barrier"]

    def _publish_discovery(self) -> None:
        if self.app.config.get("GATE_HA_DISCOVERY", True):
            for msg in ha_discovery.discovery_messages(self.topics, self._barrier_configs()):
                self.link.publish(msg)

    def _on_ha_status(self, topic: str, payload: bytes) -> None:
        if ha_discovery.should_republish(topic, payload):
            # HA asks for a short random delay, so a fleet of bridges does not answer at once.
            timer = threading.Timer(random.uniform(0.5, 3.0), self._publish_discovery)
            timer.daemon = True
            timer.start()

    def _on_ha_set(self, topic: str, payload: bytes) -> None:
        """A Home Assistant user pressed open/close: an ordinary, recorded barrier command."""
        from gate.services import ActionError, barriers

        device_id = ha_discovery.ha_set_device(self.topics, topic)
        if device_id is None or ("barrier", device_id) not in self.profiles:
            return self.link.drop("unknown_device", topic)
        try:
            action = ha_discovery.parse_ha_set(payload)
        except ValueError as exc:
            return self.link.drop("malformed", topic, str(exc))
        with self._session():
            try:
                device = db.session.scalars(select(Device).join(Site).where(
                    Site.code == self.site, Device.kind == "barrier", Device.code == device_id)).one()
                cmd = barriers.order(device, action, ha_discovery.HA_REASON, source="home_assistant")
            except ActionError as exc:
                return self.link.drop("rejected", topic, exc.code)
        self._send(cmd)
        return None

    def _on_canonical(self, topic: str, payload: bytes) -> None:
        parsed = self.topics.parse(topic)
        if parsed is None:
            return self.link.drop("bad_topic", topic)
        kind, device, leaf = parsed
        profile = self.profiles.get((kind, device))
        if profile is None:
            return self.link.drop("unknown_device", topic)
        if profile.name != "native":
            return None  # a vendor device's canonical topics are ours to publish, not to read
        try:
            events = profile.handle(topic, payload, datetime.now(UTC))
        except ValueError as exc:
            return self.link.drop("malformed", topic, str(exc))
        for event in events:
            self._dispatch(event, relay=False)
        return None

    def _on_vendor(self, profile: Profile, topic: str, payload: bytes) -> None:
        try:
            events = profile.handle(topic, payload, datetime.now(UTC))
        except ValueError as exc:
            return self.link.drop("malformed", topic, str(exc))
        for event in events:
            self._dispatch(event, relay=True)
        return None

    def _on_command(self, topic: str, payload: bytes) -> None:
        parsed = self.topics.parse(topic)
        if parsed is None:
            return self.link.drop("bad_topic", topic)
        profile = self.profiles.get(("barrier", parsed[1]))
        if profile is None:
            return self.link.drop("unknown_device", topic)
        if not getattr(profile, "relays_commands", False):
            return None  # a native barrier reads its own command topic
        try:
            cmd = contract.parse_command(self.site, parsed[1], payload)
        except ValueError as exc:
            return self.link.drop("malformed", topic, str(exc))
        now = datetime.now(UTC)
        if cmd.expires_at <= now:
            self.link.drop("stale_command", topic, cmd.id)
            self._dispatch(BarrierAck(self.site, cmd.device, cmd.id, "expired", None, utcnow()), relay=True)
            return None
        if not self.commander.may_relay(cmd, self.app.config["GATE_COMMAND_TTL_SECONDS"], now):
            return self.link.drop("foreign_command", topic, cmd.id)
        try:
            messages = profile.command(cmd)
        except ValueError as exc:
            return self.link.drop("malformed", topic, str(exc))
        for msg in messages:
            self.link.publish(msg)
        return None

    @contextlib.contextmanager
    def _burst(self):
        """Messages that queued up together: one app context and one commit for all of them.

        Each event is still all-or-nothing (a savepoint); barrier commands wait in the outbox
        until the commit has made their records durable, and are dropped if it fails.
        """
        from gate.services import group_commit

        outbox: list = []
        with self.app.app_context():
            self._local.outbox = outbox
            try:
                with group_commit():
                    yield
            finally:
                self._local.outbox = None
                db.session.remove()
        for cmd in outbox:
            self.commander.send(cmd, self.outcome_recorder(cmd.id))
            metrics.command_sent(cmd)

    def _in_burst(self) -> bool:
        return getattr(self._local, "outbox", None) is not None

    def _send(self, cmd) -> None:
        """Send a barrier command now, or after the current burst commits."""
        if self._in_burst():
            self._local.outbox.append(cmd)
        else:
            self.commander.send(cmd, self.outcome_recorder(cmd.id))
            metrics.command_sent(cmd)

    @contextlib.contextmanager
    def _session(self):
        """Work with the database: inside the burst's app context if one is open on this
        thread (its commit ends it), else in an app context of our own, tidied up after."""
        if self._in_burst():
            yield
            return
        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()

    def _dispatch(self, event, *, relay: bool) -> None:
        """Hand one event to the services (and, for vendor devices, republish it canonically)."""
        from gate.domain import passes
        from gate.services import ActionError, device_events, pass_gate, vehicles, visits

        if relay:
            self._republish(event)
        started = metrics.event_received(event)
        with self._session():
            try:
                if isinstance(event, PlateRead):  # the database away: decided offline
                    self.offline.plate(event, lambda read: self._plate_online(read, started))
                elif isinstance(event, Scan) and passes.extract(event.text) is not None:
                    # A visitor pass (SPEC §2.2), decided at once. Its text is a bearer token:
                    # never logged nor stored (the DeviceEvent keeps only source and outcome).
                    site = db.session.scalars(select(Site).where(Site.code == event.site)).one()
                    scanner = db.session.scalars(select(Device).where(
                        Device.site_id == site.id, Device.kind == "scanner",
                        Device.code == event.device)).first()
                    barrier = ((vehicles.lane_barrier(scanner) if scanner else None)
                               or visits.pedestrian_barrier(site.id))
                    result = pass_gate.at_gate(site, event.text, source="scanner", barrier=barrier,
                                               event_key=(event.site, event.device, event.event_id))
                    if result is None:
                        self.link.drop("duplicate", f"{event.device}/{event.event_id}")
                    elif result.command is not None:
                        self._send(result.command)
                elif isinstance(event, Scan):
                    if device_events.record_scan(event) is None:
                        self.link.drop("duplicate", f"{event.device}/{event.event_id}")
                elif isinstance(event, CardRead):
                    if device_events.record_card(event) is None:
                        self.link.drop("duplicate", f"{event.device}/{event.event_id}")
                elif isinstance(event, BarrierAck):
                    if not self.commander.handle_ack_event(event):
                        device_events.touch(event.site, "barrier", event.device)
                elif isinstance(event, BarrierState):
                    device_events.record_state(event)
                    if self.app.config.get("GATE_HA_DISCOVERY", True):
                        self.link.publish(ha_discovery.state_message(self.topics, event.device, event.state))
                elif isinstance(event, Availability):
                    device_events.record_availability(event)
            except ValueError as exc:
                self.link.drop("rejected", event.device, str(exc))
            except ActionError as exc:  # e.g. a misconfigured lane barrier: said by code only
                self.link.drop("rejected", event.device, exc.code)

    def _plate_online(self, event: PlateRead, started: float) -> None:
        """The live plate path: decided, written and commanded through the database."""
        from gate.services import vehicles

        decision = vehicles.handle_plate(event)
        metrics.plate_decided(decision, started)
        if decision is not None and decision.command is not None:
            self._send(decision.command)
        elif decision is None:
            self.link.drop("duplicate", f"{event.device}/{event.event_id}")
        if decision is not None and decision.reason == "blocked":
            self.alert("blocked_vehicle", decision.plate or "", event.device)

    def alert(self, kind: str, text: str, device: str | None) -> None:
        """Tell other systems (and the supervisor's tools) on the site's alerts topic (SPEC §3)."""
        payload = {"id": str(uuid.uuid4()), "kind": kind, "gate": device, "text": text, "at": rfc3339()}
        self.link.publish(Publish(self.topics.alerts(), json.dumps(payload, ensure_ascii=False).encode()))

    def outcome_recorder(self, command_id: str) -> Callable[[str, str | None], None]:
        """The callback that records a barrier command's outcome (its ack, or its expiry)."""

        def record(outcome: str, state: str | None) -> None:
            from gate.services import barriers

            with self._session():  # an ack inside a burst is recorded with the burst
                barriers.record_outcome(command_id, outcome, state)
            metrics.command_outcome(command_id, outcome)
            log.info("barrier command %s: %s", command_id, outcome)

        return record

    def _republish(self, event) -> None:
        t = self.topics
        if isinstance(event, BarrierAck):
            self.link.publish(Publish(t.barrier_ack(event.device), contract.encode_ack(event)))
        elif isinstance(event, BarrierState):
            self.link.publish(Publish(t.barrier_state(event.device), contract.encode_state(event),
                                      retain=True))
        elif isinstance(event, Availability):
            self.link.publish(Publish(t.availability(event.kind, event.device),
                                      b"online" if event.online else b"offline", retain=True))

    # --- the ticker ----------------------------------------------------------------------

    def _tick_loop(self) -> None:
        last_status = 0.0
        last_deadlines = 0.0
        deadline_every = self.app.config.get("GATE_DEADLINE_CHECK_SECONDS", 30)
        every = self.app.config.get("GATE_HOUSEKEEPING_MINUTES", 60) * 60
        next_housekeeping = datetime.now(UTC).timestamp() + every
        while not self._stop.wait(1.0):
            now = datetime.now(UTC)
            self.commander.tick(now)
            for profile in list(self.profiles.values()):
                for event in profile.pending_timeouts(now):
                    self._dispatch(event, relay=True)
            if now.timestamp() >= next_housekeeping:
                next_housekeeping = now.timestamp() + every
                chores.housekeeping(self.app)
            if now.timestamp() - last_deadlines >= deadline_every:
                last_deadlines = now.timestamp()
                chores.check_deadlines(self)
            if now.timestamp() - last_status >= STATUS_EVERY:
                last_status = now.timestamp()
                chores.write_status(self, connected=self.link.connected.is_set())
