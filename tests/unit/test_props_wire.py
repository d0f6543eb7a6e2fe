"""Hostile input for what arrives on the wire: MQTT topics, RFC 3339 times, QR frames, webhook headers.

The same kind of properties as test_props_parsers.py (text parsers of plates, IDs, units,
phones and tokens): never an exception but the documented one, never acceptance of what the
grammar written here refuses. Pure logic: no database, no broker.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from device_adapters.profiles import ha_discovery
from device_adapters.qr import DECODERS, decode
from device_adapters.topics import KIND_LEAVES, Topics, parse_rfc3339, rfc3339
from gate.domain.webhook_signing import parse_header, signature_header, verify_signature
from tests.support.props import few, props

# --- topics -----------------------------------------------------------------------------------
T = Topics("gatehouse", "demo")
_names = st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True)
_levels = st.lists(st.one_of(st.sampled_from(["gatehouse", "demo", "other", "barrier", "camera",
                                              "scanner", "idreader", "b1", "ack", "state", "plate",
                                              "snapshot", "request", "availability", "command",
                                              "scan", "card", "ha", "set", "", "+", "#", "B1"]),
                             st.text(max_size=4)), max_size=7).map("/".join)
_odd = st.sampled_from(["", "+", "#", "B1", "a b", "é", "b1\n", "$SYS", "..", "b1/", "request"])
# Near-misses of real device topics: each level right, or nearly right.
_device_topics = st.tuples(
    st.sampled_from(["gatehouse/demo"] * 4 + ["gatehouse/demo-x", "other/demo", "gatehouse", ""]),
    st.sampled_from(sorted(KIND_LEAVES) + ["toaster", "B1", ""]), st.one_of(_names, _odd),
    st.one_of(st.sampled_from(sorted(set().union(*KIND_LEAVES.values())) + ["ha/set", "snapshot/r1"]), _odd,
              _names.map("snapshot/{}".format))).map("/".join)


@props
@given(st.one_of(_device_topics, _levels, st.text(max_size=40)))
@example("gatehouse/demo/camera/c1/snapshot/request")
@example("gatehouse/demo/barrier/B1/ack")
@example("gatehouse/demo-x/barrier/b1/ack")
def test_any_topic_parses_to_a_device_topic_or_none(topic: str) -> None:
    """Protects device trust: only this site's known device topics parse, and they rebuild exactly."""
    parsed = T.parse(topic)
    if parsed is None:
        return
    kind, device_id, leaf = parsed
    assert re.fullmatch(r"[a-z0-9_-]+", device_id)
    assert leaf in KIND_LEAVES[kind] or (kind == "camera" and re.fullmatch(r"snapshot/[a-z0-9_-]+", leaf))
    assert topic == f"gatehouse/demo/{kind}/{device_id}/{leaf}"


@props
@given(st.lists(st.from_regex(r"[a-z0-9_.-]{1,6}", fullmatch=True), min_size=1, max_size=3).map("/".join),
       _names, _names, st.sampled_from(sorted(KIND_LEAVES)))
def test_prefix_is_applied_in_one_place(prefix: str, site: str, device_id: str, kind: str) -> None:
    """Protects the topic tree: every topic (canonical and Home Assistant) sits under prefix/site once."""
    t = Topics(prefix, site)
    base = f"{prefix}/{site}/"
    built = [t.availability(kind, device_id), t.barrier_command(device_id), t.camera_plate(device_id),
             ha_discovery.ha_set_topic(t, device_id), ha_discovery.ha_state_topic(t, device_id),
             t.device_filter(kind), ha_discovery.ha_set_filter(t)]
    for topic in built:
        assert topic.startswith(base), topic
    assert t.parse(t.availability(kind, device_id)) == (kind, device_id, "availability")
    assert ha_discovery.ha_set_device(t, ha_discovery.ha_set_topic(t, device_id)) == device_id
    other = Topics(prefix + "x", site)
    assert other.parse(t.availability(kind, device_id)) is None
    assert ha_discovery.ha_set_device(other, ha_discovery.ha_set_topic(t, device_id)) is None


