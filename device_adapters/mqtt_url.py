"""Broker URLs (``mqtt://user:pw@host:port``, ``mqtts://``) turned into paho-mqtt 2.x clients."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from gate.log_redaction import hide_password

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}

Will = tuple[str, str | bytes, bool]


def connect_args(url: str) -> dict[str, Any]:
    """Split a broker URL into host, port, username, password and tls."""
    parts = urlsplit(url)
    shown = hide_password(url)  # the errors below end up on the terminal and in the journal
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported broker URL scheme in {shown!r}: use mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"broker URL {shown!r} has no host")
    # A path, query or fragment means a typo or a URL meant for something else (websockets).
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {shown!r} must not have a path, query or fragment")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:  # urlsplit raises on a non-numeric or out-of-range port
        raise ValueError(f"invalid port in broker URL {shown!r}") from exc
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ValueError(f"broker URL {shown!r} has a password but no username")
    return {
        "host": parts.hostname,
        "port": port,
        "username": username,
        "password": password,
        "tls": scheme == "mqtts",
    }


def make_client(
    url: str,
    client_id: str,
    will: Will | None = None,
    *,
    clean_session: bool = True,
    ca_certs: str | None = None,
) -> mqtt.Client:
    """Create (not connect) a paho client with the URL's credentials, TLS and an optional will.

    Clean sessions are the default: a persistent session would queue commands for an offline
    actuator and replay stale opens after an outage (reference/devices.md).
    """
    args = connect_args(url)
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    if args["username"] is not None:
        client.username_pw_set(args["username"], args["password"])
    if args["tls"]:
        client.tls_set(ca_certs=ca_certs)
    if will is not None:
        topic, payload, retain = will
        client.will_set(topic, payload, qos=1, retain=retain)
    return client
