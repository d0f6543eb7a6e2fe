"""The kiosk's visitor desk (篇3 §四, SPEC §2.1), every branch end to end through the test client.

Each test checks what the guard sees and what was recorded: the visit's state, the shift-book
entry kinds, and for admissions the command the pedestrian barrier received.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from device_adapters import web_link
from device_adapters.simulator import SimulatedBarrier
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import (
    Approval,
    BarrierCommandRecord,
    DeviceEvent,
    Incident,
    ShiftBookEntry,
    User,
    Visit,
    Visitor,
    WatchlistEntry,
)
from gate.models.types import utcnow
from gate.services import ActionError, visits
from gate.services.privacy import protect_id
from gate.services.visitors import check_identity, watchlist_key
from kiosk_ui.scripts import SCRIPTS
from tests.support.kiosk import GUARD

VALID = "11010519491231002X"
MASKED = "110105********002X"
# Free text as guards write it.
ACCOUNT = "男子推开栏杆进入。往3栋方向跑了。"
MESSAGE = "王五来过。明天上午再来。"


@pytest.fixture
def app_config(app_config, request):
    """Tests marked mqtt get their own broker; the others run with no broker configured."""
    if request.node.get_closest_marker("mqtt"):
        broker = request.getfixturevalue("fresh_mosquitto")
        return dict(app_config, GATE_MQTT_URL=broker.url, GATE_COMMAND_TTL_SECONDS=1.0)
    return app_config


@pytest.fixture(autouse=True)
def _close_link(app):
    yield
    web_link.close(app)


@pytest.fixture
def barrier(fresh_mosquitto):
    """The demo's pedestrian barrier walk-in, simulated on this test's broker."""
    sim = SimulatedBarrier(fresh_mosquitto.url, Topics("gatehouse", "demo"), "walk-in", travel_seconds=0.05)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def guard(kiosk):
    """Guard 1001 on shift, start page seen (its flash messages cleared)."""
    kiosk.login(*GUARD)
    kiosk.start_shift()
    kiosk.client.get("/kiosk/")
    return kiosk.client


# --- helpers -----------------------------------------------------------------------------------

def flashes(response) -> list[tuple[str, str]]:
    """(category, text) of each flash message on the page."""
    return [(c, html.unescape(t).strip())
            for c, t in re.findall(r'class="flash (\w+)"[^>]*>([^<]+)<', response.get_data(True))]


def check_in(client, unit="1-1-101", name="王五", number=VALID, action="start", **fields):
    """Fill step 2 of the check-in form and tap `action` (the unit comes as the hidden field)."""
    data = {"unit": unit, "id_type": "resident_id", "id_number": number, "name": name,
            "purpose": "探亲", "action": action, **fields}
    return client.post("/kiosk/visitors/new", data=data)


def started(client, **kwargs) -> int:
    """Check a visitor in and return the new visit's id."""
    response = check_in(client, **kwargs)
    assert response.status_code == 302, flashes(response) or response.get_data(True)[:500]
    return int(re.search(r"/kiosk/visitors/(\d+)$", response.headers["Location"]).group(1))


def visit(app, visit_id: int) -> Visit:
    with app.app_context():
        found = db.session.get(Visit, visit_id)
        db.session.expunge(found)
        return found


def mark(app) -> int:
    """The shift book's last seq, to read what a test added after it."""
    with app.app_context():
        return db.session.scalar(select(func.max(ShiftBookEntry.seq))) or 0


def kinds_since(app, seq: int, prefixes=("visit.", "approval.", "incident.", "barrier.")) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(select(ShiftBookEntry.kind).where(ShiftBookEntry.seq > seq)
                                  .order_by(ShiftBookEntry.seq))
        return [k for k in rows if k.startswith(prefixes)]


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Visit.id))),
                db.session.scalar(select(func.count(Visitor.id))))


def banner(response) -> str:
    found = re.search(r'data-testid="script">.*?<span class="text">([^<]*)</span>', response.get_data(True),
                      re.S)
    return html.unescape(found.group(1)).strip() if found else ""


def script_text(app, key: str) -> str:
    """A script as the kiosk shows it in its default locale."""
    with app.test_request_context():
        return str(SCRIPTS[key])


def message_of(app, call) -> str:
    """The ActionError message `call` raises, in the kiosk's default locale."""
    with app.test_request_context():
        with pytest.raises(ActionError) as err:
            call()
        return err.value.message


