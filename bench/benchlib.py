"""What every benchmark script shares: a fresh database, a private broker, percentiles, the
machine description, the printed table and the JSON result file.

Scripts in bench/ run as `python bench/NAME.py`; this module sits beside them, so `import
benchlib` works, and it puts the repository root on sys.path for the `gate` packages.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max and the count of a list of milliseconds."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "max": max(values)}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as a Markdown table (pasteable into docs/PERFORMANCE.md)."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")


def write_result(name: str, results: Any, args: Any = None, path: str | None = None) -> Path:
    """Write the run's results, arguments and machine to bench/results/NAME.json (or `path`)."""
    target = Path(path) if path else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "machine": machine(),
           "args": vars(args) if args is not None and hasattr(args, "__dict__") else args,
           "results": results}
    target.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    print(f"results written to {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return target


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            threading.Event().wait(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    """A private Mosquitto on a free port, configured like deploy/mosquitto (TCP_NODELAY)."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    # set_tcp_nodelay as in deploy/mosquitto/gatehouse.conf: without it the broker holds a small
    # PUBLISH behind the client's delayed ACK (~40 ms per hop on Linux).
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                    "set_tcp_nodelay true\nmax_queued_messages 100000\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def database_url(given: str | None, tmp: str | Path) -> str:
    """The URL given, or a new SQLite file in `tmp`."""
    return given or f"sqlite:///{Path(tmp) / 'bench.db'}"


def fresh_app(url: str, tmp: str | Path, *, demo: bool = True, **config: Any):
    """An app on a new schema (a PostgreSQL database's public schema is dropped first), migrated
    and, unless demo=False, loaded with the demo estate."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from gate.app import create_app
    from gate.extensions import db
    from gate.services import demo as demo_data

    app = create_app({"GATE_DATABASE_URL": url, "GATE_INSTANCE_PATH": str(tmp),
                      "GATE_ENV": "testing", "GATE_HA_DISCOVERY": False, **config})
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        if demo:
            demo_data.load()
        db.session.remove()
    return app


def ensure_pg_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist (trust auth)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


class PeakRss:
    """Samples the resident set size of some processes (and their children) every 50 ms."""

    def __init__(self, pids: Sequence[int], every: float = 0.05) -> None:
        """Start sampling at once; read .peak_mib after stop()."""
        import psutil

        self._procs = [psutil.Process(p) for p in pids]
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for proc in self._procs:
                with contextlib.suppress(psutil.Error):
                    total = max(total, proc.memory_info().rss)
            self.peak_mib = max(self.peak_mib, total / 2**20)
            self._stop.wait(self._every)

    def stop(self) -> float:
        """Stop sampling and return the peak in MiB (largest single process)."""
        self._stop.set()
        self._thread.join(2)
        return self.peak_mib


def tempdir() -> tempfile.TemporaryDirectory:
    """A temporary folder for one run's database, broker config and logs."""
    return tempfile.TemporaryDirectory(prefix="gate-bench-")
