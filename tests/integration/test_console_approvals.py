"""The supervisor console: approving or denying guards' requests in time, and open incidents."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from gate.extensions import db
from gate.models import Approval, Incident, JournalRecord, ShiftBookEntry, User, Visit
from gate.services import visitors, visits

SUPERVISOR = ("supervisor", "supervisor-demo")
VALID_ID = "11010519491231002X"


def _user(**where) -> User:
    return db.session.scalars(select(User).filter_by(**where)).one()


def _start(app) -> int:
    with app.app_context():
        identity = visitors.check_identity("王五", "resident_id", VALID_ID)
        return visits.start(_user(staff_no="1001"), None, "1-1-101", identity, purpose="送文件").id


def _ask_supervisor(app, visit_id: int, minutes: int = 5, kind: str = "forgot_id") -> int:
    """The guard asks a supervisor (forgot ID / refuses ID), promising an answer within `minutes`."""
    with app.app_context():
        visit = db.session.get(Visit, visit_id)
        return visits.escalate(visit, kind, _user(staff_no="1001"), minutes=minutes).id


def _entries(app, kind: str) -> list[ShiftBookEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                                       .order_by(ShiftBookEntry.seq)))
        db.session.expunge_all()
        return rows


def _get(app, model, row_id):
    with app.app_context():
        row = db.session.get(model, row_id)
        db.session.expunge(row)
        return row


@pytest.fixture
def supervisor(kiosk):
    """The demo supervisor signed in on the console."""
    assert kiosk.login_staff(*SUPERVISOR).status_code == 302
    return kiosk


def _row(page: str, testid: str) -> str:
    match = re.search(rf'<tr class="([^"]*)" data-testid="{testid}"', page)
    assert match, f"{testid} not on the page"
    return match.group(1)


def test_pending_approval_listed_with_visitor_unit_and_guard(app, client, supervisor):
    """Protects the supervisor's overview: a pending request shows visitor, unit, kind and who asked."""
    approval_id = _ask_supervisor(app, _start(app))
    page = client.get("/console/").get_data(True)
    assert f'data-testid="approval-{approval_id}"' in page
    assert "王五" in page and "1-1-101" in page and "张保安" in page
    assert f'data-testid="approve-{approval_id}"' in page and f'data-testid="deny-{approval_id}"' in page
    assert VALID_ID not in page
    assert "console.js" in page


