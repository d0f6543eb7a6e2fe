"""Benchmark the QR decoders of device_adapters/qr.py on seeded hard camera frames, 720p and 1080p.

    python bench/qr_decoders.py            # 55 frames × 10 conditions + 60 without a code, per resolution
    python bench/qr_decoders.py --quick    # 6 × 10 + 10 per resolution, zxing + Aruco multi-step (make bench)
    python bench/qr_decoders.py --decoder zxing --resolution 720p --save-misses /tmp/misses

Frames come from tests/support/qrframes.py (``frame_set``): per resolution, the same number of
frames for each of its CATEGORIES (mild, small, large, rotated incl. exact 90/180° and skew,
perspective, blur, noise, low contrast, glare, and "mixed" = perspective + blur + noise + low
contrast together, SPEC §6's set), then clutter frames without a code (notices, stripes,
tiles, fake QR stickers with finder patterns). Codes are ~130-character placeholder tokens
(QR version 7), harder than the real 67-character ones bench/pass_scan.py uses (version 4).

Each decoder runs on the full frame alone and through ``qr.decode``'s default multi-step
(``LEVELS``). A frame is read when the decoder returns the frame's text; "wrong" counts
decodes returning another text, "false +" decodes on a frame without a code. Times are per
frame, one core, from the BGR frame (grey conversion included). cv2.QRCodeDetector can spend
over a second on one hard frame, so it runs on every ``--opencv-every``-th frame of each
category only (the table says on how many). SPEC §6 target: median ≤ 15 ms, ≥ 99 % read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import benchlib
import cv2

from device_adapters.qr import DECODERS, DEFAULT_DECODER, FULL_ONLY, LEVELS, Level, decode
from tests.support.qrframes import CATEGORIES, NO_CODE, SIZES, frame_set

LABELS = {"zxing": "zxing-cpp", "opencv_aruco": "cv2.QRCodeDetectorAruco", "opencv": "cv2.QRCodeDetector"}
METHODS: dict[str, tuple[Level, ...]] = {"multi-step": LEVELS, "full frame": FULL_ONLY}


class Tally:
    """What one decoder configuration did on one resolution's frames."""

    def __init__(self) -> None:
        """Empty counts."""
        self.times: list[float] = []
        self.blank_times: list[float] = []
        self.read: dict[str, int] = defaultdict(int)
        self.seen: dict[str, int] = defaultdict(int)
        self.wrong = 0
        self.false_positive = 0
        self.misses: list[str] = []

    def add(self, category: str, index: int, text: str | None, found: list[str], ms: float) -> None:
        """Record one frame's outcome."""
        self.seen[category] += 1
        if text is None:
            self.blank_times.append(ms)
            self.false_positive += bool(found)
            return
        self.times.append(ms)
        self.read[category] += text in found
        self.wrong += any(t != text for t in found)
        if text not in found:
            self.misses.append(f"{category}#{index}")

    def result(self) -> dict[str, Any]:
        """Counts, rates and time summaries as plain data."""
        frames = len(self.times)
        read = sum(self.read.values())
        return {"frames": frames, "read": read, "rate": 100 * read / frames if frames else None,
                "wrong": self.wrong, "blanks": len(self.blank_times), "false_positive": self.false_positive,
                "ms": benchlib.summary(self.times), "blank_ms": benchlib.summary(self.blank_times),
                "by_category": {c: {"read": self.read[c], "frames": n} for c, n in self.seen.items()
                                if c != NO_CODE},
                "misses": self.misses}


