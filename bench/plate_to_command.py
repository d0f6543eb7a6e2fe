"""Benchmark: ANPR plate event → barrier command published, against a bare MQTT round trip.

    python bench/plate_to_command.py                      # SQLite, 50 lanes, 1/50/200 events/s, 30 s each
    python bench/plate_to_command.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/plate_to_command.py --workers 2 --database-url …   # two bridges, shared subscriptions
    python bench/plate_to_command.py --quick               # 50 and 200 events/s, 5 s each

Starts its own Mosquitto on a free port (set_tcp_nodelay, as deploy/mosquitto), a demo estate
with 50 extra vehicle lanes (each a camera and a barrier; half entry, half exit) and one
registered resident car per event, and the bridge as its own process (`gate bridge`, production
settings) — or two with `--workers 2`, splitting the device events through MQTT v5 shared
subscriptions. A load generator publishes plate events open-loop at a fixed rate, round robin
over the lanes; a second client timestamps each barrier command and answers it with the
barrier's ack, as a real barrier does (the bridge records the outcome). The floor is the same
open-loop load through the same broker with nothing in between (publish → receive), measured
in the same run just before each rate. "Added" is Gatehouse's percentile minus the floor's.

SPEC §6: p99 added ≤ 10 ms at 200 plate events/s over 50 lanes, SQLite and PostgreSQL.
A PostgreSQL database given here has its public schema dropped and recreated.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import benchlib
import paho.mqtt.client as mqtt
from sqlalchemy import insert, select

from device_adapters.topics import rfc3339
from gate.extensions import db
from gate.models import Resident, Vehicle
from gate.services import topology, transaction

PREFIX, SITE = "gatehouse", "demo"


def bench_lanes(count: int) -> str:
    """Site-file text adding `count` vehicle lanes (camera + barrier each) to the demo estate."""
    lines = ['[[posts]]', 'code = "bench"', 'name = "Benchmark post"', '',
             '[[posts.gates]]', 'code = "bench-car"', 'name = "Benchmark vehicle gate"',
             'kind = "vehicle"']
    for i in range(count):
        direction = "in" if i % 2 == 0 else "out"
        lines += ['', '[[posts.gates.lanes]]', f'code = "l{i:02d}"', f'direction = "{direction}"',
                  '', '[[posts.gates.lanes.devices]]', 'kind = "barrier"', f'id = "bar-{i:02d}"',
                  f'name = "Barrier {i}"', 'profile = "native"',
                  '', '[[posts.gates.lanes.devices]]', 'kind = "camera"', f'id = "cam-{i:02d}"',
                  f'name = "Camera {i}"', 'profile = "native"']
    return "\n".join(lines) + "\n"


def prepare(app, lanes: int, cars: int) -> list[str]:
    """Add the lanes and `cars` resident cars to the demo estate; return the plates."""
    with app.app_context():
        demo_text = (resources.files("gate") / topology.DEMO_FILE).read_text(encoding="utf-8")
        text = demo_text + "\n" + bench_lanes(lanes)
        with transaction():
            topology.apply_topology(topology.parse_site_text(text, source="bench"))
        resident = db.session.scalars(select(Resident).where(Resident.phone == "13800000001")).one()
        plates = [f"粤B{i:05d}" for i in range(cars)] if cars <= 100_000 else []
        db.session.execute(insert(Vehicle), [
            {"site_id": resident.unit.site_id, "resident_id": resident.id, "plate": p} for p in plates])
        db.session.commit()
        db.session.remove()
    return plates


def start_bridges(workers: int, url: str, tmp: str, port: int) -> list[subprocess.Popen]:
    """Start the bridge process(es) with production settings; they log to files in tmp."""
    env = dict(os.environ, GATE_DATABASE_URL=url, GATE_INSTANCE_PATH=tmp, GATE_ENV="production",
               GATE_SECRET_KEY=secrets.token_hex(32), GATE_MQTT_URL=f"mqtt://127.0.0.1:{port}",
               GATE_HA_DISCOVERY="false", GATE_SITE=SITE)
    procs = []
    for n in range(workers):
        args = [sys.executable, "-c", "from gate.cli import main; main()", "bridge",
                "--name", f"bench{n}"] + (["--shared"] if workers > 1 else [])
        log = open(Path(tmp) / f"bridge{n}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


class Load:
    """Open-loop publisher and timestamping receiver (which also acks commands, as a barrier)."""

    def __init__(self, port: int, lanes: int) -> None:
        """Connect the two clients."""
        self.lanes = lanes
        self.sent: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.latencies: list[float] = []
        self.online: set[str] = set()
        self.lock = threading.Lock()
        self.pub = self._client(port, None)
        self.sub = self._client(port, self._on_message)
        self.sub.subscribe([(f"{PREFIX}/{SITE}/barrier/+/command", 1), ("bench/echo/+", 1),
                            (f"{PREFIX}/bridge/+/availability", 1)])

    @staticmethod
    def _client(port: int, on_message) -> mqtt.Client:
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"bench-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        if on_message:
            client.on_message = on_message
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", port)
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        return client

    def _on_message(self, client, userdata, msg) -> None:
        now = time.perf_counter()
        parts = msg.topic.split("/")
        if parts[-1] == "availability":
            if msg.payload == b"online":
                self.online.add(parts[-2])
            return
        key = parts[-1] if parts[0] == "bench" else parts[-2]
        with self.lock:
            queue = self.sent.get(key)
            if queue:
                self.latencies.append((now - queue.popleft()) * 1000)
        if parts[-1] == "command":
            ack = {"id": json.loads(msg.payload)["id"], "result": "done", "state": "open",
                   "at": rfc3339()}
            client.publish(f"{PREFIX}/{SITE}/barrier/{parts[-2]}/ack", json.dumps(ack), qos=1)

    def run(self, rate: float, seconds: float, topic_payload) -> dict:
        """Publish rate×seconds messages on schedule; wait for the answers; summarise."""
        self.latencies = []
        self.sent.clear()
        total = max(1, int(rate * seconds))
        started = time.perf_counter()
        for i in range(total):
            due = started + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            topic, payload, key = topic_payload(i)
            with self.lock:
                self.sent[key].append(time.perf_counter())
            self.pub.publish(topic, payload, qos=1)
        sent_for = time.perf_counter() - started
        deadline = time.monotonic() + 15
        while len(self.latencies) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        done = time.perf_counter() - started
        result = benchlib.summary(self.latencies)
        result.update(sent=total, received=len(self.latencies), lost=total - len(self.latencies),
                      throughput=len(self.latencies) / done, send_seconds=sent_for)
        return result

    def close(self) -> None:
        """Disconnect both clients."""
        for client in (self.pub, self.sub):
            client.disconnect()
            client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    """Run the floor and the plate path at each rate; print the table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=50)
    parser.add_argument("--rates", default="1,50,200", help="events per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="per rate, plate events")
    parser.add_argument("--floor-seconds", type=float, default=10.0, help="per rate, bare round trip")
    parser.add_argument("--workers", type=int, default=1, help="bridge processes (shared subscriptions)")
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--quick", action="store_true", help="50 and 200/s, 5 s each (make bench)")
    parser.add_argument("--json", help="result file (default bench/results/plate_to_command-….json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.seconds, args.floor_seconds = "50,200", 5.0, 3.0
    rates = [float(r) for r in args.rates.split(",")]
    cars = sum(int(r * args.seconds) + 1 for r in rates)
    rows, results = [], []
    with benchlib.tempdir() as tmp, benchlib.mosquitto(Path(tmp)) as port:
        url = benchlib.database_url(args.database_url, tmp)
        if url.startswith("postgresql"):
            benchlib.ensure_pg_database(url)
        app = benchlib.fresh_app(url, tmp)
        plates = prepare(app, args.lanes, cars)
        dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        load = Load(port, args.lanes)
        bridges = start_bridges(args.workers, url, tmp, port)
        try:
            deadline = time.monotonic() + 60
            while len(load.online) < args.workers and time.monotonic() < deadline:
                time.sleep(0.1)
            if len(load.online) < args.workers:
                raise SystemExit(f"the bridge did not come online; see {tmp}/bridge0.log")
            next_plate = 0
            for rate in rates:
                floor = load.run(rate, args.floor_seconds, lambda i: (
                    f"bench/echo/{i % args.lanes}", b"x" * 150, str(i % args.lanes)))
                base = next_plate
                rss = benchlib.PeakRss([p.pid for p in bridges])

                def plate_event(i: int, base: int = base):
                    lane = i % args.lanes
                    body = {"event_id": uuid.uuid4().hex, "plate": plates[base + i],
                            "confidence": 0.97, "direction": "in" if lane % 2 == 0 else "out",
                            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                    return (f"{PREFIX}/{SITE}/camera/cam-{lane:02d}/plate",
                            json.dumps(body, ensure_ascii=False).encode(), f"bar-{lane:02d}")

                gated = load.run(rate, args.seconds, plate_event)
                peak = rss.stop()
                next_plate += int(rate * args.seconds) + 1
                added = {p: gated.get(p, 0) - floor.get(p, 0) for p in ("p50", "p95", "p99")}
                results.append({"rate": rate, "floor": floor, "plate": gated, "added": added,
                                "bridge_peak_rss_mib": peak})
                rows.append([dialect, args.workers, f"{rate:g}", f"{floor['p50']:.2f} / {floor['p99']:.2f}",
                             f"{gated.get('p50', 0):.2f} / {gated.get('p95', 0):.2f} / "
                             f"{gated.get('p99', 0):.2f} / {gated.get('max', 0):.1f}",
                             f"{added['p50']:.2f} / {added['p99']:.2f}",
                             f"{gated.get('p99', 0) / max(floor['p99'], 1e-9):.1f}×",
                             f"{gated['throughput']:.1f}", gated["lost"], f"{peak:.0f}"])
                print(f"rate {rate:g}/s: floor p99 {floor['p99']:.2f} ms, plate p99 "
                      f"{gated.get('p99', 0):.2f} ms, lost {gated['lost']}", flush=True)
        finally:
            load.close()
            for proc in bridges:
                proc.terminate()
            for proc in bridges:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:  # still working off a backlog
                    proc.kill()
                    proc.wait(5)
    print()
    benchlib.print_table(["database", "bridges", "events/s", "floor p50 / p99 ms",
                          "plate→command p50 / p95 / p99 / max ms", "added p50 / p99 ms",
                          "p99 ÷ floor", "commands/s", "lost", "bridge peak RSS MiB"], rows)
    name = f"plate_to_command-{dialect.lower()}-{args.workers}w" + ("-quick" if args.quick else "")
    benchlib.write_result(name, results, args, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
