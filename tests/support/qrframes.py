"""Realistic, seeded camera frames holding a QR pass, for decoder tests and bench/qr_decoders.py.

A frame is what the kiosk camera sees when a visitor holds up a phone or a printout: a
1280×720 scene with a textured background, the QR code placed under a random perspective
(rotation, tilt, scale), then Gaussian blur, Gaussian sensor noise and low contrast
(dark modules are grey, light modules are not white). Everything is drawn from one
``numpy.random.Generator`` so a seed always gives the same frames.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import qrcode

WIDTH, HEIGHT = 1280, 720
QUIET_ZONE = 4  # modules of white border, as the QR standard asks and passes are printed


@dataclass(frozen=True)
class Hardness:
    """Ranges each frame's distortions are drawn from (uniformly)."""

    code_px: tuple[float, float] = (200.0, 360.0)  # side of the symbol without quiet zone
    tilt: float = 0.12  # max corner displacement as a fraction of the side (perspective)
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_sigma: tuple[float, float] = (3.0, 9.0)
    dark: tuple[int, int] = (55, 100)  # grey level of dark modules
    contrast: tuple[int, int] = (55, 110)  # light level minus dark level


HARD = Hardness()


def pass_token(rng: np.random.Generator) -> str:
    """A text shaped like a signed pass token: version, payload, Ed25519 signature (~130 chars)."""

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(rng.bytes(n)).rstrip(b"=").decode("ascii")

    return f"GP1.{b64(30)}.{b64(64)}"


@functools.lru_cache(maxsize=64)
def qr_modules(text: str, border: int = QUIET_ZONE) -> np.ndarray:
    """The QR symbol of ``text`` (ECC level M) as a bool matrix, True = dark, with its quiet zone.

    The library picks the mask pattern as real pass generators do; that choice is the slow
    part, hence the cache (the returned array is read-only).
    """
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(text)
    code.make(fit=True)
    matrix = np.array(code.get_matrix(), dtype=bool)
    matrix.flags.writeable = False
    return matrix


def clean_frame(text: str, module_px: int = 6, bgr: bool = True) -> np.ndarray:
    """An undistorted, full-contrast 1280×720 frame with the code in the middle."""
    symbol = np.where(qr_modules(text), 0, 255).astype(np.uint8)
    symbol = cv2.resize(symbol, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
    frame = np.full((HEIGHT, WIDTH), 200, np.uint8)
    h, w = symbol.shape
    top, left = (HEIGHT - h) // 2, (WIDTH - w) // 2
    frame[top : top + h, left : left + w] = symbol
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if bgr else frame


def _noise(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian sensor noise over a whole frame."""
    return rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32) * np.float32(sigma)


def _background(rng: np.random.Generator) -> np.ndarray:
    """A dim gradient with low-frequency blotches and a few hard-edged objects (not a flat wall)."""
    gx, gy = rng.uniform(-0.05, 0.05, 2)
    xs = np.arange(WIDTH, dtype=np.float32) * np.float32(gx)
    ys = np.arange(HEIGHT, dtype=np.float32)[:, None] * np.float32(gy)
    bg = np.float32(rng.uniform(70, 150)) + xs + ys
    blotches = cv2.resize(rng.normal(0, 18, (9, 16)).astype(np.float32), (WIDTH, HEIGHT),
                          interpolation=cv2.INTER_CUBIC)
    bg = bg + blotches
    for _ in range(int(rng.integers(3, 8))):  # door frames, posters, a counter edge
        x0, y0 = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        x1, y1 = x0 + int(rng.integers(20, 300)), y0 + int(rng.integers(20, 300))
        cv2.rectangle(bg, (x0, y0), (x1, y1), float(rng.uniform(40, 200)), -1)
    return bg


def render(text: str, rng: np.random.Generator, hard: Hardness = HARD, bgr: bool = True) -> np.ndarray:
    """One distorted 1280×720 frame showing ``text`` as a QR code."""
    modules = qr_modules(text)
    n = modules.shape[0]
    side = rng.uniform(*hard.code_px) * n / (n - 2 * QUIET_ZONE)  # quiet zone included
    dark = rng.uniform(*hard.dark)
    light = min(dark + rng.uniform(*hard.contrast), 250.0)
    # Source image: the module matrix at 8 px per module, so the warp resamples smoothly.
    src_px = 8
    symbol = np.where(modules, dark, light).astype(np.float32)
    symbol = cv2.resize(symbol, None, fx=src_px, fy=src_px, interpolation=cv2.INTER_NEAREST)
    s = float(n * src_px)
    src = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    # Destination: a square of `side` rotated by any angle, each corner pushed by up to `tilt`.
    angle = rng.uniform(0, 2 * np.pi)
    half = side / 2
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ rot.T + rng.uniform(-hard.tilt, hard.tilt, (4, 2)) * side
    extent = np.abs(corners).max(axis=0)
    # A steep tilt of a large code can overflow the frame's height: shrink that one to fit.
    fit = min(1.0, (WIDTH / 2 - 10) / extent[0], (HEIGHT / 2 - 10) / extent[1])
    corners, extent = corners * fit, extent * fit
    cx = rng.uniform(extent[0] + 10, WIDTH - extent[0] - 10)
    cy = rng.uniform(extent[1] + 10, HEIGHT - extent[1] - 10)
    dst = np.float32(corners + [cx, cy])
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(symbol, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(symbol), matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    frame = _background(rng) * (1 - mask) + warped * mask
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(*hard.blur_sigma))
    frame += _noise(rng, rng.uniform(*hard.noise_sigma))
    gray = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if bgr else gray


def blank_frame(rng: np.random.Generator, bgr: bool = True) -> np.ndarray:
    """A frame of the same scene with no code in it (nobody at the kiosk)."""
    frame = _background(rng) + _noise(rng, 4.0)
    gray = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if bgr else gray


def make_frames(n: int, seed: int = 0, texts: Sequence[str] | None = None, hard: Hardness = HARD,
                bgr: bool = True) -> list[tuple[np.ndarray, str]]:
    """``n`` seeded (frame, text) pairs; texts cycle through ``texts`` or are fresh pass tokens."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = texts[i % len(texts)] if texts else pass_token(rng)
        out.append((render(text, rng, hard, bgr), text))
    return out


FOURCC = "MJPG"  # AVI + Motion-JPEG: written and read back by every OpenCV build with FFmpeg


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 10) -> Path:
    """Write BGR (or grey) frames to an AVI/MJPG file; raises RuntimeError if OpenCV cannot."""
    path = Path(path)
    writer: cv2.VideoWriter | None = None
    try:
        for frame in frames:
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), fps, size)
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV cannot write {FOURCC} video to {path}")
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError("write_video() needs at least one frame")
    return path
