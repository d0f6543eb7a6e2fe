"""The visitor's share page /p/<token>: a public page with the pass's QR, code and window.

The token in the URL is the credential, so these pages tell as little as possible: the
estate, the unit visited, the visitor's own name, the window and the status, never the
host's name or phone. Anything but a valid token of this estate is the same 404, whatever
the reason. No referrer leaves the page and search engines are asked not to index it.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _

from gate.extensions import db, limiter
from gate.models import Site, VisitorPass
from gate.services import ActionError, passes
from gate.services.auth import public
from gate.services.sites import current_site
from kiosk_ui.helpers import localtime
from kiosk_ui.portal_passes import describe
from kiosk_ui.qr_images import qr_png, qr_svg, qr_svg_document

bp = Blueprint("share", __name__)
RATE_LIMIT = "60 per minute"
MAX_TOKEN = 120  # longer than any token version: refused before any work
IMAGE_CACHE = "private, max-age=300"


@bp.after_request
def _no_leaks(response: Response) -> Response:
    """The URL holds the token: never send it on as a referrer, never index it."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _pass(token: str) -> VisitorPass | None:
    """The pass a share token names, or None (malformed, forged, another estate, unknown)."""
    if len(token) > MAX_TOKEN:
        return None
    try:
        return passes.by_token(token)
    except ActionError:
        return None


def _usable_or_404(token: str) -> VisitorPass:
    visitor_pass = _pass(token)
    if visitor_pass is None or not describe(visitor_pass)["shows_qr"]:
        abort(404)
    return visitor_pass


def _status_text(status: str, starts: str) -> str:
    texts = {
        "active": _("Show this code at the gate: hold it to the scanner or let the guard type it."),
        "upcoming": _("This pass is not valid yet. It opens the gate from %(start)s.", start=starts),
        "expired": _("This pass has expired. It can no longer be used."),
        "used_up": _("This pass has been used up. It can no longer be used."),
        "revoked": _("This pass has been revoked. It can no longer be used."),
    }
    return texts[status]


@bp.get("/p/<token>")
@public
@limiter.limit(RATE_LIMIT)
def page(token: str):
    """The visitor's page: big QR and code while the pass is usable, plain words once it is not."""
    visitor_pass = _pass(token)
    if visitor_pass is None:
        return render_template("share/invalid.html", estate=current_site()), 404
    site = db.session.get(Site, visitor_pass.site_id)
    facts = describe(visitor_pass)
    bare = passes.token_for(visitor_pass)
    starts = localtime(visitor_pass.valid_from, "%Y-%m-%d %H:%M")
    response = Response(render_template(
        "share/page.html", estate=site, unit=visitor_pass.unit.code, name=visitor_pass.visitor_name,
        plate=visitor_pass.plate, facts=facts, message=_status_text(facts["status"], starts),
        qr=qr_svg(bare, _("Pass QR code")) if facts["shows_qr"] else None,
        png_url=url_for("share.png", token=bare) if facts["shows_qr"] else None))
    response.headers["Cache-Control"] = "private, no-cache"  # the status may change: revalidate
    return response


@bp.get("/p/<token>.png")
@public
@limiter.limit(RATE_LIMIT)
def png(token: str):
    """The QR as a PNG (content: the bare token), to save on the phone or print."""
    visitor_pass = _usable_or_404(token)
    response = Response(qr_png(passes.token_for(visitor_pass)), mimetype="image/png")
    response.headers["Cache-Control"] = IMAGE_CACHE
    return response


@bp.get("/p/<token>.svg")
@public
@limiter.limit(RATE_LIMIT)
def svg(token: str):
    """The QR as an SVG file (content: the bare token)."""
    visitor_pass = _usable_or_404(token)
    response = Response(qr_svg_document(passes.token_for(visitor_pass)), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = IMAGE_CACHE
    return response
