"""Benchmark a visitor pass at the kiosk camera: decode the QR in a frame, then verify the pass.

    python bench/pass_scan.py                  # 55 frames × 10 conditions + 60 without a code, 720p and 1080p
    python bench/pass_scan.py --quick          # 5 × 10 + 10 per resolution, 50 passes (make bench)
    python bench/pass_scan.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_qr

Real v1 tokens (gate.domain.passes) of ``--passes`` passes of the demo estate are drawn into
1280×720 and 1920×1080 frames by tests/support/qrframes.py ``frame_set`` (the same conditions
as bench/qr_decoders.py: small, large, rotated, perspective, blur, noise, low contrast, glare,
all at once; then clutter frames without a code). Per frame: ``device_adapters.qr.decode``
(the default multi-step zxing-cpp), then ``pass_gate.resolve`` (HMAC check, site tag, the row
by pass id) and ``pass_gate.problem`` (window, uses, revocation, host moved out): everything
the gate does before the redeeming UPDATE, whose cost is in the plate→command benchmark's
transaction. A frame counts when the pass it shows is verified; a frame without a code that
verifies anything is a false accept. SQLite file by default; a PostgreSQL URL is created if
missing and wiped (schema dropped) first. SPEC §6: median ≤ 15 ms and ≥ 99 % decoded and
verified at 1280×720.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from typing import Any

import benchlib
from sqlalchemy import select

from device_adapters.qr import decode
from gate.extensions import db
from gate.models import Resident, User
from gate.models.types import utcnow
from gate.services import pass_gate, passes
from gate.services.sites import current_site
from tests.support.qrframes import CATEGORIES, NO_CODE, SIZES, frame_set


def _prepare(count: int) -> list[str]:
    """Create `count` unlimited passes for the demo resident; return their tokens."""
    resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
    user = db.session.get(User, resident.user_id)
    tokens = []
    for i in range(count):
        visitor_pass = passes.create(resident, user, name=f"访客{i}", uses="unlimited")
        tokens.append(passes.token_for(visitor_pass))
    return tokens


def _scan(resolution: str, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Decode and verify every frame of one resolution; counts and times."""
    site = current_site()
    times: list[float] = []
    decode_times: list[float] = []
    blank_times: list[float] = []
    verified: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    false_accept = 0
    for category, frame, token in frame_set(args.per_category, args.blanks, args.seed, SIZES[resolution],
                                            texts=tokens):
        start = time.perf_counter()
        texts = decode(frame)
        decoded = time.perf_counter()
        accepted = []
        for scanned in texts:
            try:
                found = pass_gate.resolve(site, scanned)
            except pass_gate.Rejected:
                continue
            if pass_gate.problem(found, utcnow()) is None:
                accepted.append(scanned)
        ms = (time.perf_counter() - start) * 1000
        seen[category] += 1
        if token is None:
            blank_times.append(ms)
            false_accept += bool(accepted)
            continue
        times.append(ms)
        decode_times.append((decoded - start) * 1000)
        verified[category] += accepted == [token]
    good = sum(verified.values())
    return {"frames": len(times), "verified": good, "rate": 100 * good / len(times),
            "blanks": len(blank_times), "false_accept": false_accept, "ms": benchlib.summary(times),
            "decode_ms": benchlib.summary(decode_times), "blank_ms": benchlib.summary(blank_times),
            "by_category": {c: {"verified": verified[c], "frames": seen[c]} for c in CATEGORIES}}


def main(argv: list[str] | None = None) -> int:
    """Create the passes, decode and verify each resolution's frames, print tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 frames per condition + 10 blanks, 50 passes")
    parser.add_argument("--per-category", type=int, help="frames per condition (default 55)")
    parser.add_argument("--blanks", type=int, help="frames without a code per resolution (default 60)")
    parser.add_argument("--passes", type=int, help="passes created, cycled through the frames (default 500)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--resolution", choices=sorted(SIZES), action="append", help="default: both")
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--json", help="result file (default bench/results/pass_scan-DATABASE[-quick].json)")
    args = parser.parse_args(argv)
    args.per_category = args.per_category or (5 if args.quick else 55)
    args.blanks = args.blanks if args.blanks is not None else 10 if args.quick else 60
    args.passes = args.passes or (50 if args.quick else 500)
    resolutions = args.resolution or list(SIZES)

    results: dict[str, Any] = {}
    with benchlib.tempdir() as tmp:
        url = benchlib.database_url(args.database_url, tmp)
        if url.startswith("postgresql"):
            benchlib.ensure_pg_database(url)
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        app = benchlib.fresh_app(url, tmp, GATE_PASS_MAX_ACTIVE=args.passes + 1)
        with app.app_context():
            print(f"creating {args.passes} passes ...", file=sys.stderr, flush=True)
            tokens = _prepare(args.passes)
            for resolution in resolutions:
                print(f"{resolution}: {args.per_category} × {len(CATEGORIES)} frames + {args.blanks} "
                      f"without a code ...", file=sys.stderr, flush=True)
                results[resolution] = _scan(resolution, tokens, args)
            db.session.remove()
    rows = [[backend, res, f"{r['verified']}/{r['frames']}", f"{r['rate']:.1f} %",
             f"{r['false_accept']}/{r['blanks']}", r["ms"]["p50"], r["decode_ms"]["p50"], r["ms"]["p95"],
             r["ms"]["max"], r["blank_ms"].get("p50", "-")] for res, r in results.items()]
    benchlib.print_table(["database", "resolution", "decoded and verified", "rate", "false accept",
                          "median ms", "of which decode", "p95 ms", "max ms", "no-code median ms"], rows)
    print()
    benchlib.print_table(["condition", *results], [
        [c, *(f"{r['by_category'][c]['verified']}/{r['by_category'][c]['frames']}" for r in results.values())]
        for c in CATEGORIES])
    print(f"token {len(tokens[0])} characters; conditions: tests/support/qrframes.py CATEGORIES; "
          f"{NO_CODE!r} frames are the false-accept column")
    benchlib.write_result(f"pass_scan-{backend.lower()}" + ("-quick" if args.quick else ""),
                          {"database": backend, "tokens_chars": len(tokens[0]), "resolutions": results},
                          args, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
