"""Shift reports in the supervisor console (SPEC §2.5–2.6): the list by post and dates, the daily
activity report, review states new → reviewed → approved written as new shift-book entries, and
supervisor notes linked to the original entry. Guards can change nothing here."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask_babel import gettext
from markupsafe import escape
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import Post, Shift, ShiftBookEntry, User
from gate.models.types import utcnow
from gate.services import ActionError, shift_review, shiftbook

CONSOLE = "/console/shifts/"
SUPERVISOR = ("supervisor", "supervisor-demo")


def _demo_shift() -> Shift:
    """Yesterday's handed-over shift by guard 1002 (gate/services/demo.py _history)."""
    guard = db.session.scalars(select(User).where(User.staff_no == "1002")).one()
    return db.session.scalars(select(Shift).where(Shift.guard_id == guard.id,
                                                  Shift.ended_at.is_not(None))).first()


def _said(app, msgid: str, **values) -> str:
    """A message as a page shows it (in the default locale, so the test holds once translated)."""
    with app.test_request_context():
        return gettext(msgid, **values)


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(ShiftBookEntry))


def _shift_id(app) -> int:
    with app.app_context():
        shift_id = _demo_shift().id
        db.session.remove()
        return shift_id


def _entries(app, kind: str) -> list[ShiftBookEntry]:
    with app.app_context():
        rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                                  .order_by(ShiftBookEntry.seq)).all()
        db.session.expunge_all()
        db.session.remove()
        return list(rows)


def test_transitions_are_new_entries_linked_to_the_shift(ctx):
    """Protects the review trail: each step is one new entry with the comment, shift_id and ref_seq."""
    shift, boss = _demo_shift(), _user("supervisor")
    assert shift_review.state_of(shift) == "new"
    before = _count()
    reviewed = shift_review.advance(shift, boss, "reviewed", "巡逻记录齐全")
    assert _count() == before + 1
    assert (reviewed.kind, reviewed.shift_id, reviewed.ref_seq) == ("shift.reviewed", shift.id, shift.end_seq)
    assert reviewed.actor_id == boss.id
    assert json.loads(reviewed.data) == {"from": "new", "to": "reviewed", "comment": "巡逻记录齐全"}
    assert shift_review.state_of(shift) == "reviewed"
    approved = shift_review.advance(shift, boss, "approved", "")
    assert _count() == before + 2
    assert (approved.kind, approved.shift_id, approved.ref_seq) == ("shift.approved", shift.id, reviewed.seq)
    assert shift_review.state_of(shift) == "approved"
    assert shift_review.states([shift.id]) == {shift.id: "approved"}
    assert shiftbook.verify().ok


@pytest.mark.parametrize("steps, to, code", [
    ((), "approved", "bad_transition"),
    (("reviewed",), "reviewed", "bad_transition"),
    (("reviewed", "approved"), "approved", "bad_transition"),
    (("reviewed", "approved"), "reviewed", "bad_transition"),
    ((), "new", "bad_state"),
])
def test_out_of_order_transition_writes_nothing(ctx, steps, to, code):
    """Protects the state machine: only new → reviewed → approved; a refused step writes no entry."""
    shift, boss = _demo_shift(), _user("supervisor")
    for step in steps:
        shift_review.advance(shift, boss, step, "ok")
    before = _count()
    with pytest.raises(ActionError) as err:
        shift_review.advance(shift, boss, to, "again")
    assert err.value.code == code
    assert _count() == before


def test_reviewing_needs_a_comment_and_a_supervisor(ctx):
    """Protects accountability: no silent review, no review by a guard, comments are capped."""
    shift, boss = _demo_shift(), _user("supervisor")
    guard = db.session.scalars(select(User).where(User.staff_no == "1001")).one()
    before = _count()
    for who, to, text, code in [(boss, "reviewed", "   ", "comment_required"),
                                (boss, "reviewed", "x" * 501, "too_long"),
                                (guard, "reviewed", "looks fine", "forbidden")]:
        with pytest.raises(ActionError) as err:
            shift_review.advance(shift, who, to, text)
        assert err.value.code == code
    with pytest.raises(ActionError) as err:
        shift_review.note(shift.start_seq, guard, "changed my mind")
    assert err.value.code == "forbidden"
    assert _count() == before