def test_approve_sends_the_visit_back_to_the_host(app, client, supervisor):
    """Protects §四 forgot-ID approval: approving returns the visit to waiting_host (the host still
    decides; host_answer unchanged) and writes approval.decided with the supervisor as actor."""
    visit_id = _start(app)
    approval_id = _ask_supervisor(app, visit_id)
    response = client.post(f"/console/approvals/{approval_id}",
                           data={"decision": "approved", "note": "已电话核实身份"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")
    approval, visit = _get(app, Approval, approval_id), _get(app, Visit, visit_id)
    assert approval.decision == "approved" and approval.note == "已电话核实身份"
    assert visit.state == "waiting_host" and visit.host_answer is None
    [entry] = _entries(app, "approval.decided")
    assert json.loads(entry.data) == {"approval_id": approval_id, "decision": "approved", "late": False}
    with app.app_context():
        assert entry.actor_id == approval.decided_by == _user(username="supervisor").id
    assert f"approval-{approval_id}" not in client.get("/console/").get_data(True)


def test_deny_refuses_the_visit(app, client, supervisor):
    """Protects §四 supervisor denial: the visit is refused with the reason, one entry written."""
    visit_id = _start(app)
    approval_id = _ask_supervisor(app, visit_id, kind="refused_id")
    client.post(f"/console/approvals/{approval_id}", data={"decision": "denied"})
    visit = _get(app, Visit, visit_id)
    assert visit.state == "refused" and visit.outcome_reason == "supervisor denied (refused_id)"
    assert _get(app, Approval, approval_id).note is None
    [entry] = _entries(app, "approval.decided")
    assert json.loads(entry.data)["decision"] == "denied"


def test_decided_request_cannot_be_decided_again(app, client, supervisor):
    """Protects the record from a second, contradicting decision (two supervisors, two tabs)."""
    approval_id = _ask_supervisor(app, _start(app))
    client.post(f"/console/approvals/{approval_id}", data={"decision": "denied"})
    page = client.post(f"/console/approvals/{approval_id}", data={"decision": "approved"},
                       follow_redirects=True).get_data(True)
    assert "flash error" in page
    assert _get(app, Approval, approval_id).decision == "denied"
    assert len(_entries(app, "approval.decided")) == 1


def test_bad_decision_and_unknown_request(app, client, supervisor):
    """Protects against malformed posts: no decision writes nothing; an unknown request is 404."""
    approval_id = _ask_supervisor(app, _start(app))
    page = client.post(f"/console/approvals/{approval_id}", data={"decision": "maybe"},
                       follow_redirects=True).get_data(True)
    assert "flash error" in page and _get(app, Approval, approval_id).decided_at is None
    assert client.post("/console/approvals/999999", data={"decision": "approved"}).status_code == 404
    assert _entries(app, "approval.decided") == []


def test_overdue_approvals_render_red_and_count_in_alerts(app, client, supervisor):
    """Protects 时效制: a request past its promised time is marked overdue on the console and counted
    in /console/alerts; one still in time is not."""
    late = _ask_supervisor(app, _start(app), minutes=-3)
    with app.app_context():
        other = visits.start(_user(staff_no="1001"), None, "1-1-101",
                             visitors.check_identity("孙七", None, None)).id
    in_time = _ask_supervisor(app, other, minutes=5)
    page = client.get("/console/").get_data(True)
    assert "overdue" in _row(page, f"approval-{late}").split()
    assert "overdue" not in _row(page, f"approval-{in_time}").split()
    alerts = client.get("/console/alerts").get_json()
    assert alerts["overdue_approvals"] == 1 and alerts["pending_approvals"] == 2
    assert alerts["approval_ids"] == [late, in_time] and alerts["message"]
    client.post(f"/console/approvals/{late}", data={"decision": "approved"})
    assert json.loads(_entries(app, "approval.decided")[0].data)["late"] is True
    assert client.get("/console/alerts").get_json()["overdue_approvals"] == 0


def test_incident_alert_and_close_with_note(app, client, supervisor):
    """Protects 硬闯 handling: an open forced-entry incident is in /console/alerts and at the top of the
    console with the guard's account; closing needs a note and writes incident.closed."""
    assert client.get("/console/alerts").get_json()["open_incidents"] == 0
    visit_id = _start(app)
    with app.app_context():
        guard = _user(staff_no="1001")
        incident = visits.forced_entry(db.session.get(Visit, visit_id), "访客推开闸机强行进入，已劝阻",
                                       guard, None)
        incident_id, account = incident.id, incident.account
    alerts = client.get("/console/alerts").get_json()
    assert alerts["open_incidents"] == 1 and alerts["incident_ids"] == [incident_id]
    page = client.get("/console/").get_data(True)
    assert f'data-testid="incident-{incident_id}"' in page and "访客推开闸机强行进入" in page
    assert page.index("incident-") < page.index('data-testid="approvals"')
    assert "hidden" not in re.search(r'<div class="alert-banner"[^>]*>', page).group(0)

    page = client.post(f"/console/incidents/{incident_id}/close", data={"note": "  "},
                       follow_redirects=True).get_data(True)
    assert "flash error" in page and _get(app, Incident, incident_id).closed_at is None

    client.post(f"/console/incidents/{incident_id}/close", data={"note": "已报警，访客已离开"})
    incident = _get(app, Incident, incident_id)
    assert incident.closed_at is not None and incident.account == account  # the guard's words stay
    [entry] = _entries(app, "incident.closed")
    data = json.loads(entry.data)
    assert data["incident_id"] == incident_id and "已报警" not in entry.data  # text kept off the chain
    with app.app_context():
        assert entry.actor_id == _user(username="supervisor").id
        note = db.session.get(JournalRecord, data["record_id"])
        assert note.fields == {"text": "已报警，访客已离开"} and note.seq == entry.seq
    assert client.get("/console/alerts").get_json()["open_incidents"] == 0
    assert f"incident-{incident_id}" not in client.get("/console/").get_data(True)
    again = client.post(f"/console/incidents/{incident_id}/close", data={"note": "再次"},
                        follow_redirects=True).get_data(True)
    assert "flash error" in again and len(_entries(app, "incident.closed")) == 1
    assert client.post("/console/incidents/999999/close", data={"note": "x"}).status_code == 404


def test_existing_console_still_works(app, client, supervisor):
    """Protects the shift list and chain check next to the new sections."""
    page = client.get("/console/").get_data(True)
    assert 'data-testid="entries"' in page and 'data-testid="verify"' in page
    assert "hidden" in re.search(r'<div class="alert-banner"[^>]*>', page).group(0)  # nothing to alert
    assert "flash success" in client.post("/console/verify").get_data(True)
