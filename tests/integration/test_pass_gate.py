"""Passes at the gate (SPEC §2.2): every refusal says why and changes nothing; admissions record all.

Each refusal is checked through the service and through the kiosk's pass screen (POST, then the
redirected page), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, time, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from gate.domain import passes as tokens
from gate.extensions import db
from gate.models import BarrierCommandRecord, PassUse, PortalNotice, ShiftBookEntry, Visit, VisitorPass
from gate.models.types import utcnow
from gate.services import pass_gate, passes, visits
from kiosk_ui.kiosk_passes import REJECTIONS
from kiosk_ui.scripts import script
from tests.support import passes as make
from tests.support.kiosk import GUARD


def _on_shift(kiosk) -> None:
    kiosk.login(*GUARD)
    kiosk.start_shift()
    kiosk.client.get("/kiosk/?lang=en")  # English from now on; shows the "shift started" message


def _gate(text: str, source: str = "scanner", **extra) -> pass_gate.GateResult | None:
    site = make.site()
    return pass_gate.at_gate(site, text, source=source, guard=make.user(GUARD[0]),
                             barrier=visits.pedestrian_barrier(site.id), **extra)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _snapshot(pass_id: int | None) -> dict:
    db.session.expire_all()
    uses = db.session.get(VisitorPass, pass_id).uses if pass_id else None
    return {"uses": uses, "visits": _count(Visit), "pass_uses": _count(PassUse),
            "notices": _count(PortalNotice), "commands": _count(BarrierCommandRecord),
            "seq": db.session.scalar(select(func.max(ShiftBookEntry.seq)))}


def _entries_after(seq: int) -> list[ShiftBookEntry]:
    return list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.seq > seq)
                                   .order_by(ShiftBookEntry.seq)))


def _post(client, text: str) -> str:
    """Submit the pass screen's form; the page the redirect leads to."""
    response = client.post("/kiosk/passes/", data={"text": text})
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk/passes/")
    return html.unescape(client.get("/kiosk/passes/").get_data(True))


def _verdict(page: str) -> tuple[str, str]:
    found = re.search(r'data-testid="pass-result" data-outcome="(\w+)" data-reason="(\w+)"', page)
    assert found, "no verdict on the page"
    return found.group(1), found.group(2)


def _english(app, key: str) -> str:
    with app.test_request_context(), force_locale("en"):
        return script(key)


# --- the refusals: each builder returns (text shown to the gate, pass id or None) -------------

def _random():
    return "hello world 12345", None


def _truncated():
    vp = make.visitor_pass()
    return make.token(vp)[:40], vp.id


def _base64():
    vp = make.visitor_pass()
    return make.re_encoded(make.token(vp)), vp.id


def _other_key():
    vp = make.visitor_pass()
    return make.forged_with_other_key(vp), vp.id


def _flipped():
    vp = make.visitor_pass()
    return make.flipped(make.token(vp)), vp.id


def _longer_window():
    vp = make.visitor_pass()
    return make.longer_window(make.token(vp)), vp.id


def _other_site():
    vp = make.visitor_pass()
    return make.other_site(vp), vp.id


def _unknown_code():
    return "ABCD-EFGH", None


def _unknown_token():
    now = utcnow()
    return tokens.issue(passes.pass_key(), "demo", tokens.new_pid(), now, now + timedelta(hours=1)), None


def _not_yet_valid():
    tomorrow = passes.today() + timedelta(days=1)
    vp = make.visitor_pass(starts_on=tomorrow, ends_on=tomorrow)
    return make.token(vp), vp.id


def _expired():
    vp = make.expire(make.visitor_pass())
    return make.token(vp), vp.id


def _used_up():
    vp = make.visitor_pass()
    assert _gate(make.token(vp)).outcome == "admitted"
    return make.token(vp), vp.id


def _revoked():
    vp = make.visitor_pass()
    passes.revoke(vp, make.host()[1])
    return make.token(vp), vp.id


def _moved_out():
    vp = make.visitor_pass()
    make.host()[0].moved_out_at = utcnow()
    db.session.commit()
    return make.token(vp), vp.id


def _out_of_hours():
    vp = make.worker_pass()
    clock = utcnow().astimezone(passes.site_zone()).strftime("%H:%M")
    vp.daily_from, vp.daily_until = ("00:00", "00:01") if clock >= "00:05" else ("12:00", "13:00")
    db.session.commit()
    return make.token(vp), vp.id


REFUSALS = [("malformed", _random), ("malformed", _truncated), ("malformed", _base64),
            ("forged", _other_key), ("forged", _flipped), ("forged", _longer_window),
            ("other_site", _other_site), ("unknown", _unknown_code), ("unknown", _unknown_token),
            ("not_yet_valid", _not_yet_valid), ("expired", _expired), ("used_up", _used_up),
            ("revoked", _revoked), ("moved_out", _moved_out), ("out_of_hours", _out_of_hours)]


