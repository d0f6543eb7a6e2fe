"""/metrics on the web (database gauges, loopback or token only) and the bridge's own endpoint."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedBarrier, SimulatedCamera
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import BarrierCommandRecord, ShiftBookHead, User, Visit, Visitor
from tests.support.waiting import wait_for

TOKEN = "t" * 40


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample as (name, sorted labels) -> value; parsing fails on malformed output."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_web_metrics_match_the_database(app, client):
    """Protects the numbers' meaning: gauges are read from the shared database (right whichever
    gunicorn worker answers), in a format Prometheus parses."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = _samples(response.get_data(as_text=True))
    with app.app_context():
        head = db.session.scalar(select(ShiftBookHead.seq).where(ShiftBookHead.site == "demo"))
        admitted = db.session.scalar(select(func.count()).select_from(Visit).where(Visit.state == "admitted"))
    assert head and _value(samples, "gatehouse_shiftbook_entries") == head
    assert _value(samples, "gatehouse_visits", state="admitted") == admitted
    assert _value(samples, "gatehouse_site_configured") == 1


@pytest.mark.parametrize("environ, headers", [
    ({"REMOTE_ADDR": "192.0.2.7"}, {}),
    ({"REMOTE_ADDR": "127.0.0.1"}, {"X-Forwarded-For": "198.51.100.4"}),
    ({"REMOTE_ADDR": "192.0.2.7"}, {"Authorization": "Bearer wrong"}),
], ids=["remote", "through-a-proxy", "remote-without-token"])
def test_web_metrics_refused_unless_local(client, environ, headers):
    """Protects the site's operational data: /metrics answers only this machine, and a proxy
    on loopback relaying an outside client does not count as this machine."""
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "metrics_forbidden"


def test_web_metrics_with_bearer_token(app_config):
    """Protects remote scraping: the configured bearer token opens /metrics from elsewhere."""
    from gate.app import create_app

    app = create_app(dict(app_config, GATE_METRICS_TOKEN=TOKEN))
    try:
        client = app.test_client()
        remote = {"REMOTE_ADDR": "192.0.2.7"}
        ok = client.get("/metrics", environ_base=remote, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "gatehouse_shiftbook_entries" in ok.get_data(as_text=True)
        bad = client.get("/metrics", environ_base=remote, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert bad.status_code == 403
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def broker(fresh_mosquitto):
    """A broker of this test's own."""
    return fresh_mosquitto


@pytest.fixture
def metrics_port() -> int:
    """A free loopback port for the bridge's endpoint."""
    return _free_port()


@pytest.fixture
def app_config(app_config, request):
    """Bridge tests talk to their broker and serve the bridge's metrics on a free port."""
    if "broker" not in request.fixturenames:
        return app_config
    broker = request.getfixturevalue("broker")
    port = request.getfixturevalue("metrics_port")
    return dict(app_config, GATE_MQTT_URL=broker.url, GATE_COMMAND_TTL_SECONDS=1.0,
                GATE_METRICS_BIND=f"127.0.0.1:{port}")


def _scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return _samples(response.read().decode())


@pytest.mark.mqtt
def test_plate_event_moves_bridge_and_web_metrics(app, client, broker, metrics_port):
    """Protects monitoring of the main gate path: a resident's plate through a real Mosquitto
    and the bridge counts the event, the decision, the command's outcome and its latency, and
    the web's gauges show the command; no plate, name or phone appears in either output."""
    topics = Topics("gatehouse", "demo")
    barrier = SimulatedBarrier(broker.url, topics, "car-in", travel_seconds=0.05).start()
    camera = SimulatedCamera(broker.url, topics, "anpr-in").start()
    bridge = Bridge(app).start()
    try:
        wait_for(lambda: _value(_scrape(metrics_port), "gatehouse_bridge_device_online",
                                kind="barrier", device="car-in") == 1, what="barrier online")
        before = _scrape(metrics_port)
        camera.publish_plate("粤B12345", direction="in", confidence=0.96)
        wait_for(lambda: _value(_scrape(metrics_port), "gatehouse_bridge_barrier_command_outcomes_total",
                                device="car-in", outcome="done")
                 > _value(before, "gatehouse_bridge_barrier_command_outcomes_total",
                          device="car-in", outcome="done"), what="the outcome counted")
        after = _scrape(metrics_port)
        bridge_text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    finally:
        bridge.stop()
        camera.stop()
        barrier.stop()

    def moved(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("gatehouse_bridge_device_events_total", kind="camera", event="plate") == 1
    assert moved("gatehouse_bridge_plate_decisions_total", action="open", reason="resident") == 1
    assert moved("gatehouse_bridge_barrier_commands_sent_total", device="car-in") == 1
    assert moved("gatehouse_bridge_plate_to_command_seconds_count") == 1
    assert _value(after, "gatehouse_bridge_connected") == 1

    web = client.get("/metrics").get_data(as_text=True)
    samples = _samples(web)
    assert _value(samples, "gatehouse_barrier_commands_last_hour",
                  device="car-in", source="plate", outcome="done") >= 1
    with app.app_context():
        done = db.session.scalar(select(func.count()).select_from(BarrierCommandRecord)
                                 .where(BarrierCommandRecord.outcome == "done"))
        people = [u.display_name for u in db.session.scalars(select(User))]
        phones = [u.phone for u in db.session.scalars(select(User)) if u.phone]
        visitors = [v.name for v in db.session.scalars(select(Visitor)) if v.name]
    assert done >= 1
    personal = ["粤B12345", "B12345", *people, *phones, *visitors]
    for text in (web, bridge_text.decode()):
        leaked = [p for p in personal if p and p in text]
        assert leaked == [], f"personal data in /metrics: {leaked}"
