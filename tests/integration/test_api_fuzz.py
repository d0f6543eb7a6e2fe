"""The integration API fuzzed with schemathesis against its own OpenAPI document.

Every operation of /api/v1/openapi.json gets generated requests, valid ones (positive) and ones
that break the schema (negative), sent through the real Flask app to a real database (SQLite
and PostgreSQL), with a key of each role. Each answer must be no server error, a status the
document lists for the operation, a JSON body matching the documented schema, and a refusal
for schema-breaking input. Hypothesis examples are capped per operation so the whole module
stays within a few minutes on one core.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gate.services.demo import UNITS
from tests.support.api import make_key

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 15}  # per operation and role
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
ROLES = {"resident": "1-1-101", "desk": None, "supervisor": None}


def _reaching(case, data) -> None:
    """Often point a valid case at records that exist (a real unit, small ids), so generated
    requests reach the services and the database instead of stopping at 404."""
    for name, value in list(case.path_parameters.items()):
        if not data.draw(st.booleans(), label=f"real {name}"):
            continue
        if name == "unit":
            case.path_parameters[name] = data.draw(st.sampled_from(UNITS), label=name)
        elif isinstance(value, int):
            case.path_parameters[name] = data.draw(st.integers(1, 6), label=name)


def _fuzz(operation, mode: GenerationMode, key: str) -> None:
    """Run one operation's generated cases in one mode; raises on the first failing check."""
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case, data) -> None:
        if mode is GenerationMode.POSITIVE:
            _reaching(case, data)
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=checks)

    run()


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_operation_answers_as_documented(app, role):
    """Protects integrators from answers the OpenAPI document does not promise: for generated
    valid and invalid requests to every operation with a key of this role, no 500, every status
    code documented, every body and header matching its schema, every schema-breaking request
    (unknown query parameter, wrong type, extra body field) refused with 4xx."""
    _key_id, key = make_key(app, role, unit=ROLES[role])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # the whole document, not an empty one
    for operation in operations:
        for mode in EXAMPLES:
            try:
                _fuzz(operation, mode, key)
            except Exception as exc:  # collect all operations' failures, then report them together
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)


def _operations(client) -> list[tuple[str, str]]:
    """(method, path with demo values) of every keyed operation in the document."""
    document = client.get("/api/v1/openapi.json").get_json()
    return [(method.upper(), re.sub(r"\{[a-z_]+_id\}", "1", path.replace("{unit}", "1-1-101")))
            for path, item in document["paths"].items()
            for method, operation in item.items() if operation["security"]]


def test_unknown_query_parameters_are_refused_everywhere(app, client):
    """Protects closed query schemas: a parameter an operation does not know (a typo such as
    `stauts=ended`, or a probe) is a 400 invalid_request naming it, on every keyed operation,
    never silently ignored (which would answer more than was asked for)."""
    _key_id, key = make_key(app, "supervisor")
    operations = _operations(client)
    assert len(operations) >= 15
    for method, path in operations:
        response = client.open(f"{path}?stauts=ended", method=method, json={},
                               headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 400, (method, path, response.status_code)
        error = response.get_json()["error"]
        assert error["code"] == "invalid_request"
        assert {"loc": ["query", "stauts"], "type": "extra_forbidden"}.items() <= error["details"][0].items()


@pytest.mark.parametrize("url", ["/api/v1/vehicles?q=%00", "/api/v1/vehicles?q=%C3%28",
                                 "/api/v1/units/1-1-10%001/passes"])
def test_nul_and_undecodable_input_is_a_json_400(app, client, url):
    """Protects the API's error contract from hostile bytes: NUL or bytes that are not UTF-8 in
    the path or query string answer the documented JSON 400 with a code (kiosk_ui.query_guard),
    not a 500 from PostgreSQL nor a search for U+FFFD."""
    _key_id, key = make_key(app, "desk")
    response = client.get(url, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_unknown_route_and_method_answer_in_api_english(client):
    """Protects integrators from the kiosk's Chinese page text under /api/: an unknown route and
    a method a route does not take answer JSON with a code and an English API message."""
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert missing.get_json()["error"]["code"] == "not_found"
    assert "openapi.json" in missing.get_json()["error"]["message"]
    wrong = client.put("/api/v1/visits")
    assert wrong.status_code == 405 and wrong.mimetype == "application/json"
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "openapi.json" in wrong.get_json()["error"]["message"]
    assert "GET" in wrong.headers["Allow"]
    chinese = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"})
    assert chinese.get_json()["error"]["code"] == "not_found"


def test_unexpected_exception_is_a_json_500(app, client, monkeypatch):
    """Protects the error contract when code breaks: an exception inside an API view answers
    the documented JSON 500 `internal_error` (and is logged), never an HTML page or a trace."""
    from gate.services import resident_vehicles

    def broken(*_args, **_kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(resident_vehicles, "list_for", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: handled, not re-raised
    _key_id, key = make_key(app, "desk")
    response = client.get("/api/v1/vehicles", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 500 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "internal_error" and "simulated" not in error["message"]
    document = client.get("/api/v1/openapi.json").get_json()
    assert "500" in document["paths"]["/api/v1/vehicles"]["get"]["responses"]