def phone_answer(client, visit_id: int, answer: str):
    return client.post(f"/kiosk/visitors/{visit_id}/host", data={"answer": answer}, follow_redirects=True)


# --- the main road: host confirms, admitted, gate opens, checked out -----------------------------

@pytest.mark.mqtt
def test_host_confirms_by_phone_admitted_gate_opens_checkout_by_slip(app, guard, barrier):
    """Protects the main §四 road: ID, host confirms by phone, one tap admits and opens the walk-in
    barrier (its answer shown), the slip's QR text checks the visitor out; each step in the book."""
    seq = mark(app)
    visit_id = started(guard)
    page = guard.get(f"/kiosk/visitors/{visit_id}")
    assert banner(page) == script_text(app, "wait_host")
    assert 'data-testid="panel-waiting_host"' in page.get_data(True)

    page = phone_answer(guard, visit_id, "approved")
    assert 'data-testid="admit"' in page.get_data(True) and banner(page) == script_text(app, "welcome")
    page = guard.post(f"/kiosk/visitors/{visit_id}/admit", follow_redirects=True)
    assert flashes(page)[-1][0] == "success", flashes(page)
    assert 'data-testid="print-slip"' in page.get_data(True)
    assert barrier.state == "open"
    with app.app_context():
        record = db.session.scalars(select(BarrierCommandRecord)).one()
        assert (record.device, record.action, record.outcome) == ("walk-in", "open", "done")
    admitted = visit(app, visit_id)
    assert (admitted.state, admitted.host_answer, admitted.host_answered_by) == (
        "admitted", "approved", "phone")
    assert admitted.slip_token and admitted.admitted_at

    slip = guard.get(f"/kiosk/visitors/{visit_id}/slip").get_data(True)
    assert "王*" in slip and "王五" not in slip and "1-1-101" in slip and "<svg" in slip
    assert "80mm" in guard.get(f"/kiosk/visitors/{visit_id}/slip").get_data(True)
    assert 'slip size-a5' in guard.get(f"/kiosk/visitors/{visit_id}/slip?size=a5").get_data(True)

    page = guard.post("/kiosk/visitors/checkout", data={"token": f" {admitted.slip_token}\n"},
                      follow_redirects=True)
    assert flashes(page)[-1][0] == "success" and banner(page) == script_text(app, "goodbye")
    left = visit(app, visit_id)
    assert (left.state, left.left_reason) == ("checked_out", "slip")
    assert kinds_since(app, seq) == ["visit.started", "visit.host_answer", "visit.admitted",
                                     "barrier.command", "barrier.outcome", "visit.checked_out"]


def test_admitted_without_broker_told_to_open_by_hand_then_checked_out_from_list(app, guard):
    """Protects the guard when the gate controllers are unreachable: the visitor is still admitted
    and the guard is told to open the gate by hand; the on-site list checks the visitor out."""
    visit_id = started(guard, name="赵六")
    phone_answer(guard, visit_id, "approved")
    page = guard.post(f"/kiosk/visitors/{visit_id}/admit", follow_redirects=True)
    assert flashes(page)[-1][0] == "warning"
    assert visit(app, visit_id).state == "admitted"

    onsite = guard.get("/kiosk/visitors/onsite").get_data(True)
    assert "赵六" in onsite and f'data-testid="checkout-{visit_id}"' in onsite
    seq = mark(app)
    page = guard.post("/kiosk/visitors/checkout", data={"visit_id": visit_id}, follow_redirects=True)
    assert flashes(page)[-1][0] == "success"
    assert "赵六" not in page.get_data(True).split('data-testid="onsite"')[1]
    assert (visit(app, visit_id).state, visit(app, visit_id).left_reason) == ("checked_out", "list")
    assert kinds_since(app, seq) == ["visit.checked_out"]
    again = guard.post("/kiosk/visitors/checkout", data={"visit_id": visit_id}, follow_redirects=True)
    assert flashes(again)[-1][0] == "info" and kinds_since(app, seq) == ["visit.checked_out"]


def test_unknown_slip_says_so(app, guard):
    """Protects check-out from a stray scan: an unknown slip is named as such, nothing recorded."""
    seq = mark(app)
    page = guard.post("/kiosk/visitors/checkout", data={"token": "not-a-slip"}, follow_redirects=True)
    expected = message_of(app, lambda: visits.by_slip(1, "not-a-slip"))
    assert flashes(page) == [("error", expected)]
    assert kinds_since(app, seq) == []