def test_open_shift_cannot_be_reviewed(ctx):
    """Protects the report's meaning: a shift is reviewed only after its handover."""
    boss = _user("supervisor")
    post = db.session.scalars(select(Post)).first()
    guard = db.session.scalars(select(User).where(User.staff_no == "1001")).one()
    shift = Shift(post_id=post.id, guard_id=guard.id, started_at=utcnow() - timedelta(hours=1))
    db.session.add(shift)
    db.session.commit()
    with pytest.raises(ActionError) as err:
        shift_review.advance(shift, boss, "reviewed", "too early")
    assert err.value.code == "shift_open"


def test_note_is_a_new_entry_linked_to_the_original(ctx):
    """Protects non-editable reports: a note or correction never changes the original entry."""
    shift, boss = _demo_shift(), _user("supervisor")
    original = db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.shift_id == shift.id, ShiftBookEntry.kind == "journal.patrol")).one()
    snapshot = (original.row_hash, original.data)
    before = _count()
    note = shift_review.note(original.seq, boss, "B1 light 3 was out; guard did not record it",
                             correction=True)
    assert _count() == before + 1
    assert (note.kind, note.ref_seq, note.shift_id) == ("shift.note", original.seq, shift.id)
    assert json.loads(note.data)["correction"] is True
    db.session.expire_all()
    again = db.session.get(ShiftBookEntry, original.id)
    assert (again.row_hash, again.data) == snapshot
    assert shift_review.notes_by_ref(shift)[original.seq][0].seq == note.seq
    with pytest.raises(ActionError) as err:
        shift_review.note(10**9, boss, "nothing there")
    assert err.value.code == "not_found"
    with pytest.raises(ActionError) as err:
        shift_review.note(original.seq, boss, "  ")
    assert err.value.code == "note_required"
    assert _count() == before + 1


def test_report_page_shows_counts_handover_and_review(app, client, kiosk):
    """Protects the daily activity report: counts per type, timeline, handover with signatures."""
    shift_id = _shift_id(app)
    kiosk.login_staff(*SUPERVISOR)
    page = client.get(f"{CONSOLE}{shift_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for marker in ('data-testid="count-journal.patrol"', 'data-testid="checkpoint"',
                   _said(app, "signature valid"),
                   'data-testid="open-items"', 'data-testid="review-form"', "李保安", "张保安"):
        assert marker in html, marker
    response = client.post(f"{CONSOLE}{shift_id}/review", data={"to": "reviewed", "comment": "查过了"})
    assert response.status_code == 302
    response = client.post(f"{CONSOLE}{shift_id}/review", data={"to": "approved", "comment": ""})
    assert response.status_code == 302
    rows = _entries(app, "shift.reviewed") + _entries(app, "shift.approved")
    assert [r.shift_id for r in rows] == [shift_id, shift_id]
    html = client.get(f"{CONSOLE}{shift_id}").get_data(as_text=True)
    assert "查过了" in html and 'data-testid="review-form"' not in html


def test_out_of_order_post_is_refused(app, client, kiosk):
    """Protects the state machine over HTTP: approving a new report says why and writes nothing."""
    shift_id = _shift_id(app)
    kiosk.login_staff(*SUPERVISOR)
    response = client.post(f"{CONSOLE}{shift_id}/review", data={"to": "approved"}, follow_redirects=True)
    expected = _said(app, "This shift is %(now)s; it cannot be marked %(to)s.", now=_said(app, "new"),
                     to=_said(app, "approved"))
    assert str(escape(expected)) in response.get_data(as_text=True)
    assert _entries(app, "shift.approved") == []


