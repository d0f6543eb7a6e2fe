"""QR decoding of camera frames, kept in this one place (kiosk camera, tests and bench/qr_decoders.py).

``DECODERS`` maps a name to a function taking a greyscale frame and returning the texts of the
QR codes it read. ``decode()`` converts a frame to grey once and runs a decoder over a few
levels, stopping at the first that reads something:

1. half size: where most passes are read, several times faster than full size, and its 2×2
   averaging halves the sensor noise;
2. 3/4 size: a few strongly tilted or noisy codes that half size loses;
3. full size: codes too small to survive downscaling (modules of 2-3 pixels);
4. full size through a 3×3 median filter: noisy, low-contrast codes whose modules are big
   enough to survive it (on small codes it does harm);
5. half size, sharpened (unsharp mask): out-of-focus codes whose blur merges the modules;
6. half size through a local mean threshold (15-pixel blocks): codes under glare, whose
   bright blob or ramp defeats zxing's own binarizer;
7. 3/4 size, sharpened: out-of-focus codes too small for step 5.

Steps 5-7 cost nothing on frames the first four read. A frame with no code pays for every
level (see bench/qr_decoders.py, "no-code median ms").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np
import zxingcpp

Decoder = Callable[[np.ndarray], list[str]]


class Level(NamedTuple):
    """One attempt: resize by ``scale`` (1.0 = as captured), then median-filter if ``median``,
    then sharpen by ``sharpen`` (unsharp mask: image + amount × (image − 1-pixel Gaussian blur)),
    then binarize by the mean of each ``threshold``-pixel block if ``threshold``."""

    scale: float
    median: int = 0  # odd kernel size; 0 = no filter
    sharpen: float = 0.0  # unsharp-mask amount; 0 = none
    threshold: int = 0  # odd block size of cv2.adaptiveThreshold; 0 = none


# Chosen with zxing on hard frames from tests/support/qrframes.py. Read rates, these levels vs
# without the 3/4 level: seeds 11-13 (2100 frames) 99.76 % vs 99.76 %, seeds 21-23 (2100,
# held out) 99.86 % vs 99.81 %, bench seed 2024 (200) 99.5 % vs 98.5 %; the 3/4 level costs
# about 30 % more on frames without a code. Without the median level: 99.29 % (seeds 11-12).
# The last three levels were chosen on the 69 frames of seeds 11, 12 and 2024 (blur, glare,
# perspective and low-contrast conditions of tests/support/qrframes.py, 720p and 1080p) that
# the first four missed: they read 19 of 25 blurred and 7 of 23 glared ones; see
# docs/PERFORMANCE.md for the held-out measurement and their cost on frames without a code.
LEVELS: tuple[Level, ...] = (Level(0.5), Level(0.75), Level(1.0), Level(1.0, median=3),
                             Level(0.5, sharpen=2.0), Level(0.5, threshold=15),
                             Level(0.75, sharpen=2.0))
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

# bench/qr_decoders.py (550 frames with a code per resolution, seed 2024, 2-core VM under load),
# read % and median ms at 1280×720, full frame / these levels: zxing 97.3 % 3.0 ms / 99.1 %
# 1.2 ms; opencv_aruco 92.5 % 77 ms / 95.6 % 31 ms; opencv (110 frames) 60.9 % 96 ms / 73.6 %
# 140 ms (p95 1.7 s, worst 19 s). zxing is the only one that meets SPEC §6 (≥ 99 %, median
# ≤ 15 ms), as in reference/devices.md (60/60 vs 46/60 vs 13/60).
DEFAULT_DECODER = "zxing"


def to_gray(frame: np.ndarray) -> np.ndarray:
    """The frame as a contiguous 8-bit grey image (BGR, BGRA and grey frames are accepted)."""
    # Checked before any cv2 call: cvtColor and resize raise cv2.error on empty or bool arrays.
    if frame.size == 0:
        raise ValueError(f"empty frame of shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit, not {frame.dtype}")
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
    for scale, median, sharpen, threshold in levels:
        image = gray
        if scale != 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if median:
            image = cv2.medianBlur(image, median)
        if sharpen:
            blurred = cv2.GaussianBlur(image, (0, 0), 1.0)
            image = cv2.addWeighted(image, 1 + sharpen, blurred, -sharpen, 0)
        if threshold:
            image = cv2.adaptiveThreshold(image, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                          threshold, 2)
        texts = run(image)
        if texts:
            return list(dict.fromkeys(texts))
    return []