# --- host absent or declining -------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["declined", "not_home"])
def test_host_declines_or_not_home_message_left(app, guard, answer):
    """Protects §四.7: a host who declines or is out gets the visitor's message; the script says so."""
    seq = mark(app)
    visit_id = started(guard)
    page = phone_answer(guard, visit_id, answer)
    assert banner(page) == script_text(app, "host_absent")
    assert 'data-testid="save-message"' in page.get_data(True)
    page = guard.post(f"/kiosk/visitors/{visit_id}/message", data={"message": MESSAGE},
                      follow_redirects=True)
    assert flashes(page)[-1][0] == "success" and MESSAGE in page.get_data(True)
    stored = visit(app, visit_id)
    assert (stored.state, stored.outcome_reason, stored.host_answer) == ("declined", answer, answer)
    assert stored.message == MESSAGE
    assert kinds_since(app, seq) == ["visit.started", "visit.host_answer", "visit.message_left"]
    refused = guard.post(f"/kiosk/visitors/{visit_id}/admit", follow_redirects=True)
    assert flashes(refused)[-1][0] == "error" and visit(app, visit_id).state == "declined"


# --- no ID: refuses, forgot (supervisor) ---------------------------------------------------------

def test_refuses_id_script_then_refused(app, guard):
    """Protects §四.3: 'refuses to show ID' shows the policy script first, then records a refusal
    with the visitor's name and unit but no ID."""
    seq = mark(app)
    page = check_in(guard, number="", action="refuses")
    assert page.status_code == 200 and banner(page) == script_text(app, "id_refused")
    assert 'data-testid="refuse-entry"' in page.get_data(True) and counts(app) == (0, 0)
    response = check_in(guard, number="", action="refuse")
    visit_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = guard.get(f"/kiosk/visitors/{visit_id}")
    assert banner(page) == script_text(app, "id_refused")
    stored = visit(app, visit_id)
    assert (stored.state, stored.outcome_reason) == ("refused", "refused_id")
    with app.app_context():
        assert db.session.get(Visitor, stored.visitor_id).id_hash is None
    assert kinds_since(app, seq) == ["visit.started", "visit.refused"]


def test_refuses_id_needs_a_name(app, guard):
    """Protects the record: even a refusal names who was refused; without a name nothing is stored."""
    page = check_in(guard, number="", name="", action="refuse")
    assert page.status_code == 422 and flashes(page)[-1][0] == "error"
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("decision", ["approved", "denied"])
def test_forgot_id_supervisor_decides(app, guard, decision):
    """Protects §四.4 and 时效制: a forgotten ID asks a supervisor with a deadline; approved goes back
    to the host and can be admitted, denied is refused, and the page follows without reload."""
    seq = mark(app)
    response = check_in(guard, number="", action="forgot")
    visit_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = guard.get(f"/kiosk/visitors/{visit_id}")
    assert banner(page) == script_text(app, "forgot_id") and 'data-testid="countdown"' in page.get_data(True)
    with app.app_context():
        approval = db.session.scalars(select(Approval).where(Approval.visit_id == visit_id)).one()
        assert approval.kind == "forgot_id" and approval.due_at > utcnow()
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        visits.decide(approval, decision, supervisor)
    status = guard.get(f"/kiosk/visitors/{visit_id}/status").get_json()
    if decision == "denied":
        assert status["state"] == "refused" and status["poll"] is False
        assert 'data-testid="panel-refused"' in status["html"]
        assert visit(app, visit_id).outcome_reason == "supervisor denied (forgot_id)"
        assert kinds_since(app, seq) == ["visit.started", "approval.requested", "approval.decided"]
        return
    assert status["state"] == "waiting_host" and 'data-testid="panel-waiting_host"' in status["html"]
    phone_answer(guard, visit_id, "approved")
    guard.post(f"/kiosk/visitors/{visit_id}/admit")
    assert visit(app, visit_id).state == "admitted"
    assert kinds_since(app, seq) == ["visit.started", "approval.requested", "approval.decided",
                                     "visit.host_answer", "visit.admitted"]


