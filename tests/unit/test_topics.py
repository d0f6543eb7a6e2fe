"""Tests for device_adapters.topics (topic names, timestamps of SPEC §3) and .mqtt_url."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from device_adapters.mqtt_url import connect_args, make_client
from device_adapters.topics import Topics, parse_rfc3339, rfc3339

T = Topics("gatehouse", "east-1")


def test_builds_every_contract_topic() -> None:
    """Each topic is spelled exactly as in the SPEC §3 table, with the prefix applied once."""
    assert T.barrier_command("b1") == "gatehouse/east-1/barrier/b1/command"
    assert T.barrier_ack("b1") == "gatehouse/east-1/barrier/b1/ack"
    assert T.barrier_state("b1") == "gatehouse/east-1/barrier/b1/state"
    assert T.availability("camera", "c_2") == "gatehouse/east-1/camera/c_2/availability"
    assert T.camera_plate("c1") == "gatehouse/east-1/camera/c1/plate"
    assert T.snapshot_request("c1") == "gatehouse/east-1/camera/c1/snapshot/request"
    assert T.snapshot_reply("c1", "r-9") == "gatehouse/east-1/camera/c1/snapshot/r-9"
    assert T.scanner_scan("s1") == "gatehouse/east-1/scanner/s1/scan"
    assert T.idreader_card("i1") == "gatehouse/east-1/idreader/i1/card"
    assert T.alerts() == "gatehouse/east-1/alerts"


def test_bridge_availability_has_no_site() -> None:
    """Bridge workers serve every site, so their availability topic sits under the prefix."""
    assert T.bridge_availability("worker-1") == "gatehouse/bridge/worker-1/availability"


def test_prefix_is_configurable() -> None:
    """A custom (even multi-level) prefix replaces 'gatehouse' in every topic."""
    topics = Topics("acme/gh", "s1")
    assert topics.barrier_command("b1") == "acme/gh/s1/barrier/b1/command"
    assert topics.bridge_availability("w") == "acme/gh/bridge/w/availability"
    assert topics.parse("acme/gh/s1/barrier/b1/ack") == ("barrier", "b1", "ack")


@pytest.mark.parametrize("bad", ["", "B1", "b/1", "b+", "b#", "b 1", "ü", "b1/", "+", "#"])
def test_rejects_ids_outside_the_contract_alphabet(bad: str) -> None:
    """Ids and sites outside [a-z0-9_-]+ could escape a device's own subtree (wildcards, '/')."""
    with pytest.raises(ValueError):
        T.barrier_command(bad)
    with pytest.raises(ValueError):
        Topics("gatehouse", bad)
    with pytest.raises(ValueError):
        T.snapshot_reply("c1", bad)


@pytest.mark.parametrize("bad", ["", "a//b", "/a", "a/", "a/+", "#", "$SYS"])
def test_rejects_bad_prefixes(bad: str) -> None:
    """A prefix with wildcards, empty levels or '$' would change which topics match."""
    with pytest.raises(ValueError):
        Topics(bad, "s1")


def test_parse_round_trips_device_topics() -> None:
    """parse() inverts the builders for every device topic, including snapshot replies."""
    cases = {
        T.barrier_command("b1"): ("barrier", "b1", "command"),
        T.barrier_ack("b1"): ("barrier", "b1", "ack"),
        T.barrier_state("b1"): ("barrier", "b1", "state"),
        T.availability("scanner", "s1"): ("scanner", "s1", "availability"),
        T.camera_plate("c1"): ("camera", "c1", "plate"),
        T.snapshot_request("c1"): ("camera", "c1", "snapshot/request"),
        T.snapshot_reply("c1", "abc-1"): ("camera", "c1", "snapshot/abc-1"),
        T.scanner_scan("s1"): ("scanner", "s1", "scan"),
        T.idreader_card("i1"): ("idreader", "i1", "card"),
    }
    for topic, expected in cases.items():
        assert T.parse(topic) == expected, topic


