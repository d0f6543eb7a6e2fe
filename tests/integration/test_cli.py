"""The `gate` command: one clear sentence and a non-zero exit on every error, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GATE = [sys.executable, "-m", "gate.cli"]


def run_gate(*args: str, env: dict | None = None, input: str | None = None):
    """Run the real command line in a subprocess, as an operator would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    full_env.update(env or {})
    return subprocess.run([*GATE, *args], capture_output=True, text=True, env=full_env,
                          input=input, timeout=60)


@pytest.fixture
def gate_env(database_url, tmp_path, signing_key) -> dict:
    """Environment pointing the CLI at this test's demo database."""
    return {"GATE_DATABASE_URL": database_url, "GATE_INSTANCE_PATH": str(tmp_path / "inst"),
            "GATE_SIGNING_KEY_PATH": str(signing_key), "GATE_SITE": "demo"}


def assert_one_sentence_error(result, *needles: str) -> None:
    """Non-zero exit, no traceback, the message names the problem."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().startswith("error:"), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize("command", [
    [], ["db"], ["db", "upgrade"], ["demo"], ["user"], ["user", "add"], ["audit"],
    ["audit", "verify"], ["audit", "checkpoint"], ["web"], ["run"], ["bridge"], ["simulate"],
    ["site"], ["site", "apply"], ["camera"], ["purge"], ["person"], ["person", "export"],
    ["person", "erase"], ["person", "erase-resident"],
])
def test_every_command_has_help(tmp_path, command):
    """Protects operators: every command explains itself with --help."""
    result = run_gate(*command, "--help", env={"GATE_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_verify_ok_line(gate_env):
    """Protects the documented output of `gate audit verify` on an intact book."""
    result = run_gate("audit", "verify", env=gate_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK ") and " entries, head " in result.stdout
    # The console's integrity page and banner follow the last verification, wherever it ran.
    kept = json.loads((Path(gate_env["GATE_INSTANCE_PATH"]) / "chain-status-demo.json").read_text())
    assert kept["ok"] is True and kept["bad_seq"] is None and kept["count"] > 0


def test_upgrade_twice_is_harmless(gate_env):
    """Protects re-running setup: a second `gate db upgrade` changes nothing and succeeds."""
    for _ in range(2):
        result = run_gate("db", "upgrade", env=gate_env)
        assert result.returncode == 0, result.stderr


def test_demo_twice_is_idempotent(gate_env):
    """Protects `gate demo`: loading again reports it is there and adds nothing."""
    before = run_gate("audit", "verify", env=gate_env).stdout
    result = run_gate("demo", env=gate_env)
    assert result.returncode == 0 and "already" in result.stdout
    assert run_gate("audit", "verify", env=gate_env).stdout == before


def test_user_add_and_duplicate(gate_env):
    """Protects accounts: a duplicate username is refused in English and Chinese, exit 1."""
    args = ["user", "add", "--role", "guard", "--username", "guard2001", "--name", "赵保安",
            "--staff-no", "2001", "--pin", "246810"]
    result = run_gate(*args, env=gate_env)
    assert result.returncode == 0, result.stderr
    result = run_gate(*args, env=gate_env)
    assert_one_sentence_error(result, "already exists", "已有账号")


def test_user_add_bad_pin(gate_env):
    """Protects guard PINs: anything but 6 digits is refused before anything is stored."""
    result = run_gate("user", "add", "--role", "guard", "--username", "g3", "--name", "x",
                      "--staff-no", "3001", "--pin", "12ab", env=gate_env)
    assert_one_sentence_error(result, "6-digit")


@pytest.mark.parametrize("key, value, needle", [
    ("GATE_KIOSK_IDLE_MINUTES", "ten", "GATE_KIOSK_IDLE_MINUTES"),
    ("GATE_KIOSK_IDLE_MINUTES", "0", "GATE_KIOSK_IDLE_MINUTES"),
    ("GATE_MQTT_URL", "http://broker", "GATE_MQTT_URL"),
    ("GATE_DATABASE_URL", "gatehouse.db", "GATE_DATABASE_URL"),
    ("GATE_SITE", "Demo Estate", "GATE_SITE"),
    ("GATE_TIMEZONE", "Mars/Olympus", "GATE_TIMEZONE"),
])
def test_bad_config_names_the_key(tmp_path, key, value, needle):
    """Protects start-up: a malformed setting is named in one sentence, exit non-zero."""
    result = run_gate("audit", "verify", env={"GATE_INSTANCE_PATH": str(tmp_path), key: value})
    assert_one_sentence_error(result, needle)


def test_production_refuses_default_secret(tmp_path):
    """Protects production: the built-in development secret key is refused."""
    result = run_gate("audit", "verify", env={"GATE_INSTANCE_PATH": str(tmp_path),
                                              "GATE_ENV": "production"})
    assert_one_sentence_error(result, "GATE_SECRET_KEY")


def test_instance_file_is_read_and_checked(tmp_path):
    """Protects the instance config file: unknown settings are named, not ignored."""
    (tmp_path / "gate.cfg").write_text('GATE_SITE = "demo"\nGATE_SITEE = "typo"\n', "utf-8")
    result = run_gate("audit", "verify", env={"GATE_INSTANCE_PATH": str(tmp_path)})
    assert_one_sentence_error(result, "GATE_SITEE")


def test_database_down(tmp_path):
    """Protects start-up against a database that is not there: one sentence, exit 1."""
    result = run_gate("audit", "verify", env={
        "GATE_INSTANCE_PATH": str(tmp_path),
        "GATE_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nothing"})
    assert_one_sentence_error(result, "GATE_DATABASE_URL")


def test_database_not_migrated(tmp_path):
    """Protects first runs: an empty database says to run `gate db upgrade`."""
    result = run_gate("audit", "verify", env={
        "GATE_INSTANCE_PATH": str(tmp_path),
        "GATE_DATABASE_URL": f"sqlite:///{Path(tmp_path) / 'empty.db'}"})
    assert_one_sentence_error(result, "gate db upgrade")


def test_demo_refused_for_other_site(gate_env):
    """Protects real estates: demo logins cannot be loaded into a non-demo site."""
    result = run_gate("demo", env=dict(gate_env, GATE_SITE="riverside"))
    assert_one_sentence_error(result, "GATE_SITE=demo")


def test_site_apply_is_idempotent_and_reports_errors(gate_env, tmp_path):
    """Protects the site file command: the demo file applies cleanly twice; a broken file is one
    message naming the file and key, with exit 1."""
    demo_file = Path(__file__).resolve().parents[2] / "gate" / "data" / "demo-site.toml"
    for _ in range(2):
        result = run_gate("site", "apply", str(demo_file), env=gate_env)
        assert result.returncode == 0, result.stderr
    broken = tmp_path / "site.toml"
    broken.write_text(demo_file.read_text("utf-8").replace('profile = "native"',
                                                                 'profile = "nonsense"', 1), "utf-8")
    result = run_gate("site", "apply", str(broken), env=gate_env)
    assert_one_sentence_error(result, str(broken), "profile")


VISITOR_ID = "11010519491231002X"


def _old_device_event(ctx) -> None:
    from datetime import timedelta

    from gate.extensions import db
    from gate.models import DeviceEvent
    from gate.models.types import utcnow

    db.session.add(DeviceEvent(site="demo", device="cam-in", event_id="old", kind="plate",
                               summary={"plate": "粤B12345"}, received_at=utcnow() - timedelta(days=40)))
    db.session.commit()


def _visitor_id(ctx) -> int:
    from sqlalchemy import select

    from gate.extensions import db
    from gate.models import User
    from gate.services import visitors, visits

    guard = db.session.scalars(select(User).where(User.username == "guard1001")).one()
    visit = visits.start(guard, None, "1-1-101", visitors.check_identity("王五", "resident_id", VISITOR_ID),
                         purpose="送货")
    visitor_id = visit.visitor_id
    db.session.close()  # SQLite: a read begins a write-locking transaction; let the CLI in
    return visitor_id


def test_purge_dry_run_then_purge(ctx, gate_env):
    """Protects `gate purge`: --dry-run prints the count per kind and writes nothing (not even an
    entry); the real run prints the same counts, adds one entry, and the book still verifies."""
    _old_device_event(ctx)
    before = run_gate("audit", "verify", env=gate_env).stdout
    result = run_gate("purge", "--dry-run", env=gate_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Dry run")
    lines = dict(line.split() for line in result.stdout.splitlines()[1:])
    assert lines == {"auto_checked_out": "0", "visits": "0", "visitors": "0", "passes": "0",
                     "portal_notices": "0", "release_slips": "0", "parking_sessions": "0",
                     "device_events": "1", "journal_records": "0", "follow_ups": "0",
                     "watchlist_entries": "0", "violation_photos": "0", "approvals": "0",
                     "vehicle_list_entries": "0", "shifts": "0", "incidents": "0", "violations": "0",
                     "residents": "0", "resident_accounts": "0", "resident_vehicles": "0"}
    assert run_gate("audit", "verify", env=gate_env).stdout == before
    result = run_gate("purge", env=gate_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Purged") and dict(
        line.split() for line in result.stdout.splitlines()[1:])["device_events"] == "1"
    after = run_gate("audit", "verify", env=gate_env)
    assert after.returncode == 0 and after.stdout != before


def test_person_erase_asks_first(ctx, gate_env):
    """Protects against erasing by mistake: without --yes `gate person erase` asks, and "n" aborts
    with nothing changed; --yes erases."""
    from gate.extensions import db
    from gate.models import Visitor

    visitor_id = _visitor_id(ctx)
    result = run_gate("person", "erase", "--visitor-id", str(visitor_id), env=gate_env, input="n\n")
    assert result.returncode == 1 and "aborted" in result.stderr, result.stderr
    assert "110105********002X" in result.stdout and VISITOR_ID not in result.stdout
    assert db.session.get(Visitor, visitor_id).erased_at is None
    db.session.close()
    result = run_gate("person", "erase", "--visitor-id", str(visitor_id), "--yes", env=gate_env)
    assert result.returncode == 0, result.stderr
    assert db.session.get(Visitor, visitor_id).name == "[已清除]"
    db.session.close()
    result = run_gate("person", "erase", "--visitor-id", str(visitor_id), "--yes", env=gate_env)
    assert_one_sentence_error(result, "already erased")


def test_person_export_by_id_number(ctx, gate_env, tmp_path):
    """Protects `gate person export`: found by ID number (same HMAC key), JSON with the visits and the
    ID only masked; an unknown number is one sentence that does not repeat it."""
    import json

    visitor_id = _visitor_id(ctx)
    env = dict(gate_env, GATE_INSTANCE_PATH=str(tmp_path / "instance"))  # the app fixture's HMAC key
    result = run_gate("person", "export", "--id-number", VISITOR_ID, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["visitor"]["id"] == visitor_id and data["visits"][0]["purpose"] == "送货"
    assert VISITOR_ID not in result.stdout
    unknown = "110105198001010016"
    result = run_gate("person", "export", "--id-number", unknown, env=env)
    assert_one_sentence_error(result, "no visitor")
    assert unknown not in result.stderr
    result = run_gate("person", "export", env=env)
    assert_one_sentence_error(result, "--visitor-id")


def test_person_export_prompts_for_the_number(ctx, runner, tmp_path):
    """Protects shell history: `--id-number` without a value asks for the number (hidden) instead."""
    import json

    visitor_id = _visitor_id(ctx)
    out = tmp_path / "person.json"
    result = runner.invoke(args=["person", "export", "--id-number", "--output", str(out)],
                           input=VISITOR_ID + "\n")
    assert result.exit_code == 0, result.output
    assert VISITOR_ID not in result.output
    assert json.loads(out.read_text("utf-8"))["visitor"]["id"] == visitor_id
    assert oct(out.stat().st_mode & 0o777) == "0o600"
