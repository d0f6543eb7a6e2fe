"""The web process's own MQTT connection, started on first use, for barrier commands from the kiosk."""

from __future__ import annotations

import os
import socket
import threading

from flask import Flask, current_app

from device_adapters.commander import Commander
from device_adapters.link import MqttLink
from device_adapters.topics import Topics

_lock = threading.Lock()


class _Snapshots:
    """Snapshot requests waiting for their camera's answer, by request id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[bytes]]] = {}

    def expect(self, request_id: str) -> tuple[threading.Event, list[bytes]]:
        """Register a request before it is published, so a quick answer is not missed."""
        slot: tuple[threading.Event, list[bytes]] = (threading.Event(), [])
        with self._lock:
            self._waiting[request_id] = slot
        return slot

    def forget(self, request_id: str) -> None:
        """Stop waiting (answered or timed out); a late answer is then dropped."""
        with self._lock:
            self._waiting.pop(request_id, None)

    def handle(self, topic: str, payload: bytes) -> None:
        """A camera's answer on `.../camera/{id}/snapshot/{request id}`."""
        request_id = topic.rsplit("/", 1)[-1]
        if request_id == "request":
            return  # our own request, when the broker echoes it back
        with self._lock:
            slot = self._waiting.get(request_id)
        if slot is not None and not slot[0].is_set():
            slot[1].append(bytes(payload))
            slot[0].set()


_snapshots = _Snapshots()


def commander(app: Flask | None = None) -> Commander:
    """This process's commander (one MQTT client per process); ConnectionError if no broker."""
    app = app or current_app._get_current_object()
    with _lock:
        existing = app.extensions.get("gate_commander")
        if existing is not None and existing.link.connected.is_set():
            return existing
        url = app.config.get("GATE_MQTT_URL")
        if not url:
            raise ConnectionError("GATE_MQTT_URL is not set")
        topics = Topics(app.config["GATE_MQTT_PREFIX"], app.config["GATE_SITE"])
        name = f"web-{os.getpid()}"
        link = MqttLink(url, topics.bridge_availability(name),
                        f"gatehouse-{name}-{socket.gethostname()}",
                        protocol=app.config.get("GATE_MQTT_PROTOCOL", "5"))
        made = Commander(link, topics)
        link.route(topics.device_filter("barrier", "ack"), made.handle_ack)
        link.route(topics.device_filter("camera", "snapshot/+"), _snapshots.handle)
        if existing is not None:
            existing.link.stop(publish_stopped=False)
        link.start(timeout=5)
        app.extensions["gate_commander"] = made
        return made


def close(app: Flask) -> None:
    """Disconnect the web process's link (at shutdown and in tests)."""
    with _lock:
        made = app.extensions.pop("gate_commander", None)
    if made is not None:
        made.link.stop()


def publish_alert(kind: str, text: str, gate: str | None = None, app: Flask | None = None) -> bool:
    """Publish on `{prefix}/{site}/alerts` (SPEC §3); False if the broker cannot be reached.

    The alert is a courtesy to other systems: the incident itself is already recorded, and the
    supervisor console shows it whether or not this publish succeeds.
    """
    import json
    import logging
    import uuid

    from device_adapters.profiles.base import Publish
    from device_adapters.topics import rfc3339

    app = app or current_app._get_current_object()
    try:
        made = commander(app)
    except (ConnectionError, ValueError):
        logging.getLogger(__name__).warning("alert %s not published: no MQTT broker", kind)
        return False
    payload = {"id": str(uuid.uuid4()), "kind": kind, "gate": gate, "text": text, "at": rfc3339()}
    made.link.publish(Publish(made.topics.alerts(), json.dumps(payload, ensure_ascii=False).encode()))
    return True


def request_snapshot(camera_id: str, timeout: float = 3.0, app: Flask | None = None) -> bytes | None:
    """Ask a camera for a snapshot (SPEC §3) and wait for its JPEG; None if no broker or no answer."""
    import json
    import logging
    import uuid

    from device_adapters.profiles.base import Publish

    app = app or current_app._get_current_object()
    try:
        made = commander(app)
        topic = made.topics.snapshot_request(camera_id)
    except (ConnectionError, ValueError) as exc:
        logging.getLogger(__name__).warning("snapshot from %s not requested: %s", camera_id, exc)
        return None
    request_id = str(uuid.uuid4())
    done, answer = _snapshots.expect(request_id)
    try:
        made.link.publish(Publish(topic, json.dumps({"id": request_id}).encode(), retain=False, qos=1,
                                  expiry_seconds=max(1, int(timeout + 0.999))))
        if not done.wait(timeout):
            logging.getLogger(__name__).warning("camera %s did not answer a snapshot request within "
                                                "%.1f s", camera_id, timeout)
            return None
        return answer[0]
    finally:
        _snapshots.forget(request_id)
