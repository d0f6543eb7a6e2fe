#!/usr/bin/env python3
"""Print the "Time at the gate" table from test-results/kiosk-flows.json (Markdown).

The file is written by tests/e2e/test_time_at_gate.py, which keeps the last three measurements
of each flow (one per test run); seconds and scan→command milliseconds are given as min / median
of those. Several files (e.g. from several machines' runs) may be named: their measurements are
put together.
Usage: pytest tests/e2e/test_time_at_gate.py && python scripts/kiosk_report.py [file ...]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "test-results" / "kiosk-flows.json"
ORDER = ("qr-pass", "walk-in-card", "goods-out", "car-visitor")


def spread(values: list[float], unit: str = "", digits: int = 1) -> str:
    """'min / median' of the values, or a dash when there are none."""
    if not values:
        return "—"
    low, mid = min(values), statistics.median(values)
    return f"{low:.{digits}f} / {mid:.{digits}f}{unit}"


def counted(runs: list[dict], key: str) -> str:
    """A count that should not vary between runs; a range if it did."""
    values = sorted({run.get(key, 0) for run in runs})
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def target(name: str, flow: dict) -> str:
    """The issue's target, in words."""
    taps = flow.get("target_taps")
    if name == "goods-out":
        return f"≤ {taps} taps + 1 tick per line"
    if name == "qr-pass":
        return "0 taps, command ≤ 1 s after the scan"
    return f"≤ {taps} taps"


def taps_cell(name: str, runs: list[dict]) -> str:
    """Taps, with the slip's ticks beside them."""
    cell = counted(runs, "taps")
    if name == "goods-out":
        cell += f" + {counted(runs, 'ticks')} ticks ({counted(runs, 'lines')} lines)"
    return cell


def table(data: dict) -> str:
    """The Markdown table of every flow in the file."""
    flows = data.get("flows", {})
    names = [n for n in ORDER if n in flows] + sorted(set(flows) - set(ORDER))
    rows = ["| Flow | Target | Taps | Entries | Seconds (min / median) "
            "| Scan → command ms (min / median) | Runs |",
            "|---|---|---|---|---|---|---|"]
    for name in names:
        flow, runs = flows[name], flows[name].get("runs", [])
        if not runs:
            continue
        seconds = [run["seconds"] for run in runs]
        command_ms = [run["scan_to_command_ms"] for run in runs if "scan_to_command_ms" in run]
        rows.append(f"| {flow.get('title', name)} | {target(name, flow)} | {taps_cell(name, runs)} "
                    f"| {counted(runs, 'entries')} | {spread(seconds, ' s', 2)} "
                    f"| {spread(command_ms, ' ms')} | {len(runs)} |")
    return "\n".join(rows)


def merged(paths: list[Path]) -> dict:
    """The files' flows with their measurements put together (the last file's machine line)."""
    data: dict = {"flows": {}}
    for path in paths:
        one = json.loads(path.read_text(encoding="utf-8"))
        data["machine"] = one.get("machine", data.get("machine"))
        for name, flow in one.get("flows", {}).items():
            into = data["flows"].setdefault(name, {**flow, "runs": []})
            into["runs"].extend(flow.get("runs", []))
    return data


def main(argv: list[str]) -> int:
    """Print the table (and the machine line); 1 if a file is missing."""
    paths = [Path(arg) for arg in argv[1:]] or [DEFAULT]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        print(f"not found: {', '.join(missing)} (run pytest tests/e2e/test_time_at_gate.py first)",
              file=sys.stderr)
        return 1
    data = merged(paths)
    print(table(data))
    machine = data.get("machine")
    if machine:
        print(f"\nMachine: {machine.get('platform')}, {machine.get('cpus')} CPUs, Python "
              f"{machine.get('python')}, {machine.get('browser')} at {machine.get('viewport')}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
