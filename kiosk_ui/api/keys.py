"""The key layer of the API: who is calling, for which site, within which scope and rate.

Only the `Authorization: Bearer <key>` header counts; a session cookie is never looked at, so a
signed-in browser cannot be made to call the API for its user.
"""

from __future__ import annotations

import math
import time

from flask import current_app, g, request
from flask_babel import gettext as _
from limits import parse_many

from gate.extensions import db, limiter
from gate.models import Site, Unit, User
from gate.services import ActionError, api_keys
from kiosk_ui.api.registry import ApiError, Caller, Endpoint, use_api_locale


def _rate_limit(bucket: str) -> None:
    """GATE_API_RATE_LIMIT per bucket (a key, or an address sending bad keys); 429 beyond it."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = limiter.limiter
    for item in parse_many(current_app.config["GATE_API_RATE_LIMIT"]):
        if not strategy.hit(item, "gate-api", bucket):
            reset, _remaining = strategy.get_window_stats(item, "gate-api", bucket)
            wait = max(1, math.ceil(reset - time.time()))
            raise ApiError(429, "rate_limited", _("Too many requests for this key. Wait %(n)d seconds, "
                                                  "then try again.", n=wait),
                           headers={"Retry-After": str(wait)})


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authenticate(spec: Endpoint) -> Caller:
    """Check the key, its scope and its rate; set the request's site to the key's site."""
    use_api_locale()
    try:
        key = api_keys.check(_bearer())
    except ActionError as exc:
        _rate_limit(f"address:{request.remote_addr}")  # guessing keys is throttled too
        raise ApiError(401, exc.code, exc.message,
                       headers={"WWW-Authenticate": 'Bearer realm="gatehouse"'}) from None
    _rate_limit(f"key:{key.id}")
    site = db.session.get(Site, key.site_id)
    # Every service reads the site from here (shiftbook.site_code, sites.current_site): the
    # key's estate, whatever GATE_SITE this worker was started with.
    g.site_code, g.site = site.code, site
    user = db.session.get(User, key.user_id)
    g.actor_id = user.id
    if key.role not in spec.scopes:
        raise ApiError(403, "forbidden_scope", _("This key's role (%(role)s) cannot use this "
                                                 "operation.", role=key.role))
    unit = db.session.get(Unit, key.unit_id) if key.unit_id else None
    api_keys.touch(key)
    return Caller(key=key, user=user, site=site, unit=unit)
