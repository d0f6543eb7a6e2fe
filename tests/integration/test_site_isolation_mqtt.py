"""Over a real Mosquitto: demo's bridge does not act on north's devices sharing the broker."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from device_adapters.bridge import Bridge
from device_adapters.simulator import Simulation
from gate.extensions import db
from gate.models import BarrierCommandRecord, DeviceEvent, ShiftBookEntry
from tests.support import second_site
from tests.support.second_site import build_north
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt
DEMO_STRANGER = "粤A54321"


@pytest.fixture
def app_config(app_config, fresh_mosquitto):
    """The app and bridge talk to this test's own broker."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url)


def _counts(app) -> dict[str, int]:
    with app.app_context():
        try:
            return {
                "north_events": db.session.scalar(select(func.count()).select_from(DeviceEvent)
                                                  .where(DeviceEvent.site == second_site.SITE)),
                "north_commands": db.session.scalar(select(func.count()).select_from(BarrierCommandRecord)
                                                    .where(BarrierCommandRecord.site == second_site.SITE)),
                "north_book": db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                                .where(ShiftBookEntry.site == second_site.SITE)),
                "demo_stranger": db.session.scalar(select(func.count()).select_from(DeviceEvent).where(
                    DeviceEvent.site == "demo", DeviceEvent.kind == "plate")),
            }
        finally:
            db.session.remove()


def test_demo_bridge_ignores_north_camera(app, fresh_mosquitto):
    """Protects site isolation on MQTT: a plate of north's own resident car published on
    gatehouse/north/camera/... is not decided, recorded or answered with a barrier command by
    the bridge serving demo (a demo read published after it is decided, so the bridge was live)."""
    build_north(app)
    before = _counts(app)
    with Simulation(fresh_mosquitto.url, site="demo", barriers=("car-in",), cameras=("anpr-in",),
                    travel_seconds=0.05) as demo, \
            Simulation(fresh_mosquitto.url, site=second_site.SITE, barriers=("n-car-in",),
                       cameras=("n-anpr-in",), travel_seconds=0.05) as north:
        bridge = Bridge(app).start()
        try:
            north.cameras["n-anpr-in"].publish_plate(second_site.CAR_PLATE, confidence=0.97)
            demo.cameras["anpr-in"].publish_plate(DEMO_STRANGER, confidence=0.97)
            wait_for(lambda: _counts(app)["demo_stranger"] > before["demo_stranger"],
                     what="demo's own plate read decided")
        finally:
            bridge.stop()
        assert north.barriers["n-car-in"].state == "closed"
    after = _counts(app)
    assert {k: after[k] for k in ("north_events", "north_commands", "north_book")} == \
        {k: before[k] for k in ("north_events", "north_commands", "north_book")}
