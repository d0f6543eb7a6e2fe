"""Benchmark the QR decoders of device_adapters/qr.py on one seeded set of hard camera frames.

    python bench/qr_decoders.py                      # 200 frames, seed 2024, all decoders
    python bench/qr_decoders.py --frames 500 --seed 7 --decoder zxing

Frames are 1280×720 with a pass-sized QR code under random perspective, Gaussian blur,
Gaussian noise and low contrast (tests/support/qrframes.py). Each decoder runs twice: on the
full frame only, and through the levels ``qr.decode`` uses by default (1/2, 3/4 and full
size, then full size median-filtered; see device_adapters/qr.py). A frame
counts as read when the decoder returns the text the frame was made with. Times include the
grey conversion and are per frame; "blank ms" is the median on frames with no code (the
kiosk camera's usual case: it bounds the CPU the adapter uses while nobody is there).
SPEC §6 target: median ≤ 15 ms and ≥ 99 % read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from device_adapters.qr import DECODERS, FULL_ONLY, LEVELS, Level, decode  # noqa: E402
from tests.support.qrframes import blank_frame, make_frames  # noqa: E402


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def measure(frames: list[tuple[np.ndarray, str]], blanks: list[np.ndarray], decoder: str,
            levels: tuple[Level, ...]) -> dict[str, float]:
    """Read rate and per-frame times of one decoder configuration."""
    times, read = [], 0
    for frame, text in frames:
        start = time.perf_counter()
        texts = decode(frame, decoder, levels)
        times.append((time.perf_counter() - start) * 1000)
        read += text in texts
    blank_times = []
    for frame in blanks:
        start = time.perf_counter()
        decode(frame, decoder, levels)
        blank_times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "read": read,
        "rate": 100 * read / len(frames),
        "median": statistics.median(times),
        "p95": percentile(times, 95),
        "blank": statistics.median(blank_times) if blank_times else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames with a code (default 200)")
    parser.add_argument("--blanks", type=int, default=20, help="frames without a code (default 20)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--decoder", choices=sorted(DECODERS), action="append",
                        help="decoder to run (repeatable; default: all)")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")

    print(f"generating {args.frames} frames (seed {args.seed}) ...", file=sys.stderr, flush=True)
    frames = make_frames(args.frames, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    blanks = [blank_frame(rng) for _ in range(args.blanks)]

    header = f"{'decoder':<14} {'levels':<13} {'read':>9} {'rate %':>7} {'median ms':>10} " \
             f"{'p95 ms':>8} {'blank ms':>9}"
    print(header)
    print("-" * len(header))
    for name in args.decoder or list(DECODERS):
        for label, levels in (("full frame", FULL_ONLY), ("levels", LEVELS)):
            r = measure(frames, blanks, name, levels)
            print(f"{name:<14} {label:<13} {r['read']:>4}/{len(frames):<4} {r['rate']:>7.1f} "
                  f"{r['median']:>10.2f} {r['p95']:>8.2f} {r['blank']:>9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
