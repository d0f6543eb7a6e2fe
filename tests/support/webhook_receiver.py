"""A real HTTP webhook receiver for tests: records every POST, can be told to fail or stall."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (0: it stalled past the sender's timeout)

    @property
    def event(self) -> dict:
        """The JSON body."""
        return json.loads(self.body)


class WebhookReceiver:
    """Listens on a free port of 127.0.0.1 in a thread.

    `script` holds the answers for the next calls: an int status, "stall" (sleep past the
    sender's timeout, then answer 200 to nobody), or "hold" (wait until `release()` — lets a
    test act while a delivery is in flight). When empty, calls get `default`.
    """

    def __init__(self, default: int = 200, stall_seconds: float = 2.0):
        self.default = default
        self.stall_seconds = stall_seconds
        self.requests: list[Received] = []
        self.script: deque = deque()
        self.arrived = threading.Event()  # set when a "hold" call has arrived
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    action = receiver.script.popleft() if receiver.script else receiver.default
                status = action if isinstance(action, int) else 0
                if action == "hold":
                    receiver.arrived.set()
                    receiver._release.wait(10)
                    status = 200
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body, status))
                if action == "stall":
                    receiver._release.wait(receiver.stall_seconds)
                    status = 200
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", receiver.url + "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up (timeout)
                    pass

            def do_GET(self):  # noqa: N802  (only a followed redirect would GET)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), b"", 200))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The URL to subscribe."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, *actions) -> None:
        """Queue the answers for the next calls (statuses, "stall" or "hold")."""
        with self._lock:
            self.script.extend(actions)

    def release(self) -> None:
        """Let a held (or stalled) call answer."""
        self._release.set()

    def events(self, ok_only: bool = True) -> list[dict]:
        """The JSON bodies received, in arrival order (by default only those answered 2xx)."""
        with self._lock:
            return [r.event for r in self.requests if not ok_only or 200 <= r.status < 300]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