@props
@given(st.one_of(_device_topics, _levels, st.text(max_size=40)))
@example("gatehouse/demo/barrier/B1/ha/set")
def test_ha_set_device_is_a_name_or_none(topic: str) -> None:
    """Protects Home Assistant commands: only this site's barrier ha/set topics name a barrier."""
    device_id = ha_discovery.ha_set_device(T, topic)
    if device_id is not None:
        assert topic == f"gatehouse/demo/barrier/{device_id}/ha/set"
        assert re.fullmatch(r"[a-z0-9_-]+", device_id)


# --- RFC 3339 times (every payload's timestamps) ------------------------------------------------
_offsets = st.one_of(st.just("Z"), st.builds(lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"),
                                            st.integers(0, 30), st.integers(0, 70)))
timestamps = st.builds(
    lambda y, mo, d, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}",
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
    st.integers(0, 61), st.sampled_from(["", ".5", ".123", ".1234567890"]), _offsets)


@props
@given(st.one_of(timestamps, st.text(max_size=32)))
@example("9999-12-31T23:59:59-01:00")  # OverflowError before the fix
@example("0001-01-01T00:00:00+01:00")  # OverflowError before the fix
@example("２０２５-01-01T00:00:00Z")  # full-width digits are not RFC 3339
def test_any_text_is_an_aware_utc_time_or_value_error(text: str) -> None:
    """Protects every payload's timestamp: an aware UTC datetime or ValueError, never OverflowError."""
    try:
        moment = parse_rfc3339(text)
    except ValueError:
        return
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert text.isascii()


@props
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                                               timezone(timedelta(hours=-5, minutes=-30))])))
@example(datetime(999, 1, 1, tzinfo=UTC))  # rendered "999-01-01…", which parse refused
def test_rfc3339_render_parse_round_trip(moment: datetime) -> None:
    """Protects the contract's times: what we render parses back to the same instant (to the ms)."""
    text = rfc3339(moment)
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", text), text
    back = parse_rfc3339(text)
    assert back == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert rfc3339(back) == text


# --- QR frames (the kiosk camera's parser of pixels) ---------------------------------------------
@few
@given(hnp.arrays(st.sampled_from(["uint8", "uint16", "float32", "bool"]),
                  hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)),
       st.sampled_from(sorted(DECODERS)))
@example(np.zeros((0, 0), np.uint8), "zxing")  # cv2.error from resize before the fix
@example(np.zeros((0, 4, 3), np.uint8), "zxing")  # cv2.error from cvtColor before the fix
@example(np.zeros((2, 2, 3), bool), "zxing")  # cv2.error: cvtColor ran before the 8-bit check
def test_any_array_decodes_to_texts_or_value_error(frame: np.ndarray, decoder: str) -> None:
    """Protects the kiosk camera loop: any array is a list of texts or ValueError, never a cv2.error."""
    try:
        texts = decode(frame, decoder)
    except ValueError:
        return
    assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)


# --- webhook signature headers (what a receiver parses) ------------------------------------------
@props
@given(st.one_of(st.text(max_size=60),
                 st.builds("t={},v1={}".format, st.text(max_size=8), st.text(max_size=8))),
       st.binary(max_size=16))
@example("t=²,v1=00", b"")  # int("²") raised ValueError before the fix
@example("t=" + "9" * 5000 + ",v1=00", b"")  # int() refuses 5000 digits with ValueError
def test_any_signature_header_parses_or_is_none(header: str, body: bytes) -> None:
    """Protects webhook receivers: any header is (timestamp, signatures) or None, and verifies to a bool."""
    parsed = parse_header(header)
    assert parsed is None or (isinstance(parsed[0], int) and parsed[1])
    assert verify_signature("secret", header, body, now=1_800_000_000) in (True, False)
    good = signature_header("secret", body, 1_800_000_000)
    assert verify_signature("secret", good, body, now=1_800_000_000)
    assert header == good or not verify_signature("secret", header, body + b"x", now=1_800_000_000)
