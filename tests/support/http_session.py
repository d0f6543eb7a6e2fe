"""A cookie-keeping HTTP client for a Gatehouse served by gunicorn, and signing a guard in.

Used by the deploy smoke test and bench/web.py: both talk to a real server over loopback.
"""

from __future__ import annotations

import http.client
import re
import ssl
from urllib.parse import urlencode


class Client:
    """A tiny cookie-keeping HTTP client (the session cookie is Secure in production, which
    http.cookiejar would refuse to send over plain HTTP on loopback)."""

    def __init__(self, port: int, *, https: bool = False) -> None:
        """Talk to 127.0.0.1:port (over TLS with any certificate when `https`: a test's own)."""
        self.port = port
        self.https = https
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        """Send one request; returns (status, Location, body) and keeps any cookie set."""
        conn = self.connect()
        headers = {"User-Agent": "gate-bench",
                   "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if self.https:  # as a browser does: Flask-WTF's CSRF check wants a same-origin Referer
            headers["Referer"] = f"https://127.0.0.1:{self.port}{path}"
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return resp.status, resp.headers.get("Location", ""), text

    def connect(self) -> http.client.HTTPConnection:
        """A new connection to the server."""
        if self.https:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                               context=ssl._create_unverified_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def token(self, path: str) -> str:
        """GET a page and return the CSRF token of its first form."""
        status, _, text = self.request("GET", path)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text)
        if status != 200 or not found:
            raise RuntimeError(f"GET {path}: {status}, no CSRF token")
        return found.group(1)

    def cookie_header(self) -> str:
        """The Cookie header value wrk should send."""
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


def guard_on_shift(port: int, staff_no: str = "1001", pin: str = "123456", *,
                   https: bool = False) -> Client:
    """A demo guard signed in at the kiosk with the shift started (post orders acknowledged)."""
    guard = Client(port, https=https)
    token = guard.token("/kiosk/login")
    status, _, _ = guard.request("POST", "/kiosk/login", {"csrf_token": token, "staff_no": staff_no,
                                                          "pin": pin})
    assert status == 302, f"guard login: {status}"
    start = guard.request("GET", "/kiosk/shift/start")[2]
    acks = re.findall(r'name="ack" value="(\d+)"', start)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', start).group(1)
    status, location, _ = guard.request("POST", "/kiosk/shift/start", {"csrf_token": token, "ack": acks})
    assert status == 302 and location.endswith("/kiosk/"), f"shift start: {status} {location}"
    guard.request("GET", "/kiosk/")  # shows (and so clears) the "shift started" message
    return guard