def test_refuses_id_asks_supervisor(app, guard):
    """Protects the supervisor override of §四.3: the request is recorded as 'refused_id'."""
    response = check_in(guard, number="", action="escalate_refused")
    visit_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert visit(app, visit_id).state == "waiting_supervisor"
    with app.app_context():
        kind = db.session.scalars(select(Approval.kind).where(Approval.visit_id == visit_id)).one()
    assert kind == "refused_id"
    assert banner(guard.get(f"/kiosk/visitors/{visit_id}")) == script_text(app, "id_refused")


def test_overdue_supervisor_request_turns_red(app, guard):
    """Protects 时效制 on the guard's screen: a request past its promised time is shown overdue."""
    response = check_in(guard, number="", action="forgot")
    visit_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        db.session.execute(update(Approval).values(due_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    page = guard.get(f"/kiosk/visitors/{visit_id}").get_data(True)
    assert re.search(r'class="countdown overdue"', page)
    assert guard.get(f"/kiosk/visitors/{visit_id}/status").get_json()["seconds_left"] < 0


# --- forced entry and the watchlist ---------------------------------------------------------------

@pytest.mark.mqtt
def test_forced_entry_recorded_and_alerted(app, guard, fresh_mosquitto):
    """Protects §四.5: a forced entry is an incident with the guard's account, the visit ends as
    forced, and the supervisor alert goes out on the MQTT alerts topic."""
    alerts, subscribed = [], threading.Event()
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, u, m: alerts.append(json.loads(m.payload))
    client.connect(fresh_mosquitto.host, fresh_mosquitto.port)
    client.subscribe("gatehouse/demo/alerts", 1)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        seq = mark(app)
        visit_id = started(guard)
        page = guard.post(f"/kiosk/visitors/{visit_id}/forced", data={"account": ACCOUNT},
                          follow_redirects=True)
        assert flashes(page)[-1][0] == "success" and banner(page) == script_text(app, "forced")
        assert visit(app, visit_id).state == "forced"
        with app.app_context():
            incident = db.session.scalars(select(Incident)).one()
            assert (incident.kind, incident.visit_id, incident.account) == ("forced_entry", visit_id, ACCOUNT)
        assert kinds_since(app, seq) == ["visit.started", "incident.forced_entry"]
        deadline = threading.Event()
        for _ in range(50):
            if alerts:
                break
            deadline.wait(0.1)
        assert alerts and alerts[0]["kind"] == "forced_entry" and alerts[0]["gate"] == "walk"
    finally:
        client.disconnect()
        client.loop_stop()


def test_forced_entry_without_a_visit(app, guard):
    """Protects 硬闯 by someone who never stopped at the desk: the incident is recorded anyway
    (no broker: the alert is skipped, the console still shows the incident)."""
    assert banner(guard.get("/kiosk/visitors/forced")) == script_text(app, "forced")
    empty = guard.post("/kiosk/visitors/forced", data={"account": "  "}, follow_redirects=True)
    assert flashes(empty)[-1][0] == "error"
    seq = mark(app)
    page = guard.post("/kiosk/visitors/forced", data={"account": "两人翻越人行闸机"}, follow_redirects=True)
    assert flashes(page)[-1][0] == "success"
    with app.app_context():
        incident = db.session.scalars(select(Incident)).one()
        assert incident.visit_id is None and incident.account == "两人翻越人行闸机"
    assert kinds_since(app, seq) == ["incident.forced_entry"]


def test_watchlist_hit_refused(app, guard):
    """Protects SPEC §2.1: a visitor on the watchlist (by ID hash) is refused at once and the guard
    is told why; the hit is in the shift book."""
    with app.test_request_context():
        value, display = watchlist_key("id", identity=check_identity("王五", "resident_id", VALID))
        supervisor = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        db.session.add(WatchlistEntry(site_id=supervisor.site_id, kind="id", value=value, display=display,
                                      reason="多次滋扰", added_by=supervisor.id))
        db.session.commit()
    seq = mark(app)
    visit_id = started(guard, number="110105 19491231 002x")
    page = guard.get(f"/kiosk/visitors/{visit_id}")
    body = page.get_data(True)
    assert 'data-testid="watchlist"' in body and 'data-testid="admit"' not in body
    stored = visit(app, visit_id)
    assert (stored.state, stored.outcome_reason) == ("refused", "watchlist")
    assert kinds_since(app, seq) == ["visit.started", "visit.watchlist_hit"]
    phone_answer(guard, visit_id, "approved")
    assert visit(app, visit_id).state == "refused"


# --- what the guard types -----------------------------------------------------------------------

@pytest.mark.parametrize("number, words", [
    ("110105194912310021", "最后一位"),     # wrong check character
    ("110105194913310028", "出生日期"),     # impossible date (month 13)
    ("990105194912310028", "地区"),         # region 99
    ("11010519491231002", "18"),            # 17 characters
])
def test_invalid_ids_named_and_nothing_created(app, guard, number, words):
    """Protects the guard's next step and the record: each bad ID gets its own Chinese message, the
    other fields stay filled in, and no visitor or visit is created."""
    seq = mark(app)
    page = check_in(guard, number=number, name="王五", purpose="送快递", phone="13900000002")
    assert page.status_code == 422
    expected = message_of(app, lambda: check_identity("王五", "resident_id", number))
    assert flashes(page) == [("error", expected)] and words in expected
    body = page.get_data(True)
    assert 'value="王五"' in body and 'value="送快递"' in body and 'value="13900000002"' in body
    assert 'value="1-1-101"' in body
    assert counts(app) == (0, 0) and kinds_since(app, seq) == []


@pytest.mark.parametrize("number", ["１１０１０５１９４９１２３１００２Ｘ", " 110105 1949 1231 002X ",
                                    "11010519491231002x"])
def test_untidy_valid_ids_accepted(app, guard, number):
    """Protects guards from retyping: full-width digits, spaces and a lowercase x are one visitor."""
    visit_id = started(guard, number=number)
    with app.app_context():
        visitor = db.session.get(Visitor, db.session.get(Visit, visit_id).visitor_id)
        assert visitor.id_masked == MASKED and visitor.id_type == "resident_id"
    again = started(guard, number=VALID)
    assert visit(app, again).visitor_id == visit(app, visit_id).visitor_id


def test_script_tag_in_name_stored_as_text_and_escaped(app, guard):
    """Protects every screen from stored script injection: the name is kept verbatim, shown escaped."""
    name = "<script>alert(1)</script>"
    visit_id = started(guard, name=name)
    with app.app_context():
        assert db.session.get(Visit, visit_id).visitor.name == name
    for url in (f"/kiosk/visitors/{visit_id}", "/kiosk/visitors/onsite"):
        body = guard.get(url).get_data(True)
        assert "<script>alert(1)" not in body
    page = guard.get(f"/kiosk/visitors/{visit_id}").get_data(True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in guard.get(f"/kiosk/visitors/{visit_id}/status").get_data(True)


def test_overlong_name_refused(app, guard):
    """Protects the record from a 500-character name: refused with a message, nothing stored."""
    page = check_in(guard, name="王" * 500)
    assert page.status_code == 422 and flashes(page)[-1][0] == "error"
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("unit, code", [("9-9-909", "unknown_unit"), ("1-1-102", "no_host"),
                                        ("一楼", "bad_unit")])
def test_unit_checked_first(app, guard, unit, code):
    """Protects §四.1 'whom are you visiting': a unit that does not exist or where nobody lives is
    refused at step 1 with its own message, before any ID is asked for; nothing is created."""
    page = guard.post("/kiosk/visitors/new", data={"unit": unit, "action": "unit"})
    assert page.status_code == 422 and banner(page) == script_text(app, "ask_host")
    with app.test_request_context():
        site_id = db.session.scalars(select(User.site_id).where(User.staff_no == GUARD[0])).one()
        with pytest.raises(ActionError) as err:
            visits.find_unit(site_id, unit)
    assert err.value.code == code
    assert flashes(page) == [("error", message_of(app, lambda: visits.find_unit(site_id, unit)))]
    assert 'data-testid="name"' not in page.get_data(True)
    assert check_in(guard, unit=unit).status_code == 422 and counts(app) == (0, 0)


def test_unit_step_then_id_step(app, guard):
    """Protects 'nothing typed twice': an untidy unit is normalised and carried to the ID step,
    whose banner asks for the ID."""
    page = guard.post("/kiosk/visitors/new", data={"unit": "1栋1单元101", "action": "unit"})
    assert page.status_code == 200 and banner(page) == script_text(app, "show_id")
    assert 'name="unit" value="1-1-101"' in page.get_data(True)
    assert 'data-testid="privacy-notice"' in page.get_data(True)


def test_unit_typeahead_gives_codes_only(app, guard):
    """Protects residents' privacy: the typeahead returns at most 10 unit codes, no names or phones."""
    found = guard.get("/kiosk/visitors/units?q=1-1").get_json()
    assert found == ["1-1-101", "1-1-102", "1-1-201"]
    assert guard.get("/kiosk/visitors/units?q=2栋").get_json() == ["2-1-101", "2-1-502"]
    assert guard.get("/kiosk/visitors/units?q=").get_json() == []
    assert len(guard.get("/kiosk/visitors/units?q=1").get_json()) <= 10
    assert "13800000001" not in guard.get("/kiosk/visitors/units?q=1").get_data(True)


def test_returning_visitor_prefilled_without_echoing_the_number(app, guard):
    """Protects 'nothing typed twice' and PIPL: a returning visitor's name and phone come back for
    the ID typed; the number itself never does; a bad number gets its message."""
    started(guard, name="王五", phone="13900000002")
    response = guard.post("/kiosk/visitors/returning", data={"id_type": "resident_id",
                                                             "id_number": "110105 19491231002x"})
    assert response.get_json() == {"found": True, "name": "王五", "phone": "13900000002"}
    assert VALID not in response.get_data(True) and MASKED not in response.get_data(True)
    unknown = guard.post("/kiosk/visitors/returning", data={"id_type": "passport", "id_number": "E1234567"})
    assert unknown.get_json() == {"found": False}
    bad = guard.post("/kiosk/visitors/returning", data={"id_type": "resident_id",
                                                        "id_number": "110105194912310021"}).get_json()
    assert bad["found"] is False and "最后一位" in bad["error"]


def test_card_just_read_fills_the_form(app, guard):
    """Protects the ID-card reader path: 'use the card just read' fills name and masked ID from the
    reader's event (never the clear number), and the visit keeps the reader's masked ID and hash;
    a read older than 2 minutes is not offered."""
    with app.app_context():
        old = DeviceEvent(site="demo", device="idreader-1", event_id="old", kind="card",
                          summary={"name": "旧卡", **protect_id("440301199001011234")},
                          received_at=utcnow() - timedelta(minutes=5))
        db.session.add(old)
        db.session.commit()
    stale = check_in(guard, number="", name="", action="card")
    assert stale.status_code == 422 and flashes(stale)[-1][0] == "error"
    with app.app_context():
        event = DeviceEvent(site="demo", device="idreader-1", event_id="e1", kind="card",
                            summary={"name": "李四", **protect_id(VALID)}, received_at=utcnow())
        db.session.add(event)
        db.session.commit()
        event_id, card_hash = event.id, event.summary["id_hash"]
    page = check_in(guard, number="", name="", action="card")
    body = page.get_data(True)
    assert page.status_code == 200 and 'value="李四"' in body and MASKED in body and VALID not in body
    assert f'name="card_event" value="{event_id}"' in body
    visit_id = started(guard, number="", name="李四", card_event=str(event_id))
    with app.app_context():
        visitor = db.session.get(Visit, visit_id).visitor
        assert (visitor.name, visitor.id_masked, visitor.id_hash) == ("李四", MASKED, card_hash)


def test_id_required_for_the_normal_road(app, guard):
    """Protects the standing order 'every visitor shows ID': asking the host needs an ID number or a
    card; the no-ID roads are the explicit buttons."""
    page = check_in(guard, number="")
    assert page.status_code == 422 and flashes(page)[-1][0] == "error" and counts(app) == (0, 0)


# --- two taps, two guards -----------------------------------------------------------------------

def test_double_admit_one_admission(app, guard):
    """Protects against a double tap: the second 'admit' gets a clear message, not a 500, and the
    shift book has one admission."""
    visit_id = started(guard)
    phone_answer(guard, visit_id, "approved")
    seq = mark(app)
    first = guard.post(f"/kiosk/visitors/{visit_id}/admit", data={"version": "2"}, follow_redirects=True)
    second = guard.post(f"/kiosk/visitors/{visit_id}/admit", data={"version": "2"}, follow_redirects=True)
    assert first.status_code == second.status_code == 200
    assert flashes(second)[-1][0] == "error"
    third = guard.post(f"/kiosk/visitors/{visit_id}/admit", follow_redirects=True)
    assert flashes(third)[-1][0] == "error"
    assert kinds_since(app, seq).count("visit.admitted") == 1


def test_stale_screen_refused(app, guard):
    """Protects two guards (or a guard and the host) at one visitor: a tap made on a screen that no
    longer shows the visit's state (the host answered meanwhile) is refused with a message and
    changes nothing."""
    visit_id = started(guard)
    shown = visit(app, visit_id).version
    phone_answer(guard, visit_id, "approved")  # the other guard's tap, or the portal
    seq = mark(app)
    page = guard.post(f"/kiosk/visitors/{visit_id}/host", data={"answer": "not_home", "version": shown},
                      follow_redirects=True)
    assert page.status_code == 200 and flashes(page)[-1][0] == "error"
    assert (visit(app, visit_id).state, visit(app, visit_id).host_answer) == ("waiting_host", "approved")
    assert kinds_since(app, seq) == []


def test_lost_race_is_a_message_not_a_500(app, guard, monkeypatch):
    """Protects against a 500 when the optimistic lock catches two writers at once: the service's
    'conflict' becomes a message on the visit page."""
    visit_id = started(guard)

    def racing(*_args, **_kwargs):
        raise ActionError("conflict", "another guard")

    monkeypatch.setattr(visits, "host_answer", racing)
    page = phone_answer(guard, visit_id, "approved")
    assert page.status_code == 200 and flashes(page) == [("error", "another guard")]


def test_portal_answer_reaches_the_guard_page(app, guard):
    """Protects the live host request: when the resident approves on the portal, the status poll
    reports it with the admit button to swap in, so the guard's page changes without reload."""
    visit_id = started(guard)
    before = guard.get(f"/kiosk/visitors/{visit_id}/status").get_json()
    assert before["poll"] is True and before["host_answer"] is None
    with app.test_request_context():
        resident = db.session.scalars(select(User).where(User.username == "r13800000001")).one()
        visits.host_answer(db.session.get(Visit, visit_id), "approved", by="portal", actor=resident)
    after = guard.get(f"/kiosk/visitors/{visit_id}/status").get_json()
    assert after["version"] != before["version"] and after["host_answer"] == "approved"
    assert 'data-testid="admit"' in after["html"] and after["banner"] == script_text(app, "welcome")


# --- handover and privacy -------------------------------------------------------------------------

def test_visitor_inside_is_a_handover_item(app, guard):
    """Protects the handover: a visitor still inside is listed for the incoming guard, and the
    start page's visitors tile counts them."""
    visit_id = started(guard, name="钱七")
    phone_answer(guard, visit_id, "approved")
    guard.post(f"/kiosk/visitors/{visit_id}/admit")
    page = guard.get("/kiosk/shift/handover").get_data(True)
    items = re.findall(r'data-testid="open-item">([^<]*)', page)
    assert any("钱七" in i and "1-1-101" in i for i in items), items
    home = guard.get("/kiosk/").get_data(True)
    assert re.search(r'data-testid="onsite-count">1<', home)


def test_clear_id_number_stored_and_logged_nowhere(app, guard, caplog, backend, database_url):
    """Protects PIPL (SPEC §5): after check-ins with a resident ID (typed, prefilled, mistyped once),
    the clear number is in no table and no log line; only the masked form is."""
    caplog.set_level(logging.DEBUG)
    guard.post("/kiosk/visitors/returning", data={"id_type": "resident_id", "id_number": VALID})
    check_in(guard, number=VALID[:-1] + "1")  # mistyped once
    visit_id = started(guard, number=VALID)
    phone_answer(guard, visit_id, "approved")
    guard.post(f"/kiosk/visitors/{visit_id}/admit")
    needles = (VALID, VALID.lower(), VALID[:17])
    with app.app_context():
        for table in ("visitor", "visit", "device_event", "shift_book_entry", "incident", "approval"):
            rows = db.session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 - fixed names
            dump = repr(rows)
            assert not any(n in dump for n in needles), table
        assert db.session.get(Visit, visit_id).visitor.id_masked == MASKED
        db.session.remove()
        db.engine.dispose()
    if backend == "sqlite":
        path = Path(make_url(database_url).database)
        for file in [path, *path.parent.glob(path.name + "-*")]:
            data = file.read_bytes()
            assert not any(n.encode() in data for n in needles), file
    assert not any(n in caplog.text for n in needles)
