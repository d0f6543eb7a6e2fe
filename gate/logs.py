"""Log lines that name the web request they belong to (X-Request-Id), and the log set-up."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import TextIO

from flask import Flask, Response, g, has_request_context, request

from gate import log_redaction

HEADER = "X-Request-Id"
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# What a proxy may hand us as an id (nginx's $request_id is 32 hex digits). Anything else —
# newlines that would forge log lines, kilobytes of text — is replaced by an id of our own.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id() -> str:
    """The current request's id, or '-' outside a request."""
    if has_request_context():
        return g.get("request_id") or "-"
    return "-"


class RequestIdFilter(logging.Filter):
    """Give every record a `request_id` attribute, so the format can always name it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the id (never drops a record)."""
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        return True


def _take_id() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex


def _give_id(response: Response) -> Response:
    response.headers[HEADER] = request_id()
    return response


def install(app: Flask) -> None:
    """Give every request an id (the proxy's if it is a short safe token), echoed in the response."""
    app.before_request_funcs.setdefault(None, []).insert(0, _take_id)  # first: others may log
    app.after_request(_give_id)


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler | None:
    """Log to stderr (journald under systemd) with request ids and secrets masked, unless set up already.

    Like logging.basicConfig: a process whose root logger has handlers (a test runner, an
    embedding program) keeps them. Returns the handler added, if any.
    """
    log_redaction.install()  # every record, whichever handler writes it (the runner's too)
    root = logging.getLogger()
    if root.handlers:
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(log_redaction.RedactingFilter())  # records made before install()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
