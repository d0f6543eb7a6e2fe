"""Realistic, seeded camera frames holding a QR pass, for decoder tests and the QR benchmarks.

A frame is what the kiosk camera sees when a visitor holds up a phone or a printout: a
1280×720 (or any other size) scene with a textured background, the QR code placed under a
random perspective (rotation, tilt, scale), then Gaussian blur, Gaussian sensor noise and low
contrast (dark modules are grey, light modules are not white). ``CATEGORIES`` names one set of
ranges per condition (small, large, rotated and skewed, perspective, blur, noise, low
contrast, glare, all at once) and ``clutter_frame`` draws scenes without a code that look
like one to a detector (text, stripes, edges, fake finder patterns). Everything is drawn from
one ``numpy.random.Generator`` so a seed always gives the same frames; sizes in pixels are for
720 lines and scale with the frame's height (the same scene seen by a sharper camera).
"""

from __future__ import annotations

import base64
import functools
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import qrcode

WIDTH, HEIGHT = 1280, 720
SIZES: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080)}
NO_CODE = "no code"  # category of the frames without a code
QUIET_ZONE = 4  # modules of white border, as the QR standard asks and passes are printed


@dataclass(frozen=True)
class Hardness:
    """Ranges each frame's distortions are drawn from (uniformly); pixels are at 720 lines."""

    code_px: tuple[float, float] = (200.0, 360.0)  # side of the symbol without quiet zone
    tilt: float = 0.12  # max corner displacement as a fraction of the side (perspective)
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_sigma: tuple[float, float] = (3.0, 9.0)
    dark: tuple[int, int] = (55, 100)  # grey level of dark modules
    contrast: tuple[int, int] = (55, 110)  # light level minus dark level
    right_angles: float = 0.0  # share of codes turned by exactly 0/90/180/270° (else any angle)
    skew: float = 0.0  # max shear (x += skew·y), a code seen obliquely by a wide lens
    glare: bool = False  # a saturated light blob, sometimes a gradient, over part of the code


HARD = Hardness()
_MILD = Hardness(tilt=0.05, blur_sigma=(0.3, 0.8), noise_sigma=(2.0, 4.0), dark=(20, 50),
                 contrast=(120, 180))
# One condition pushed at a time over mild ranges, then all of SPEC §6's at once ("mixed").
CATEGORIES: dict[str, Hardness] = {
    "mild": _MILD,
    "small": replace(_MILD, code_px=(120.0, 180.0)),
    "large": replace(_MILD, code_px=(450.0, 640.0)),
    "rotated": replace(_MILD, tilt=0.0, right_angles=0.5, skew=0.3),
    "perspective": replace(_MILD, tilt=0.22),
    "blur": replace(_MILD, blur_sigma=(1.5, 2.5)),
    "noise": replace(_MILD, noise_sigma=(10.0, 20.0)),
    "low_contrast": replace(_MILD, dark=(60, 140), contrast=(22, 45)),
    "glare": replace(_MILD, glare=True),
    "mixed": HARD,
}


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