def test_every_rejection_reason_is_covered():
    """Protects this file's completeness: each of the service's refusal reasons has a case here."""
    assert {reason for reason, _build in REFUSALS} == set(pass_gate.REJECTIONS) == set(REJECTIONS)


@pytest.mark.parametrize("channel", ["service", "kiosk"])
@pytest.mark.parametrize("reason, build", REFUSALS, ids=[b.__name__.strip("_") for _r, b in REFUSALS])
def test_refusal_says_why_and_changes_nothing_else(app, kiosk, channel, reason, build):
    """Protects the gate and the record: a refused pass gives its exact reason (and script on the
    kiosk), and changes nothing but one 'pass.rejected' entry — no use taken, no visit, no command,
    and the scanned text (a bearer token) stored nowhere."""
    if channel == "kiosk":
        _on_shift(kiosk)
    with app.app_context():
        text, pass_id = build()
        before = _snapshot(pass_id)
        if channel == "service":
            result = _gate(text)
            assert (result.outcome, result.reason, result.command) == ("rejected", reason, None)
        db.session.remove()
    if channel == "kiosk":
        page = _post(kiosk.client, text)
        assert _verdict(page) == ("rejected", reason)
        assert _english(app, REJECTIONS[reason][2]) in page  # the banner's polite script
        assert str(REJECTIONS[reason][1]) in page  # what the guard does next
    with app.app_context():
        after = _snapshot(pass_id)
        [entry] = _entries_after(before["seq"])
        assert entry.kind == "pass.rejected"
        data = json.loads(entry.data)
        named = reason not in ("malformed", "forged", "other_site", "unknown")
        assert data["reason"] == reason and data["pass_id"] == (pass_id if named else None)
        typed = channel == "kiosk" and tokens.is_code(text)
        assert data["source"] == ("manual" if typed else "scanner")
        assert text not in entry.data
    assert dict(after, seq=None) == dict(before, seq=None)


def test_admission_records_use_visit_notice_entry_and_command(app, ctx):
    """Protects what an admission leaves behind: one use, a visit on the on-site list, a portal
    notice, the 'pass.used' entry naming them, and the walk-in barrier's recorded order."""
    vp = make.visitor_pass(purpose="送文件")
    before = _snapshot(vp.id)
    result = _gate(make.token(vp))
    assert (result.outcome, result.reason, result.uses_left) == ("admitted", "visitor", 0)
    assert (result.name, result.unit) == ("王访客", "1-1-101")
    use = db.session.scalars(select(PassUse).where(PassUse.pass_id == vp.id)).one()
    assert (use.direction, use.source, use.device, use.guard_id) == ("in", "scanner", None,
                                                                     make.user(GUARD[0]).id)
    visit = db.session.get(Visit, result.visit_id)
    assert use.visit_id == visit.id and visit in visits.on_site(vp.site_id)
    assert (visit.state, visit.host_answered_by, visit.purpose) == ("admitted", "pass", "送文件")
    assert _count(PortalNotice, PortalNotice.kind == "pass_admitted", PortalNotice.unit_id == vp.unit_id) == 1
    command = db.session.get(BarrierCommandRecord, result.command.id)
    assert (command.device, command.action, command.source) == ("walk-in", "open", "scanner")
    kinds = [e.kind for e in _entries_after(before["seq"])]
    assert kinds == ["barrier.command", "pass.used"]
    used = json.loads(_entries_after(before["seq"])[-1].data)
    assert (used["use_id"], used["visit_id"], used["command_id"]) == (use.id, visit.id, command.id)
    assert db.session.get(VisitorPass, vp.id).uses == 1


def test_kiosk_admission_and_reload_redeems_once(app, kiosk):
    """Protects Post/Redirect/Get: the guard sees who was admitted; reloading the page shows the
    same verdict without redeeming again. Without a broker the guard is told to open by hand and
    the order is settled as 'no_answer' (nothing was sent)."""
    _on_shift(kiosk)
    with app.app_context():
        vp = make.visitor_pass(uses="count", count=2)
        text, pass_id = make.token(vp), vp.id
    page = _post(kiosk.client, text)
    assert _verdict(page) == ("admitted", "visitor")
    assert 'data-testid="pass-name">王访客<' in page and 'data-testid="pass-unit">1-1-101<' in page
    assert 'data-testid="pass-uses-left">1<' in page
    assert 'data-barrier="unreachable"' in page and _english(app, "welcome") in page
    again = html.unescape(kiosk.client.get("/kiosk/passes/").get_data(True))
    assert _verdict(again) == ("admitted", "visitor")
    with app.app_context():
        assert db.session.get(VisitorPass, pass_id).uses == 1
        assert _count(PassUse) == 1
        assert db.session.scalars(select(BarrierCommandRecord)).one().outcome == "no_answer"


