"""Every free-text field a person (or a device) can fill that a page later shows, with how to
store a value through the real route or service and where that value is rendered.

Used by tests/integration/test_hostile_text.py (every field × every payload, checked escaped)
and tests/e2e/test_xss.py (a few of the pages in a real browser).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import Shift
from gate.models.types import utcnow
from gate.services import slips, vehicles
from gate.services.passes import today
from tests.support.api import make_key
from tests.support.kiosk import GUARD, KioskActions
from tests.support.passes import host, user

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
            "{{7*7}}"]
SIGN_IN = {  # role: how, login, secret (the demo accounts of README.md)
    "guard": ("kiosk", *GUARD),
    "supervisor": ("staff", "supervisor", "supervisor-demo"),
    "service_desk": ("staff", "desk", "desk-demo"),
    "resident": ("staff", "13800000001", "resident-demo"),
    "admin": ("staff", "admin", "admin-demo"),
}
VALID_ID = "11010519491231002X"  # a valid resident ID number (check character X)
# (role who looks, path) for a GET; (role, path, form) for a POST whose redirect is the page (a scan).
Pages = list[tuple]


def signed_in(app: Flask, role: str) -> FlaskClient:
    """A test client of `app` signed in as `role`; a "guard" has started a shift, a
    "guard-unstarted" has not (the start page still lists the orders to acknowledge)."""
    client = app.test_client()
    how, login, secret = SIGN_IN[role.removesuffix("-unstarted")]
    actions = KioskActions(client)
    response = actions.login(login, secret) if how == "kiosk" else actions.login_staff(login, secret)
    assert response.status_code == 302, f"{role} could not sign in"
    if role == "guard":  # not "guard-unstarted"
        assert actions.start_shift().status_code == 302
    return client


@dataclass
class Field:
    """One free-text field: who types it, how it is stored, and the pages that show it."""

    name: str
    role: str  # who stores it (signed in); "service" for a direct service call
    store: Callable[[Flask, FlaskClient | None, str], Pages]
    may_refuse: bool = False  # a checked format (plate): refusing the payload is also safe


def _ok(response, what: str) -> None:
    assert response.status_code in (200, 201, 302), f"{what}: {response.status_code}"


def latest_shift(app: Flask) -> int:
    """The id of the newest shift (the one a guard has just started)."""
    with app.app_context():
        shift_id = db.session.scalars(select(Shift.id).order_by(Shift.id.desc())).first()
        db.session.remove()
    return shift_id


def _journal_note(app, client, text):
    _ok(client.post("/kiosk/journal/note", data={"text": text}), "note")
    return [("supervisor", f"/console/shifts/{latest_shift(app)}"), ("supervisor", "/console/book/"),
            ("guard", "/kiosk/")]


def _phone_call(app, client, text):
    data = {"when": "10:15", "who": text, "where": "1-1-101", "what": text, "why": text, "how": text,
            "pass_on_to": ""}
    _ok(client.post("/kiosk/journal/phone_call", data=data), "phone call")
    return [("supervisor", f"/console/shifts/{latest_shift(app)}"), ("guard", "/kiosk/")]


def _handover_notes(app, client, text):
    _ok(KioskActions(client).handover(notes=text), "handover")
    return [("supervisor", f"/console/shifts/{latest_shift(app)}"), ("supervisor", "/console/book/")]


def _visitor(key: str) -> Callable:
    def store(app, client, text):
        data = {"unit": "1-1-101", "id_type": "resident_id", "id_number": VALID_ID, "name": "王五",
                "purpose": "探亲", "action": "start", key: text}
        response = client.post("/kiosk/visitors/new", data=data)
        _ok(response, f"visitor {key}")
        visit = response.headers["Location"]
        return [("guard", visit), ("resident", "/portal/"), ("supervisor", "/console/book/")]
    return store


def _forced_entry(app, client, text):
    _ok(client.post("/kiosk/visitors/forced", data={"account": text}), "forced entry")
    return [("supervisor", "/console/"), ("supervisor", "/console/book/")]


def _post_order(key: str) -> Callable:
    def store(app, client, text):
        data = {"kind": "standing", "category": "safety", "title": "夜间巡逻", "body": "每两小时一次",
                "post": "", "expires": "", key: text}
        _ok(client.post("/console/orders/", data=data), f"order {key}")
        return [("supervisor", "/console/orders/"), ("guard-unstarted", "/kiosk/shift/start")]
    return store


def _script(app, client, text):
    _ok(client.post("/console/scripts/greeting/zh_CN", data={"text": text}), "script")
    return [("guard", "/kiosk/journal/note"), ("supervisor", "/console/scripts/")]


def _watchlist(key: str) -> Callable:
    def store(app, client, text):
        data = {"kind": "id", "id_type": "resident_id", "id_number": VALID_ID, "name": "张三",
                "reason": "多次尾随业主进入", key: text}
        _ok(client.post("/watchlist/add", data=data), f"watchlist {key}")
        return [("service_desk", "/watchlist/")]
    return store


def _vehicle_list_reason(app, client, text):
    data = {"list": "blocklist", "plate": "粤B99999", "reason": text}
    _ok(client.post("/console/vehicles/", data=data), "vehicle list")
    return [("supervisor", "/console/vehicles/")]


def _resident_name(app, client, text):
    data = {"unit": "1-2-301", "name": text, "phone": "13800000077", "tenancy": "owner"}
    _ok(client.post("/desk/residents/new", data=data), "resident")
    return [("service_desk", "/desk/"), ("service_desk", "/desk/residents/new?unit=1-2-301")]


def _violation(key: str) -> Callable:
    def store(app, client, text):
        data = {"type": "parking", "plate": "粤B12345", "place": "B2车库36号", "note": "堵住消防通道",
                key: text}
        response = client.post("/kiosk/violations/new", data=data, content_type="multipart/form-data")
        _ok(response, f"violation {key}")
        found = re.search(r"/kiosk/violations/(\d+)", response.headers.get("Location", ""))
        assert found, response.headers.get("Location")
        return [("guard", f"/kiosk/violations/{found.group(1)}"),
                ("guard", f"/kiosk/violations/{found.group(1)}/notice"),
                ("supervisor", "/console/violations/"),
                ("supervisor", f"/console/violations/{found.group(1)}")]
    return store


def _slip(key: str) -> Callable:
    def store(app, client, text):
        with app.test_request_context():
            resident, account = host()
            lines = [(text, 1)] if key == "goods" else [("沙发", 1)]
            slip = slips.apply(account, resident.unit, resident, via="portal", lines=lines, on_date=today(),
                               carrier_name=text if key == "carrier" else "李师傅",
                               carrier_phone="13900001111")
            slip = slips.approve(user("desk"), slip)
            slip_id, token = slip.id, slips.token_for(slip)
            db.session.remove()
        return [("service_desk", f"/desk/slips/{slip_id}"), ("service_desk", f"/desk/slips/{slip_id}/print"),
                ("resident", f"/portal/slips/{slip_id}"), ("guard", "/kiosk/slips/", {"text": token})]
    return store


def _api_pass(app, client, text):
    _id, key = make_key(app, "resident", unit="1-1-101")
    response = client.post("/api/v1/units/1-1-101/passes", json={"name": text, "purpose": text},
                           headers={"Authorization": f"Bearer {key}"})
    _ok(response, "API pass")
    pass_id = response.get_json()["id"]
    return [("resident", f"/portal/passes/{pass_id}"), ("resident", "/portal/passes/")]


def _camera_plate(app, client, text):
    with app.app_context():
        vehicles.handle_plate(PlateRead("demo", "anpr-in", f"evt-{uuid.uuid4().hex}", text, 0.96, "in",
                                        utcnow()))
        db.session.remove()
    return [("guard", "/kiosk/"), ("guard", "/kiosk/vehicles/"), ("supervisor", "/console/book/")]


FIELDS = [
    Field("journal note", "guard", _journal_note),
    Field("phone call 5W1H", "guard", _phone_call),
    Field("handover notes", "guard", _handover_notes),
    Field("visitor name", "guard", _visitor("name")),
    Field("visit purpose", "guard", _visitor("purpose")),
    Field("forced entry account", "guard", _forced_entry),
    Field("post order title", "supervisor", _post_order("title")),
    Field("post order body", "supervisor", _post_order("body")),
    Field("script text", "supervisor", _script),
    Field("watchlist reason", "service_desk", _watchlist("reason")),
    Field("vehicle list reason", "supervisor", _vehicle_list_reason),
    Field("resident name", "service_desk", _resident_name),
    Field("violation place", "guard", _violation("place")),
    Field("violation note", "guard", _violation("note")),
    Field("slip goods", "service", _slip("goods")),
    Field("slip carrier", "service", _slip("carrier")),
    Field("API pass visitor name", "service", _api_pass),
    Field("camera plate (MQTT)", "service", _camera_plate, may_refuse=True),
]
