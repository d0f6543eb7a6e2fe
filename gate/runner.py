"""Running the processes: the web app, and for the demo an embedded broker with simulated devices."""

from __future__ import annotations

import logging
import signal
import sys

import click
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import run_simple

from gate.extensions import db
from gate.models import Device, Site

log = logging.getLogger(__name__)


def serve_web(app: Flask, host: str | None, port: int | None) -> None:
    """Serve the app with Werkzeug's threaded server (demo and development)."""
    host = host or app.config["GATE_HOST"]
    port = port or app.config["GATE_PORT"]
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def _print_banner(app: Flask, host: str, port: int, broker_url: str | None) -> None:
    from gate.services import demo

    url = f"http://{host}:{port}"
    click.echo(f"\nGatehouse is running / 门岗系统已启动: {url}")
    click.echo(f"  kiosk (guards)   {url}/kiosk/")
    click.echo(f"  console / portal {url}/login")
    if broker_url:
        click.echo(f"  embedded MQTT broker {broker_url} with simulated devices")
    site = db.session.scalars(select(Site).where(Site.code == app.config["GATE_SITE"])).first()
    if site is not None and site.is_demo:
        click.echo("Demo logins (demo site only) / 演示账号（仅限演示小区）:")
        for role, (login, secret) in demo.LOGINS.items():
            click.echo(f"  {role:<11} {login:<12} {secret}")
    click.echo("Press Ctrl+C to stop.\n")


def run_all(app: Flask, host: str | None, port: int | None) -> None:
    """Web app plus, when GATE_MQTT_URL is unset, an embedded broker and simulated devices."""
    host = host or app.config["GATE_HOST"]
    port = port or app.config["GATE_PORT"]
    broker = simulation = None
    if not app.config.get("GATE_MQTT_URL"):
        from device_adapters.embedded_broker import EmbeddedBroker
        from device_adapters.simulator import Simulation

        broker = EmbeddedBroker()
        broker.start()
        devices = db.session.scalars(select(Device).join(Site, Site.id == Device.site_id)
                                     .where(Site.code == app.config["GATE_SITE"])).all()
        simulation = Simulation(
            broker.url, app.config["GATE_MQTT_PREFIX"], app.config["GATE_SITE"],
            barriers=[d.code for d in devices if d.kind == "barrier"],
            cameras=[d.code for d in devices if d.kind == "camera"],
            scanners=[d.code for d in devices if d.kind == "scanner"])
        simulation.start()
        app.config["GATE_MQTT_URL"] = broker.url
    _print_banner(app, host, port, broker.url if broker else None)
    # systemd and `kill` send SIGTERM: stop cleanly so devices see "offline", not a dead socket.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve_web(app, host, port)
    finally:
        if simulation is not None:
            simulation.stop()
        if broker is not None:
            broker.stop()