def test_note_form_links_to_the_original(app, client, kiosk):
    """Protects notes over HTTP: linked by ref_seq, shown under the entry; foreign seqs refused."""
    shift_id = _shift_id(app)
    with app.app_context():
        seq = db.session.scalars(select(ShiftBookEntry.seq).where(
            ShiftBookEntry.shift_id == shift_id, ShiftBookEntry.kind == "journal.note")).one()
        db.session.remove()
    kiosk.login_staff(*SUPERVISOR)
    response = client.post(f"{CONSOLE}{shift_id}/notes", data={"seq": seq, "text": "请补记保养单位"})
    assert response.status_code == 302
    notes = _entries(app, "shift.note")
    assert [(n.ref_seq, n.shift_id) for n in notes] == [(seq, shift_id)]
    assert "请补记保养单位" in client.get(f"{CONSOLE}{shift_id}").get_data(as_text=True)
    client.post(f"{CONSOLE}{shift_id}/notes", data={"seq": "1", "text": "not this shift"})
    assert len(_entries(app, "shift.note")) == 1


@pytest.mark.parametrize("method, suffix, data", [
    ("get", "", None), ("get", "{id}", None),
    ("post", "{id}/review", {"to": "reviewed", "comment": "by a guard"}),
    ("post", "{id}/notes", {"seq": "1", "text": "by a guard"}),
])
def test_guard_is_turned_away(app, client, kiosk, method, suffix, data):
    """Protects supervisor-only review: a guard gets 403 at every URL and writes nothing."""
    shift_id = _shift_id(app)
    kiosk.login()
    response = getattr(client, method)(CONSOLE + suffix.format(id=shift_id), data=data)
    assert response.status_code == 403
    assert _entries(app, "shift.reviewed") == [] and _entries(app, "shift.note") == []


def test_unknown_shift_is_404(app, client, kiosk):
    """Protects lookups: a shift id that is not at this estate is a plain 404."""
    kiosk.login_staff(*SUPERVISOR)
    assert client.get(f"{CONSOLE}999999").status_code == 404
    assert client.post(f"{CONSOLE}999999/review", data={"to": "reviewed", "comment": "x"}).status_code == 404


def test_list_filters_by_post_and_dates(app, client, kiosk):
    """Protects the list: the demo shift shows with its state; other posts and dates hide it."""
    with app.app_context():
        shift = _demo_shift()
        shift_id, post_id = shift.id, shift.post_id
        day = shift.started_at.strftime("%Y-%m-%d")
        other = db.session.scalars(select(Post.id).where(Post.id != post_id)).first()
        db.session.remove()
    kiosk.login_staff(*SUPERVISOR)
    html = client.get(CONSOLE).get_data(as_text=True)
    assert f'data-testid="shift-{shift_id}"' in html and f'data-testid="state-{shift_id}"' in html
    html = client.get(CONSOLE, query_string={"post": post_id, "from": day, "to": day}).get_data(as_text=True)
    assert f'data-testid="shift-{shift_id}"' in html
    html = client.get(CONSOLE, query_string={"from": "2001-01-01", "to": "2001-01-31"}).get_data(as_text=True)
    assert f'data-testid="shift-{shift_id}"' not in html
    html = client.get(CONSOLE, query_string={"state": "approved"}).get_data(as_text=True)
    assert f'data-testid="shift-{shift_id}"' not in html
    if other is not None:
        html = client.get(CONSOLE, query_string={"post": other}).get_data(as_text=True)
        assert f'data-testid="shift-{shift_id}"' not in html


POST_UNKNOWN = "There is no such post at this estate. Choose one from the list."


@pytest.mark.parametrize("args, message, values", [
    ({"from": "2030-02-01", "to": "2030-01-01"},
     "The end date is before the start date. Swap them and try again.", {}),
    ({"from": "2030-01-01", "to": "2030-12-31"}, "Choose at most %(n)d days at a time.", {"n": 92}),
    ({"from": "yesterday"}, "Write dates as year-month-day, e.g. 2030-12-31, or leave them empty.", {}),
    ({"post": "999999"}, POST_UNKNOWN, {}),
    ({"post": "gate-1"}, POST_UNKNOWN, {}),
])
def test_list_bad_filters_give_one_message(app, client, kiosk, args, message, values):
    """Protects the filters: a reversed, absurd or unreadable range or unknown post gives one message."""
    kiosk.login_staff(*SUPERVISOR)
    response = client.get(CONSOLE, query_string=args)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('data-testid="filter-error"') == 1
    assert str(escape(_said(app, message, **values))) in html
