"""Estates sharing one database are isolated: the demo's web app shows and changes nothing of north.

North (tests/support/second_site.py) is built beside the demo in the test's database; the app
serves `demo` (GATE_SITE) and demo's own accounts sign in. Routes are enumerated from the URL
map, so a new id-bearing route is covered as soon as it exists (or fails here until its URL
argument is mapped to one of north's records).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import inspect, select, text

from gate.extensions import db
from gate.models import Post, ShiftBookEntry
from gate.services import shiftbook
from gate.services.auth import allowed_roles
from tests.integration.test_routes_roles import LOGINS
from tests.support import second_site
from tests.support.kiosk import KioskActions
from tests.support.second_site import MARKERS, North, build_north

ROLES = ("guard", "service_desk", "supervisor", "resident", "admin")
# URL argument -> key of north's ids (North.ids); per-endpoint where one name means different rows.
ID_ARGS = {"approval_id": "approval_id", "guard_id": "guard_id", "follow_id": "follow_id",
           "incident_id": "incident_id", "order_id": "order_id", "visitor_id": "visitor_id",
           "shift_id": "shift_id", "resident_id": "resident_id", "slip_id": "slip_id",
           "unit_id": "unit_id", "pass_id": "pass_id", "violation_id": "violation_id",
           "photo_id": "photo_id", "type_id": "type_id", "visit_id": "visit_id",
           "event_id": "event_id", "session_id": "session_id"}
BY_ENDPOINT = {("workers.card", "pass_id"): "worker_pass_id",
               ("workers.revoke", "pass_id"): "worker_pass_id",
               ("vehicle_lists.remove", "entry_id"): "list_entry_id",
               ("desk_vehicles.change", "entry_id"): "vehicle_id",
               ("desk_vehicles.end", "entry_id"): "vehicle_id",
               ("watchlist.remove", "entry_id"): "watch_entry_id"}
# Arguments that name no site's record (a journal kind, a file, a script's key and language).
NOT_IDS = {"kind": "note", "filename": "gate.css", "script_key": "orders", "script_locale": "zh_CN",
           "action": "open"}
# What north's record looks like in other arguments: its barrier code, its pass's share token.
OTHER_ARGS = {"code": lambda north: "n-walk-in", "token": lambda north: north.tokens["pass"]}
REFUSED = {403, 404}
# GET pages north's own account cannot open either, and why (the control below skips them).
CONTROL_SKIPS = {"visitors.slip": "only an admitted visit has a visitor slip; north's visit waits"}


@pytest.fixture
def north(app) -> North:
    """North's estate beside the demo, with ids of each of its records."""
    return build_north(app)


def _fill(endpoint: str, rule: str, north: North) -> str | None:
    """The rule's path with north's ids, or None if it has no argument naming a site's record."""
    names = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
    if not names or all(n in NOT_IDS for n in names):
        return None
    values = {}
    for name in names:
        key = BY_ENDPOINT.get((endpoint, name)) or ID_ARGS.get(name)
        if name in NOT_IDS:
            values[name] = NOT_IDS[name]
        elif name in OTHER_ARGS:
            values[name] = OTHER_ARGS[name](north)
        elif key in north.ids:
            values[name] = str(north.ids[key])
        else:
            raise AssertionError(f"{endpoint}: URL argument <{name}> has no north record; add it to "
                                 "ID_ARGS/BY_ENDPOINT in test_site_isolation.py (and build the record "
                                 "in tests/support/second_site.py)")
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m.group(1)], rule)


def _id_routes(app, north):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("api."):  # /api/v1: test_api_*.py
            continue
        path = _fill(rule.endpoint, rule.rule, north)
        if path is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def _login(kiosk, role):
    how, login, secret = LOGINS[role]
    response = kiosk.login(login, secret) if how == "kiosk" else kiosk.login_staff(login, secret)
    assert response.status_code == 302, f"{role} could not log in"
    if role == "guard":
        assert kiosk.start_shift().status_code == 302  # kiosk pages look records up only on shift