def test_count_pass_admits_n_times_then_used_up(ctx):
    """Protects 'N uses': exactly N admissions, the uses left counting down, then used_up."""
    vp = make.visitor_pass(uses="count", count=3)
    text = make.token(vp)
    assert [_gate(text).uses_left for _ in range(3)] == [2, 1, 0]
    assert _gate(text).reason == "used_up"
    assert _count(PassUse, PassUse.pass_id == vp.id) == 3


def test_unlimited_pass_keeps_admitting(app, kiosk):
    """Protects 'unlimited within the window': every scan admits; the kiosk says unlimited."""
    _on_shift(kiosk)
    with app.app_context():
        text = make.token(make.visitor_pass(uses="unlimited"))
        assert [_gate(text).outcome for _ in range(4)] == ["admitted"] * 4
    page = _post(kiosk.client, text)
    assert _verdict(page) == ("admitted", "visitor") and 'data-testid="pass-uses-left">unlimited<' in page
    with app.app_context():
        assert _count(PassUse) == 5


@pytest.mark.parametrize("typing", ["boix-2345", "8o1x 2345", "B0IX2345", " 80IX-2345\n"])
def test_typed_short_code_admits(app, kiosk, typing):
    """Protects manual entry: the code typed in lower case, with a dash or spaces, or with 0/1/8
    for O/I/B, finds the pass; the use is recorded as typed by hand."""
    _on_shift(kiosk)
    with app.app_context():
        vp = make.visitor_pass()
        vp.code = "BOIX2345"  # a code with every look-alike letter
        db.session.commit()
        pass_id = vp.id
    assert _verdict(_post(kiosk.client, typing)) == ("admitted", "visitor")
    with app.app_context():
        assert db.session.scalars(select(PassUse.source).where(PassUse.pass_id == pass_id)).one() == "manual"


def _local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(passes.today(), time(hour, minute), passes.site_zone())


def test_worker_in_then_out_even_after_hours(app, kiosk, monkeypatch):
    """Protects 装修出入证: a worker enters within the day's hours, and leaving is never refused —
    even after hours; the screen shows name, company and the direction."""
    _on_shift(kiosk)
    with app.app_context():
        vp = make.worker_pass(daily_from="08:00", daily_until="18:00")
        text, pass_id = make.token(vp), vp.id
    monkeypatch.setattr(pass_gate, "utcnow", lambda: _local(10))
    page = _post(kiosk.client, text)
    assert _verdict(page) == ("admitted", "worker") and "好家装修公司" in page and "刘师傅" in page
    monkeypatch.setattr(pass_gate, "utcnow", lambda: _local(20, 30))
    assert _verdict(_post(kiosk.client, text)) == ("left", "worker")
    with app.app_context():
        directions = db.session.scalars(select(PassUse.direction).where(PassUse.pass_id == pass_id)
                                        .order_by(PassUse.id)).all()
        assert directions == ["in", "out"]
        assert db.session.get(VisitorPass, pass_id).inside is False
        assert _count(Visit) == 0  # workers are not visitors on the evacuation list…
        kinds = [n.kind for n in db.session.scalars(select(PortalNotice).order_by(PortalNotice.id))]
        assert kinds == ["worker_in", "worker_out"]  # …but the household is told each way
    monkeypatch.setattr(pass_gate, "utcnow", lambda: _local(21))
    assert _verdict(_post(kiosk.client, text)) == ("rejected", "out_of_hours")  # not back in at night


def test_recent_list_shows_kiosk_and_device_decisions(app, kiosk):
    """Protects the guard's view of the gate: kiosk and scanner decisions appear newest first in the
    2 s poll's JSON, with the scanner's name — and never the scanned token."""
    _on_shift(kiosk)
    with app.app_context():
        vp = make.visitor_pass(uses="unlimited")
        text = make.token(vp)
    _post(kiosk.client, text)
    with app.app_context():
        assert _gate(text, event_key=("demo", "kiosk-cam", "evt-1")).outcome == "admitted"
        assert _gate("GP1" + "A" * 64, event_key=("demo", "kiosk-cam", "evt-2")).reason == "forged"
    body = kiosk.client.get("/kiosk/passes/recent").get_json()
    rows = [(i["outcome"], i["name"], i["device"]) for i in body["items"]]
    assert rows == [("rejected", None, True), ("admitted", "王访客", True), ("admitted", "王访客", False)]
    assert body["head"] == body["items"][0]["seq"] and "岗亭扫码摄像头" in body["items"][0]["where"]
    assert text not in json.dumps(body) and 'data-testid="pass-event"' in body["html"]


def test_pass_screen_needs_a_shift(kiosk):
    """Protects the shift record: a guard must start the shift before checking passes."""
    kiosk.login(*GUARD)
    assert kiosk.client.get("/kiosk/passes/").headers["Location"].endswith("/kiosk/shift/start")
    response = kiosk.client.post("/kiosk/passes/", data={"text": "ABCD-EFGH"})
    assert response.headers["Location"].endswith("/kiosk/shift/start")
