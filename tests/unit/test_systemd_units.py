"""The systemd units in deploy/systemd/ stay in step with the code they start."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from gate.commands import COMMANDS
from gate.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
VENV_BIN = "/opt/gatehouse/.venv/bin/"
# Read by deploy/gunicorn.conf.py, a unit or the app factory (the instance folder), not by
# gate.config's settings.
OUTSIDE_SETTINGS = {"GATE_BIND", "GATE_WORKERS", "GATE_THREADS", "GATE_ACCESS_LOG",
                    "GATE_CAMERA_SOURCE", "GATE_INSTANCE_PATH"}
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
             "PrivateTmp": "yes", "User": "gatehouse", "Restart": "on-failure"}


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def test_there_are_units_for_each_process_and_the_backup():
    """Protects the install guide's promise: one unit per long-running process, and the
    nightly backup with the timer that starts it."""
    assert [u.name for u in UNITS] == ["gatehouse-backup.service", "gatehouse-bridge.service",
                                       "gatehouse-camera.service", "gatehouse-web.service",
                                       "gatehouse-webhooks.service"]
    timer = _unit(ROOT / "deploy" / "systemd" / "gatehouse-backup.timer")
    assert timer["Timer"].get("OnCalendar") and timer["Timer"].get("Persistent") == "true"
    assert timer["Install"].get("WantedBy") == "timers.target"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_starts_a_real_command(path):
    """Protects against a unit that names a command, option or file the code no longer has."""
    service = _unit(path)["Service"]
    commands = {c.name: c for c in COMMANDS}
    for key in ("ExecStartPre", "ExecStart"):
        if key not in service:
            continue
        argv = shlex.split(service[key])
        assert argv[0].startswith(VENV_BIN), f"{path.name} {key}: {argv[0]}"
        program = argv[0].removeprefix(VENV_BIN)
        if program == "gunicorn":
            config = argv[argv.index("-c") + 1].replace("/opt/gatehouse/", "")
            assert (ROOT / config).is_file() and argv[-1] == "gate.wsgi:app"
        else:
            assert program == "gate"
            if argv[1] == "db":
                continue  # Flask-Migrate's group, added by the app
            command = commands[argv[1]]
            known = {opt for p in command.params for opt in getattr(p, "opts", [])}
            assert {a for a in argv[2:] if a.startswith("--")} <= known, f"{path.name}: {argv}"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_is_hardened(path):
    """Protects the production box: a dedicated user, a read-only system, no privilege gain,
    restart after a crash."""
    service = _unit(path)["Service"]
    for key, value in HARDENING.items():
        if key == "Restart" and service.get("Type") == "oneshot":
            continue  # the backup runs once a night; its timer starts it again, not a restart loop
        assert service.get(key) == value, f"{path.name}: {key}={service.get(key)}"
    assert service.get("EnvironmentFile") == "/etc/gatehouse/gatehouse.env"


def test_environment_example_names_only_real_settings():
    """Protects operators from a setting that does nothing: every GATE_* key in the example
    env file is read by the app or by the deploy files."""
    keys = [line.split("=", 1)[0] for line in
            (ROOT / "deploy" / "systemd" / "gatehouse.env.example").read_text("utf-8").splitlines()
            if line and not line.startswith("#")]
    assert keys and all(k.startswith("GATE_") for k in keys)
    assert set(keys) - set(SETTINGS) <= OUTSIDE_SETTINGS
    assert "GATE_SECRET_KEY" in keys and "GATE_DATABASE_URL" in keys
