"""No page and no static file refers to another origin: the gatehouse runs without the internet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gate.models import ROLES
from gate.services.auth import allowed_roles
from tests.integration.test_routes_roles import _login

STATIC = Path(__file__).resolve().parents[2] / "kiosk_ui" / "static"
OWN_ORIGIN = "http://localhost"  # the test client's host: links to the app itself are fine
# Text that looks like a URL but is never fetched: XML namespace names of inline SVG, and the
# DOCTYPE system id reportlab writes into the console's chart SVGs (browsers never load DTDs).
NOT_FETCHED = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
               "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd")
# A scheme with no host after it ("an http:// or https:// address" in a description) is no reference.
ABSOLUTE = re.compile(r"\bhttps?://[^\s\"'<>()\\]+", re.IGNORECASE)
# Protocol-relative references: //host in an attribute, a CSS url() or @import, or a JS/CSS string.
PROTOCOL_RELATIVE = re.compile(r"""(?:=\s*|url\(\s*|@import\s+|["'`])["']?//[\w.-]+""", re.IGNORECASE)
# Pages that only stream (server-sent events) are skipped: reading them would never end.
STREAMS = {"text/event-stream"}
TEXT_TYPES = ("text/", "application/json", "application/javascript", "image/svg+xml")


def foreign_references(text: str) -> list[str]:
    """Every reference in `text` to an origin other than the app's own."""
    found = [url for url in ABSOLUTE.findall(text)
             if url not in NOT_FETCHED and not re.match(rf"{re.escape(OWN_ORIGIN)}(?:[/?#]|$)", url)]
    return found + [m.group(0) for m in PROTOCOL_RELATIVE.finditer(text)]


def _get_routes(app):
    """GET routes without URL parameters: endpoint and path."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and "GET" in rule.methods and not rule.arguments:
            yield rule.endpoint, rule.rule


def _scan(client, paths) -> tuple[int, list[str]]:
    """GET each path; the number of text pages read and the foreign references found in them."""
    read, problems = 0, []
    for path in paths:
        response = client.get(path, buffered=False)
        try:
            if response.status_code != 200 or response.mimetype in STREAMS:
                continue
            if not response.mimetype.startswith(TEXT_TYPES):
                continue
            read += 1
            problems += [f"{path}: {ref}" for ref in foreign_references(response.get_data(as_text=True))]
        finally:
            response.close()
    return read, problems


def test_the_pattern_catches_what_it_should():
    """Protects the check below from passing vacuously: each kind of external reference is found,
    and the allowed ones (the app's own origin, SVG namespaces, JS comments) are not."""
    bad = ['<script src="https://cdn.example.com/x.js">', "<link href='//fonts.googleapis.com/css'>",
           "@import url(http://fonts.example.net/a.css);", 'background: url("//cdn.example.org/a.png")',
           "@import '//cdn.example.org/b.css';", 'fetch("//api.example.com/v1")']
    for text in bad:
        assert foreign_references(text), text
    fine = ['<svg xmlns="http://www.w3.org/2000/svg">', '<a href="http://localhost/login">',
            "// a comment in JS", 'a = b // c', "http://localhost", "an http:// or https:// address"]
    for text in fine:
        assert not foreign_references(text), text


@pytest.mark.parametrize("role", [None, *ROLES])
def test_no_page_refers_to_another_origin(app, client, kiosk, role):
    """Protects issue 9's offline rule on every page: each GET route without URL parameters,
    rendered for a role allowed to open it (a guard on shift; public pages anonymously), refers to
    no other origin (no CDN script, stylesheet, font or image)."""
    if role is not None:
        _login(kiosk, role)
        if role == "guard":
            assert kiosk.start_shift().status_code == 302
    paths = [path for endpoint, path in _get_routes(app)
             if (allowed_roles(app, endpoint) is None) == (role is None)
             and (role is None or role in allowed_roles(app, endpoint)) and endpoint != "auth.logout"]
    read, problems = _scan(client, paths)
    assert read >= 2, f"{role}: only {read} pages read"
    assert not problems, "references to other origins:\n" + "\n".join(problems)


def test_no_static_file_refers_to_another_origin():
    """Protects issue 9's offline rule for the assets: no file under kiosk_ui/static/ (scripts,
    stylesheets, fonts, images) loads anything from another origin."""
    files = [path for path in sorted(STATIC.rglob("*")) if path.is_file()]
    assert len(files) >= 5
    problems = [f"{path.relative_to(STATIC)}: {ref}" for path in files
                for ref in foreign_references(path.read_bytes().decode("utf-8", errors="replace"))]
    assert not problems, "references to other origins:\n" + "\n".join(problems)
