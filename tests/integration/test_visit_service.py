"""The visit service's edges: withdrawn supervisor requests and two guards on one visit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gate.extensions import db
from gate.models import Approval, User, Visit
from gate.services import ActionError, visitors, visits


def _guard(staff_no: str = "1001") -> User:
    return db.session.scalars(select(User).where(User.staff_no == staff_no)).one()


def _visit() -> Visit:
    identity = visitors.check_identity("王五", "resident_id", "11010519491231002X")
    return visits.start(_guard(), None, "1-1-101", identity, purpose="探亲")


def test_refusing_withdraws_the_supervisor_request(ctx):
    """Protects the open items: a refused visit leaves no supervisor request pending forever."""
    visit = _visit()
    visits.escalate(visit, "forgot_id", _guard())
    assert visits.pending_approvals(visit.site_id)
    visits.refuse(visit, "visitor left", _guard())
    assert visits.pending_approvals(visit.site_id) == []
    approval = db.session.scalars(select(Approval).where(Approval.visit_id == visit.id)).one()
    assert approval.decision == "withdrawn"


def test_two_guards_one_visit_conflict(ctx, app):
    """Protects against double admission: a guard acting on a stale copy gets 'conflict', not a
    second record."""
    visit_id = _visit().id
    db.session.remove()
    stale = db.session.get(Visit, visit_id)  # guard B's copy, loaded before guard A acts
    db.session.expunge(stale)
    visits.host_answer(db.session.get(Visit, visit_id), "approved", by="phone", actor=_guard())
    db.session.add(stale)  # guard B now acts on the old version
    with pytest.raises(ActionError) as err:
        visits.host_answer(stale, "declined", by="phone", actor=_guard("1002"))
    assert err.value.code == "conflict"
    db.session.remove()
    assert db.session.get(Visit, visit_id).host_answer == "approved"


def test_bridge_housekeeping_checks_out_stale_visits(app_config):
    """Protects the evacuation list and SPEC §5's schedule: the bridge's hourly housekeeping
    closes visits left open past GATE_VISIT_AUTO_CHECKOUT_HOURS, marked as automatic."""
    from datetime import timedelta

    from device_adapters import chores
    from gate.app import create_app
    from gate.models.types import utcnow

    app = create_app(dict(app_config, GATE_MQTT_URL="mqtt://127.0.0.1:1"))
    with app.app_context():
        visit = _visit()
        visits.host_answer(visit, "approved", by="phone", actor=_guard())
        visits.admit(visit, _guard(), None)
        visit.admitted_at = utcnow() - timedelta(hours=30)
        db.session.commit()
        visit_id = visit.id
        db.session.remove()
    chores.housekeeping(app)  # the bridge's hourly chore; needs only the database
    with app.app_context():
        visit = db.session.get(Visit, visit_id)
        assert (visit.state, visit.left_reason) == ("checked_out", "auto")
        db.session.remove()
        db.engine.dispose()
