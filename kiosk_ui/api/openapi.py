"""The OpenAPI 3.1 document, built from the registry: the same models that validate requests."""

from __future__ import annotations

import copy
from typing import Any

from flask import Response, json
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from kiosk_ui.api import registry
from kiosk_ui.api.registry import ENDPOINTS, STATUS_TEXT, Endpoint, bp, endpoint
from kiosk_ui.api.schemas import Error

REF = "#/components/schemas/{model}"
INT_PATH = {"type": "integer", "minimum": 1, "maximum": registry.MAX_ID}
TEXT_PATH = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": registry.TEXT_PATH.pattern}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: absent stands for None, so the null branch is dropped."""
    schema = copy.deepcopy(schema)
    branches = schema.pop("anyOf", None)
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        schema.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    if schema.get("default", 0) is None:
        schema.pop("default")
    schema.pop("title", None)
    return schema


def _query_parameters(model: type[BaseModel], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _without_null(prop),
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def _path(rule: str) -> str:
    return "/api/v1" + registry._ARG.sub(lambda m: "{" + m.group(2) + "}", rule)


def _error(codes: tuple[str, ...], status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": f"{STATUS_TEXT[status]}. Codes: {', '.join(codes)}.",
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    if status == 429:
        answer["headers"] = {"Retry-After": {"description": "Seconds to wait.",
                                             "schema": {"type": "integer", "minimum": 1}}}
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return answer


def _operation(spec: Endpoint, defs: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": spec.name, "summary": spec.summary,
                                 "tags": [spec.rule.strip("/").split("/")[0]]}
    scopes = ", ".join(spec.scopes)
    operation["description"] = (spec.description + "\n\n" if spec.description else "") + \
        (f"Key roles: {scopes}." if not spec.public else "No key needed.")
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": INT_PATH if kind == "int" else TEXT_PATH}
                  for name, kind in spec.path_args.items()]
    if spec.query is not None:
        parameters += _query_parameters(spec.query, defs)
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": registry.body_required(spec.body),
            "content": {"application/json": {"schema": {"$ref": REF.format(model=spec.body.__name__)}}}}
    ok: dict[str, Any] = {"description": spec.summary}
    if spec.response is not None:
        ok["content"] = {"application/json": {"schema": {"$ref": REF.format(model=spec.response.__name__)}}}
    elif spec.status != 204:  # a view answering its own JSON (this document)
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses = {str(spec.status): ok}
    for status, codes in spec.statuses().items():
        responses[str(status)] = _error(codes, status)
    operation["responses"] = responses
    operation["security"] = [] if spec.public else [{"apiKey": []}]
    return operation


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for the registered endpoints."""
    models = {Error}
    for spec in ENDPOINTS:
        models.update(m for m in (spec.body, spec.response) if m is not None)
    modes = [(m, "validation" if any(m is s.body for s in ENDPOINTS) else "serialization")
             for m in sorted(models, key=lambda m: m.__name__)]
    _keys, top = models_json_schema(modes, ref_template=REF)
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for spec in ENDPOINTS:
        paths.setdefault(_path(spec.rule), {})[spec.method.lower()] = _operation(spec, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gatehouse integration API", "version": "1.0.0",
                 "description": "Per-integration keys scoped to one estate and a role (resident, "
                                "desk, supervisor). Errors are JSON {\"error\": {\"code\", "
                                "\"message\"}} with a stable code. See docs/API.md."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(defs.items())),
                       "securitySchemes": {"apiKey": {
                           "type": "http", "scheme": "bearer",
                           "description": "Authorization: Bearer gh_<prefix>_<secret>, from "
                                          "`gate api-key create`."}}},
    }


@endpoint("GET", "/openapi.json", summary="This OpenAPI document", open_to_all=True)
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API (no key needed)."""
    return Response(json.dumps(document()), mimetype="application/json")


__all__ = ["bp", "document"]