def _snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, to show that a refused request changed nothing."""
    db.session.expire_all()
    tables = inspect(db.engine).get_table_names()
    snap = {}
    for name in tables:
        if name == "alembic_version":
            continue
        rows = db.session.execute(text(f'SELECT * FROM "{name}"')).all()
        snap[name] = sorted(tuple(str(v) for v in row) for row in rows)
    db.session.rollback()
    return snap


def _changed(before, after) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


def _leaks(body: str) -> list[str]:
    return [m for m in MARKERS if m in body]


@pytest.mark.parametrize("role", ROLES)
def test_north_ids_are_refused(app, client, kiosk, north, role):
    """Protects site isolation of every id-bearing route: demo's accounts opening north's ids get
    403/404, never a page with north's data, never a 500; a POST changes no row of any table
    (north's record and north's shift-book chain included). North's own account opens the same
    GET pages, so the ids used are real."""
    _login(kiosk, role)
    if role == "guard":  # north's slip scanned first, so its check page is refused by site, not by session
        client.post("/kiosk/slips/", data={"text": north.tokens["slip"]})
    problems, checked = [], 0
    for endpoint, method, path in _id_routes(app, north):
        roles = allowed_roles(app, endpoint)
        if roles is not None and role not in roles:
            continue  # refused by role: test_routes_roles.py
        with app.app_context():
            before = _snapshot() if method != "GET" else None
        response = client.open(path, method=method)
        body = response.get_data(as_text=True)
        # A refused POST may also flash why and go back (302), provided nothing changed (below).
        if response.status_code not in REFUSED and not (method == "POST" and response.status_code == 302):
            problems.append(f"{method} {path}: {response.status_code} {response.headers.get('Location', '')}")
        if leaked := _leaks(body):
            problems.append(f"{method} {path}: shows {leaked}")
        if before is not None:
            with app.app_context():
                if changed := _changed(before, _snapshot()):
                    problems.append(f"{method} {path}: changed {changed}")
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 5
    # Control: served as north to north's own account, the GET pages open (the ids are right).
    kiosk.logout()
    _login_north(app, kiosk, role)
    if role == "guard":
        kiosk.start_shift()
        client.post("/kiosk/slips/", data={"text": north.tokens["slip"]})  # check opens after a scan
    for endpoint, method, path in _id_routes(app, north):
        roles = allowed_roles(app, endpoint)
        if method == "GET" and (roles is None or role in roles) and endpoint not in CONTROL_SKIPS:
            status = client.get(path).status_code
            if status != 200:
                problems.append(f"north's own {role}: GET {path} answered {status}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_lists_show_nothing_of_north(app, client, kiosk, north, role):
    """Protects site isolation of every list, search and export page: no page a demo account
    may open without an id (kiosk, desk, console, portal, CSV) shows north's names, phones,
    plates or units, and none answers 500 because north exists (while the same pages served
    to north's own account do show them)."""
    _login(kiosk, role)
    problems, demo_pages = [], _list_pages(app, client, role)
    for path, (status, body) in demo_pages.items():
        if status >= 500:
            problems.append(f"GET {path}: {status}")
        if leaked := _leaks(body):
            problems.append(f"GET {path}: shows {leaked}")
    assert not problems, "\n".join(problems)
    # Control: served as north to north's own account, these pages do show north's records.
    kiosk.logout()
    _login_north(app, kiosk, role)
    north_pages = _list_pages(app, client, role)
    assert any(_leaks(body) for _status, body in north_pages.values()), \
        f"no {role} list shows north's records even to north: the check above proves nothing"


def _list_pages(app, client, role) -> dict[str, tuple[int, str]]:
    """Every GET page without URL arguments that `role` may open: path -> (status, body)."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "<" in rule.rule or "GET" not in rule.methods or rule.endpoint.startswith("api."):
            continue
        roles = allowed_roles(app, rule.endpoint)
        if roles is None or role not in roles or rule.endpoint == "auth.logout":
            continue
        response = client.get(rule.rule)
        pages[rule.rule] = (response.status_code, response.get_data(as_text=True))
    assert len(pages) >= 3
    return pages


def _login_north(app, kiosk, role) -> None:
    """Serve north from now on and sign in as north's account of `role`."""
    app.config["GATE_SITE"] = second_site.SITE
    if role == "guard":
        assert kiosk.login(*second_site.GUARD_LOGIN).status_code == 302
        return
    key = {"service_desk": "desk"}.get(role, role)
    assert kiosk.login_staff(*second_site.PASSWORD_LOGINS[key]).status_code == 302


NEUTRAL_ID = "110105198001010024"  # valid, and nobody's
# Searches by north's values, and a neutral value of the same shape that matches nothing anywhere.
SEARCHES = [
    ("service_desk", "GET", "/desk/?unit={}", second_site.UNIT, {second_site.UNIT: "9-9-909"}),
    ("supervisor", "POST", "/console/privacy/search", {"by": "name_phone", "name": second_site.VISITOR,
                                         "phone": second_site.VISITOR_PHONE},
     {second_site.VISITOR: "无此人访客", second_site.VISITOR_PHONE: "13900000009"}),
    ("supervisor", "POST", "/console/privacy/search", {"by": "id", "id_type": "resident_id",
                                         "id_number": second_site.VISITOR_ID},
     {second_site.VISITOR_ID: NEUTRAL_ID}),
    ("supervisor", "GET", "/console/book/?plate={}", second_site.STRANGER_PLATE,
     {second_site.STRANGER_PLATE: "黑M00009"}),
    ("supervisor", "GET", "/console/book/?visitor={}", second_site.VISITOR,
     {second_site.VISITOR: "无此人访客"}),
    ("supervisor", "GET", "/console/book/?unit={}", second_site.UNIT, {second_site.UNIT: "9-9-909"}),
    ("supervisor", "GET", "/console/violations/?plate={}", second_site.VIOLATION_PLATE,
     {second_site.VIOLATION_PLATE: "黑M00009"}),
]


CSRF_TOKEN = re.compile(r'name="csrf_token"[^>]*?value="[^"]*"')


def _search(client, method, path, value, swap=None):
    """One search's page; with `swap`, north's values replaced by the neutral ones first."""
    swap = swap or {}
    if method == "GET":
        response = client.get(path.format(swap.get(value, value)))
    else:
        response = client.post(path, data={k: swap.get(v, v) for k, v in value.items()})
    assert response.status_code < 500, path
    body = response.get_data(as_text=True)
    for north_value, neutral in swap.items():
        # The form and its links echo what was typed.
        body = body.replace(neutral, north_value).replace(quote(neutral), quote(north_value))
    # A CSRF token carries the second it was made: two renders may differ there and nowhere else.
    return CSRF_TOKEN.sub('name="csrf_token" value=""', body)


def test_searches_find_nothing_of_north(app, north):
    """Protects site isolation of search (desk unit search, privacy by phone / ID number, shift-book
    search, violations by plate): a demo supervisor or desk user searching for north's visitor,
    phone, ID number, plates or unit gets the same page as for a value that exists nowhere, while north's own
    account finds them with the same search (so the searches can find these records)."""
    for role in ("supervisor", "service_desk"):
        app.config["GATE_SITE"] = "demo"
        demo = app.test_client()
        _login(KioskActions(demo), role)
        for who, method, path, value, swap in SEARCHES:
            if who == role:
                assert _search(demo, method, path, value) == _search(demo, method, path, value, swap), \
                    f"{method} {path}: demo's search shows north's record"
        own = app.test_client()
        _login_north(app, KioskActions(own), role)
        for who, method, path, value, swap in SEARCHES:
            if who == role:
                assert _search(own, method, path, value) != _search(own, method, path, value, swap), \
                    f"{method} {path}: north's own search found nothing, so the check above proves nothing"


@pytest.mark.parametrize("path", ["/console/charts/daily.pdf?post={post}&day=2026-01-01",
                                  "/console/charts/traffic.svg?post={post}",
                                  "/console/charts/waits.svg?post={post}",
                                  "/console/charts/?post={post}"])
def test_north_post_in_query_refused(app, client, kiosk, north, path):
    """Protects site isolation of pages taking a post id in the query (charts, daily PDF report):
    demo's supervisor naming north's post gets a refusal (4xx, or the charts page's error) without
    north's data."""
    _login(kiosk, "supervisor")
    response = client.get(path.format(post=north.ids["post_id"]))
    body = response.get_data(as_text=True)
    if path.startswith("/console/charts/?"):  # the page itself says what is wrong, as for any bad input
        assert 'data-testid="chart-error"' in body
    else:
        assert 400 <= response.status_code < 500, f"{path}: {response.status_code}"
    assert not _leaks(body)


def test_north_accounts_cannot_sign_in(app, client, kiosk, north):
    """Protects the estate boundary at login: north's guard PIN and north's password accounts
    (supervisor, desk, admin, resident) are refused by demo's web app and get no session."""
    response = kiosk.login(*second_site.GUARD_LOGIN)
    assert response.status_code != 302 or "/kiosk/login" in response.headers["Location"]
    assert client.get("/kiosk/").status_code == 302
    for login, password in second_site.PASSWORD_LOGINS.values():
        response = kiosk.login_staff(login, password)
        assert response.status_code != 302 or "/login" in response.headers["Location"], login
        assert client.get("/console/").status_code == 302, login
        assert client.get("/portal/").status_code == 302, login


def test_north_tokens_refused_at_demo_kiosk(app, client, kiosk, north):
    """Protects the gates: north's visitor-pass token, release-slip token and slip serial scanned
    or typed at demo's kiosk are refused (another estate's) and admit nothing of north."""
    _login(kiosk, "guard")
    with app.app_context():
        before, tail = _snapshot(), _north_tail(north)
    for path, value in [("/kiosk/passes/", north.tokens["pass"]), ("/kiosk/slips/", north.tokens["slip"]),
                        ("/kiosk/slips/", north.tokens["slip_serial"])]:
        response = client.post(path, data={"text": value})
        body = response.get_data(as_text=True)
        assert response.status_code < 500, path
        assert not _leaks(body), f"{path} shows north's {_leaks(body)}"
        assert response.status_code != 302 or f"/{north.ids['slip_id']}/" not in response.headers["Location"]
    with app.app_context():
        after = _snapshot()
    north_rows = {"visitor_pass", "pass_use", "release_slip", "visit", "parking_session"}
    assert not set(_changed(before, after)) & north_rows, _changed(before, after)
    with app.app_context():
        assert _north_tail(north) == tail


def _north_tail(north: North) -> tuple[int, str]:
    entries = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.site == second_site.SITE)
                                 .order_by(ShiftBookEntry.seq.desc())).first()
    return entries.seq, entries.kind


