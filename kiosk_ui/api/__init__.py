"""The integration API under /api/v1: JSON, per-integration keys, an OpenAPI 3.1 document.

Every endpoint is declared once, with `endpoint` from kiosk_ui.api.registry; the same
declaration validates the request, serialises the response and describes the operation in
/api/v1/openapi.json, so the document cannot drift from what the code accepts.

How to add an endpoint
----------------------
1. Write the request and response models (pydantic v2) in your module or in
   kiosk_ui/api/schemas.py. Bodies subclass `schemas.Body` (unknown fields refused), query
   strings `schemas.Query`, responses `schemas.Out` (read from ORM objects by attribute).
   Use `schemas.text(n)` for strings (no control characters, at most n long), `schemas.Day`
   for dates and `schemas.Id` for ids, so what the document promises is what is validated.
2. Declare the view::

       from kiosk_ui.api.registry import Caller, ApiError, endpoint

       @endpoint("POST", "/webhooks", summary="Subscribe to events", scopes=("supervisor",),
                 body=WebhookIn, response=WebhookOut, status=201, errors=("bad_url",))
       def create_webhook(caller: Caller, body: WebhookIn) -> WebhookOut:
           return webhooks.subscribe(caller.site, caller.user, url=body.url)

   The view gets the authenticated `caller` (.key, .user — the key's own service account,
   pass it as the services' `actor` — .site, .unit for resident keys), the path arguments by
   name, `body=` and/or `query=` when declared. Return a response model instance, or an object
   or dict the response model reads; `status=204` with `response=None` sends no body.
3. Errors: raise `ApiError(404, "not_found", message)` yourself, or let a service raise
   ActionError: code not_found -> 404, conflict -> 409, any other -> 422 with the service's
   code. List the service codes in `errors=` so the document names them. 400, 401, 403, 404,
   409, 429 and 500 are added to the document by the registry when they can happen; a query
   parameter the `query=` model does not declare is a 400 (operations without one take none),
   and tests/integration/test_api_fuzz.py fuzzes every operation against the document.
4. Put the module in this package: every module of kiosk_ui/api is imported when the
   blueprint is registered (no list to edit). Add tests in tests/integration/test_api_*.py
   with tests.support.api.ApiClient; test_api_openapi.py checks the document lists your route.

Scopes are the key's role: "resident" (one unit), "desk", "supervisor". A key of one site never
sees another site's records: authentication sets g.site_code, which current_site() honours.
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

from kiosk_ui.api.registry import bp


def register(app: Flask) -> None:
    """Import every endpoint module of the package, then attach the blueprint to the app."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    app.register_blueprint(bp)
