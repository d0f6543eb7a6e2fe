"""QR decoding of camera frames, kept in this one place (kiosk camera, tests and bench/qr_decoders.py).

``DECODERS`` maps a name to a function taking a greyscale frame and returning the texts of the
QR codes it read. ``decode()`` converts a frame to grey once and runs a decoder over a few
levels, stopping at the first that reads something:

1. half size: where most passes are read, several times faster than full size, and its 2×2
   averaging halves the sensor noise;
2. full size: codes too small to survive halving (modules of 2-3 pixels);
3. full size through a 3×3 median filter: noisy, low-contrast codes whose modules are big
   enough to survive it (on small codes it does harm, hence last).

A frame with no code pays for every level (see bench/qr_decoders.py, "blank ms").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np
import zxingcpp

Decoder = Callable[[np.ndarray], list[str]]



class Level(NamedTuple):
    """One attempt: resize by ``scale`` (1.0 = as captured), then median-filter if ``median``."""

    scale: float
    median: int = 0  # odd kernel size; 0 = no filter


# Chosen on hard frames from tests/support/qrframes.py (zxing): these levels read 99.76 % of
# 2100 frames (seeds 11-13); adding a 3/4 level read no more and cost 50 % more on blank frames;
# half → 3/4 → full without the median level read 99.29 % of 1400 (seeds 11-12).
LEVELS: tuple[Level, ...] = (Level(0.5), Level(1.0), Level(1.0, median=3))
FULL_ONLY: tuple[Level, ...] = (Level(1.0),)


def _zxing(gray: np.ndarray) -> list[str]:
    """zxing-cpp, QR codes only, on the grey array as is (no copy)."""
    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    return [code.text for code in found if code.valid]


def _opencv_with(detector_class: type) -> Decoder:
    def run(gray: np.ndarray) -> list[str]:
        # A detector holds state between calls, so each call (and thread) gets its own; it is
        # cheap to construct (microseconds), unlike the detection itself.
        ok, texts, _points, _straight = detector_class().detectAndDecodeMulti(gray)
        return [text for text in texts if text] if ok else []

    run.__doc__ = f"OpenCV {detector_class.__name__}.detectAndDecodeMulti on the grey frame."
    return run


DECODERS: dict[str, Decoder] = {
    "zxing": _zxing,
    "opencv_aruco": _opencv_with(cv2.QRCodeDetectorAruco),
    "opencv": _opencv_with(cv2.QRCodeDetector),
}

# bench/qr_decoders.py, 200 seeded 1280×720 frames (perspective, blur, noise, low contrast),
# this pyramid, 2-core dev VM: zxing 99.5 % read, median 1.0 ms, p95 6.3 ms;
# opencv_aruco 94.0 %, median 34 ms; opencv 71.5 %, median 24 ms (full table in the report /
# docs/PERFORMANCE.md). reference/devices.md measured the same order on full frames.
DEFAULT_DECODER = "zxing"


def to_gray(frame: np.ndarray) -> np.ndarray:
    """The frame as a contiguous 8-bit grey image (BGR, BGRA and grey frames are accepted)."""
    if frame.ndim == 2:
        gray = frame
    elif frame.ndim == 3 and frame.shape[2] == 3:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    elif frame.ndim == 3 and frame.shape[2] == 1:
        gray = frame[:, :, 0]
    else:
        raise ValueError(f"not an image: array of shape {frame.shape}")
    if gray.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit, not {gray.dtype}")
    return np.ascontiguousarray(gray)


def decode(frame: np.ndarray, decoder: str = DEFAULT_DECODER,
           levels: Sequence[Level] = LEVELS) -> list[str]:
    """Texts of the QR codes in ``frame``, each once, in the order found; [] if none.

    ``levels`` are tried in order until one yields a code; pass ``FULL_ONLY`` to decode only
    the frame as captured. Only the first level with a result counts, so of two codes in one
    frame a later frame may be needed to read the second (passes are shown one at a time).
    """
    try:
        run = DECODERS[decoder]
    except KeyError:
        raise ValueError(f"unknown QR decoder {decoder!r}: choose one of {', '.join(DECODERS)}") from None
    gray = to_gray(frame)
    for scale, median in levels:
        image = gray
        if scale != 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if median:
            image = cv2.medianBlur(image, median)
        texts = run(image)
        if texts:
            return list(dict.fromkeys(texts))
    return []
