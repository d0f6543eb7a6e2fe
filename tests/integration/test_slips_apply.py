"""Goods release slips (放行条, SPEC §2.3) on the resident portal and the service desk: apply,
owner consent, approve or refuse, fees flag, lists, print and CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import ReleaseSlip, Resident, ShiftBookEntry, Site, Unit
from gate.models.types import utcnow
from gate.services import passes, transaction
from gate.services.users import add_user

OWNER = ("13800000001", "resident-demo")  # 陈先生, owner of unit 1-1-101 (demo)
TENANT = ("13800000003", "tenant-demo")  # 王女士, rents in 1-1-101 (added here)
NEIGHBOUR = ("13800000002", "neighbour-demo")  # 刘女士, unit 1-1-102 (added here)
DESK = ("desk", "desk-demo")
SUPERVISOR = ("supervisor", "supervisor-demo")
SLIP_URL = re.compile(r"/(?:portal|desk)/slips/(\d+)$")
ID_NUMBER = "11010519491231002X"


def _site() -> Site:
    return db.session.scalars(select(Site).where(Site.code == "demo")).one()


def _unit(code: str) -> Unit:
    return db.session.scalars(select(Unit).where(Unit.site_id == _site().id, Unit.code == code)).one()


def _add_resident(phone: str, password: str, name: str, unit_code: str, is_owner: bool) -> None:
    with transaction():
        user = add_user(_site(), role="resident", username=f"r{phone}", display_name=name,
                        password=password, phone=phone)
        db.session.add(Resident(unit_id=_unit(unit_code).id, user_id=user.id, name=name, phone=phone,
                                is_owner=is_owner))


@pytest.fixture
def people(app) -> None:
    """A tenant in 1-1-101 and a neighbour (owner) in 1-1-102, both with portal accounts."""
    with app.app_context():
        _add_resident(TENANT[0], TENANT[1], "王女士", "1-1-101", False)
        _add_resident(NEIGHBOUR[0], NEIGHBOUR[1], "刘女士", "1-1-102", True)


def _login(app, who) -> FlaskClient:
    """A fresh client signed in on the desktop login page, in English."""
    client = app.test_client()
    client.get("/login?lang=en")
    assert client.post("/login", data={"login": who[0], "password": who[1]}).status_code == 302
    return client


def _day(app, days: int = 0) -> str:
    with app.app_context():
        return (passes.today() + timedelta(days=days)).isoformat()


def _form(app, **changes) -> dict:
    """The apply form as the phone posts it: two items plus three blank rows, today, moving out."""
    data = {"item": ["沙发", "纸箱", "", "", ""], "count": ["1", "12", "", "", ""], "on_date": _day(app),
            "carrier_name": "李师傅", "carrier_phone": "13900001111", "plate": "", "reason": "moving_out"}
    data.update(changes)
    return data


def _apply(app, client, **changes) -> int:
    response = client.post("/portal/slips/new", data=_form(app, **changes))
    assert response.status_code == 302, response.get_data(True)[:3000]
    return int(SLIP_URL.search(response.headers["Location"]).group(1))


def _slip(app, slip_id: int) -> ReleaseSlip:
    with app.app_context():
        row = db.session.get(ReleaseSlip, slip_id)
        db.session.expunge(row)
        return row


def _counts(app) -> tuple[int, int]:
    """(slips, slip.applied entries): what a refused application must leave unchanged."""
    with app.app_context():
        return (db.session.scalar(select(func.count(ReleaseSlip.id))),
                db.session.scalar(select(func.count(ShiftBookEntry.id))
                                  .where(ShiftBookEntry.kind == "slip.applied")))


def test_apply_approve_serials_and_qr(app):
    """Protects the main path: a resident applies on the portal, the desk approves, serials run
    FX-<year>-000001, 000002; the portal shows the serial, QR and print link and a notice."""
    owner, desk = _login(app, OWNER), _login(app, DESK)
    form = owner.get("/portal/slips/new").get_data(True)
    assert f'name="on_date" type="date" value="{_day(app)}"' in form
    assert form.count('name="item"') == 5 and 'data-role="add-line"' in form
    before = _counts(app)
    first, second = _apply(app, owner), _apply(app, owner, reason="sale")
    assert _counts(app) == (before[0] + 2, before[1] + 2)
    assert _slip(app, first).state == "pending"
    assert [(i.description, i.count) for i in _slip_items(app, first)] == [("沙发", 1), ("纸箱", 12)]
    home = owner.get("/portal/").get_data(True)
    assert f'data-testid="home-slip-{first}"' in home and "Waiting for the service desk" in home
    assert owner.get(f"/portal/slips/{first}").get_data(True).count("<svg") == 0
    waiting = desk.get("/desk/slips/").get_data(True)
    assert 'data-testid="waiting-slips"' in waiting and f'data-testid="slip-{first}"' in waiting
    assert desk.post(f"/desk/slips/{first}/approve").status_code == 302
    assert desk.post(f"/desk/slips/{second}/approve").status_code == 302
    year = _day(app)[:4]
    assert _slip(app, first).serial == f"FX-{year}-000001"
    assert _slip(app, second).serial == f"FX-{year}-000002"
    page = owner.get(f"/portal/slips/{first}").get_data(True)
    assert "<svg" in page and f"FX-{year}-000001" in page and f"/portal/slips/{first}/print" in page
    assert 'data-status="approved"' in page
    home = owner.get("/portal/").get_data(True)
    assert f"Release slip FX-{year}-000001 approved at" in home
    polled = owner.get("/portal/requests").get_json()["notices"]
    assert any(n["kind"] == "slip_approved" and "FX-" in n["text"] for n in polled)


def _slip_items(app, slip_id: int):
    with app.app_context():
        slip = db.session.get(ReleaseSlip, slip_id)
        rows = list(slip.items)
        for row in rows:
            db.session.expunge(row)
        return rows


def test_printable_slip(app):
    """Protects the paper the guard keeps: serial, items with counts and total, masked carrier
    phone, signature lines, both sizes; a slip not approved has no printable page."""
    owner, desk = _login(app, OWNER), _login(app, DESK)
    slip_id = _apply(app, owner, plate="粤B12345")
    assert desk.get(f"/desk/slips/{slip_id}/print").status_code == 404
    assert owner.get(f"/portal/slips/{slip_id}/print").status_code == 404
    desk.post(f"/desk/slips/{slip_id}/approve")
    serial = _slip(app, slip_id).serial
    for size in ("a5", "80mm"):
        page = desk.get(f"/desk/slips/{slip_id}/print?size={size}").get_data(True)
        assert f"release-slip size-{size}" in page and serial in page and "<svg" in page
        assert "沙发" in page and "纸箱" in page and 'data-testid="slip-total">13<' in page
        assert "139****1111" in page and "13900001111" not in page and "粤B12345" in page
        assert "Applicant" in page and "Gate guard" in page and "Service centre" in page
    assert serial in owner.get(f"/portal/slips/{slip_id}/print").get_data(True)


def test_refuse_reason_reaches_portal(app):
    """Protects the resident's right to know why: the desk must give a reason, and the portal
    shows it with a notice."""
    owner, desk = _login(app, OWNER), _login(app, DESK)
    slip_id = _apply(app, owner)
    empty = desk.post(f"/desk/slips/{slip_id}/refuse", data={"reason": " "})
    assert empty.status_code == 422 and "Say why the application is refused." in empty.get_data(True)
    assert desk.post(f"/desk/slips/{slip_id}/refuse", data={"reason": "物业费未结清"}).status_code == 302
    page = owner.get(f"/portal/slips/{slip_id}").get_data(True)
    assert 'data-status="refused"' in page and "物业费未结清" in page and "<svg" not in page
    assert "Your release slip application was refused at" in owner.get("/portal/").get_data(True)


def test_fees_flag_blocks_approval(app):
    """Protects the fees rule: while the desk flags a unit's fees, approval is refused with a clear
    message (the list shows the flag); clearing the flag lets it through."""
    owner, desk = _login(app, OWNER), _login(app, DESK)
    slip_id = _apply(app, owner)
    unit_id = _slip(app, slip_id).unit_id
    assert desk.post(f"/desk/slips/units/{unit_id}/fees",
                     data={"outstanding": "1", "slip_id": str(slip_id)}).status_code == 302
    assert f'data-testid="fees-{slip_id}"' in desk.get("/desk/slips/").get_data(True)
    refused = desk.post(f"/desk/slips/{slip_id}/approve")
    assert refused.status_code == 422
    assert "The unit has outstanding fees." in refused.get_data(True)
    assert _slip(app, slip_id).state == "pending"
    desk.post(f"/desk/slips/units/{unit_id}/fees", data={"outstanding": "0"})
    assert desk.post(f"/desk/slips/{slip_id}/approve").status_code == 302
    assert _slip(app, slip_id).state == "approved"


def test_tenant_needs_owner_consent(app, people):
    """Protects the owner's say: a tenant's application waits for consent; the desk cannot approve
    it before; the tenant cannot consent to their own; the owner on the portal, or the desk with a
    note naming the owner, can."""
    tenant, owner, desk = _login(app, TENANT), _login(app, OWNER), _login(app, DESK)
    assert 'data-testid="tenant-note"' in tenant.get("/portal/slips/new").get_data(True)
    slip_id = _apply(app, tenant)
    assert _slip(app, slip_id).state == "pending_consent"
    assert desk.post(f"/desk/slips/{slip_id}/approve").status_code == 422
    assert 'data-testid="consent"' not in tenant.get(f"/portal/slips/{slip_id}").get_data(True)
    tenant.post(f"/portal/slips/{slip_id}/consent")
    assert _slip(app, slip_id).state == "pending_consent"
    assert 'data-testid="consent"' in owner.get(f"/portal/slips/{slip_id}").get_data(True)
    assert owner.post(f"/portal/slips/{slip_id}/consent").status_code == 302
    assert _slip(app, slip_id).state == "pending"
    assert desk.post(f"/desk/slips/{slip_id}/approve").status_code == 302
    by_desk = _apply(app, tenant)
    assert desk.post(f"/desk/slips/{by_desk}/consent", data={"note": ""}).status_code == 422
    assert desk.post(f"/desk/slips/{by_desk}/consent", data={"note": "业主陈先生电话同意"}).status_code == 302
    row = _slip(app, by_desk)
    assert (row.state, row.consent_note) == ("pending", "业主陈先生电话同意")


def test_desk_applies_on_behalf(app, people):
    """Protects the counter path: the desk picks the unit and applicant; a tenant with the owner's
    consent note goes straight to pending, without it waits for consent; moved-out residents are
    not offered."""
    desk = _login(app, DESK)
    with app.app_context():
        rows = db.session.scalars(select(Resident).where(Resident.unit_id == _unit("1-1-101").id)).all()
        tenant_id = next(r.id for r in rows if not r.is_owner)
    page = desk.get("/desk/slips/new?unit=1-1-101").get_data(True)
    assert f'data-testid="applicant-{tenant_id}"' in page
    assert desk.get("/desk/slips/new?unit=9-9-999").status_code == 422
    data = _form(app, unit="1-1-101", applicant=str(tenant_id), consent_note="业主陈先生当面同意")
    response = desk.post("/desk/slips/new", data=data)
    assert response.status_code == 302
    row = _slip(app, int(SLIP_URL.search(response.headers["Location"]).group(1)))
    assert (row.state, row.applied_via, row.resident_id) == ("pending", "desk", tenant_id)
    response = desk.post("/desk/slips/new", data=dict(data, consent_note=""))
    assert _slip(app, int(SLIP_URL.search(response.headers["Location"]).group(1))).state == "pending_consent"
    before = _counts(app)
    assert desk.post("/desk/slips/new", data=dict(data, applicant="")).status_code == 422
    assert _counts(app) == before


BAD_INPUT = {
    "zero count": ({"count": ["0", "12"]}, "count must be a whole number"),
    "negative count": ({"count": ["-3", "12"]}, "count must be a whole number"),
    "non-numeric count": ({"count": ["两", "12"]}, "count must be a whole number"),
    "200 lines": ({"item": [f"箱子{i}" for i in range(200)], "count": ["1"] * 200}, "At most 50 lines"),
    "51 lines": ({"item": [f"箱子{i}" for i in range(51)], "count": ["1"] * 51}, "At most 50 lines"),
    "empty item text": ({"item": ["", "纸箱"], "count": ["1", "12"]}, "say what the item is"),
    "no items": ({"item": ["", ""], "count": ["", ""]}, "List at least one item"),
    "bad phone": ({"carrier_phone": "12345"}, "11-digit mobile"),
    "bad plate": ({"plate": "ABC"}, "not a valid plate"),
    "no carrier": ({"carrier_name": " "}, "Enter the name of the person"),
    "bad reason": ({"reason": "smuggling"}, "Choose why the goods leave"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT) + ["past date", "date too far", "bad date"])
def test_bad_input_creates_nothing(app, case):
    """Protects the register from junk: every invalid application is refused with one clear error
    (422, what was typed kept) and leaves no slip and no shift-book entry."""
    owner = _login(app, OWNER)
    if case in BAD_INPUT:
        changes, message = BAD_INPUT[case]
    else:
        days = {"past date": -1, "date too far": 31}.get(case)
        changes = {"on_date": _day(app, days) if days is not None else "2025-13-40"}
        message = {"past date": "The date has passed", "date too far": "at most 30 days ahead",
                   "bad date": "year-month-day"}[case]
    before = _counts(app)
    response = owner.post("/portal/slips/new", data=_form(app, **changes))
    page = response.get_data(True)
    assert response.status_code == 422
    assert message in page and page.count('data-testid="form-error"') == 1
    assert 'value="李师傅"' in page or case == "no carrier"
    assert _counts(app) == before


@pytest.mark.parametrize("method,path", [("GET", "/portal/slips/{id}"), ("GET", "/portal/slips/{id}/print"),
                                         ("POST", "/portal/slips/{id}/consent")])
def test_other_household_gets_404(app, people, method, path):
    """Protects privacy between households: a resident of another unit cannot see, print or
    consent to the first unit's slip; the answer is 404 like an id that does not exist."""
    owner, desk, neighbour = _login(app, OWNER), _login(app, DESK), _login(app, NEIGHBOUR)
    slip_id = _apply(app, owner)
    desk.post(f"/desk/slips/{slip_id}/approve")
    assert neighbour.open(path.format(id=slip_id), method=method).status_code == 404
    assert neighbour.open(path.format(id=999999), method=method).status_code == 404
    assert owner.open(path.format(id=slip_id), method=method).status_code != 404
    assert _slip(app, slip_id).state == "approved"


