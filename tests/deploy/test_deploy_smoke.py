"""Deploy smoke test: the shipped configurations run together as in production.

nginx with deploy/nginx/gatehouse.conf (TLS, a throw-away certificate) in front of gunicorn
with deploy/gunicorn.conf.py, and `gate bridge` (GATE_ENV=production, a site file) against the
machine's PostgreSQL, and Mosquitto with deploy/mosquitto/gatehouse.conf as shipped but for its
ports, certificate and paths (tests/support/acl_broker.py: TLS listener for the devices with a
throw-away CA, loopback listener for the app), each on a free port. A guard checks a visitor in
over HTTPS; the entry camera, logged in over TLS with its own device account, reports a
resident's car; the entry barrier is a Tasmota relay (profile "tasmota", over TLS with its own
account) that gets POWER1 ON and answers like Tasmota. Check-in, plate and the barrier's
outcome must land in the shift book, and every process must stop cleanly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import create_engine, text

from device_adapters.topics import rfc3339
from gate.domain.idcard import check_char
from tests.support.acl_broker import start_shipped_broker
from tests.support.http_session import Client, guard_on_shift
from tests.support.nginx_site import site_config, start_nginx
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_USER, CAMERA, BARRIER = "gatehouse-bridge", "anpr-in", "car-in"
RESIDENT_CAR = "粤B12345"
# The barrier's Tasmota Topic: its broker username too (deploy/mosquitto/gatehouse.acl).
TASMOTA_TOPIC = BARRIER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_url(templates, tmp_path) -> Iterator[str]:
    """A fresh demo database on the machine's PostgreSQL."""
    url, cleanup = templates.fresh("postgresql", tmp_path)
    yield url
    cleanup()


@pytest.fixture
def broker(tmp_path):
    """The shipped Mosquitto configuration; the accounts' passwords and the devices' CA file."""
    server, passwords, ca = start_shipped_broker(tmp_path / "mqtt", (BRIDGE_USER, CAMERA, BARRIER))
    yield server, passwords, ca
    server.stop()


