"""MQTT topic names and timestamps of the SPEC §3 device contract; the one place the prefix is applied."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# SPEC §3: `{site}` and `{id}` are `[a-z0-9_-]+`. Anything else could smuggle a '/', '+' or '#'
# into a topic and let one device publish or subscribe outside its own subtree.
NAME_RE = re.compile(r"[a-z0-9_-]+")

# Leaves a device topic may end in, per kind. `parse()` accepts nothing else, because the app
# only trusts a device's events on that device's own, known topics.
KIND_LEAVES: dict[str, frozenset[str]] = {
    "barrier": frozenset({"command", "ack", "state", "availability"}),
    "camera": frozenset({"plate", "snapshot/request", "availability"}),
    "scanner": frozenset({"scan", "availability"}),
    "idreader": frozenset({"card", "availability"}),
}
KINDS = tuple(KIND_LEAVES)

# RFC 3339 date-time with a mandatory offset ('T' may be lowercase or a space, per §5.6 note).
# [0-9], not \d: \d also matches other scripts' digits, which RFC 3339 does not allow.
_RFC3339_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid topic level per SPEC §3, else raise ValueError."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ValueError(f"invalid {what} {value!r}: must match [a-z0-9_-]+")
    return value


def _check_prefix(prefix: str) -> str:
    levels = prefix.split("/") if isinstance(prefix, str) else [""]
    # A prefix may span levels ("acme/gatehouse") but must not hold wildcards, '$' (reserved
    # for broker topics) or empty levels, which would silently change the topic tree.
    for level in levels:
        if not level or "+" in level or "#" in level or "\0" in level:
            raise ValueError(f"invalid topic prefix {prefix!r}")
    if prefix.startswith("$"):
        raise ValueError(f"invalid topic prefix {prefix!r}: '$' topics belong to the broker")
    return prefix


class Topics:
    """Builds and parses the contract's topics for one prefix and site."""

    def __init__(self, prefix: str = "gatehouse", site: str = "default") -> None:
        """Validate and remember the prefix and site."""
        self.prefix = _check_prefix(prefix)
        self.site = check_name(site, "site")
        self._base = f"{self.prefix}/{self.site}"

    def __repr__(self) -> str:
        return f"Topics(prefix={self.prefix!r}, site={self.site!r})"

    def device_topic(self, kind: str, device_id: str, leaf: str) -> str:
        """`{prefix}/{site}/{kind}/{id}/{leaf}`: every device topic, ours or a profile's, is built here."""
        check_name(kind, "kind")
        check_name(device_id, "device id")
        for level in leaf.split("/"):
            check_name(level, "topic level")
        return f"{self._base}/{kind}/{device_id}/{leaf}"

    def barrier_command(self, device_id: str) -> str:
        """Topic the app publishes barrier commands on (never retained)."""
        return self.device_topic("barrier", device_id, "command")

    def barrier_ack(self, device_id: str) -> str:
        """Topic a barrier acknowledges commands on."""
        return self.device_topic("barrier", device_id, "ack")

    def barrier_state(self, device_id: str) -> str:
        """Topic a barrier reports its (retained) state on."""
        return self.device_topic("barrier", device_id, "state")

    def availability(self, kind: str, device_id: str) -> str:
        """Retained `online`/`offline` topic of any device; `offline` is its last will."""
        return self.device_topic(kind, device_id, "availability")

    def camera_plate(self, device_id: str) -> str:
        """Topic an ANPR camera reports plate reads on."""
        return self.device_topic("camera", device_id, "plate")

    def snapshot_request(self, device_id: str) -> str:
        """Topic the app asks a camera for a snapshot on."""
        return self.device_topic("camera", device_id, "snapshot/request")

    def snapshot_reply(self, device_id: str, request_id: str) -> str:
        """Topic a camera answers one snapshot request on, with JPEG bytes."""
        check_name(request_id, "snapshot request id")
        return self.device_topic("camera", device_id, f"snapshot/{request_id}")

    def scanner_scan(self, device_id: str) -> str:
        """Topic a QR/barcode scanner reports scans on."""
        return self.device_topic("scanner", device_id, "scan")

    def idreader_card(self, device_id: str) -> str:
        """Topic an ID-card reader reports cards on."""
        return self.device_topic("idreader", device_id, "card")

    def alerts(self) -> str:
        """Site-wide alert topic (app to any)."""
        return f"{self._base}/alerts"

    def bridge_availability(self, name: str) -> str:
        """Retained availability of a bridge worker; site-independent."""
        return f"{self.prefix}/bridge/{check_name(name, 'bridge name')}/availability"

    def device_filter(self, kind: str = "+", leaf: str = "#") -> str:
        """Subscription filter over this site's devices, e.g. all camera plates."""
        if kind != "+":
            check_name(kind, "kind")
        return f"{self._base}/{kind}/+/{leaf}"

    def split(self, topic: str) -> tuple[str, str, str] | None:
        """(kind, id, leaf) of any topic under this prefix and site whose levels are names, else None."""
        head = self._base + "/"
        if not isinstance(topic, str) or not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) < 3 or not all(NAME_RE.fullmatch(part) for part in parts):
            return None
        return parts[0], parts[1], "/".join(parts[2:])

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """Split a device topic of this prefix and site into (kind, id, leaf), else None."""
        parsed = self.split(topic)
        if parsed is None:
            return None
        kind, device_id, leaf = parsed
        parts = leaf.split("/")
        leaves = KIND_LEAVES.get(kind)
        if leaves is None:
            return None
        if leaf in leaves:
            return kind, device_id, leaf
        # A snapshot reply's last level is the request id, itself a valid name.
        if kind == "camera" and len(parts) == 2 and parts[0] == "snapshot" and parts[1] != "request":
            return kind, device_id, leaf
        return None


def rfc3339(dt: datetime | None = None) -> str:
    """Format ``dt`` (default: now) as RFC 3339 UTC with milliseconds and a 'Z' suffix."""
    if dt is None:
        dt = datetime.now(UTC)
    elif dt.tzinfo is None or dt.utcoffset() is None:
        # A naive datetime is ambiguous (local time? UTC?); refuse rather than guess.
        raise ValueError("rfc3339() needs a timezone-aware datetime")
    dt = dt.astimezone(UTC)
    # Not strftime: its %Y does not zero-pad years before 1000, which parse_rfc3339 then refuses.
    return f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any offset) into an aware UTC datetime."""
    match = _RFC3339_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    date, time, fraction, offset = match.groups()
    # fromisoformat accepts at most 6 fractional digits; finer precision is not meaningful here.
    fraction = (fraction or "")[:7]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{time}{fraction}{offset}").astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00: a real time, but past year 9999 in UTC
        raise ValueError(f"timestamp {text!r} is out of range") from None