def test_desk_list_filters(app, people):
    """Protects the desk's overview: filters by status, date range and unit select the right slips."""
    owner, neighbour, desk = _login(app, OWNER), _login(app, NEIGHBOUR), _login(app, DESK)
    today_id = _apply(app, owner)
    later_id = _apply(app, owner, on_date=_day(app, 5))
    other_id = _apply(app, neighbour)
    desk.post(f"/desk/slips/{today_id}/approve")

    def listed(query: str) -> set[int]:
        page = desk.get(f"/desk/slips/?{query}").get_data(True)
        return {int(n) for n in re.findall(r'data-testid="slip-(\d+)"', page)}

    assert listed("") == {today_id, later_id, other_id}
    assert listed("status=approved") == {today_id}
    assert listed("status=pending") == {later_id, other_id}
    assert listed(f"from={_day(app, 1)}") == {later_id}
    assert listed(f"to={_day(app)}") == {today_id, other_id}
    assert listed("unit=1-1-102") == {other_id}
    assert listed("unit=1-1-102&status=approved") == set()
    assert "does not exist" in desk.get("/desk/slips/?unit=9-9-999").get_data(True)


def test_csv_export(app):
    """Protects the export for Excel: UTF-8 with BOM, a header row, one row per slip with the
    carrier's phone masked, and never an ID number, not even masked; supervisors can export."""
    owner, desk = _login(app, OWNER), _login(app, DESK)
    slip_id = _apply(app, owner, plate="粤B12345")
    _apply(app, owner, item=["=cmd|' /C calc'!A0", ""], count=["1", ""])
    desk.post(f"/desk/slips/{slip_id}/approve")
    with app.app_context():
        slip = db.session.get(ReleaseSlip, slip_id)
        slip.carrier_id_masked, slip.carrier_id_hash = "110105********002X", "ab" * 32
        slip.released_at, slip.state = utcnow(), "released"
        db.session.commit()
        serial = slip.serial
    for client in (desk, _login(app, SUPERVISOR)):
        response = client.get("/desk/slips/export.csv")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.data.startswith(b"\xef\xbb\xbf")
        text = response.data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:4] == ["Serial", "Date", "Unit", "Status"] and len(rows) == 3
        row = next(r for r in rows if r[0] == serial)
        assert row[2] == "1-1-101" and "沙发 ×1" in row[5] and row[6] == "13"
        assert "139****1111" in row and "粤B12345" in row and row[3] == "Goods released"
        assert "13900001111" not in text and ID_NUMBER not in text and "002X" not in text
        assert "'=cmd" in text  # a formula in a description stays text in Excel
    filtered = desk.get("/desk/slips/export.csv?status=pending").data.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(filtered)))) == 2


