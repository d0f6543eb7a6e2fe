"""Visitor passes on the resident portal: create, list, show, revoke; the visitor's share page;
notices from the gate on the portal (SPEC §2.2)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from gate.domain import passes as tokens
from gate.extensions import db
from gate.models import PortalNotice, Resident, ShiftBookEntry, Site, Unit, User, VisitorPass
from gate.models.types import utcnow
from gate.services import notices, pass_gate, passes, transaction
from gate.services.users import add_user

RESIDENT = ("13800000001", "resident-demo")  # 陈先生, unit 1-1-101
NEIGHBOUR = ("13800000002", "neighbour-demo")  # 刘女士, unit 1-1-102 (added here)
PASS_URL = re.compile(r"/portal/passes/(\d+)$")


@pytest.fixture
def neighbour(app) -> int:
    """A second resident with a portal account, living in unit 1-1-102."""
    with app.app_context():
        site = _site()
        with transaction():
            user = add_user(site, role="resident", username="r13800000002", display_name="刘女士",
                            password=NEIGHBOUR[1], phone=NEIGHBOUR[0])
            unit = db.session.scalars(select(Unit).where(Unit.site_id == site.id,
                                                         Unit.code == "1-1-102")).one()
            db.session.add(Resident(unit_id=unit.id, user_id=user.id, name="刘女士", phone=NEIGHBOUR[0]))
        return user.id


def _site() -> Site:
    return db.session.scalars(select(Site).where(Site.code == "demo")).one()


def _login(client, who=RESIDENT) -> None:
    """Sign in on the desktop login page, in English so messages can be compared."""
    client.get("/login?lang=en")
    assert client.post("/login", data={"login": who[0], "password": who[1]}).status_code == 302


def _counts(app) -> tuple[int, int]:
    """(visitor passes, shift-book entries): what a refused create must leave unchanged."""
    with app.app_context():
        return (db.session.scalar(select(func.count(VisitorPass.id))),
                db.session.scalar(select(func.count(ShiftBookEntry.id))))


def _today(app) -> datetime:
    with app.app_context():
        return datetime.combine(passes.today(), time(0, 0))


def _day(app, days: int) -> str:
    return (_today(app) + timedelta(days=days)).date().isoformat()


def _create(client, **fields: str):
    """Post the create form as the phone sends it: today, whole day, once, unless told otherwise."""
    data = {"name": "王小明", "phone": "", "plate": "", "purpose": "", "uses": "single", "count": "",
            "start_time": "00:00", "end_time": "23:59"}
    data.update(fields)
    return client.post("/portal/passes/new", data=data)


def _created(client, **fields: str) -> int:
    response = _create(client, **fields)
    assert response.status_code == 302, response.get_data(True)[:2000]
    return int(PASS_URL.search(response.headers["Location"]).group(1))


def _pass(app, pass_id: int) -> VisitorPass:
    with app.app_context():
        row = db.session.get(VisitorPass, pass_id)
        db.session.expunge(row)
        return row


def _token(app, pass_id: int) -> str:
    with app.app_context():
        return passes.token_for(db.session.get(VisitorPass, pass_id))


def test_create_with_defaults(app, client):
    """Protects the one-tap pass: the form starts at today 00:00–23:59 site time, once; posting only
    a name makes exactly that pass, with its shift-book entry, and lands on the pass page."""
    _login(client)
    form = client.get("/portal/passes/new").get_data(True)
    today = _day(app, 0)
    assert f'name="starts_on" type="date" value="{today}"' in form
    assert f'name="ends_on" type="date" value="{today}"' in form
    assert 'value="00:00"' in form and 'value="23:59"' in form
    assert re.search(r'value="single"\s+checked', form)
    before = _counts(app)
    response = client.post("/portal/passes/new", data={"name": "王小明"})
    assert response.status_code == 302
    pass_id = int(PASS_URL.search(response.headers["Location"]).group(1))
    row = _pass(app, pass_id)
    with app.app_context():
        zone = passes.site_zone()
        start = datetime.combine(passes.today(), time(0, 0), zone)
        resident = db.session.scalars(select(User).where(User.phone == RESIDENT[0])).one()
        [entry] = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "pass.created"))
        assert row.created_by == entry.actor_id == resident.id
    assert row.valid_from == start and row.valid_until == start + timedelta(days=1)
    assert (row.max_uses, row.uses, row.kind, row.visitor_name) == (1, 0, "visitor", "王小明")
    assert _counts(app) == (before[0] + 1, before[1] + 1)
    page = client.get(f"/portal/passes/{pass_id}").get_data(True)
    assert tokens.display_code(row.code) in page and 'data-status="active"' in page
    assert f"{today} 00:00–23:59" in page and "1 of 1 use left" in page
    assert "<svg" in page and 'data-testid="share"' in page


COUNT_MESSAGE = "Enter how many times the pass may be used (1 to 100)."
BAD_INPUTS = {
    "empty name": ({"name": "  "}, "Enter the visitor's name."),
    "bad phone": ({"phone": "12345"}, "The phone must be an 11-digit mobile number, or leave it empty."),
    "bad plate": ({"plate": "ABC"}, "That is not a valid plate (e.g. 粤B12345). Check it or leave it empty."),
    "ends before start": ({"starts_on": 2, "ends_on": 1}, "The pass must end after it starts."),
    "past date": ({"starts_on": -1, "ends_on": 0}, "The pass cannot start on a past date."),
    "all in the past": ({"starts_on": -2, "ends_on": -1}, "That time has already passed."),
    "too long": ({"starts_on": 0, "ends_on": 7}, "A pass can cover at most 7 days."),
    "zero times": ({"uses": "count", "count": "0"}, COUNT_MESSAGE),
    "too many times": ({"uses": "count", "count": "101"}, COUNT_MESSAGE),
    "no number": ({"uses": "count", "count": ""}, COUNT_MESSAGE),
    "unknown uses": ({"uses": "forever"}, "Choose once, a number of times, or unlimited."),
    "bad date": ({"starts_on": "2025-13-45"}, "Enter the dates as year-month-day"),
}


@pytest.mark.parametrize("fields, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_creates_nothing(app, client, fields, message):
    """Protects the shift book and the gate from bad passes: each mistake gets its own message,
    nothing is created or recorded, and the form keeps what the resident typed."""
    _login(client)
    data = {key: _day(app, value) if isinstance(value, int) else value for key, value in fields.items()}
    data.setdefault("purpose", "送月饼")
    before = _counts(app)
    response = _create(client, **data)
    page = response.get_data(True)
    assert response.status_code == 422
    assert 'data-testid="form-error"' in page and str(escape(message)) in page
    assert page.count('class="flash error"') == 1
    assert 'value="送月饼"' in page and 'aria-invalid="true"' in page
    assert _counts(app) == before


def test_plate_and_phone_are_normalised(app, client):
    """Protects ANPR matching: a plate typed in lower case with spaces is stored as the camera reads it."""
    _login(client)
    pass_id = _created(client, plate="粤b 12345", phone="139 1234 5678")
    row = _pass(app, pass_id)
    assert (row.plate, row.visitor_phone) == ("粤B12345", "13912345678")
    assert "粤B12345" in client.get(f"/portal/passes/{pass_id}").get_data(True)


def test_count_and_window_are_kept(app, client):
    """Protects what the resident chose: N uses and a multi-day window with times, in site time."""
    _login(client)
    pass_id = _created(client, uses="count", count="3", starts_on=_day(app, 1), ends_on=_day(app, 2),
                       start_time="09:30", end_time="18:00")
    row = _pass(app, pass_id)
    with app.app_context():
        zone = passes.site_zone()
        day = passes.today() + timedelta(days=1)
        assert row.valid_from == datetime.combine(day, time(9, 30), zone)
        assert row.valid_until == datetime.combine(day + timedelta(days=1), time(18, 1), zone)
    assert row.max_uses == 3
    page = client.get(f"/portal/passes/{pass_id}").get_data(True)
    assert f"{_day(app, 1)} 09:30 – {_day(app, 2)} 18:00" in page
    assert 'data-status="upcoming"' in page and "3 of 3 uses left" in page


def test_household_cap_and_revoking_frees_a_slot(app, client):
    """Protects the gate from floods: GATE_PASS_MAX_ACTIVE usable passes per unit, and revoking one
    lets the household create another."""
    app.config["GATE_PASS_MAX_ACTIVE"] = 2
    _login(client)
    first = _created(client, name="甲")
    _created(client, name="乙")
    before = _counts(app)
    response = _create(client, name="丙")
    assert response.status_code == 422
    assert "Your household already has 2 active passes." in response.get_data(True)
    assert _counts(app) == before
    revoked = client.post(f"/portal/passes/{first}/revoke", follow_redirects=True)
    assert "flash success" in revoked.get_data(True) and 'data-status="revoked"' in revoked.get_data(True)
    assert _pass(app, first).revoked_at is not None
    _created(client, name="丙")


@pytest.mark.parametrize("method, path", [
    ("GET", "/portal/passes/{id}"),
    ("POST", "/portal/passes/{id}/revoke"),
    ("GET", "/portal/passes/{id}/qr.png"),
])
def test_other_units_pass_is_not_found(app, client, neighbour, method, path):
    """Protects households from each other (IDOR): another unit's pass id is a 404, exactly like an
    id that does not exist, and nothing changes."""
    _login(client)
    pass_id = _created(client)
    client.post("/logout")
    _login(client, NEIGHBOUR)
    assert client.open(path.format(id=pass_id), method=method).status_code == 404
    assert client.open(path.format(id=999999), method=method).status_code == 404
    assert _pass(app, pass_id).revoked_at is None
    assert f"pass-{pass_id}" not in client.get("/portal/passes/").get_data(True)


def test_list_shows_current_and_ended_passes(app, client):
    """Protects the overview: current passes with status, window and uses left, ended ones apart."""
    _login(client)
    active = _created(client, name="甲")
    gone = _created(client, name="乙")
    client.post(f"/portal/passes/{gone}/revoke")
    page = client.get("/portal/passes/").get_data(True)
    current, past = page.split('data-testid="past-passes"')
    assert f'data-testid="pass-{active}" data-status="active"' in current
    assert f'data-testid="pass-{gone}" data-status="revoked"' in past
    assert f"{_day(app, 0)} 00:00–23:59" in current and "1 of 1 use left" in current


def test_share_page_shows_the_pass_not_the_host(app, client):
    """Protects the host's privacy: the public share page shows estate, address, unit, window and
    the visitor's name, and never the resident's name or phone; no referrer, no indexing."""
    with app.app_context():
        _site().address = "深圳市南山区演示路 1 号"
        db.session.commit()
    _login(client)
    pass_id = _created(client, name="王小明", phone="13912345678")
    token = _token(app, pass_id)
    own_page = client.get(f"/portal/passes/{pass_id}").get_data(True)
    assert f'data-share-url="http://localhost/p/{token}"' in own_page
    visitor = app.test_client()
    response = visitor.get(f"/p/{token}?lang=en")
    page = response.get_data(True)
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert "1-1-101" in page and f"{_day(app, 0)} 00:00–23:59" in page and "王小明" in page
    assert "演示小区" in page and "深圳市南山区演示路 1 号" in page
    assert "<svg" in page and tokens.display_code(_pass(app, pass_id).code) in page
    assert "陈先生" not in page and "13800000001" not in page and "138****0001" not in page
    assert "13912345678" not in page  # not even the visitor's own phone: the link may be forwarded
    # The resident checking their own link sees the visitor's view, not their account.
    assert "陈先生" not in client.get(f"/p/{token}").get_data(True)


def _admit(app, token: str):
    with app.app_context():
        return pass_gate.at_gate(_site(), token, source="manual")


@pytest.mark.parametrize("how, status", [("revoke", "revoked"), ("use", "used_up")])
def test_dead_pass_share_page_shows_no_qr(app, client, how, status):
    """Protects the gate from confusion: a revoked or used-up pass says so plainly on the share
    page and shows neither QR nor code; its images are gone too."""
    _login(client)
    pass_id = _created(client)
    token = _token(app, pass_id)
    if how == "revoke":
        client.post(f"/portal/passes/{pass_id}/revoke")
    else:
        assert _admit(app, token).outcome == "admitted"
    visitor = app.test_client()
    response = visitor.get(f"/p/{token}?lang=en")
    page = response.get_data(True)
    assert response.status_code == 200 and f'data-status="{status}"' in page
    assert "It can no longer be used." in page
    assert "<svg" not in page and tokens.display_code(_pass(app, pass_id).code) not in page
    for suffix in (".png", ".svg"):
        assert visitor.get(f"/p/{token}{suffix}").status_code == 404
    assert client.get(f"/portal/passes/{pass_id}/qr.png").status_code == 404


def _other_site_token(app, pass_id: int) -> str:
    row = _pass(app, pass_id)
    with app.app_context():
        return tokens.issue(passes.pass_key(), "riverside", bytes.fromhex(row.pid), row.valid_from,
                            row.valid_until)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1],
    lambda t: t[:20],
    lambda t: t[:30] + ("A" if t[30] != "A" else "B") + t[31:],
    lambda t: "GP1AAAA",
    lambda t: "GP1" + "A" * 64,
    lambda t: t + "A" * 100,
    lambda t: "hello",
], ids=["truncated", "half", "forged", "short", "unsigned", "overlong", "garbage"])
def test_bad_token_is_a_plain_404(app, client, mangle):
    """Protects pass links from probing: any damaged or forged token is the same 404 page, which
    does not say why, for the page and both images."""
    _login(client)
    token = mangle(_token(app, _created(client)))
    visitor = app.test_client()
    for suffix in ("", ".png", ".svg"):
        response = visitor.get(f"/p/{token}{suffix}?lang=en")
        assert response.status_code == 404, suffix
        assert response.headers["Referrer-Policy"] == "no-referrer"
    page = visitor.get(f"/p/{token}?lang=en").get_data(True)
    assert "This pass link is not valid." in page
    for reason in ("forged", "malformed", "expired", "signature", "other_site"):
        assert reason not in page.lower()


def test_token_of_another_estate_is_a_404(app, client):
    """Protects estates from each other: a correctly signed token for another site is not a pass here."""
    _login(client)
    other = _other_site_token(app, _created(client))
    assert app.test_client().get(f"/p/{other}").status_code == 404


def test_gate_admission_reaches_the_portal(app, client):
    """Protects the host's peace of mind: when the guard admits a visitor on the pass, the notice
    is on the portal and in the JSON poll at once, and Mark as read clears it."""
    _login(client)
    pass_id = _created(client, name="王小明")
    assert client.get("/portal/requests").get_json()["notices"] == []
    result = _admit(app, _token(app, pass_id))
    assert result.outcome == "admitted" and result.pass_id == pass_id
    with app.app_context():
        notice = db.session.scalars(select(PortalNotice)).one()
        at = notice.created_at.astimezone(passes.site_zone()).strftime("%H:%M")
    sentence = f"王小明 came in with your pass at {at}"
    polled = client.get("/portal/requests")
    assert polled.headers["Cache-Control"] == "no-store"
    assert polled.get_json()["notices"] == [{"id": notice.id, "kind": "pass_admitted", "text": sentence}]
    home = client.get("/portal/").get_data(True)
    assert sentence in home and f'data-testid="notice-{notice.id}"' in home
    assert f'name="up_to" value="{notice.id}"' in home
    assert client.post("/portal/notices/read", data={"up_to": str(notice.id)}).status_code == 302
    assert client.get("/portal/requests").get_json()["notices"] == []
    assert f'data-testid="notice-{notice.id}"' not in client.get("/portal/").get_data(True)
    page = client.get(f"/portal/passes/{pass_id}").get_data(True)
    assert 'data-status="used_up"' in page and "0 of 1 uses left" in page


@pytest.mark.parametrize("kind, params, sentence", [
    ("pass_vehicle", {"name": "王小明", "plate": "粤B12345"},
     "王小明 drove in with your pass (car 粤B12345) at"),
    ("worker_in", {"name": "李师傅"}, "Renovation worker 李师傅 came in at"),
    ("worker_out", {"name": "李师傅"}, "Renovation worker 李师傅 left at"),
])
def test_notice_sentences(app, client, neighbour, kind, params, sentence):
    """Protects the notice wording for each kind, and that a household sees only its own notices."""
    with app.app_context():
        unit = db.session.scalars(select(Unit).where(Unit.code == "1-1-101")).one()
        notices.add(unit.site_id, unit.id, kind, **params)
        db.session.commit()
    _login(client)
    [polled] = client.get("/portal/requests").get_json()["notices"]
    assert polled["kind"] == kind and polled["text"].startswith(sentence)
    client.post("/logout")
    _login(client, NEIGHBOUR)
    assert client.get("/portal/requests").get_json()["notices"] == []


def test_home_lists_todays_expected_visitors(app, client):
    """Protects the day's overview: passes usable today are on the home page with time and uses left;
    tomorrow's and revoked ones are not."""
    _login(client)
    today = _created(client, name="今天来", start_time="00:30", end_time="23:59", uses="count", count="2")
    later = _created(client, name="明天来", starts_on=_day(app, 1), ends_on=_day(app, 1))
    revoked = _created(client, name="不来了")
    client.post(f"/portal/passes/{revoked}/revoke")
    home = client.get("/portal/").get_data(True)
    assert f'data-testid="expected-{today}"' in home and "00:30–23:59" in home and "2 of 2 uses left" in home
    assert f"expected-{later}" not in home and f"expected-{revoked}" not in home
    assert 'href="/portal/passes/new"' in home


def test_moved_out_resident_gets_no_pass_actions(app, client):
    """Protects the estate after a move-out: even with a live session, no pass can be created,
    listed or revoked."""
    _login(client)
    pass_id = _created(client)
    with app.app_context():
        resident = db.session.scalars(select(Resident).where(Resident.phone == RESIDENT[0])).one()
        resident.moved_out_at = utcnow()
        db.session.commit()
    before = _counts(app)
    for method, path in [("GET", "/portal/passes/new"), ("POST", "/portal/passes/new"),
                         ("GET", "/portal/passes/"), ("GET", f"/portal/passes/{pass_id}"),
                         ("POST", f"/portal/passes/{pass_id}/revoke")]:
        response = client.open(path, method=method, data={"name": "王小明"})
        assert response.status_code == 302 and response.headers["Location"].endswith("/portal/"), path
    assert _counts(app) == before and _pass(app, pass_id).revoked_at is None
    assert 'data-testid="moved-out"' in client.get("/portal/").get_data(True)
