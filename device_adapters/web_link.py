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
