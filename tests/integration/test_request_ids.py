"""Every web request has an id: in the X-Request-Id response header and in its log lines."""

from __future__ import annotations

import io
import logging

import pytest

from gate import logs
from gate.services.auth import public


@pytest.fixture
def log_output(app):
    """The app's log format with request ids, written to a buffer (the production handler)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logging.Formatter(logs.FORMAT))
    logger = logging.getLogger("gate.test_view")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/_test/log")
    @public
    def _log_something():
        logger.info("view ran")
        return "ok"

    yield buffer
    logger.removeHandler(handler)


def _line(buffer: io.StringIO) -> str:
    lines = [line for line in buffer.getvalue().splitlines() if "view ran" in line]
    assert len(lines) == 1, buffer.getvalue()
    return lines[0]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_log_line_carries_the_response_id(client, log_output):
    """Protects tracing a complaint to its log lines: the id the response shows is in the
    line the view wrote, in the documented format."""
    response = client.get("/_test/log")
    rid = response.headers["X-Request-Id"]
    assert len(rid) == 32 and f" gate.test_view [{rid}] view ran" in _line(log_output)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_proxy_id_is_kept(client, log_output):
    """Protects following one request from nginx to the app: a safe incoming id is reused."""
    response = client.get("/_test/log", headers={"X-Request-Id": "0f3a9c5e2b7d4e6f8a1b2c3d4e5f6a7b"})
    assert response.headers["X-Request-Id"] == "0f3a9c5e2b7d4e6f8a1b2c3d4e5f6a7b"
    assert "[0f3a9c5e2b7d4e6f8a1b2c3d4e5f6a7b]" in _line(log_output)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("bad", ["abc\ninjected 127.0.0.1 forged line", "a" * 500, "", "id with spaces"],
                         ids=["newline", "500-chars", "empty", "spaces"])
def test_unsafe_incoming_id_is_replaced(client, log_output, bad):
    """Protects the log from forged lines and floods: an incoming id with newlines, spaces or
    hundreds of characters is replaced by a fresh one."""
    # Through the WSGI environ: the test client itself refuses to send a newline in a header.
    response = client.get("/_test/log", environ_base={"HTTP_X_REQUEST_ID": bad})
    rid = response.headers["X-Request-Id"]
    assert rid != bad and len(rid) == 32 and rid.isalnum()
    line = _line(log_output)
    assert f"[{rid}]" in line and "injected" not in log_output.getvalue() and "a" * 100 not in line


def test_outside_a_request_the_id_is_a_dash():
    """Protects log lines from the bridge and commands: the format still works, with '-'."""
    record = logging.LogRecord("gate.bridge", logging.INFO, __file__, 1, "tick", None, None)
    logs.RequestIdFilter().filter(record)
    assert logging.Formatter(logs.FORMAT).format(record).endswith("gate.bridge [-] tick")
