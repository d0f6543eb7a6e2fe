"""Devices that speak the SPEC §3 contract themselves (and our simulators)."""

from __future__ import annotations

from datetime import datetime

from device_adapters import contract
from device_adapters.profiles import register
from device_adapters.profiles.base import Profile
from gate.domain.events import Availability, DeviceEvent


@register
class NativeProfile(Profile):
    """Canonical topics under `{prefix}/{site}/{kind}/{id}/…`; commands go to the device directly."""

    name = "native"
    kinds = ("barrier", "camera", "scanner", "idreader")
    relays_commands = False

    def subscriptions(self) -> list[str]:
        """The device's own event topics (a device is trusted only on its own topics)."""
        t, d = self.topics, self.device
        topics = [t.availability(d.kind, d.id)]
        if d.kind == "barrier":
            topics += [t.barrier_ack(d.id), t.barrier_state(d.id)]
        elif d.kind == "camera":
            topics.append(t.camera_plate(d.id))
        elif d.kind == "scanner":
            topics.append(t.scanner_scan(d.id))
        else:
            topics.append(t.idreader_card(d.id))
        return topics

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[DeviceEvent]:
        """Parse a canonical message from this device."""
        parsed = self.topics.parse(topic)
        d = self.device
        if parsed is None or parsed[0] != d.kind or parsed[1] != d.id:
            return []
        leaf = parsed[2]
        site = self.topics.site
        if leaf == "availability":
            return [Availability(site, d.kind, d.id, contract.parse_availability(payload))]
        parser = {"ack": contract.parse_ack, "state": contract.parse_state,
                  "plate": contract.parse_plate, "scan": contract.parse_scan,
                  "card": contract.parse_card}.get(leaf)
        return [parser(site, d.id, payload)] if parser else []