def test_chains_verify_and_stay_apart(app, client, kiosk, north):
    """Protects the per-site shift book: demo's work (a shift, a journal entry, a refused north id)
    appends only to demo's chain; both chains still verify; north's chain is untouched."""
    with app.app_context():
        north_before = _north_tail(north)
        north_count = db.session.scalar(select(db.func.count()).select_from(ShiftBookEntry)
                                        .where(ShiftBookEntry.site == "north"))
    _login(kiosk, "guard")
    assert kiosk.write("note", text="演示记录").status_code == 302
    client.post(f"/kiosk/visitors/{north.ids['visit_id']}/refuse", data={"reason": "other"})
    with app.app_context():
        assert _north_tail(north) == north_before
        assert db.session.scalar(select(db.func.count()).select_from(ShiftBookEntry)
                                 .where(ShiftBookEntry.site == "north")) == north_count
        demo_kinds = list(db.session.scalars(select(ShiftBookEntry.kind)
                                             .where(ShiftBookEntry.site == "demo")))
        assert "journal.note" in demo_kinds
        for site in ("demo", "north"):
            result = shiftbook.verify(site)
            assert result.ok, f"{site}: {result.line()}"


def test_unmapped_route_argument_fails_loudly():
    """Protects the completeness of the route enumeration: a future route whose URL argument is
    not mapped to one of north's records fails test_north_ids_are_refused with a message saying
    to add it (rather than being skipped)."""
    with pytest.raises(AssertionError, match="add it to ID_ARGS"):
        _fill("future.page", "/future/<int:widget_id>", North(ids={"visit_id": 1}))
    with pytest.raises(AssertionError, match="add it to ID_ARGS"):
        _fill("future.remove", "/future/<int:entry_id>/remove", North())  # entry_id: per endpoint
    assert _fill("kiosk.write", "/kiosk/journal/<kind>", North()) is None


