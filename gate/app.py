"""The Flask application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from gate import db_events, log_redaction, logs
from gate.config import flask_config, load_settings
from gate.extensions import babel, csrf, db, limiter, login_manager, migrate

MIGRATIONS = str(Path(__file__).parent / "migrations")


def select_locale() -> str:
    """The kiosk speaks Chinese by default; ?lang= or the session may switch to English."""
    wanted = request.args.get("lang")
    if wanted in {"zh_CN", "en"}:
        session["lang"] = wanted
    return session.get("lang") or g.get("default_locale", "zh_CN")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then GATE_* env vars, then instance/gate.cfg, then `config`."""
    overrides = dict(config or {})
    instance = overrides.pop("GATE_INSTANCE_PATH", None) or os.environ.get("GATE_INSTANCE_PATH")
    app = Flask("gate", instance_path=str(Path(instance).resolve()) if instance else None,
                instance_relative_config=True,
                template_folder=str(Path(__file__).parent.parent / "kiosk_ui" / "templates"),
                static_folder=str(Path(__file__).parent.parent / "kiosk_ui" / "static"))
    instance_path = Path(app.instance_path)
    instance_path.mkdir(parents=True, exist_ok=True)
    extra = {k: overrides.pop(k) for k in list(overrides) if not k.startswith("GATE_")}
    settings = load_settings(instance_path, overrides)
    app.config.update(settings)
    app.config.update(flask_config(settings, instance_path))
    app.config.update(extra)

    db_events.install()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    import gate.models  # noqa: F401  (register tables)
    from gate.commands import COMMANDS
    from gate.services import shiftbook, visits  # noqa: F401  (append-only guards, open items)
    from gate.services.auth import install_session_rules
    from kiosk_ui import query_guard, register_blueprints, security_headers

    install_session_rules(app)
    register_blueprints(app)
    query_guard.install(app)  # NUL / non-UTF-8 input: one 400 before any view reads it
    security_headers.install(app)  # CSP, nosniff, no framing, HSTS over HTTPS: every response
    proxies = app.config["GATE_TRUSTED_PROXIES"]
    if proxies:
        # Behind nginx: take the client's address, scheme and host from the X-Forwarded-*
        # headers the proxies set (login rate limits per client, https links in share links).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    for command in COMMANDS:
        app.cli.add_command(command)
    logs.install(app)  # request ids: g.request_id, the X-Request-Id header, every log line
    log_redaction.install()  # URL passwords, API keys, ID numbers masked in every log record
    if not app.debug and not app.testing:
        logs.configure(logging.INFO)
    return app