def test_moved_out_resident_cannot_apply(app, people):
    """Protects the register after moving out: the account gets no form and its posts create
    nothing; the desk cannot apply on the moved-out resident's behalf either."""
    tenant, desk = _login(app, TENANT), _login(app, DESK)
    with app.app_context():
        resident = db.session.scalars(select(Resident).where(Resident.phone == TENANT[0])).one()
        resident.moved_out_at = utcnow()
        db.session.commit()
        resident_id = resident.id
    before = _counts(app)
    assert tenant.get("/portal/slips/new").status_code == 302
    response = tenant.post("/portal/slips/new", data=_form(app))
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/")
    offered = desk.get("/desk/slips/new?unit=1-1-101").get_data(True)
    assert f'data-testid="applicant-{resident_id}"' not in offered
    refused = desk.post("/desk/slips/new", data=_form(app, unit="1-1-101", applicant=str(resident_id)))
    assert refused.status_code == 422 and "has moved out" in refused.get_data(True)
    assert _counts(app) == before


def test_pages_render_for_each_role(app, people):
    """Protects every slip page from crashing in either language: lists, details in each state,
    forms; supervisors read without decision buttons; the desk and console link to the list."""
    tenant, owner, desk = _login(app, TENANT), _login(app, OWNER), _login(app, DESK)
    supervisor = _login(app, SUPERVISOR)
    waiting, approved = _apply(app, tenant), _apply(app, owner)
    desk.post(f"/desk/slips/{approved}/approve")
    for lang in ("zh_CN", "en"):
        for client, paths in ((owner, ["/portal/", "/portal/slips/", f"/portal/slips/{waiting}",
                                       f"/portal/slips/{approved}", "/portal/slips/new"]),
                              (desk, ["/desk/", "/desk/slips/", f"/desk/slips/{waiting}",
                                      f"/desk/slips/{approved}", "/desk/slips/new",
                                      "/desk/slips/new?unit=1-1-101"]),
                              (supervisor, ["/console/", "/desk/slips/", f"/desk/slips/{approved}"])):
            for path in paths:
                sep = "&" if "?" in path else "?"
                assert client.get(f"{path}{sep}lang={lang}").status_code == 200, (lang, path)
    mine = owner.get("/portal/slips/").get_data(True)
    assert f'data-testid="slip-{waiting}"' in mine and f'data-testid="slip-{approved}"' in mine
    assert 'data-testid="slips-link"' in desk.get("/desk/").get_data(True)
    assert 'data-testid="slips-link"' in supervisor.get("/console/").get_data(True)
    assert 'data-testid="desk-consent"' in desk.get(f"/desk/slips/{waiting}").get_data(True)
    read_only = supervisor.get(f"/desk/slips/{waiting}").get_data(True)
    assert 'data-testid="desk-consent"' not in read_only and 'data-testid="refuse"' not in read_only
    assert supervisor.post(f"/desk/slips/{waiting}/refuse", data={"reason": "x"}).status_code == 403
