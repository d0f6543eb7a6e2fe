"""deploy/gate.sh: `gate` with the services' env file, as the service user."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wrapper_runs_gate_with_the_env_file(tmp_path):
    """Protects the install guide's commands: `gate …` through the wrapper reads the settings
    of the env file (here: an SQLite database it then migrates), not the caller's environment."""
    db = tmp_path / "gate.db"
    env_file = tmp_path / "gatehouse.env"
    env_file.write_text(f"# as in gatehouse.env.example\nGATE_DATABASE_URL=sqlite:///{db}\n"
                        f"GATE_INSTANCE_PATH={tmp_path}\nGATE_LOGIN_RATE_LIMIT=\"30 per minute\"\n",
                        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(GATEHOUSE_USER=getpass.getuser(), GATEHOUSE_HOME=str(ROOT), GATEHOUSE_ENV_FILE=str(env_file))
    result = subprocess.run(["bash", str(ROOT / "deploy" / "gate.sh"), "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert db.stat().st_size > 0


def test_wrapper_refuses_a_missing_env_file(tmp_path):
    """Protects against running against the wrong database: no env file, no command."""
    env = {**os.environ, "GATEHOUSE_USER": getpass.getuser(), "GATEHOUSE_HOME": str(ROOT),
           "GATEHOUSE_ENV_FILE": str(tmp_path / "missing.env")}
    result = subprocess.run(["bash", str(ROOT / "deploy" / "gate.sh"), "audit", "verify"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot read" in result.stderr
