"""A web worker that stops for good inside a check-in's transaction, for the worker-death test.

Run as `python -m tests.support.stalling_web PORT MARKER` with the app's config as JSON in
FAULT_APP_CONFIG. It serves the app; the first check-in writes its visit row, then, before the
visit's shift-book entry, writes MARKER and waits until the test kills the process (SIGKILL).
The hook lives here, in the tests: the application has no test-only code path.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from gate.app import create_app
from gate.services import shiftbook


def main() -> None:
    """Serve the app with shiftbook.append stalling on `visit.started`."""
    port, marker = int(sys.argv[1]), Path(sys.argv[2])
    real_append = shiftbook.append

    def stalling_append(kind: str, *args, **kwargs):
        if kind == "visit.started":  # the visit is flushed in the open transaction; its entry not
            marker.write_text(kind, encoding="utf-8")
            threading.Event().wait()  # forever: the test kills this process here
        return real_append(kind, *args, **kwargs)

    shiftbook.append = stalling_append
    app = create_app(json.loads(os.environ["FAULT_APP_CONFIG"]))
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"serving on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
