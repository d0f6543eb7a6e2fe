"""Home Assistant MQTT discovery for our barriers, so gates appear (and open) in Home Assistant.

Follows home-assistant.io `source/_integrations/mqtt.markdown` (discovery topic
`<prefix>/<component>/[<node_id>/]<object_id>/config` with ids `[a-zA-Z0-9_-]`, `object_id` =
`unique_id` recommended; retained config; an empty retained payload deletes the entity; the
`origin` (`o`) mapping; the birth message `online` on `homeassistant/status`, after which
configs should be re-sent) and `cover.mqtt.markdown` (`device_class: gate`, payloads, states).

Every barrier, whatever its profile, gets one cover entity. Home Assistant never talks to a
device: it publishes `OPEN`/`CLOSE` on `<prefix>/<site>/barrier/<id>/ha/set`, which the bridge
turns (`parse_ha_set`) into an ordinary barrier command with reason `HA_REASON`, so it is
checked, logged and acked like any other. The bridge mirrors our state to `…/ha/state`
(`state_message`), and HA reads our canonical availability topic directly.

Choices: `payload_stop` is null (a barrier command is open or close; Home Assistant then offers
no stop button). The entity `name` is null, so the entity takes the device's name (HA's naming
rule for a device's main feature). Instead of `object_id`, deprecated in Home Assistant
2025.10 and dropped in 2026.4, the config sets `default_entity_id` `cover.<unique_id>`; older
versions ignore unknown keys. Home Assistant asks for a short random delay before re-sending
after its birth message; that wait is the bridge's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from device_adapters.profiles.base import DeviceConfig, Publish, dumps
from device_adapters.topics import Topics, check_name

DISCOVERY_PREFIX = "homeassistant"
HA_STATUS_TOPIC = "homeassistant/status"
HA_REASON = "Home Assistant"  # the reason recorded on commands that came from Home Assistant
HA_STATES = {"open": "open", "opening": "opening", "closed": "closed", "closing": "closing"}
Gate = Mapping[str, Any] | DeviceConfig


def _fields(gate: Gate) -> tuple[str, str, str | None]:
    """(id, display name, kind) of a barrier given as a site-file dict or a DeviceConfig."""
    if isinstance(gate, DeviceConfig):
        device_id, name, kind = gate.id, gate.name, gate.kind
    else:
        device_id, name, kind = gate.get("id"), gate.get("name"), gate.get("kind")
    check_name(device_id, "device id")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"barrier {device_id}: name must be a non-empty text")
    return device_id, (name or device_id).strip(), kind


def _barriers(gates: Iterable[Gate]) -> list[tuple[str, str]]:
    found = []
    for gate in gates:
        device_id, name, kind = _fields(gate)
        if kind in (None, "barrier"):
            found.append((device_id, name))
    return found


def unique_id(topics: Topics, device_id: str) -> str:
    """`gatehouse_<site>_<device>`: stable across restarts, valid as an HA object id."""
    return f"gatehouse_{topics.site}_{check_name(device_id, 'device id')}"


def ha_set_topic(topics: Topics, device_id: str) -> str:
    """Where Home Assistant publishes OPEN/CLOSE for one barrier."""
    return topics.device_topic("barrier", device_id, "ha/set")


def ha_state_topic(topics: Topics, device_id: str) -> str:
    """Where the bridge mirrors one barrier's state in Home Assistant's words."""
    return topics.device_topic("barrier", device_id, "ha/state")


def ha_set_filter(topics: Topics) -> str:
    """Subscription filter for every barrier's HA command topic on this site."""
    return topics.device_filter("barrier", "ha/set")


def ha_set_device(topics: Topics, topic: str) -> str | None:
    """The barrier id an HA command topic belongs to, or None if it is not one."""
    parsed = topics.split(topic)
    if parsed is None or parsed[0] != "barrier" or parsed[2] != "ha/set":
        return None
    return parsed[1]


def config(topics: Topics, device_id: str, name: str) -> dict[str, Any]:
    """The discovery config of one barrier as a cover with device class gate."""
    uid = unique_id(topics, device_id)
    return {
        "name": None,
        "unique_id": uid,
        "default_entity_id": f"cover.{uid}",
        "device_class": "gate",
        "command_topic": ha_set_topic(topics, device_id),
        "payload_open": "OPEN",
        "payload_close": "CLOSE",
        "payload_stop": None,
        "state_topic": ha_state_topic(topics, device_id),
        "availability_topic": topics.availability("barrier", device_id),
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "retain": False,
        "dev": {"ids": [uid], "name": name, "mf": "Gatehouse"},
        "o": {"name": "gatehouse"},
    }


def discovery_topic(topics: Topics, device_id: str, prefix: str = DISCOVERY_PREFIX) -> str:
    """`homeassistant/cover/<unique_id>/config`."""
    return f"{prefix}/cover/{unique_id(topics, device_id)}/config"


def discovery_messages(topics: Topics, gates: Iterable[Gate],
                       prefix: str = DISCOVERY_PREFIX) -> list[Publish]:
    """A retained cover config for each barrier (other kinds are skipped)."""
    return [Publish(discovery_topic(topics, device_id, prefix), dumps(config(topics, device_id, name)),
                    retain=True, qos=1)
            for device_id, name in _barriers(gates)]


def removal_messages(topics: Topics, gates: Iterable[Gate],
                     prefix: str = DISCOVERY_PREFIX) -> list[Publish]:
    """An empty retained payload on each barrier's config topic: HA deletes the entity."""
    return [Publish(discovery_topic(topics, device_id, prefix), b"", retain=True, qos=1)
            for device_id, _ in _barriers(gates)]


def should_republish(topic: str, payload: bytes | str) -> bool:
    """True for Home Assistant's birth message (`online` on `homeassistant/status`)."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    return topic == HA_STATUS_TOPIC and text.strip() == "online"


def parse_ha_set(payload: bytes) -> str:
    """`OPEN` → "open", `CLOSE` → "close"; anything else (STOP included) is a ValueError."""
    if len(payload) > 16:
        raise ValueError(f"Home Assistant command of {len(payload)} bytes is too long")
    text = payload.decode("utf-8", "replace").strip()
    if text == "OPEN":
        return "open"
    if text == "CLOSE":
        return "close"
    raise ValueError(f"Home Assistant command must be OPEN or CLOSE, got {text!r}")


def state_message(topics: Topics, device_id: str, state: str) -> Publish:
    """Our barrier state for Home Assistant, retained; `fault` becomes `None` (unknown)."""
    value = HA_STATES.get(state)
    if value is None and state != "fault":
        raise ValueError(f"unknown barrier state {state!r}")
    return Publish(ha_state_topic(topics, device_id), (value or "None").encode(), retain=True, qos=1)
