"""API: a unit's visitor passes and release slips; resident keys reach only their own unit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gate.extensions import db
from gate.models import ReleaseSlip, VisitorPass
from gate.services import passes, slips
from tests.support.api import ApiClient, error_code, make_key, neighbour
from tests.support.passes import user

SLIP = {"items": [{"description": "沙发", "count": 1}, {"description": "纸箱", "count": 12}],
        "carrier_name": "李师傅", "carrier_phone": "13900000002", "reason": "moving_out"}


@pytest.fixture
def resident_api(app, client) -> ApiClient:
    """A resident key of 1-1-101."""
    return ApiClient(client, make_key(app, "resident", unit="1-1-101")[1])


@pytest.fixture
def desk_api(app, client) -> ApiClient:
    """A desk key of the demo estate."""
    return ApiClient(client, make_key(app, "desk")[1])


def test_create_list_and_revoke_a_pass(app, resident_api):
    """Protects the pass flow over the API: created with its token and share link, listed,
    revoked (and the gate's view of it follows)."""
    created = resident_api.post("/units/1-1-101/passes",
                                json={"name": "王访客", "plate": "粤B99999", "uses": "count", "count": 3})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "active" and body["unit"] == "1-1-101" and body["max_uses"] == 3
    assert body["token"] and body["share_url"].endswith("/p/" + body["token"])
    assert len(body["code"]) == 9 and body["code"][4] == "-"
    listed = resident_api.get("/units/1-1-101/passes").get_json()["items"]
    assert [p["id"] for p in listed] == [body["id"]]
    revoked = resident_api.post(f"/units/1-1-101/passes/{body['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked" and revoked.get_json()["token"] is None
    again = resident_api.post(f"/units/1-1-101/passes/{body['id']}/revoke")
    assert again.status_code == 422 and error_code(again) == "already_revoked"
    with app.app_context():
        assert db.session.get(VisitorPass, body["id"]).revoked_at is not None


def test_pass_refusals(resident_api):
    """Protects validation: schema errors are 400 with locations and no echoed values; the
    service's rules are 422 with the service's code."""
    response = resident_api.post("/units/1-1-101/passes", json={"name": "王", "uses": "often",
                                                                "phone": "secret-13800000001"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert ["body", "uses"] in [d["loc"] for d in error["details"]]
    assert "13800000001" not in response.get_data(as_text=True)
    bad_phone = resident_api.post("/units/1-1-101/passes", json={"name": "王", "phone": "12"})
    assert bad_phone.status_code == 422 and error_code(bad_phone) == "bad_phone"
    past = resident_api.post("/units/1-1-101/passes", json={"name": "王", "starts_on": "2001-01-01"})
    assert past.status_code == 422 and error_code(past) == "past_window"
    not_json = resident_api.open("POST", "/units/1-1-101/passes", data="name=x",
                                 content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 400


def test_resident_key_cannot_reach_another_unit(app, client, resident_api):
    """Protects households from each other (IDOR): every URL naming another unit or its pass or
    slip is 404 not_found for a resident key, never 403 or data."""
    other = neighbour(app)
    desk = ApiClient(client, make_key(app, "desk")[1])
    their_pass = desk.post("/units/1-1-102/passes", json={"name": "客人"}).get_json()["id"]
    their_slip = desk.post("/units/1-1-102/slips", json={**SLIP, "applicant_id": other}).get_json()["id"]
    for method, path in (("GET", "/units/1-1-102/passes"), ("POST", "/units/1-1-102/passes"),
                         ("POST", f"/units/1-1-102/passes/{their_pass}/revoke"),
                         ("POST", f"/units/1-1-101/passes/{their_pass}/revoke"),
                         ("GET", "/units/1-1-102/slips"), ("POST", "/units/1-1-102/slips"),
                         ("GET", f"/slips/{their_slip}")):
        body = SLIP if path.endswith("/slips") else {"name": "x"} if path.endswith("/passes") else None
        response = resident_api.open(method, path, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
        assert error_code(response) == "not_found"
    with app.app_context():
        assert db.session.get(VisitorPass, their_pass).revoked_at is None


def test_desk_creates_a_pass_for_any_unit(app, desk_api):
    """Protects the desk's scope: passes for any unit of the estate, on behalf of its resident."""
    other = neighbour(app)
    response = desk_api.post("/units/1-1-102/passes", json={"name": "客人", "resident_id": other})
    assert response.status_code == 201
    nobody = desk_api.post("/units/1-1-201/passes", json={"name": "客人"})
    assert nobody.status_code == 422 and error_code(nobody) == "no_resident"
    unknown = desk_api.get("/units/9-9-999/passes")
    assert unknown.status_code == 404 and error_code(unknown) == "not_found"


def test_worker_passes_cannot_be_revoked_here(app, desk_api):
    """Protects the desk's worker passes from the visitor-pass endpoint: 404."""
    from tests.support.passes import worker_pass

    with app.app_context():
        worker_id = worker_pass().id
    assert desk_api.post(f"/units/1-1-101/passes/{worker_id}/revoke").status_code == 404


def test_apply_and_read_a_slip(app, resident_api):
    """Protects slips over the API: apply, list, read; once approved the serial and QR appear."""
    applied = resident_api.post("/units/1-1-101/slips", json=SLIP)
    assert applied.status_code == 201, applied.get_json()
    slip = applied.get_json()
    assert slip["state"] == "pending" and slip["qr"] is None
    assert [i["description"] for i in slip["items"]] == ["沙发", "纸箱"]
    assert "carrier_phone" not in slip
    listed = resident_api.get("/units/1-1-101/slips").get_json()["items"]
    assert [s["id"] for s in listed] == [slip["id"]]
    with app.app_context():
        slips.approve(user("desk"), db.session.get(ReleaseSlip, slip["id"]))
    read = resident_api.get(f"/slips/{slip['id']}").get_json()
    assert read["status"] == "approved" and read["serial"].startswith("FX-") and read["qr"]


def test_slip_refusals(resident_api, desk_api):
    """Protects the slip rules: bad lines are 400, service rules 422; only staff record consent."""
    empty = resident_api.post("/units/1-1-101/slips", json={**SLIP, "items": []})
    assert empty.status_code == 400
    phone = resident_api.post("/units/1-1-101/slips", json={**SLIP, "carrier_phone": "1"})
    assert phone.status_code == 422 and error_code(phone) == "carrier_phone"
    consent = resident_api.post("/units/1-1-101/slips", json={**SLIP, "consent_note": "I agree"})
    assert consent.status_code == 422 and error_code(consent) == "consent_not_allowed"
    far = desk_api.post("/units/1-1-101/slips", json={**SLIP, "on_date": "2099-01-01"})
    assert far.status_code == 422 and error_code(far) == "date_too_far"
    assert desk_api.get("/slips/999999").status_code == 404
    assert desk_api.get(f"/slips/{2**31}").status_code == 404


def test_tenant_application_waits_for_consent_unless_the_desk_records_it(app, desk_api):
    """Protects the consent rule: a tenant's slip waits, unless the desk key notes the consent."""
    tenant = neighbour(app, owner=False)
    waiting = desk_api.post("/units/1-1-102/slips", json={**SLIP, "applicant_id": tenant}).get_json()
    assert waiting["state"] == "pending_consent"
    noted = desk_api.post("/units/1-1-102/slips", json={**SLIP, "applicant_id": tenant,
                                                        "consent_note": "业主赵女士电话同意"}).get_json()
    assert noted["state"] == "pending"


def test_expired_pass_shows_no_token(app, resident_api):
    """Protects visitors' links: a pass that is over carries no token or share link."""
    created = resident_api.post("/units/1-1-101/passes", json={"name": "王访客"}).get_json()
    with app.app_context():
        row = db.session.get(VisitorPass, created["id"])
        row.valid_from -= timedelta(days=3)
        row.valid_until = row.valid_from + timedelta(hours=1)
        db.session.commit()
        assert passes.status(row) == "expired"
    listed = resident_api.get("/units/1-1-101/passes").get_json()["items"]
    assert listed[0]["status"] == "expired" and listed[0]["token"] is None
