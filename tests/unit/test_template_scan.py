"""Templates and code scanned for what the CSP forbids and for unescaped output.

The Content-Security-Policy (kiosk_ui/security_headers.py) allows scripts and styles from /static/
only: an inline <script>, an on*= handler, a javascript: URL or a style attribute would be
blocked in the browser (a broken button, not an error anyone sees), so they are caught here.
Jinja escapes every {{ }}; |safe and Markup() turn that off, so each use is listed with the reason
it only ever carries trusted text.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "kiosk_ui" / "templates"
CODE = [ROOT / "gate", ROOT / "kiosk_ui", ROOT / "device_adapters"]

FORBIDDEN = {
    "inline <script> (no src)": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "inline event handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I | re.S),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I | re.S),
    "<style> element": re.compile(r"<style[\s>]", re.I),
}
# Also a template built from a string at run time: user text in it would be evaluated ({{7*7}}).
UNESCAPED = re.compile(r"\|\s*safe\b|\bMarkup\(|autoescape\s+false|render_template_string|from_string\(",
                       re.I)
# (file relative to the repository, the line's text) → why the content is trusted.
TRUSTED = {
    ("kiosk_ui/templates/kiosk/journal.html", "{{ attrs|safe }}"):
        "attrs are literal attribute strings written in the same template's field() calls",
    ("kiosk_ui/qr_images.py", "return Markup(image.to_string(encoding=\"unicode\"))"):
        "an SVG the qrcode library draws; the token is only encoded as modules and the label is "
        "set through ElementTree, which escapes attribute values",
}


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_have_no_inline_script_or_style():
    """Protects the CSP without 'unsafe-inline': no template carries inline script, an event
    handler attribute, a javascript: URL, a style attribute or a <style> element."""
    found = []
    for path in _templates():
        text = re.sub(r"{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.S)  # comments
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}: {match.group(0)[:80]}")
    assert len(_templates()) > 50
    assert not found, "move it to kiosk_ui/static/ (data-* attributes for values):\n" + "\n".join(found)


def test_unescaped_output_only_on_trusted_content():
    """Protects against stored XSS and template injection: every |safe, Markup(, autoescape false
    or template made from a string in the templates and the code is one of the reviewed uses in
    TRUSTED; a new one fails until it is reviewed."""
    files = _templates() + [p for folder in CODE for p in folder.rglob("*.py")]
    seen = set()
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if UNESCAPED.search(line) and not line.lstrip().startswith(("#", "from ", "import ")):
                match = next((snippet for (name, snippet) in TRUSTED
                              if name == str(path.relative_to(ROOT)) and snippet in line), None)
                assert match, f"unreviewed unescaped output in {path.relative_to(ROOT)}: {line.strip()}"
                seen.add((str(path.relative_to(ROOT)), match))
    assert seen == set(TRUSTED), f"listed but gone (remove from TRUSTED): {set(TRUSTED) - seen}"