def _site_file(folder: Path) -> Path:
    """The demo estate's site file with the entry barrier as a Tasmota relay."""
    native = 'id = "car-in"\nname = "入口道闸"\nprofile = "native"\n'
    text = (ROOT / "gate" / "data" / "demo-site.toml").read_text(encoding="utf-8")
    assert native in text, "the demo site's car-in entry changed: update this test"
    text = text.replace(native, 'id = "car-in"\nname = "入口道闸"\nprofile = "tasmota"\n'
                                f'[posts.gates.lanes.devices.options]\ntopic = "{TASMOTA_TOPIC}"\n')
    path = folder / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _tls_device(user: str, password: str, ca: Path, port: int, *,
                will: tuple[str, str] | None = None) -> mqtt.Client:
    """A device connected over TLS to the device listener with its own account."""
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=user)
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(ca))
    if will:
        client.will_set(*will, qos=1, retain=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _tasmota_relay(client: mqtt.Client, commands: list[bytes]) -> None:
    """Answer like a Tasmota with PulseTime: POWER1 ON, then OFF when the pulse ends."""
    def on_command(c, userdata, msg) -> None:
        commands.append(msg.payload)
        c.publish(f"stat/{TASMOTA_TOPIC}/POWER1", "ON", qos=1)
        c.publish(f"stat/{TASMOTA_TOPIC}/POWER1", "OFF", qos=1)

    client.message_callback_add(f"cmnd/{TASMOTA_TOPIC}/POWER1", on_command)
    client.subscribe(f"cmnd/{TASMOTA_TOPIC}/#", qos=1)
    client.publish(f"tele/{TASMOTA_TOPIC}/LWT", "Online", qos=1, retain=True)


def _env(pg_url: str, tmp_path: Path, mqtt_url: str, port: int, signing_key: Path) -> dict:
    return {**os.environ, "GATE_ENV": "production", "GATE_DATABASE_URL": pg_url,
            "GATE_SITE_FILE": str(_site_file(tmp_path)),
            "GATE_INSTANCE_PATH": str(tmp_path / "instance"), "GATE_SECRET_KEY": secrets.token_hex(32),
            "GATE_SIGNING_KEY_PATH": str(signing_key), "GATE_MQTT_URL": mqtt_url,
            "GATE_BIND": f"127.0.0.1:{port}", "GATE_HA_DISCOVERY": "false", "GATE_WORKERS": "2",
            "GATE_SITE": "demo", "GATE_TRUSTED_PROXIES": "1",
            # Event streams shorter than the default 25 s (gunicorn waits for streams in flight
            # before it exits) but longer than the 5 s the test gives the first frame.
            "GATE_EVENTS_STREAM_SECONDS": "8"}


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen, log: Path) -> int:
    """SIGTERM, as systemd stops a unit; the exit status, or a failure after 20 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{log.name}: did not stop within 20 s of SIGTERM:\n{log.read_text()[-3000:]}")


def _book(pg_url: str, kind: str) -> list[dict]:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT data FROM shift_book_entry WHERE site = 'demo' AND kind = :k"),
                                {"k": kind}).scalars().all()
        return [json.loads(r) if isinstance(r, str) else r for r in rows]
    finally:
        engine.dispose()


def _resident_id() -> str:
    first17 = "11010519800101" + f"{secrets.randbelow(1000):03d}"
    return first17 + check_char(first17)


def test_shipped_configs_check_in_and_open_for_a_car(pg_url, broker, tmp_path, signing_key):
    """Protects the install: with the shipped gunicorn, nginx and Mosquitto configs (devices over
    TLS with their own accounts), the bridge and a site file with a Tasmota barrier, a check-in
    over HTTPS and a plate over MQTT are both recorded in the shift book, the relay gets POWER1 ON
    and its answer is recorded as the command's outcome, and every service stops cleanly."""
    server, passwords, ca = broker
    port = _free_port()
    # The app on the loopback listener, as in gatehouse.env.example.
    mqtt_url = f"mqtt://{BRIDGE_USER}:{passwords[BRIDGE_USER]}@{server.host}:{server.port}"
    env = _env(pg_url, tmp_path, mqtt_url, port, signing_key)
    web_log, bridge_log, proxy_log = (tmp_path / "gunicorn.log", tmp_path / "bridge.log",
                                      tmp_path / "nginx.log")
    http_port, https_port = _free_port(), _free_port()
    (tmp_path / "nginx").mkdir()
    proxy = start_nginx(site_config(tmp_path / "nginx", http_port=http_port, https_port=https_port,
                                    upstream_port=port), proxy_log)
    web = _start([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                  "gate.wsgi:app"], env, web_log)
    bridge = _start([sys.executable, "-c", "from gate.cli import main; main()", "bridge"], env, bridge_log)
    commands: list[bytes] = []
    devices: list[mqtt.Client] = []
    try:
        # The barrier relay logs in over TLS with its own account and reads its own commands only.
        relay = _tls_device(BARRIER, passwords[BARRIER], ca, server.tls_port,
                            will=(f"tele/{TASMOTA_TOPIC}/LWT", "Offline"))
        devices.append(relay)
        _tasmota_relay(relay, commands)
        wait_for(lambda: _healthy(port), timeout=60, what=f"gunicorn to answer /healthz ({web_log})")
        wait_for(lambda: b"connected for site demo" in bridge_log.read_bytes(), timeout=60,
                 what="the bridge to connect")

        wait_for(lambda: _healthy(https_port, https=True), timeout=30,
                 what=f"nginx to proxy /healthz ({proxy_log})")
        _check_proxy(http_port, https_port)
        guard = guard_on_shift(https_port, https=True)
        _check_event_stream(guard)
        form = guard.token("/kiosk/visitors/new")
        name = f"冒烟{uuid.uuid4().hex[:4]}"
        status, location, body = guard.request("POST", "/kiosk/visitors/new", {
            "csrf_token": form, "action": "start", "id_type": "resident_id", "purpose": "探亲",
            "plate": "", "card_event": "", "unit": "1-1-101", "id_number": _resident_id(),
            "name": name, "phone": "13900000000"})
        assert status == 302 and "/kiosk/visitors/" in location, f"check-in: {status} {body[:500]}"
        assert any(e.get("visit_id") for e in _book(pg_url, "visit.started"))

        camera = _tls_device(CAMERA, passwords[CAMERA], ca, server.tls_port)
        devices.append(camera)
        camera.publish(f"gatehouse/demo/camera/{CAMERA}/plate", json.dumps({
            "event_id": uuid.uuid4().hex, "plate": RESIDENT_CAR, "confidence": 0.97,
            "direction": "in", "at": rfc3339()}, ensure_ascii=False), qos=1).wait_for_publish(10)
        wait_for(lambda: commands, timeout=20, what=f"POWER1 on cmnd/{TASMOTA_TOPIC} ({bridge_log})")
        assert commands == [b"ON"]
        reads = wait_for(lambda: _book(pg_url, "vehicle.read"), what="the vehicle.read entry")
        assert reads[-1]["decision"] == "open" and reads[-1]["reason"] == "resident"
        outcomes = wait_for(lambda: _book(pg_url, "barrier.outcome"), what="the barrier's outcome")
        assert [(o["device"], o["outcome"]) for o in outcomes] == [(BARRIER, "done")], outcomes
    finally:
        for client in devices:
            client.loop_stop()
            client.disconnect()
        proxy_status = _stop(proxy, proxy_log)
        web_status = _stop(web, web_log)
        bridge_status = _stop(bridge, bridge_log)
    assert proxy_status == 0, proxy_log.read_text()[-3000:]
    assert web_status == 0, web_log.read_text()[-3000:]
    assert bridge_status == 0, bridge_log.read_text()[-3000:]


def _healthy(port: int, *, https: bool = False) -> bool:
    try:
        conn = Client(port, https=https).connect()
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def _check_proxy(http_port: int, https_port: int) -> None:
    """Plain HTTP is sent to HTTPS; static files come from nginx with a cache lifetime."""
    status, location, _ = Client(http_port).request("GET", "/kiosk/")
    assert status == 301 and location.startswith("https://"), (status, location)
    conn = Client(https_port, https=True).connect()
    conn.request("GET", "/static/gate.css")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200 and "max-age" in (response.getheader("Cache-Control") or "")


def _check_event_stream(guard: Client) -> None:
    """The kiosk's live events pass nginx unbuffered (the app's X-Accel-Buffering: no, the
    site's proxy_buffering off): the first frame arrives while the 8 s stream is still open;
    a buffering proxy would hold it until the stream ends."""
    conn = guard.connect()
    conn.timeout = 5
    conn.request("GET", "/events/kiosk", headers={
        "Accept": "text/event-stream", "X-Gate-Background": "1",
        "Cookie": guard.cookie_header()})
    response = conn.getresponse()
    assert response.status == 200, response.status
    first = response.read1(200)  # what has arrived so far (chunked encoding undone)
    conn.close()
    assert first.startswith(b"retry:"), first
