"""Web entry points: kiosk, login, supervisor console, service desk, resident portal, admin."""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from gate.services.auth import public


def wants_json() -> bool:
    """True for API clients, which get JSON errors with a code instead of pages."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint and the shared error pages."""
    from kiosk_ui import admin, auth, console, desk, gates, health, helpers, kiosk, portal, visitors

    helpers.install(app)
    for module in (auth, kiosk, gates, visitors, console, desk, portal, admin, health):
        app.register_blueprint(module.bp)
    from kiosk_ui import privacy  # personal data requests (SPEC §5)
    app.register_blueprint(privacy.bp)
    from kiosk_ui import watchlist

    app.register_blueprint(watchlist.bp)
    from kiosk_ui import residents  # activation codes and moving out
    app.register_blueprint(residents.bp)
    from kiosk_ui import desk_workers  # renovation worker passes
    app.register_blueprint(desk_workers.bp)
    from kiosk_ui import kiosk_passes  # passes at the gate: scanner field, typed codes, recent
    app.register_blueprint(kiosk_passes.bp)
    from kiosk_ui import kiosk_slips  # goods release slips at the gate: scan, check, release
    app.register_blueprint(kiosk_slips.bp)
    from kiosk_ui import kiosk_vehicles  # car prompts at the gate: refuse, open by hand, salute
    app.register_blueprint(kiosk_vehicles.bp)
    from kiosk_ui import desk_slips, portal_slips  # release slips: residents apply, the desk decides
    for module in (portal_slips, desk_slips):
        app.register_blueprint(module.bp)
    from kiosk_ui import portal_passes, share  # residents' visitor passes, the visitor's share page
    for module in (portal_passes, share):
        app.register_blueprint(module.bp)
    from kiosk_ui import vehicle_lists  # blocklist and VIP plates: supervisors manage, desk reads
    app.register_blueprint(vehicle_lists.bp)
    from kiosk_ui import console_violations, kiosk_violations  # car park violations (seed §十二)
    for module in (kiosk_violations, console_violations):
        app.register_blueprint(module.bp)
    from kiosk_ui import desk_vehicles  # residents' cars: the desk adds, changes, ends, imports
    app.register_blueprint(desk_vehicles.bp)
    from kiosk_ui import desk_residents  # registering residents: one by one or a CSV import
    app.register_blueprint(desk_residents.bp)
    from kiosk_ui import console_integrity  # shift-book chain status and the tamper banner
    app.register_blueprint(console_integrity.bp)
    from kiosk_ui import console_shifts  # shift list, daily activity reports, review and notes
    app.register_blueprint(console_shifts.bp)
    from kiosk_ui import console_book  # shift-book search and CSV export
    app.register_blueprint(console_book.bp)
    # Console management pages, charts and the PDF report, and the deadlines list (issue 8)
    from kiosk_ui import console_charts, console_guards, console_orders, console_pending, console_scripts
    for module in (console_orders, console_scripts, console_guards, console_charts, console_pending):
        app.register_blueprint(module.bp)
    from kiosk_ui import kiosk_events  # server-sent events: live prompts, approvals and alerts
    app.register_blueprint(kiosk_events.bp)
    from kiosk_ui import api  # integration API under /api/v1 (keys, not sessions)
    api.register(app)
    from kiosk_ui import metrics  # /metrics for Prometheus (docs/OPERATIONS.md)
    app.register_blueprint(metrics.bp)

    @app.get("/")
    @public
    def index():
        return redirect(url_for("auth.login"))

    def error_page(status: int, code: str, message: str):
        if request.path.startswith("/api/") and status in (404, 405):
            from kiosk_ui.api.registry import route_error  # English, with the API's own wording
            return route_error(status), status
        if wants_json():
            return jsonify(error={"code": code, "message": message}), status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(403)
    def forbidden(_exc):
        return error_page(403, "forbidden", _("Your account cannot open this page. "
                                              "Go back, or log in with an account that can."))

    @app.errorhandler(404)
    def not_found(_exc):
        return error_page(404, "not_found", _("This page does not exist. Go back to the start page."))

    @app.errorhandler(405)
    def wrong_method(exc):
        body, status = error_page(405, "method_not_allowed", _(
            "This address does not take that kind of request. Go back and use the page's buttons."))
        return body, status, {"Allow": ", ".join(sorted(getattr(exc, "valid_methods", None) or []))}

    @app.errorhandler(429)
    def too_many(_exc):
        return error_page(429, "rate_limited", _("Too many attempts. Wait a minute, then try again."))

    @app.errorhandler(CSRFError)
    def csrf_failed(_exc):
        if wants_json():
            return error_page(400, "csrf", _("The form expired. Reload the page and try again."))
        flash(_("The form expired. Please try again."), "warning")
        back = request.path if request.endpoint in {"auth.login", "auth.kiosk_login"} else None
        return redirect(request.referrer or back or url_for("index"))
