"""Frigate NVR 0.16+ licence-plate recognition as one of our ANPR cameras.

Follows blakeblackshear/frigate `docs/docs/integrations/mqtt.md` (`frigate/available`
`online`/`offline`/`stopped`; `frigate/events` `{"type": "new|update|end", "before", "after"}`
where `after` carries `id`, `camera`, `label`, `sub_label`, `start_time`, `has_snapshot`,
`recognized_license_plate`, `recognized_license_plate_score`; `frigate/tracked_object_update`
`{"type": "lpr", "id", "name", "plate", "score", "camera", "timestamp"}`) and
`docs/docs/configuration/license_plate_recognition.md`.

* One Frigate camera is one of our cameras (`camera`); the lane `direction` comes from the site
  file because Frigate does not know it. `min_score` drops weak reads.
* Both topics give a PlateRead with event_id `frigate-<object id>-<plate>`, so the many updates
  of one tracked object, on either topic, are one event: services are idempotent by event_id,
  and a repeat is a free retry if the first one was lost. If Frigate refines the text, that is
  a new read (a new event_id).
* Only the plate text is used. `sub_label` (`["name", score]`) is the owner's *name* for a
  known plate in Frigate's `known_plates`, not a plate, and `name` likewise. The text (Chinese
  characters included: the "small" model reads them) is passed through unchanged; services
  normalise it.
* `at` is the object's `start_time` (events) or the recognition `timestamp`; the snapshot URL
  is Frigate's relative `/api/events/<id>/snapshot.jpg` when `has_snapshot` (prefixed with
  the option `snapshot_base_url`), none from `tracked_object_update` (it does not say).
* `frigate/available` is the whole Frigate instance: every camera on it shares it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from device_adapters import contract
from device_adapters.profiles import register
from device_adapters.profiles.base import DeviceConfig, Profile, in_range, load_json
from device_adapters.topics import Topics
from gate.domain.events import Availability, DeviceEvent, PlateRead

LABELS = ("car", "motorcycle", "bus", "truck", "license_plate")  # objects Frigate runs LPR on
_OBJECT_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _score(value: Any, what: str) -> float:
    if not in_range(value, 0, 1):
        raise ValueError(f"{what} must be a number from 0 to 1")
    return float(value)


def _time(value: Any, now: datetime) -> datetime:
    """Epoch seconds from Frigate as an aware UTC datetime; `now` when absent."""
    if value is None:
        return now
    if not in_range(value, 0, 2**33) or value == 0:
        raise ValueError("timestamp must be epoch seconds")
    return datetime.fromtimestamp(value, UTC)


@register
class FrigateLprProfile(Profile):
    """Plate reads of one Frigate camera."""

    name = "frigate"
    kinds = ("camera",)

    def __init__(self, device: DeviceConfig, topics: Topics) -> None:
        """Read the Frigate camera, topic prefix, lane direction and score floor."""
        super().__init__(device, topics)
        self.camera = self.option("camera", required=True)
        if not isinstance(self.camera, str) or not _NAME.fullmatch(self.camera):
            raise ValueError(f"device {device.id}: camera must be a Frigate camera name")
        self.prefix = self.option("topic_prefix", "frigate")
        if not isinstance(self.prefix, str) or not re.fullmatch(r"[A-Za-z0-9_./-]{1,100}", self.prefix):
            raise ValueError(f"device {device.id}: topic_prefix is not a usable MQTT topic")
        self.direction = self.option("direction", required=True)
        if self.direction not in ("in", "out"):
            raise ValueError(f"device {device.id}: direction must be 'in' or 'out'")
        self.min_score = _score(self.option("min_score", 0.0), "option min_score")
        labels = self.option("labels", LABELS)
        if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
            raise ValueError(f"device {device.id}: labels must be a list of Frigate labels")
        self.labels = frozenset(labels)
        base = self.option("snapshot_base_url", "")
        if not isinstance(base, str):
            raise ValueError(f"device {device.id}: snapshot_base_url must be a text")
        self.snapshot_base = base.rstrip("/")

    def subscriptions(self) -> list[str]:
        """Frigate's events, tracked-object updates and availability."""
        return [f"{self.prefix}/events", f"{self.prefix}/tracked_object_update", f"{self.prefix}/available"]

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[DeviceEvent]:
        """Turn a Frigate message into a PlateRead or Availability; [] for other cameras."""
        if topic == f"{self.prefix}/available":
            if len(payload) > 64:
                raise ValueError("availability payload is too long")
            online = contract.parse_availability(payload)
            return [Availability(self.device.site, "camera", self.device.id, online)]
        if topic == f"{self.prefix}/events":
            return self._event(load_json(payload), now)
        if topic == f"{self.prefix}/tracked_object_update":
            return self._update(load_json(payload), now)
        return []

    def _event(self, body: Any, now: datetime) -> list[DeviceEvent]:
        if not isinstance(body, dict) or not isinstance(body.get("after"), dict):
            raise ValueError("frigate/events must be an object with an 'after' object")
        if body.get("type") not in ("new", "update", "end"):
            raise ValueError(f"unknown frigate event type {str(body.get('type'))[:20]!r}")
        after = body["after"]
        label = after.get("label")
        if after.get("camera") != self.camera or not isinstance(label, str) or label not in self.labels:
            return []
        if after.get("false_positive") is True or after.get("recognized_license_plate") in (None, ""):
            return []
        score = _score(after.get("recognized_license_plate_score"), "recognized_license_plate_score")
        object_id = self._object_id(after.get("id"))
        snapshot = None
        if after.get("has_snapshot") is True:
            snapshot = f"{self.snapshot_base}/api/events/{object_id}/snapshot.jpg"
        return self._read(object_id, after["recognized_license_plate"], score,
                          _time(after.get("start_time"), now), snapshot)

    def _update(self, body: Any, now: datetime) -> list[DeviceEvent]:
        if not isinstance(body, dict):
            raise ValueError("frigate/tracked_object_update must be a JSON object")
        if body.get("type") != "lpr" or body.get("camera") != self.camera:
            return []  # descriptions, faces, classifications; other cameras
        score = _score(body.get("score"), "score")
        return self._read(self._object_id(body.get("id")), body.get("plate"), score,
                          _time(body.get("timestamp"), now), None)

    def _object_id(self, value: Any) -> str:
        if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
            raise ValueError("Frigate object id must be 1..40 of [A-Za-z0-9._-]")
        return value

    def _read(self, object_id: str, plate: Any, score: float, at: datetime,
              snapshot: str | None) -> list[DeviceEvent]:
        # Printable, not blank: the text goes into the event id, which reaches logs and the database.
        if not isinstance(plate, str) or not 0 < len(plate) <= 20 or not plate.strip() \
                or not plate.isprintable():
            raise ValueError("plate must be a printable text of 1..20 characters")
        if score < self.min_score:
            return []
        event_id = f"frigate-{object_id}-{plate}"
        if len(event_id) > 64:
            raise ValueError("event id would be longer than 64 characters")
        return [PlateRead(self.device.site, self.device.id, event_id, plate, score, self.direction,
                          at, snapshot_url=snapshot)]
