"""Benchmark: ANPR plate event → barrier command published, against a bare MQTT round trip.

    python bench/plate_to_command.py --events 500 --rate 50
    python bench/plate_to_command.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Starts its own Mosquitto on a free port, a demo database (SQLite in a temp folder unless a URL
is given; a PostgreSQL database given here has its public schema replaced), and the bridge.
For each event a different resident's car (registered at start) is published on the entry
camera's topic, and the time until the barrier command arrives on the command topic is
measured; the baseline is the same publish → receive through the same broker with nothing in
between. SPEC §6 target: p99 added ≤ 10 ms at 200 events/s over 50 lanes (this script
measures one lane; the full target is measured in the benchmarks issue).
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import select, text

from device_adapters.bridge import Bridge
from device_adapters.topics import rfc3339
from gate.app import create_app
from gate.extensions import db
from gate.models import Resident, Vehicle
from gate.services import demo


def resident_cars(count: int) -> list[str]:
    """One registered resident car per event: a plate read again within the debounce window is
    a repeat and decides nothing, so each event must be a different car arriving."""
    resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
    plates = [f"粤B{10000 + i:05d}" for i in range(count)]
    db.session.add_all(Vehicle(site_id=resident.unit.site_id, resident_id=resident.id, plate=p)
                       for p in plates)
    db.session.commit()
    return plates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    # set_tcp_nodelay as in deploy/mosquitto/gatehouse.conf: without it the broker holds a small
    # PUBLISH behind the client's delayed ACK (~40 ms per hop on Linux).
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nset_tcp_nodelay true\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            threading.Event().wait(0.05)
    raise RuntimeError("mosquitto did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(client: mqtt.Client, arrivals: queue.Queue, send_topic: str, n: int, rate: float,
            payload_for) -> list[float]:
    """Publish n messages at `rate`/s and time each until its match arrives."""
    times = []
    gap = 1.0 / rate
    for i in range(n):
        started = time.perf_counter()
        client.publish(send_topic, payload_for(i), qos=1)
        arrivals.get(timeout=10)
        times.append((time.perf_counter() - started) * 1000)
        rest = gap - (time.perf_counter() - started)
        if rest > 0:
            threading.Event().wait(rest)
    return times


def main() -> None:
    """Run both measurements and print p50/p99."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_mosquitto(Path(tmp))
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"GATE_DATABASE_URL": url, "GATE_INSTANCE_PATH": tmp, "GATE_ENV": "testing",
                          "GATE_MQTT_URL": f"mqtt://127.0.0.1:{port}", "GATE_HA_DISCOVERY": False})
        try:
            with app.app_context():
                from flask_migrate import upgrade

                if url.startswith("postgresql"):
                    db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                    db.session.commit()
                upgrade()
                demo.load()
                plates = resident_cars(args.events)
                db.session.remove()
            bridge = Bridge(app).start()
            arrivals: queue.Queue = queue.Queue()
            client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                 protocol=mqtt.MQTTv5)
            client.on_message = lambda c, u, m: arrivals.put(m.topic)
            client.connect("127.0.0.1", port)
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.loop_start()
            client.subscribe([("gatehouse/demo/barrier/car-in/command", 1), ("bench/echo", 1)])
            threading.Event().wait(0.5)
            baseline = measure(client, arrivals, "bench/echo", args.events, args.rate, lambda i: b"x")
            plate = lambda i: json.dumps({  # noqa: E731
                "event_id": uuid.uuid4().hex, "plate": plates[i], "confidence": 0.97,
                "direction": "in", "at": rfc3339()})
            gated = measure(client, arrivals, "gatehouse/demo/camera/anpr-in/plate", args.events,
                            args.rate, plate)
            client.disconnect()
            client.loop_stop()
            bridge.stop()
            with app.app_context():
                dialect = db.engine.dialect.name
            for name, values in (("bare MQTT round trip", baseline), ("plate → command", gated)):
                print(f"{name:>22}: p50 {statistics.median(values):6.2f} ms   "
                      f"p99 {percentile(values, 99):6.2f} ms   ({len(values)} at {args.rate:g}/s)")
            added_p50 = statistics.median(gated) - statistics.median(baseline)
            added_p99 = percentile(gated, 99) - percentile(baseline, 99)
            print(f"{'added by Gatehouse':>22}: p50 {added_p50:6.2f} ms   "
                  f"p99 {added_p99:6.2f} ms   ({dialect})")
        finally:
            broker.terminate()
            broker.wait(10)


if __name__ == "__main__":
    main()
