"""Renovation worker passes (装修出入证): the desk issues and revokes them; the gate logs each way."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import ShiftBookEntry, Unit, User, VisitorPass
from gate.services import pass_gate, passes, transaction
from gate.services.sites import current_site

ID_NUMBER = "11010519491231002X"


@pytest.fixture
def desk(kiosk, client):
    """The client signed in as the demo service desk."""
    assert kiosk.login_staff("desk", "desk-demo").status_code == 302
    return client


def _form(app, **changes) -> dict:
    with app.app_context():
        today = passes.today().isoformat()
    data = {"unit": "1-1-101", "name": "刘师傅", "id_number": ID_NUMBER, "employer": "好家装修公司",
            "phone": "", "starts_on": today, "ends_on": today, "daily_from": "00:00",
            "daily_until": "23:59"}
    return dict(data, **changes)


def _worker_passes(app) -> list[VisitorPass]:
    with app.app_context():
        rows = db.session.scalars(select(VisitorPass).where(VisitorPass.kind == "worker")).all()
        db.session.remove()
        return rows


def _entries(app, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ShiftBookEntry)
                                 .where(ShiftBookEntry.kind == kind))


def test_desk_issues_printable_pass_with_masked_id(app, desk):
    """Protects the worker's ID: the card shows only the masked number, and no table or entry
    holds the clear one."""
    response = desk.post("/desk/workers/new", data=_form(app))
    assert response.status_code == 302
    card = desk.get(response.headers["Location"]).get_data(True)
    [row] = _worker_passes(app)
    assert row.id_masked in card and ID_NUMBER not in card and "<svg" in card
    assert row.daily_from == "00:00" and row.daily_until == "23:59" and row.max_uses is None
    with app.app_context():
        dumped = json.dumps([e.data for e in db.session.scalars(select(ShiftBookEntry))],
                            ensure_ascii=False)
        columns = [str(getattr(row, c.key)) for c in VisitorPass.__table__.columns]
    assert ID_NUMBER not in dumped and not any(ID_NUMBER in value for value in columns)


@pytest.mark.parametrize(("changes", "message"), [
    ({"id_number": "110105194912310021"}, "ID number"),
    ({"daily_from": "18:00", "daily_until": "08:00"}, "working day"),
    ({"employer": ""}, "renovation company"),
    ({"unit": "9-9-999"}, "9-9-999"),
    ({"starts_on": "2020-01-01", "ends_on": "2020-01-02"}, "passed"),
    ({"name": ""}, "name"),
])
def test_bad_worker_pass_input_changes_nothing(app, desk, changes, message):
    """Protects the record: a bad worker pass request says what to fix and creates nothing."""
    before = _entries(app, "pass.created")
    page = desk.post("/desk/workers/new?lang=en", data=_form(app, **changes))
    assert page.status_code == 200 and message in page.get_data(True)
    assert _worker_passes(app) == [] and _entries(app, "pass.created") == before
    assert ID_NUMBER not in page.get_data(True)


def test_worker_goes_in_and_out_and_the_desk_sees_it(app, desk):
    """Protects the log: each entry and exit is recorded and listed on the worker's card."""
    desk.post("/desk/workers/new", data=_form(app))
    [row] = _worker_passes(app)
    with app.app_context():
        site = current_site()
        fresh = db.session.get(VisitorPass, row.id)
        token = passes.token_for(fresh)
        came = pass_gate.at_gate(site, token, source="scanner")
        went = pass_gate.at_gate(site, token, source="scanner")
    assert (came.outcome, went.outcome) == ("admitted", "left")
    card = desk.get(f"/desk/workers/{row.id}?lang=en").get_data(True)
    assert card.count("· in") == 1 and card.count("· out") == 1


def test_revoked_worker_pass_is_refused(app, desk):
    """Protects the desk's decision: a revoked worker pass no longer opens the gate."""
    desk.post("/desk/workers/new", data=_form(app))
    [row] = _worker_passes(app)
    assert desk.post(f"/desk/workers/{row.id}/revoke").status_code == 302
    with app.app_context():
        result = pass_gate.at_gate(current_site(), passes.token_for(db.session.get(VisitorPass, row.id)),
                                   source="manual")
    assert result.reason == "revoked"


def test_other_estate_worker_pass_is_not_found(app, desk):
    """Protects estates from each other: another site's worker pass is 404 on the desk."""
    from gate.models import Building
    from gate.services import sites

    with app.app_context():
        desk_user = db.session.scalars(select(User).where(User.username == "desk")).one()
        with transaction():
            site = sites.create_site("other", "别的小区")
            building = Building(site_id=site.id, code="9", name="9栋")
            db.session.add(building)
            db.session.flush()
            unit = Unit(site_id=site.id, building_id=building.id, code="9-1-901")
            db.session.add(unit)
        stranger = passes.issue_worker_pass(desk_user, unit, name="外人", id_number=ID_NUMBER,
                                            employer="某公司", starts_on=None,
                                            ends_on=passes.today() + timedelta(days=1),
                                            daily_from="08:00", daily_until="18:00")
        stranger_id = stranger.id
    assert desk.get(f"/desk/workers/{stranger_id}").status_code == 404
    assert desk.post(f"/desk/workers/{stranger_id}/revoke").status_code == 404
