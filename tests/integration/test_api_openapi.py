"""API: the OpenAPI 3.1 document is valid, public, and lists exactly the routes under /api/v1."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from kiosk_ui.api.registry import ENDPOINTS
from tests.support.api import ApiClient, make_key


def _document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_31_without_a_key(client):
    """Protects integrators' tooling: the document validates as OpenAPI 3.1 and needs no key."""
    document = _document(client)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_document_and_routes_match(app, client):
    """Protects against drift: every Flask route under /api/v1 is in the document with its
    method, and every documented operation is a route."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in _document(client)["paths"].items() for method in item}
    assert routes == documented


def test_every_operation_declares_its_errors(client):
    """Protects honest documents (the fuzzing issue relies on it): keyed operations declare 401
    and 429, those with ids 404, those with narrower scopes 403, and errors use the Error schema."""
    document = _document(client)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path.endswith("openapi.json"):
                assert operation["security"] == []
                continue
            assert operation["security"] == [{"apiKey": []}]
            assert {"401", "429"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            for status, answer in responses.items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == \
                        {"$ref": "#/components/schemas/Error"}


def test_schemas_come_from_the_validating_models(client):
    """Protects "declared once": the body schema of an operation is its request model's schema."""
    document = _document(client)
    spec = next(s for s in ENDPOINTS if s.name == "create_pass")
    ref = document["paths"]["/api/v1/units/{unit}/passes"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["$ref"]
    assert ref == f"#/components/schemas/{spec.body.__name__}"
    schema = document["components"]["schemas"][spec.body.__name__]
    assert set(schema["properties"]) == set(spec.body.model_fields)
    assert schema["properties"]["uses"]["enum"] == ["single", "count", "unlimited"]


def test_responses_match_their_declared_schemas(app, client):
    """Protects the response half of the document: real answers validate against it."""
    from jsonschema import Draft202012Validator

    document = _document(client)
    api = ApiClient(client, make_key(app, "supervisor")[1])
    checks = [("/api/v1/visits", "get", "/visits"), ("/api/v1/book", "get", "/book"),
              ("/api/v1/vehicles", "get", "/vehicles"),
              ("/api/v1/units/{unit}/passes", "get", "/units/1-1-101/passes")]
    created = api.post("/units/1-1-101/passes", json={"name": "王访客"})
    bodies = [(document["paths"]["/api/v1/units/{unit}/passes"]["post"]["responses"]["201"],
               created.get_json())]
    bodies += [(document["paths"][path][method]["responses"]["200"], api.get(url).get_json())
               for path, method, url in checks]
    bodies.append((document["paths"]["/api/v1/visits"]["get"]["responses"]["401"],
                   client.get("/api/v1/visits").get_json()))
    for answer, body in bodies:
        schema = {**answer["content"]["application/json"]["schema"],
                  "components": document["components"]}
        Draft202012Validator(schema).validate(body)


def test_wrong_method_answers_json_with_allow(app, client):
    """Protects integrators from an HTML page where the API promises JSON: a method the route
    does not take answers 405 with the stable code and the methods it does take."""
    _key_id, key = make_key(app, "desk")
    response = ApiClient(client, key).open("DELETE", "/vehicles")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}
