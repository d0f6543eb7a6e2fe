"""One request-level guard: a NUL character or bytes that are not UTF-8 in the path, the query
string or a form field are refused with 400 before any view or filter reads them.

Werkzeug decodes undecodable bytes to U+FFFD silently and passes NUL through; PostgreSQL
cannot store NUL in text (an exception, a 500) and a search for "\ufffd" is never what was
meant. Checking once here keeps every route, present and future, from having to.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _

from kiosk_ui import wants_json
from kiosk_ui.api.registry import route_error

REPLACEMENT = "\ufffd"  # what werkzeug puts where bytes were not UTF-8


def _bad_bytes(raw: bytes) -> bool:
    """True if percent-decoded `raw` holds NUL or is not valid UTF-8."""
    data = unquote_to_bytes(raw)
    if b"\x00" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _bad_text(value: str) -> bool:
    return "\x00" in value or REPLACEMENT in value


def hostile_input() -> bool:
    """Whether this request's path, query string or form fields hold NUL or undecodable bytes."""
    if _bad_text(request.path) or _bad_bytes(request.query_string):
        return True
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        # Uploaded files are not looked at (a CSV import checks its own encoding).
        return any(_bad_text(key) or _bad_text(value) for key, value in request.form.items(multi=True))
    return False


def refuse() -> Response | tuple[Response, int] | tuple[str, int] | None:
    """The before-request hook: 400 in the caller's language of errors, or None to go on."""
    if not hostile_input():
        return None
    if request.path.startswith("/api/"):
        return route_error(400)  # the API's JSON error with its code
    message = _("The request contains characters that cannot be used. Go back and type it again.")
    if wants_json():
        return jsonify(error={"code": "invalid_request", "message": message}), 400
    return render_template("error.html", status=400, message=message), 400


def install(app: Flask) -> None:
    """Run the guard first, before every other before-request hook (CSRF, sessions, views)."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse)
