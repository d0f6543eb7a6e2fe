"""Running the processes: the web app, and for the demo an embedded broker with simulated devices."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import run_simple

from gate.commands_webhooks import start_thread
from gate.extensions import db
from gate.log_redaction import hide_password
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
        click.echo(f"  embedded MQTT broker {hide_password(broker_url)} with simulated devices")
    site = db.session.scalars(select(Site).where(Site.code == app.config["GATE_SITE"])).first()
    if site is not None and site.is_demo:
        click.echo("Demo logins (demo site only) / 演示账号（仅限演示小区）:")
        for role, (login, secret) in demo.LOGINS.items():
            click.echo(f"  {role:<11} {login:<12} {secret}")
    click.echo("Press Ctrl+C to stop.\n")


def _simulation(app: Flask, url: str, fail_modes: dict[str, str] | None = None):
    """Simulators for the site's native devices (vendor devices need their real hardware)."""
    from device_adapters.simulator import Simulation

    devices = db.session.scalars(select(Device).join(Site, Site.id == Device.site_id)
                                 .where(Site.code == app.config["GATE_SITE"],
                                        Device.profile == "native")).all()
    db.session.remove()
    return Simulation(url, app.config["GATE_MQTT_PREFIX"], app.config["GATE_SITE"],
                      barriers=[d.code for d in devices if d.kind == "barrier"],
                      cameras=[d.code for d in devices if d.kind == "camera"],
                      scanners=[d.code for d in devices if d.kind == "scanner"],
                      idreaders=[d.code for d in devices if d.kind == "idreader"],
                      fail_modes=fail_modes)


def until_stopped() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def apply_site_file(app: Flask, path: str | None = None):
    """Validate a site file (default GATE_SITE_FILE) and bring the database in line; None if none.

    Called before devices connect by `gate run` and `gate bridge`, and by `gate site apply`.
    """
    path = path or app.config.get("GATE_SITE_FILE")
    if not path:
        return None
    from gate.domain.topology import TopologyError
    from gate.services import transaction
    from gate.services.topology import apply_topology, load_site_file

    try:
        topo = load_site_file(path, prefix=app.config["GATE_MQTT_PREFIX"])
    except (TopologyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if topo.code != app.config["GATE_SITE"]:
        raise click.ClickException(f"{path} describes site {topo.code!r} but GATE_SITE is "
                                   f"{app.config['GATE_SITE']!r}")
    with transaction():
        result = apply_topology(topo)
    db.session.remove()
    return result


def run_bridge(app: Flask, name: str | None, shared: bool | None) -> None:
    """Run the bridge until SIGINT/SIGTERM, then say `stopped` and disconnect."""
    from device_adapters.bridge import Bridge

    apply_site_file(app)
    # The network thread must get the interpreter quickly to send a barrier command while the
    # worker thread is deciding on the next car; Python's default hand-over interval (5 ms)
    # showed up as several ms on every command under load.
    sys.setswitchinterval(0.0005)
    bridge = Bridge(app, name=name, shared=shared).start()
    click.echo(f"Bridge {bridge.name} connected for site {bridge.site}; Ctrl+C to stop.")
    try:
        until_stopped()
    finally:
        bridge.stop()


def run_simulation(app: Flask, fail_modes: dict[str, str], plates: list[str], every: float,
                   repeats: int = 1, confidence: float = 0.95) -> None:
    """Run simulated devices against GATE_MQTT_URL until stopped; the entry camera reads `plates`."""
    url = app.config.get("GATE_MQTT_URL")
    if not url:
        raise click.ClickException("GATE_MQTT_URL is not set; `gate run` simulates with its own broker")
    simulation = _simulation(app, url, fail_modes).start()
    click.echo(f"Simulating {len(simulation.devices)} devices on {hide_password(url)}; Ctrl+C to stop.")
    stop = threading.Event()

    def read_plates() -> None:
        cameras = list(simulation.cameras.values())
        i = 0
        while plates and cameras and not stop.wait(every):
            for _ in range(repeats):  # each read is its own event, as a camera reports them
                cameras[0].publish_plate(plates[i % len(plates)], confidence=confidence)
            i += 1

    reader = threading.Thread(target=read_plates, daemon=True)
    reader.start()
    try:
        until_stopped()
    finally:
        stop.set()
        simulation.stop()


def run_all(app: Flask, host: str | None, port: int | None) -> None:
    """Web app and bridge; when GATE_MQTT_URL is unset, also an embedded broker and simulated devices."""
    from device_adapters.bridge import Bridge

    host = host or app.config["GATE_HOST"]
    port = port or app.config["GATE_PORT"]
    apply_site_file(app)
    broker = simulation = None
    if not app.config.get("GATE_MQTT_URL"):
        from device_adapters.embedded_broker import EmbeddedBroker

        broker = EmbeddedBroker()
        broker.start()
        app.config["GATE_MQTT_URL"] = broker.url
        app.config["GATE_MQTT_PROTOCOL"] = "3.1.1"  # the embedded broker's dialect
        simulation = _simulation(app, broker.url).start()
    bridge = Bridge(app).start()
    webhooks_stop = start_thread(app)  # webhook delivery beside the bridge
    _print_banner(app, host, port, broker.url if broker else None)
    # End this thread's transaction: on SQLite an open one holds the write lock for everyone.
    db.session.remove()
    # systemd and `kill` send SIGTERM: stop cleanly so devices see "offline", not a dead socket.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve_web(app, host, port)
    finally:
        webhooks_stop.set()
        bridge.stop()
        if simulation is not None:
            simulation.stop()
        if broker is not None:
            broker.stop()
