"""Residents reach only their own household's records: the IDOR tests are kept complete.

Every URL a resident can open that names a record or a unit (a portal page, or an /api/v1
operation a resident key may call) has a test that opens it as ANOTHER household and expects
404 with nothing changed. Those tests live beside their flows; this file lists them and
enumerates the routes from the URL map and the API registry, so a new id-bearing resident
route fails here until its IDOR test exists and names its path. Other estates' ids are
test_site_isolation.py's (portal and console) and test_api_sites.py's (API).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

from flask import Flask

from gate.services.auth import allowed_roles, roles_required
from kiosk_ui.api.registry import ENDPOINTS
from tests.integration import test_api_units, test_portal_host, test_portal_passes, test_slips_apply

# Portal endpoint (resident session) -> the test that opens it as a neighbour.
PORTAL: dict[str, Callable] = {
    "portal.answer": test_portal_host.test_other_units_resident_cannot_answer,
    "portal_slips.show": test_slips_apply.test_other_household_gets_404,
    "portal_slips.printable": test_slips_apply.test_other_household_gets_404,
    "portal_slips.consent": test_slips_apply.test_other_household_gets_404,
    "passes.show": test_portal_passes.test_other_units_pass_is_not_found,
    "passes.qr": test_portal_passes.test_other_units_pass_is_not_found,
    "passes.revoke": test_portal_passes.test_other_units_pass_is_not_found,
}
# API operation a resident key may call (function name) -> the test that calls it as a neighbour.
API: dict[str, Callable] = {
    name: test_api_units.test_resident_key_cannot_reach_another_unit
    for name in ("list_passes", "create_pass", "revoke_pass", "list_slips", "apply_slip", "get_slip")
}
_ARG = re.compile(r"<(?:[a-z]+:)?[a-z_]+>")


def _path_pattern(rule: str, prefix: str = "") -> re.Pattern[str]:
    """The rule as the tests write it: arguments as literals, {placeholders} or f-string fields."""
    parts = _ARG.split(rule[len(prefix):])
    return re.compile(r"[^/\"'\s]+".join(re.escape(p) for p in parts))


def resident_routes(app: Flask) -> list[tuple[str, str]]:
    """(endpoint, rule) of each signed-in resident route whose URL carries an argument."""
    return sorted((r.endpoint, r.rule) for r in app.url_map.iter_rules()
                  if r.arguments and r.endpoint != "static"
                  and "resident" in (allowed_roles(app, r.endpoint) or ()))


def resident_operations() -> list[tuple[str, str]]:
    """(function name, rule) of each /api/v1 operation open to resident keys with path arguments."""
    return sorted((spec.name, spec.rule) for spec in ENDPOINTS
                  if spec.path_args and "resident" in spec.scopes and not spec.public)


def uncovered(app: Flask) -> list[str]:
    """Resident routes and operations with an argument but no IDOR test that opens their path."""
    missing = []
    for kind, found, tests in (("route", resident_routes(app), PORTAL),
                               ("API operation", resident_operations(), API)):
        for name, rule in found:
            test = tests.get(name)
            if test is None:
                missing.append(f"{kind} {name} ({rule}) has no IDOR test")
            elif not _path_pattern(rule, "/api/v1" if rule.startswith("/api/v1") else "").search(
                    inspect.getsource(test)):
                missing.append(f"{test.__name__} does not open {rule} ({name})")
    return missing


def test_every_resident_route_with_an_id_has_an_idor_test(app):
    """Protects households from each other as routes are added: each resident URL naming a
    record or a unit is opened by a test as another household (404, nothing changed)."""
    assert len(resident_routes(app)) >= len(PORTAL) and resident_operations()
    assert uncovered(app) == []


def test_a_new_resident_route_is_caught(app):
    """Protects the check above from passing vacuously: an id-bearing resident route added
    without an IDOR test is reported by name."""
    @roles_required("resident")
    def peek(note_id: int) -> str:
        return str(note_id)

    app.add_url_rule("/portal/notes/<int:note_id>", "portal_notes.peek", peek)
    assert uncovered(app) == ["route portal_notes.peek (/portal/notes/<int:note_id>) has no IDOR test"]


def test_idor_tests_say_what_they_protect():
    """Protects the listing from pointing at tests that check something else: each named test
    says in its docstring that it keeps households (or the host's decision) apart."""
    for test in {*PORTAL.values(), *API.values()}:
        doc = (test.__doc__ or "").lower()
        assert "another unit" in doc or "other unit" in doc or "households" in doc, test.__name__