def _noise(rng: np.random.Generator, sigma: float, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """Gaussian sensor noise over a whole frame."""
    return rng.standard_normal((size[1], size[0]), dtype=np.float32) * np.float32(sigma)


def _background(rng: np.random.Generator, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """A dim gradient with low-frequency blotches and a few hard-edged objects (not a flat wall)."""
    width, height = size
    k = height / HEIGHT
    gx, gy = rng.uniform(-0.05, 0.05, 2) / k
    xs = np.arange(width, dtype=np.float32) * np.float32(gx)
    ys = np.arange(height, dtype=np.float32)[:, None] * np.float32(gy)
    bg = np.float32(rng.uniform(70, 150)) + xs + ys
    blotches = cv2.resize(rng.normal(0, 18, (9, 16)).astype(np.float32), (width, height),
                          interpolation=cv2.INTER_CUBIC)
    bg = bg + blotches
    for _ in range(int(rng.integers(3, 8))):  # door frames, posters, a counter edge
        x0, y0 = int(rng.integers(0, WIDTH) * k), int(rng.integers(0, HEIGHT) * k)
        x1, y1 = x0 + int(rng.integers(20, 300) * k), y0 + int(rng.integers(20, 300) * k)
        cv2.rectangle(bg, (x0, y0), (x1, y1), float(rng.uniform(40, 200)), -1)
    return bg


def _glare(rng: np.random.Generator, dst: np.ndarray, side: float, size: tuple[int, int]) -> np.ndarray:
    """Light reflected off a phone screen or laminated slip: a bright elliptic blob over part of
    the code, strong enough to saturate the sensor at its centre, and half the time a ramp."""
    width, height = size
    weights = rng.dirichlet(np.ones(4))
    cx, cy = weights @ dst  # a random point inside the code's quadrilateral
    sx, sy = side * rng.uniform(0.08, 0.22, 2)
    theta = rng.uniform(0, np.pi)
    xs = np.arange(width, dtype=np.float32) - np.float32(cx)
    ys = np.arange(height, dtype=np.float32)[:, None] - np.float32(cy)
    u = xs * np.float32(np.cos(theta)) + ys * np.float32(np.sin(theta))
    v = ys * np.float32(np.cos(theta)) - xs * np.float32(np.sin(theta))
    light = np.float32(rng.uniform(150, 260)) * np.exp(-0.5 * ((u / np.float32(sx)) ** 2
                                                            + (v / np.float32(sy)) ** 2))
    if rng.random() < 0.5:  # a window's reflection brightening one side of the code
        direction = rng.uniform(0, 2 * np.pi)
        ramp = (xs * np.float32(np.cos(direction)) + ys * np.float32(np.sin(direction))) / np.float32(side)
        light = light + np.float32(rng.uniform(40, 110)) * np.clip(ramp + 0.5, 0, 1)
    return light


def render(text: str, rng: np.random.Generator, hard: Hardness = HARD, bgr: bool = True,
           size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """One distorted frame of ``size`` (width, height) showing ``text`` as a QR code."""
    width, height = size
    k = height / HEIGHT
    modules = qr_modules(text)
    n = modules.shape[0]
    side = rng.uniform(*hard.code_px) * k * n / (n - 2 * QUIET_ZONE)  # quiet zone included
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
    if hard.right_angles and rng.random() < hard.right_angles:
        angle = np.pi / 2 * int(rng.integers(0, 4))
    half = side / 2
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    if hard.skew:
        corners = corners @ np.array([[1.0, 0.0], [rng.uniform(-hard.skew, hard.skew), 1.0]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ rot.T + rng.uniform(-hard.tilt, hard.tilt, (4, 2)) * side
    extent = np.abs(corners).max(axis=0)
    # A steep tilt of a large code can overflow the frame's height: shrink that one to fit.
    fit = min(1.0, (width / 2 - 10) / extent[0], (height / 2 - 10) / extent[1])
    corners, extent = corners * fit, extent * fit
    cx = rng.uniform(extent[0] + 10, width - extent[0] - 10)
    cy = rng.uniform(extent[1] + 10, height - extent[1] - 10)
    dst = np.float32(corners + [cx, cy])
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(symbol, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(symbol), matrix, size, flags=cv2.INTER_LINEAR)
    frame = _background(rng, size) * (1 - mask) + warped * mask
    if hard.glare:
        frame += _glare(rng, dst, side * fit, size)
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(*hard.blur_sigma) * k)
    frame += _noise(rng, rng.uniform(*hard.noise_sigma), size)
    gray = np.clip(frame, 0, 255).astype(np.uint8)  # the clip is the sensor saturating
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if bgr else gray


def blank_frame(rng: np.random.Generator, bgr: bool = True,
                size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """A frame of the same scene with no code in it (nobody at the kiosk)."""
    frame = _background(rng, size) + _noise(rng, 4.0, size)
    gray = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if bgr else gray


def _paste(frame: np.ndarray, patch: np.ndarray, rng: np.random.Generator, side: float,
           tilt: float = 0.1) -> None:
    """Draw ``patch`` into ``frame`` as a square of about ``side`` px under a random perspective."""
    height, width = frame.shape
    h, w = patch.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    aspect = h / w
    corners = np.array([[-0.5, -0.5 * aspect], [0.5, -0.5 * aspect], [0.5, 0.5 * aspect],
                        [-0.5, 0.5 * aspect]]) * side
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ rot.T + rng.uniform(-tilt, tilt, (4, 2)) * side
    dst = np.float32(corners + [rng.uniform(0, width), rng.uniform(0, height)])
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(patch.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
    frame *= 1 - mask
    frame += warped * mask


def _fake_qr(rng: np.random.Generator) -> np.ndarray:
    """A sticker that looks like a QR code to a detector: three finder patterns, random modules."""
    n = int(rng.choice([21, 25, 29, 33, 45]))
    modules = rng.random((n, n)) < 0.5
    finder = np.zeros((8, 8), bool)  # 7×7 finder plus its light separator row and column
    finder[:7, :7] = True
    finder[1:6, 1:6] = False
    finder[2:5, 2:5] = True
    modules[:8, :8] = finder
    modules[:8, n - 8 :] = finder[:, ::-1]
    modules[n - 8 :, :8] = finder[::-1, :]
    levels = np.where(modules, rng.uniform(10, 70), rng.uniform(170, 240))
    return np.pad(levels, QUIET_ZONE, constant_values=levels.max()).repeat(8, 0).repeat(8, 1)


def _stripes(rng: np.random.Generator) -> np.ndarray:
    """Blinds, railings or a 1-D barcode label: parallel bars of one or many widths."""
    if rng.random() < 0.5:
        bars = np.repeat(rng.random(int(rng.integers(20, 60))) < 0.5, rng.integers(2, 6))
    else:
        bars = (np.arange(400) // int(rng.integers(4, 30))) % 2 == 0
    return np.tile(np.where(bars, 40.0, 210.0), (int(len(bars) * rng.uniform(0.3, 1.0)) + 1, 1))


def _text_patch(rng: np.random.Generator) -> np.ndarray:
    """A notice: lines of dark print on a light card (house numbers, plates, opening hours)."""
    lines = int(rng.integers(2, 8))
    patch = np.full((lines * 40 + 20, 600), int(rng.uniform(170, 240)), np.uint8)  # putText: 8-bit
    alphabet = string.ascii_uppercase + string.digits + "  -:#/"
    for i in range(lines):
        words = "".join(rng.choice(list(alphabet), int(rng.integers(8, 24))))
        font, scale = int(rng.choice([0, 2, 3, 4])), float(rng.uniform(0.8, 1.3))
        cv2.putText(patch, words, (10, 40 * i + 45), font, scale, int(rng.uniform(0, 60)),
                    int(rng.integers(1, 4)), cv2.LINE_AA)
    return patch.astype(np.float32)


def _checker(rng: np.random.Generator) -> np.ndarray:
    """Floor tiles or a tiled wall: a chequerboard (many square corners, like finder edges)."""
    cells = int(rng.integers(4, 12))
    board = (np.indices((cells, cells)).sum(axis=0) % 2).astype(np.float32)
    return np.where(board > 0, 60.0, 200.0).repeat(24, 0).repeat(24, 1)


def clutter_frame(rng: np.random.Generator, bgr: bool = True,
                  size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """A scene without a QR code that could fool a detector: notices, stripes, tiles, fake codes."""
    width, height = size
    k = height / HEIGHT
    frame = _background(rng, size)
    makers = (_text_patch, _stripes, _checker, _fake_qr)
    for _ in range(int(rng.integers(3, 7))):
        maker = makers[int(rng.integers(0, len(makers)))]
        _paste(frame, maker(rng), rng, rng.uniform(120, 420) * k)
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.3, 1.2) * k)
    frame += _noise(rng, rng.uniform(2.0, 8.0), size)
    gray = np.clip(frame, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if bgr else gray


def make_frames(n: int, seed: int = 0, texts: Sequence[str] | None = None, hard: Hardness = HARD,
                bgr: bool = True, size: tuple[int, int] = (WIDTH, HEIGHT)) -> list[tuple[np.ndarray, str]]:
    """``n`` seeded (frame, text) pairs; texts cycle through ``texts`` or are fresh pass tokens."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = texts[i % len(texts)] if texts else pass_token(rng)
        out.append((render(text, rng, hard, bgr, size), text))
    return out


TEXT_POOL = 48  # distinct placeholder tokens in a frame_set (qr_modules caches 64)


def frame_set(per_category: int, blanks: int, seed: int = 0, size: tuple[int, int] = (WIDTH, HEIGHT),
              texts: Sequence[str] | None = None, bgr: bool = True,
              ) -> Iterator[tuple[str, np.ndarray, str | None]]:
    """(category, frame, text) for ``per_category`` frames of each of ``CATEGORIES``, then
    ``blanks`` clutter frames (category "no code", text None); made one at a time (a 1080p set
    held in memory would take gigabytes). Each category has its own seeded generator, so
    adding a category or changing a count leaves the other categories' frames as they were."""
    if not texts:  # a pool: making each symbol (choosing its mask) costs more than drawing it
        pool = np.random.default_rng([seed, 1 << 20])
        texts = [pass_token(pool) for _ in range(TEXT_POOL)]
    i = 0
    for index, (category, hard) in enumerate(CATEGORIES.items()):
        rng = np.random.default_rng([seed, index, size[1]])
        for _ in range(per_category):
            text = texts[i % len(texts)]
            i += 1
            yield category, render(text, rng, hard, bgr, size), text
    rng = np.random.default_rng([seed, len(CATEGORIES), size[1]])
    for _ in range(blanks):
        yield NO_CODE, clutter_frame(rng, bgr, size), None


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