def test_north_references_in_forms_refused(app, client, kiosk, north):
    """Protects site isolation of ids and codes typed into forms: demo's guard cannot register a
    visitor for north's unit or hand the shift over to north's guard (with north's PIN), and
    demo's supervisor cannot issue a post order to north's post; nothing is written. The same
    forms with demo's unit, guard and post do go through, so the refusals are by site."""
    visitor = {"action": "start", "name": "演示访客", "id_type": "resident_id", "id_number": NEUTRAL_ID}
    order = {"kind": "standing", "category": "security", "title": "演示指令", "body": "演示指令正文"}
    with app.app_context():
        demo_post = db.session.scalars(select(Post.id).where(Post.site_id != north.site_id)).first()
    guard, supervisor = KioskActions(client), KioskActions(app.test_client())
    _login(guard, "guard")
    _login(supervisor, "supervisor")
    with app.app_context():
        before = _snapshot()
    assert client.post("/kiosk/visitors/new", data=dict(visitor, unit=second_site.UNIT)).status_code == 422
    guard.handover(incoming=second_site.GUARD_LOGIN, outgoing_pin=LOGINS["guard"][2])
    supervisor.client.post("/console/orders/", data=dict(order, post=str(north.ids["post_id"])))
    with app.app_context():
        after = _snapshot()
    watched = {"visit", "visitor", "shift", "post_order", "post_order_ack"}
    assert not set(_changed(before, after)) & watched, _changed(before, after)
    # Control: with demo's own unit, guard and post the same forms change those tables.
    assert client.post("/kiosk/visitors/new", data=dict(visitor, unit="1-1-101")).status_code == 302
    assert guard.handover(outgoing_pin=LOGINS["guard"][2]).status_code == 302
    supervisor.client.post("/console/orders/", data=dict(order, post=str(demo_post)))
    with app.app_context():
        assert {"visit", "shift", "post_order"} <= set(_changed(after, _snapshot()))
