"""Parse and build the SPEC §3 payloads: the canonical dialect every profile translates to."""

from __future__ import annotations

from datetime import datetime

from device_adapters.profiles.base import dumps, in_range, load_json, require
from device_adapters.topics import parse_rfc3339, rfc3339
from gate.domain.events import (
    ACK_RESULTS,
    BARRIER_ACTIONS,
    BARRIER_STATES,
    BarrierAck,
    BarrierCommand,
    BarrierState,
    CardRead,
    PlateRead,
    Scan,
)

MAX_TEXT = 512  # longest event text accepted (plates, scans, names)


def _text(obj: dict, key: str, *, limit: int = MAX_TEXT, optional: bool = False,
          kind: str = "text") -> str | None:
    """obj[key] as text the database and logs can take: kind id (printable), text (no NUL), free
    (text that may be blank) or plate (NUL padding allowed); never blank otherwise, never a lone surrogate."""
    if optional and obj.get(key) is None:
        return None
    value = require(obj, key, str)
    if len(value) > limit or not (value.strip() or kind == "free"):
        raise ValueError(f"payload.{key} must be 1..{limit} characters, not blank")
    # An id reaches log lines (a newline would forge one); NUL is refused by PostgreSQL text
    # and JSONB. A plate may carry NUL padding from a camera's C buffer: normalisation drops it.
    if kind == "id" and not value.isprintable():
        raise ValueError(f"payload.{key} must be printable")
    if kind in ("text", "free") and "\0" in value:
        raise ValueError(f"payload.{key} contains NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a \ud800 escape
        raise ValueError(f"payload.{key} is not valid Unicode") from None
    return value


def _time(obj: dict, key: str) -> datetime:
    try:
        return parse_rfc3339(require(obj, key, str))
    except ValueError as exc:
        raise ValueError(f"payload.{key}: {exc}") from None


def parse_command(site: str, device: str, payload: bytes) -> BarrierCommand:
    """A barrier command as published by the app."""
    obj = load_json(payload)
    action = _text(obj, "action")
    if action not in BARRIER_ACTIONS:
        raise ValueError(f"payload.action must be one of {BARRIER_ACTIONS}, got {action!r}")
    issued_at, expires_at = _time(obj, "issued_at"), _time(obj, "expires_at")
    if expires_at <= issued_at:
        raise ValueError("payload.expires_at must be after issued_at")
    return BarrierCommand(id=_text(obj, "id", limit=64, kind="id"), site=site, device=device, action=action,
                          reason=_text(obj, "reason", limit=200, optional=True, kind="free") or "",
                          issued_at=issued_at, expires_at=expires_at)


def encode_command(cmd: BarrierCommand) -> bytes:
    """The JSON body of a barrier command."""
    return dumps({"id": cmd.id, "action": cmd.action, "reason": cmd.reason,
                  "issued_at": rfc3339(cmd.issued_at), "expires_at": rfc3339(cmd.expires_at)})


def parse_ack(site: str, device: str, payload: bytes) -> BarrierAck:
    """A barrier's acknowledgement."""
    obj = load_json(payload)
    result = _text(obj, "result")
    if result not in ACK_RESULTS:
        raise ValueError(f"payload.result must be one of {ACK_RESULTS}, got {result!r}")
    state = _text(obj, "state", optional=True)
    if state is not None and state not in BARRIER_STATES:
        raise ValueError(f"payload.state must be one of {BARRIER_STATES}, got {state[:20]!r}")
    return BarrierAck(site=site, device=device, command_id=_text(obj, "id", limit=64, kind="id"),
                      result=result, state=state, at=_time(obj, "at"))


def encode_ack(ack: BarrierAck) -> bytes:
    """The JSON body of an acknowledgement (the bridge speaks for vendor barriers)."""
    return dumps({"id": ack.command_id, "result": ack.result, "state": ack.state,
                  "at": rfc3339(ack.at)})


def parse_state(site: str, device: str, payload: bytes) -> BarrierState:
    """A barrier's state report."""
    obj = load_json(payload)
    state = _text(obj, "state")
    if state not in BARRIER_STATES:
        raise ValueError(f"payload.state must be one of {BARRIER_STATES}, got {state!r}")
    return BarrierState(site=site, device=device, state=state, at=_time(obj, "at"))


def encode_state(state: BarrierState) -> bytes:
    """The JSON body of a state report."""
    return dumps({"state": state.state, "at": rfc3339(state.at)})


def parse_plate(site: str, device: str, payload: bytes) -> PlateRead:
    """An ANPR read."""
    obj = load_json(payload)
    confidence = require(obj, "confidence", (int, float))
    if not in_range(confidence, 0, 1):
        raise ValueError("payload.confidence must be a number from 0 to 1")
    direction = _text(obj, "direction")
    if direction not in ("in", "out"):
        raise ValueError(f"payload.direction must be 'in' or 'out', got {direction!r}")
    return PlateRead(site=site, device=device, event_id=_text(obj, "event_id", limit=64, kind="id"),
                     plate=_text(obj, "plate", limit=40, kind="plate"), confidence=float(confidence),
                     direction=direction, at=_time(obj, "at"),
                     color=_text(obj, "color", limit=20, optional=True),
                     snapshot_url=_text(obj, "snapshot_url", limit=1000, optional=True, kind="id"))


def encode_plate(read: PlateRead) -> bytes:
    """The JSON body of a plate read (profiles that republish, and simulators)."""
    body = {"event_id": read.event_id, "plate": read.plate, "confidence": read.confidence,
            "direction": read.direction, "at": rfc3339(read.at)}
    if read.color:
        body["color"] = read.color
    if read.snapshot_url:
        body["snapshot_url"] = read.snapshot_url
    return dumps(body)


def parse_scan(site: str, device: str, payload: bytes) -> Scan:
    """A QR/barcode scan."""
    obj = load_json(payload)
    return Scan(site=site, device=device, event_id=_text(obj, "event_id", limit=64, kind="id"),
                text=_text(obj, "text", limit=2048), at=_time(obj, "at"))


def parse_card(site: str, device: str, payload: bytes) -> CardRead:
    """An ID-card read. The number is carried, never logged (CardRead hides it from repr)."""
    obj = load_json(payload)
    return CardRead(site=site, device=device, event_id=_text(obj, "event_id", limit=64, kind="id"),
                    name=_text(obj, "name", limit=80), id_number=_text(obj, "id_number", limit=40, kind="id"),
                    at=_time(obj, "at"))


def parse_availability(payload: bytes) -> bool:
    """`online` → True, `offline` → False (also Frigate's `stopped`)."""
    text = payload.decode("utf-8", "replace").strip().lower()
    if text == "online":
        return True
    if text in ("offline", "stopped"):
        return False
    raise ValueError(f"availability must be online/offline, got {text[:20]!r}")