@pytest.mark.parametrize(
    "topic",
    [
        "gatehouse/west/barrier/b1/ack",  # another site
        "other/east-1/barrier/b1/ack",  # another prefix
        "gatehouse/east-1/alerts",  # not a device topic
        "gatehouse/bridge/w/availability",
        "gatehouse/east-1/barrier/b1",  # no leaf
        "gatehouse/east-1/barrier/B1/ack",  # id outside the alphabet
        "gatehouse/east-1/barrier/b1/plate",  # leaf of another kind
        "gatehouse/east-1/camera/c1/scan",
        "gatehouse/east-1/toaster/t1/state",  # unknown kind
        "gatehouse/east-1/camera/c1/snapshot/X",
        "gatehouse/east-1/camera/c1/snapshot/a/b",
        "gatehouse/east-1/barrier/b1/ack/extra",
        "gatehouse/east-1-x/barrier/b1/ack",  # site that merely starts with ours
    ],
)
def test_parse_rejects_foreign_or_unknown_topics(topic: str) -> None:
    """The app trusts only known leaves on this site's device topics; all else parses to None."""
    assert T.parse(topic) is None


def test_device_filter_builds_subscriptions() -> None:
    """Wildcard filters for the bridge come from the same place as the topics they match."""
    assert T.device_filter() == "gatehouse/east-1/+/+/#"
    assert T.device_filter("camera", "plate") == "gatehouse/east-1/camera/+/plate"
    with pytest.raises(ValueError):
        T.device_filter("Camera")


def test_rfc3339_is_utc_with_z() -> None:
    """Timestamps are RFC 3339 UTC with a 'Z' suffix, whatever offset the input had."""
    cst = timezone(timedelta(hours=8))
    assert rfc3339(datetime(2025, 3, 1, 8, 30, 5, 123456, tzinfo=cst)) == "2025-03-01T00:30:05.123Z"
    now = rfc3339()
    assert now.endswith("Z")
    assert abs(parse_rfc3339(now) - datetime.now(UTC)) < timedelta(seconds=5)


def test_rfc3339_refuses_naive_datetimes() -> None:
    """A naive datetime is ambiguous; guessing its zone would shift command expiries."""
    with pytest.raises(ValueError):
        rfc3339(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T00:30:05Z", datetime(2025, 3, 1, 0, 30, 5, tzinfo=UTC)),
        ("2025-03-01t00:30:05.5z", datetime(2025, 3, 1, 0, 30, 5, 500000, tzinfo=UTC)),
        ("2025-03-01T08:30:05+08:00", datetime(2025, 3, 1, 0, 30, 5, tzinfo=UTC)),
        ("2025-03-01 00:30:05.123456789Z", datetime(2025, 3, 1, 0, 30, 5, 123456, tzinfo=UTC)),
    ],
)
def test_parse_rfc3339_accepts_offsets_and_fractions(text: str, expected: datetime) -> None:
    """Devices send various RFC 3339 spellings; all become aware UTC datetimes."""
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["2025-03-01T00:30:05", "2025-03-01", "yesterday", "", "2025-13-01T00:00:00Z", None, 5]
)
def test_parse_rfc3339_rejects_non_timestamps(text: object) -> None:
    """Without an offset a timestamp is ambiguous; garbage must not parse as a time."""
    with pytest.raises(ValueError):
        parse_rfc3339(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1884", ("127.0.0.1", 1884, None, None, False)),
        ("mqtt://broker", ("broker", 1883, None, None, False)),
        ("mqtts://gate:p%40ss%3Aw@mq.example.cn", ("mq.example.cn", 8883, "gate", "p@ss:w", True)),
        ("MQTTS://u@[::1]:8884/", ("::1", 8884, "u", None, True)),
    ],
)
def test_connect_args_reads_broker_urls(url: str, expected: tuple[object, ...]) -> None:
    """Host, default ports per scheme, percent-decoded credentials and TLS come from one URL."""
    args = connect_args(url)
    assert (args["host"], args["port"], args["username"], args["password"], args["tls"]) == expected


@pytest.mark.parametrize(
    "url", ["tcp://h:1883", "http://h", "mqtt://", "mqtt://h:99999", "mqtt://h/x", "mqtt://:pw@h"]
)
def test_connect_args_rejects_bad_urls(url: str) -> None:
    """A wrong scheme, port, path or a password without user is a configuration error, not a guess."""
    with pytest.raises(ValueError):
        connect_args(url)


def test_make_client_sets_will_and_credentials() -> None:
    """The client carries the retained QoS 1 will and the URL's user; it is not yet connected."""
    client = make_client("mqtt://dev1:secret@h:1", "c1", will=("a/availability", "offline", True))
    assert client.username == "dev1" and client.password == "secret"
    assert not client.is_connected()