def run(resolution: str, args: argparse.Namespace, configs: list[tuple[str, str]]) -> dict[str, Tally]:
    """Decode every frame of one resolution with every configuration, one frame at a time."""
    tallies = {f"{d}/{m}": Tally() for d, m in configs}
    counts: dict[str, int] = defaultdict(int)
    for category, frame, text in frame_set(args.per_category, args.blanks, args.seed, SIZES[resolution]):
        index = counts[category]
        counts[category] += 1
        for decoder, method in configs:
            if decoder == "opencv" and index % args.opencv_every:
                continue  # seconds on some frames: a stratified subset only
            start = time.perf_counter()
            found = decode(frame, decoder, METHODS[method])
            ms = (time.perf_counter() - start) * 1000
            tallies[f"{decoder}/{method}"].add(category, index, text, found, ms)
            if args.save_misses and decoder == DEFAULT_DECODER and method == "multi-step" \
                    and (text not in found if text else found):
                out = Path(args.save_misses)
                out.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out / f"{resolution}-{category.replace(' ', '_')}-{index}.png"), frame)
    return tallies


def main(argv: list[str] | None = None) -> int:
    """Generate the frames, decode them with each decoder, print the tables and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="6 frames per condition + 10 without a code, zxing and Aruco multi-step only")
    parser.add_argument("--per-category", type=int, help="frames per condition (default 55)")
    parser.add_argument("--blanks", type=int, help="frames without a code per resolution (default 60)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--decoder", choices=sorted(DECODERS), action="append",
                        help="decoder to run (repeatable; default: all, --quick: zxing and opencv_aruco)")
    parser.add_argument("--method", choices=sorted(METHODS), action="append", help="default: both")
    parser.add_argument("--resolution", choices=sorted(SIZES), action="append", help="default: both")
    parser.add_argument("--opencv-every", type=int, default=5,
                        help="cv2.QRCodeDetector on every Nth frame of each condition only (default 5)")
    parser.add_argument("--save-misses", metavar="DIR", help="write the default decoder's misses as PNG")
    parser.add_argument("--json", help="result file (default bench/results/qr_decoders[-quick].json)")
    args = parser.parse_args(argv)
    args.per_category = args.per_category or (6 if args.quick else 55)
    args.blanks = args.blanks if args.blanks is not None else (10 if args.quick else 60)
    decoders = args.decoder or (["zxing", "opencv_aruco"] if args.quick else list(DECODERS))
    configs = [(d, m) for d in decoders for m in (args.method or list(METHODS))
               if not (args.quick and d != DEFAULT_DECODER and m == "full frame")]  # quick: 45 s budget
    resolutions = args.resolution or list(SIZES)

    rows, cat_rows, results = [], [], {}
    for resolution in resolutions:
        print(f"{resolution}: {args.per_category} × {len(CATEGORIES)} frames + {args.blanks} without a code "
              f"(seed {args.seed}) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        tallies = run(resolution, args, configs)
        print(f"  {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        results[resolution] = {key: t.result() for key, t in tallies.items()}
        for (decoder, method), r in zip(configs, results[resolution].values(), strict=True):
            name = LABELS[decoder] + (" ★" if decoder == DEFAULT_DECODER and method == "multi-step" else "")
            rows.append([resolution, name, method, f"{r['read']}/{r['frames']}", f"{r['rate']:.1f} %",
                         r["wrong"], f"{r['false_positive']}/{r['blanks']}", r["ms"]["p50"], r["ms"]["p95"],
                         r["ms"]["max"], statistics.median(tallies[f"{decoder}/{method}"].blank_times)
                         if r["blanks"] else "-"])
        for category in CATEGORIES:
            cells = []
            for key in results[resolution]:
                c = results[resolution][key]["by_category"].get(category)
                cells.append(f"{c['read']}/{c['frames']}" if c else "-")
            cat_rows.append([resolution, category, *cells])
    benchlib.print_table(["resolution", "decoder", "method", "read", "rate", "wrong text", "false +",
                          "median ms", "p95 ms", "max ms", "no-code median ms"], rows)
    print()
    benchlib.print_table(["resolution", "condition", *(f"{LABELS[d]} {m}" for d, m in configs)], cat_rows)
    misses = {res: r.get(f"{DEFAULT_DECODER}/multi-step", {}).get("misses") for res, r in results.items()}
    print(f"\n{DEFAULT_DECODER} multi-step misses: {misses}")
    benchlib.write_result("qr_decoders-quick" if args.quick else "qr_decoders", results, args, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
