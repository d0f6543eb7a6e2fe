"""Declaring API endpoints once: validation, serialisation, key checks and the OpenAPI entry.

See the package docstring (kiosk_ui/api/__init__.py) for how to add an endpoint.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, g, json, request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from gate.domain.ids import MAX_ID  # larger ids are simply not found
from gate.extensions import csrf
from gate.services import ActionError
from gate.services.auth import public
from kiosk_ui.api.schemas import Query

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # keys, not cookies: there is no session a forged form could ride on

SCOPES = ("resident", "desk", "supervisor")
TEXT_PATH = re.compile(r"^[^\x00-\x1f\x7f/]{1,40}$")
STATUS_TEXT = {400: "Invalid request", 401: "Missing, unknown or revoked key",
               403: "The key's scope does not allow this", 404: "Not found (or not this key's)",
               409: "Changed by someone else meanwhile", 422: "Refused by the rules",
               429: "Too many requests for this key", 500: "Unexpected server error"}
FIXED_CODES = {400: ("invalid_request",), 401: ("invalid_key", "key_revoked"),
               403: ("forbidden_scope",), 404: ("not_found",), 409: ("conflict",),
               429: ("rate_limited",), 500: ("internal_error",)}


class ApiError(Exception):
    """An error answered as JSON {"error": {"code", "message"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: object, details: list | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(code)
        self.status, self.code, self.message = status, code, str(message)
        self.details, self.headers = details, headers or {}

    def response(self) -> Response:
        """The JSON error response."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        answer = Response(json.dumps({"error": body}), status=self.status, mimetype="application/json")
        answer.headers.update(self.headers)
        return answer


def use_api_locale() -> None:
    """API messages in English unless the client's Accept-Language prefers Chinese."""
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    g.default_locale = "en" if best == "en" else "zh_CN"


def route_error(status: int) -> Response:
    """The API's JSON answer for what Flask decides itself: no such route, wrong method, a crash."""
    use_api_locale()
    if status == 404:
        error = ApiError(404, "not_found", _("There is no such API operation. See /api/v1/openapi.json."))
    elif status == 405:
        error = ApiError(405, "method_not_allowed",
                         _("This API operation does not take that method. See /api/v1/openapi.json."))
    elif status == 400:
        error = ApiError(400, "invalid_request",
                         _("The request contains a NUL character or bytes that are not UTF-8."))
    else:
        error = ApiError(500, "internal_error", _("Something went wrong on the server. Try again "
                                                  "later; if it keeps happening, tell the estate's "
                                                  "administrator."))
    return error.response()


@bp.errorhandler(500)
def _internal_error(_exc: Exception) -> Response:
    """An unexpected exception in an API view: JSON with a code, never the HTML error page."""
    return route_error(500)


@dataclass
class Caller:
    """Who is calling: the key, its service account (the services' actor), its site and unit."""

    key: Any
    user: Any
    site: Any
    unit: Any = None

    @property
    def scope(self) -> str:
        """The key's role: resident, desk or supervisor."""
        return self.key.role


@dataclass
class Endpoint:
    """One declared operation; the OpenAPI document is built from these."""

    method: str
    rule: str
    name: str
    summary: str
    description: str
    scopes: tuple[str, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[str, ...]
    public: bool = False
    path_args: dict[str, str] = field(default_factory=dict)  # name -> "int" | "string"

    def statuses(self) -> dict[int, tuple[str, ...]]:
        """Every error status this operation can answer, with its codes."""
        # 400 everywhere: unknown query parameters, NUL or undecodable input (kiosk_ui.query_guard)
        found: dict[int, tuple[str, ...]] = {400: FIXED_CODES[400]}
        if self.public:
            return found | {500: FIXED_CODES[500]}
        found[401] = FIXED_CODES[401]
        if set(self.scopes) != set(SCOPES):
            found[403] = FIXED_CODES[403]
        if self.path_args:
            found[404] = FIXED_CODES[404]
        if self.method != "GET":
            found[409] = FIXED_CODES[409]
        if self.errors:
            found[422] = self.errors
        found[429] = FIXED_CODES[429]
        found[500] = FIXED_CODES[500]
        return found


ENDPOINTS: list[Endpoint] = []
_ARG = re.compile(r"<(?:([a-z]+):)?([a-z_]+)>")


def _invalid(exc: ValidationError, where: str) -> ApiError:
    """400 with pydantic's error locations and types, never the values sent (IDs, phones)."""
    details = [{"loc": [where, *exc_loc], "type": err["type"], "msg": err["msg"]}
               for err in exc.errors(include_url=False, include_input=False, include_context=False)
               for exc_loc in [list(err["loc"])]]
    return ApiError(400, "invalid_request", _("The request is not valid; see details."), details)


def _query(model: type[BaseModel]) -> BaseModel:
    """The query string read by its closed model: an unknown parameter is a 400, not ignored."""
    try:
        return model.model_validate({name: request.args.get(name) for name in request.args})
    except ValidationError as exc:
        raise _invalid(exc, "query") from None


def _path_values(spec: Endpoint, values: dict[str, Any]) -> None:
    for name, kind in spec.path_args.items():
        value = values.get(name)
        if kind == "int" and not 0 < value <= MAX_ID:
            raise ApiError(404, "not_found", _("Not found."))
        if kind == "string" and not TEXT_PATH.match(value or ""):
            raise ApiError(404, "not_found", _("Not found."))


def _respond(spec: Endpoint, result: Any) -> Response:
    if spec.response is None:
        return Response(status=spec.status)
    model = result if isinstance(result, spec.response) else \
        spec.response.model_validate(result, from_attributes=True)
    return Response(model.model_dump_json(), status=spec.status, mimetype="application/json")


def body_required(model: type[BaseModel]) -> bool:
    """Whether a body must be sent: some field has no default."""
    return any(f.is_required() for f in model.model_fields.values())


def _service_error(exc: ActionError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(404, "not_found", exc.message)
    if exc.code == "conflict":
        return ApiError(409, "conflict", exc.message)
    return ApiError(422, exc.code, exc.message)


def endpoint(method: str, rule: str, *, summary: str, scopes: tuple[str, ...] = SCOPES,
             body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, status: int = 200,
             errors: tuple[str, ...] = (), open_to_all: bool = False) -> Callable:
    """Declare an API operation (see the package docstring); the view gets (caller, **args)."""
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")

    def register(fn: Callable) -> Callable:
        spec = Endpoint(method=method, rule=rule, name=fn.__name__, summary=summary,
                        description=(fn.__doc__ or "").strip(), scopes=tuple(scopes), body=body,
                        query=query, response=response, status=status, errors=tuple(errors),
                        public=open_to_all,
                        path_args={m.group(2): "int" if m.group(1) == "int" else "string"
                                   for m in _ARG.finditer(rule)})

        @functools.wraps(fn)
        def view(**path_values: Any) -> Response:
            from kiosk_ui.api import keys  # the key layer needs the models; imported late

            try:
                if spec.public:
                    result = fn(**path_values)
                    return result if isinstance(result, Response) else _respond(spec, result)
                caller = keys.authenticate(spec)
                _path_values(spec, path_values)
                kwargs: dict[str, Any] = dict(path_values)
                query = _query(spec.query or Query)  # operations without filters take none
                if spec.query is not None:
                    kwargs["query"] = query
                if spec.body is not None:
                    payload = request.get_json(silent=True)
                    if payload is None and not request.get_data() and not body_required(spec.body):
                        payload = {}  # every field has a default: the body may be left out
                    if not isinstance(payload, dict):
                        raise ApiError(400, "invalid_request", _("Send a JSON object as the body."),
                                       [{"loc": ["body"], "type": "dict_type",
                                         "msg": "Input should be a JSON object"}])
                    try:
                        kwargs["body"] = spec.body.model_validate(payload)
                    except ValidationError as exc:
                        raise _invalid(exc, "body") from None
                try:
                    result = fn(caller, **kwargs)
                except ActionError as exc:
                    raise _service_error(exc) from None
                return _respond(spec, result)
            except ApiError as exc:
                return exc.response()

        public(view)  # the session layer lets it through; the key is checked above instead
        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        ENDPOINTS.append(spec)
        return fn

    return register
