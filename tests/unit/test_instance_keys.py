"""Per-purpose keys kept in the instance folder (gate.services.keys.instance_secret)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from flask import Flask

from gate.services.keys import instance_secret


@pytest.fixture
def bare_app(tmp_path):
    """A Flask app with only an instance folder: the keys need nothing else."""
    app = Flask("keys-test", instance_path=str(tmp_path / "instance"))
    with app.app_context():
        yield app


def test_key_made_once_private_and_reused(bare_app):
    """Protects signed passes and ID hashes across restarts: the key is made once, 0600, kept."""
    first = instance_secret("GATE_TEST_KEY", "test.key")
    path = bare_app.instance_path + "/test.key"
    assert len(first) == 64 and instance_secret("GATE_TEST_KEY", "test.key") == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in Path(bare_app.instance_path).iterdir()) == ["test.key"]


def test_workers_starting_together_share_one_whole_key(bare_app):
    """Protects against gunicorn workers racing to make the key: every one gets the same,
    complete key (before, a worker could read the file between its creation and its write
    and hash with an empty key)."""
    results, barrier = [], threading.Barrier(8)

    def worker() -> None:
        with bare_app.app_context():
            barrier.wait()
            results.append(instance_secret("GATE_TEST_KEY", "race.key"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1 and len(results[0]) == 64


def test_empty_key_file_is_refused_not_used(bare_app, tmp_path):
    """Protects ID hashes and pass signatures from an empty key: an emptied file stops with a
    message naming the file and the setting, instead of signing with nothing."""
    (tmp_path / "instance").mkdir(exist_ok=True)
    (tmp_path / "instance" / "empty.key").write_text("")
    with pytest.raises(RuntimeError, match="empty.key is empty.*GATE_TEST_KEY"):
        instance_secret("GATE_TEST_KEY", "empty.key")


def test_configured_key_wins(bare_app):
    """Protects deployments that set the key in the environment: no file is made."""
    bare_app.config["GATE_TEST_KEY"] = "from-environment"
    assert instance_secret("GATE_TEST_KEY", "unused.key") == b"from-environment"
    assert not (Path(bare_app.instance_path) / "unused.key").exists()
