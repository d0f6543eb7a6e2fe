"""Tests for device_adapters.qr (QR decoding of camera frames) and camera.Debouncer."""

from __future__ import annotations

import numpy as np
import pytest

from device_adapters.camera import Debouncer, _redact
from device_adapters.qr import DECODERS, DEFAULT_DECODER, FULL_ONLY, decode, to_gray
from tests.support.qrframes import blank_frame, clean_frame, make_frames, pass_token

TEXT = "GP1.demo-pass.0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_each_decoder_reads_a_clean_frame(name: str) -> None:
    """Every registered decoder really decodes: a sharp, upright code is read on the full frame."""
    assert decode(clean_frame(TEXT), name, FULL_ONLY) == [TEXT]


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_each_decoder_finds_nothing_in_an_empty_scene(name: str) -> None:
    """A frame without a code yields no text (no phantom scans while nobody is at the kiosk)."""
    assert decode(blank_frame(np.random.default_rng(3)), name) == []


def test_default_decoder_reads_99_percent_of_hard_frames() -> None:
    """SPEC §6: ≥ 99 % of frames with perspective, blur, noise and low contrast are read."""
    # 30 frames can only show "all read"; the rate itself is measured by bench/qr_decoders.py
    # (about 99.8 %, so a few 30-frame seeds hold one frame it cannot read: of 0-10, 606 and
    # 2024, only 606 does, frame 23, a steep keystone at low contrast).
    frames = make_frames(30, seed=0)
    read = sum(text in decode(frame) for frame, text in frames)
    assert read / len(frames) >= 0.99, f"default decoder {DEFAULT_DECODER!r} read {read}/{len(frames)}"


def test_grey_and_colour_frames_decode_alike() -> None:
    """Grey frames (IR cameras, tests) and BGR frames are both accepted and give the same text."""
    text = pass_token(np.random.default_rng(1))
    assert decode(clean_frame(text, bgr=False)) == decode(clean_frame(text, bgr=True)) == [text]


def test_to_gray_rejects_what_is_not_an_8_bit_image() -> None:
    """A wrong array is a clear ValueError, not a crash deep inside a decoder."""
    with pytest.raises(ValueError, match="8-bit"):
        to_gray(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="not an image"):
        to_gray(np.zeros((4, 4, 2), np.uint8))


def test_unknown_decoder_is_named_in_the_error() -> None:
    """A typo in the configured decoder lists the valid names."""
    with pytest.raises(ValueError, match="zxing"):
        decode(clean_frame(TEXT), "zbar")


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_debouncer_drops_repeats_within_the_window() -> None:
    """A code held in front of the camera for 10 s, seen every 0.1 s, is one scan."""
    clock = FakeClock()
    debouncer = Debouncer(3.0, clock)
    admitted = []
    for _ in range(100):
        admitted.append(debouncer.admit("pass-a"))
        clock.now += 0.1
    assert admitted[0] is True
    assert not any(admitted[1:])


def test_debouncer_re_emits_after_the_window() -> None:
    """Presenting the same pass again after it was out of view longer than the window is a new scan."""
    clock = FakeClock()
    debouncer = Debouncer(3.0, clock)
    assert debouncer.admit("pass-a")
    clock.now += 3.0
    assert not debouncer.admit("pass-a"), "exactly at the window edge it is still the same sighting"
    clock.now += 3.01
    assert debouncer.admit("pass-a")


def test_debouncer_lets_different_codes_through() -> None:
    """Two different passes shown one after the other are two scans, each debounced on its own."""
    clock = FakeClock()
    debouncer = Debouncer(3.0, clock)
    assert debouncer.admit("pass-a")
    clock.now += 0.1
    assert debouncer.admit("pass-b")
    clock.now += 0.1
    assert not debouncer.admit("pass-a")
    assert not debouncer.admit("pass-b")


def test_debouncer_forgets_old_codes() -> None:
    """Memory stays bounded: texts unseen for longer than the window are dropped."""
    clock = FakeClock()
    debouncer = Debouncer(1.0, clock)
    for i in range(50):
        debouncer.admit(f"pass-{i}")
        clock.now += 2.0
    assert len(debouncer._last_seen) == 1


def test_debouncer_rejects_a_negative_window() -> None:
    """A negative window is a configuration error, reported at once."""
    with pytest.raises(ValueError):
        Debouncer(-1.0)


def test_camera_passwords_stay_out_of_messages() -> None:
    """An RTSP URL's password is masked before it reaches an error message or a log line."""
    assert _redact("rtsp://admin:s3cret@192.168.1.64:554/Streaming/101") == (
        "rtsp://admin:***@192.168.1.64:554/Streaming/101"
    )
    assert _redact("rtsp://[fe80::1]:554/live") == "rtsp://[fe80::1]:554/live"
    assert _redact("/var/lib/gatehouse/demo.avi") == "/var/lib/gatehouse/demo.avi"
