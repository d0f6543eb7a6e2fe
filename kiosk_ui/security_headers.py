"""Security headers on every response: CSP, nosniff, referrer policy, no framing, HSTS over HTTPS.

The pages load scripts and styles only from /static/ (no inline script, no inline handler, no
style attribute: tests/unit/test_template_scan.py and tests/e2e/test_csp.py keep it so), so the
policy needs no 'unsafe-inline' anywhere. A header a blueprint set already wins (the share page's
stricter Referrer-Policy: no-referrer): blueprint after_request hooks run before this one.
"""

from __future__ import annotations

from flask import Flask, Response, request

# QR codes are inline <svg> and charts are <img src="/console/charts/…svg">, so no data: or
# blob: image is needed; the live events (EventSource) and the pages' fetch() stay on this host.
PAGE_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
# The chart and QR SVG documents are drawn by the server (reportlab writes its fonts and colours as
# style attributes). Opened on their own they may use those attributes and nothing else: no script,
# no request. Used as <img>, an SVG never runs script and the page's policy governs the page.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
HSTS = "max-age=31536000"  # one year, the same as deploy/nginx/gatehouse.conf
# The kiosk reads cards and codes through its devices (MQTT) and a keyboard-wedge scanner, never
# through the browser: no page needs the camera (a violation photo is a file input) or more.
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), hid=()"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # same-origin keeps the Referer on this site's own POSTs: Flask-WTF's CSRF check over HTTPS
    # compares it with the host, and no-referrer would fail every form.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _secure(response: Response) -> Response:
    svg = response.mimetype == "image/svg+xml"
    response.headers.setdefault("Content-Security-Policy", SVG_POLICY if svg else PAGE_POLICY)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # Only over HTTPS (directly, or from the trusted proxy's X-Forwarded-Proto): browsers ignore
    # HSTS on plain HTTP, and a development server on http://127.0.0.1 must stay reachable.
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def install(app: Flask) -> None:
    """Add the security headers to every response of `app`, static files and errors included."""
    app.after_request(_secure)
