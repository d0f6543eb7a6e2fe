"""XSS payloads in every free-text field (tests/support/hostile_fields.py) come back escaped on
every page that shows them: kiosk, portal, console, desk, and the CSV export."""

from __future__ import annotations

import pytest
from markupsafe import escape

from tests.support.hostile_fields import FIELDS, PAYLOADS, signed_in


def assert_escaped(html: str, payload: str, where: str) -> None:
    """`payload` never appears raw where it could be markup or run as script or template."""
    if set(payload) & set("<>\"'&"):
        assert payload not in html, f"raw payload at {where}"
    assert "<script>alert(1)" not in html and "onerror=alert(1)>" not in html, where
    assert "<img src=x" not in html and 'href="javascript:' not in html.lower(), where


@pytest.mark.parametrize("payload", PAYLOADS, ids=["script", "img-onerror", "js-url", "template"])
@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
def test_free_text_is_escaped_where_shown(app, field, payload):
    """Protects against stored XSS: a payload typed into this field (or sent by an API client or
    a device) is stored through the real route or service and every page that shows it has it
    HTML-escaped, never as markup, never evaluated as a template ({{7*7}} stays text)."""
    writer = signed_in(app, field.role) if field.role != "service" else app.test_client()
    pages = field.store(app, writer, payload)
    readers = {field.role: writer}
    shown = 0
    for role, path, *form in pages:
        reader = readers.get(role) or readers.setdefault(role, signed_in(app, role))
        response = reader.post(path, data=form[0], follow_redirects=True) if form else reader.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        html = response.get_data(as_text=True)
        assert_escaped(html, payload, f"{field.name} on {path}")
        shown += str(escape(payload)) in html
    assert shown or field.may_refuse, f"{field.name}: the payload is shown on none of {pages}"


@pytest.mark.parametrize("payload", PAYLOADS[:2], ids=["script", "img-onerror"])
def test_csv_export_is_never_a_page(app, payload):
    """Protects the CSV exports: a payload in a violation note is written as data (as typed) into
    a text/csv attachment with nosniff, so no browser renders it as HTML."""
    guard = signed_in(app, "guard")
    data = {"type": "parking", "plate": "粤B12345", "place": "B2车库36号", "note": payload}
    response = guard.post("/kiosk/violations/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    response = signed_in(app, "supervisor").get("/console/violations/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers.get("Content-Disposition", "")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert payload.replace('"', '""') in response.get_data(as_text=True)
