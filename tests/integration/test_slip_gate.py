"""Release slips at the gate (放行条, SPEC §2.3): the kiosk's scan, check and release screens.

Every path goes through the kiosk (POST, then the redirected page), on SQLite and PostgreSQL:
a good slip is released once with the carrier's ID kept masked; every refusal says why, is
logged, and leaves the slip as it was.
"""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import JournalRecord, PortalNotice, ReleaseSlip, ShiftBookEntry
from gate.services import ActionError, slip_gate, slips
from gate.services.passes import today
from kiosk_ui.kiosk_slips import PROBLEMS
from kiosk_ui.scripts import script
from tests.support import passes as passes_make
from tests.support import slips as make
from tests.support.kiosk import GUARD

SCREEN = "/kiosk/slips/"


def _on_shift(kiosk) -> None:
    kiosk.login(*GUARD)
    kiosk.start_shift()
    kiosk.client.get("/kiosk/?lang=en")  # English from now on


def _page(client, url: str) -> str:
    return html.unescape(client.get(url).get_data(True))


def _scan(client, text: str) -> str:
    """Submit the scan field; the location it redirects to."""
    response = client.post(SCREEN, data={"text": text})
    assert response.status_code == 302
    return response.headers["Location"]


def _rejected(client, text: str) -> str:
    """Scan a text that must be refused; the screen showing the verdict."""
    assert _scan(client, text).endswith(SCREEN)
    return _page(client, SCREEN)


def _check_url(slip_id: int) -> str:
    return f"/kiosk/slips/{slip_id}/check"


def _verdict(page: str) -> tuple[str, str]:
    found = re.search(r'class="card slip-result (\w+)"[^>]*data-testid="slip-result" '
                      r'data-outcome="(\w+)" data-reason="(\w+)"', page)
    assert found, "no verdict on the page"
    assert found.group(1) == found.group(2)
    return found.group(2), found.group(3)


def _english(app, key: str) -> str:
    with app.test_request_context(), force_locale("en"):
        return script(key)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _seq() -> int:
    return db.session.scalar(select(func.max(ShiftBookEntry.seq))) or 0


def _entries_after(seq: int) -> list[tuple[str, dict]]:
    rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.seq > seq)
                              .order_by(ShiftBookEntry.seq))
    return [(row.kind, json.loads(row.data)) for row in rows]


def _slip_state(slip_id: int | None) -> tuple | None:
    if slip_id is None:
        return None
    db.session.expire_all()
    slip = db.session.get(ReleaseSlip, slip_id)
    return slip.state, slip.released_at, slip.carrier_id_masked, slip.carrier_id_hash


def _everything_stored() -> str:
    """Every value in every table, as text."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()):
            parts.append(" ".join(str(value) for value in row))
    return "\n".join(parts)


def _release_form(lines=(1, 2), id_type: str = "resident_id", number: str = make.CARRIER_ID) -> dict:
    return {"line": [str(n) for n in lines], "id_type": id_type, "id_number": number}


def test_scan_check_release_records_it_once(app, kiosk, caplog):
    """Protects the whole gate path: the scanned QR opens the check page with the slip's facts and
    goods; with every line ticked and a valid carrier ID the goods are released once, with the
    'slip.released' entry, the household's notice and the carrier's ID kept only masked and
    hashed — the clear number is in no page, table, log line or session."""
    caplog.set_level(logging.DEBUG)
    _on_shift(kiosk)
    with app.app_context():
        slip = make.approved()
        text, slip_id, serial, day = make.token(slip), slip.id, slip.serial, slip.on_date.isoformat()
        seq = _seq()
    location = _scan(kiosk.client, text)
    assert location.endswith(_check_url(slip_id))
    page = _page(kiosk.client, location)
    for fact in (serial, "1-1-101", day, "李师傅", "Moving out", "沙发", "纸箱", "× 12"):
        assert fact in page, fact
    assert page.count('data-testid="goods-line"') == 2 and _english(app, "slip_ask") in page
    response = kiosk.client.post(f"/kiosk/slips/{slip_id}/release", data=_release_form())
    assert response.status_code == 302 and response.headers["Location"].endswith(SCREEN)
    page = _page(kiosk.client, SCREEN)
    assert _verdict(page) == ("released", "released")
    assert _english(app, "slip_done") in page and serial in page
    with app.app_context():
        state, released_at, masked, digest = _slip_state(slip_id)
        assert state == "released" and released_at is not None
        assert masked == "110105********002X" and masked in page and len(digest) == 64
        assert _entries_after(seq) == [("slip.released", {"slip_id": slip_id, "serial": serial,
                                                          "lines": 2})]
        assert _count(PortalNotice, PortalNotice.kind == "slip_released") == 1
        assert make.CARRIER_ID not in _everything_stored()
    assert make.CARRIER_ID not in page and make.CARRIER_ID not in caplog.text
    with kiosk.client.session_transaction() as stored:
        assert make.CARRIER_ID not in json.dumps(dict(stored), default=str)
    # Post/Redirect/Get: a reload shows the verdict again and releases nothing more.
    assert _verdict(_page(kiosk.client, SCREEN)) == ("released", "released")
    with app.app_context():
        assert _count(ShiftBookEntry, ShiftBookEntry.kind == "slip.released") == 1


def test_typed_serial_opens_the_check_page(app, kiosk):
    """Protects manual entry: the serial typed in lower case without dashes finds the slip."""
    _on_shift(kiosk)
    with app.app_context():
        slip = make.approved()
        slip_id, typed = slip.id, make.typed_serial(slip.serial)
    assert typed.startswith("fx") and "-" not in typed
    assert _scan(kiosk.client, typed).endswith(_check_url(slip_id))
    assert kiosk.client.get(_check_url(slip_id)).status_code == 200


# --- refusals at the scan: each builder returns (text scanned, slip id or None) ---------------

def _malformed():
    return "hello world 12345", None


def _pass_token():
    return passes_make.token(passes_make.visitor_pass()), None


def _flipped():
    slip = make.approved()
    return make.flipped(make.token(slip)), None


def _other_key():
    slip = make.approved()
    return make.signed_for(slip, key=b"x" * 32), None


def _other_site():
    slip = make.approved()
    return make.signed_for(slip, site="elsewhere"), None


def _unknown_serial():
    return f"FX-{today().year}-999999", None


def _pending():
    slip = make.with_pid(make.applied())  # never approved: only its QR id is set, directly
    return make.signed_for(slip), slip.id


def _refused():
    slip = slips.refuse(passes_make.user("desk"), make.applied(), "管理费未缴")
    return make.signed_for(make.with_pid(slip)), slip.id


def _released():
    slip = make.approved()
    slip_gate.release(passes_make.user(GUARD[0]), None, slip, checked={1, 2}, id_type="resident_id",
                      id_number=make.CARRIER_ID)
    return make.token(slip), slip.id


def _expired():
    slip = make.approved()
    make.set_date(slip, today() - timedelta(days=1))
    return make.token(slip), slip.id


def _not_today():
    slip = make.approved(on_date=make.tomorrow())
    return make.token(slip), slip.id


REFUSALS = [("malformed", _malformed), ("malformed", _pass_token), ("forged", _flipped),
            ("forged", _other_key), ("other_site", _other_site), ("unknown", _unknown_serial),
            ("not_approved", _pending), ("refused", _refused), ("released", _released),
            ("expired", _expired), ("not_today", _not_today)]


def test_every_problem_is_covered():
    """Protects this file's and the kiosk's completeness: each reason the service can give has a
    case here, and the kiosk has a message and a script for it and for every gate refusal."""
    assert {reason for reason, _build in REFUSALS} == set(slip_gate.PROBLEMS)
    assert set(PROBLEMS) == set(slip_gate.PROBLEMS) | set(slip_gate.GATE_REFUSALS)


@pytest.mark.parametrize("reason, build", REFUSALS, ids=[b.__name__.strip("_") for _r, b in REFUSALS])
def test_refused_slip_says_why_and_changes_nothing(app, kiosk, reason, build):
    """Protects the gate and the record: a slip that cannot let goods out gives its exact reason,
    what to do next and the polite script; it is logged once ('slip.gate_refused' with the reason
    and the slip's id when known), no notice is sent, the slip is unchanged, and no check page
    opens for it."""
    _on_shift(kiosk)
    with app.app_context():
        text, slip_id = build()
        before, seq = _slip_state(slip_id), _seq()
        notices = _count(PortalNotice)
    page = _rejected(kiosk.client, text)
    assert _verdict(page) == ("rejected", reason)
    assert str(PROBLEMS[reason][1]) in page
    assert _english(app, PROBLEMS[reason][2]) in page
    with app.app_context():
        assert _entries_after(seq) == [("slip.gate_refused", {"slip_id": slip_id, "reason": reason})]
        assert _slip_state(slip_id) == before and _count(PortalNotice) == notices
    if slip_id is not None:
        assert kiosk.client.get(_check_url(slip_id)).status_code == 404


def test_unknown_token_is_unknown(app, kiosk):
    """Protects look-up by QR: a genuinely signed slip token naming no slip is 'unknown'."""
    _on_shift(kiosk)
    with app.app_context():
        slip = make.with_pid(make.applied())
        text = make.signed_for(slip)
        slip.pid = None
        db.session.commit()
    assert _verdict(_rejected(kiosk.client, text)) == ("rejected", "unknown")


@pytest.mark.parametrize("reason", ["mismatch", "partial"])
def test_goods_refused_at_the_gate_keep_the_slip_valid(app, kiosk, reason):
    """Protects the corrected attempt: goods that do not match (or only part of them) are stopped
    and logged with the reason, the household is told, the slip stays approved, and the same
    slip is released when scanned again with the goods right."""
    _on_shift(kiosk)
    with app.app_context():
        slip = make.approved()
        text, slip_id = make.token(slip), slip.id
        seq = _seq()
    assert _scan(kiosk.client, text).endswith(_check_url(slip_id))
    response = kiosk.client.post(f"/kiosk/slips/{slip_id}/refuse",
                                 data={"reason": reason, "note": "少了一个纸箱"})
    assert response.headers["Location"].endswith(SCREEN)
    page = _page(kiosk.client, SCREEN)
    assert _verdict(page) == ("rejected", reason)
    assert _english(app, PROBLEMS[reason][2]) in page and str(PROBLEMS[reason][1]) in page
    with app.app_context():
        [(kind, data)] = _entries_after(seq)
        assert kind == "slip.gate_refused" and (data["slip_id"], data["reason"]) == (slip_id, reason)
        # The guard's note is kept outside the chain; the entry holds its id and digest only.
        note = db.session.get(JournalRecord, data["record_id"])
        assert note.fields == {"text": "少了一个纸箱"} and "少了一个纸箱" not in str(data)
        assert _count(PortalNotice, PortalNotice.kind == "slip_gate_refused") == 1
        assert _slip_state(slip_id)[0] == "approved"
    # the check page is closed after the refusal: scan again to open it
    assert kiosk.client.get(_check_url(slip_id)).status_code == 404
    assert _scan(kiosk.client, text).endswith(_check_url(slip_id))
    kiosk.client.post(f"/kiosk/slips/{slip_id}/release", data=_release_form())
    assert _verdict(_page(kiosk.client, SCREEN)) == ("released", "released")
    with app.app_context():
        assert _slip_state(slip_id)[0] == "released"


def test_no_slip_is_logged_without_a_slip(app, kiosk):
    """Protects the 'no slip' button: the refusal is logged with no slip id and the resident is
    directed to the Owner Service Centre by the script."""
    _on_shift(kiosk)
    with app.app_context():
        seq, notices = _seq(), _count(PortalNotice)
    response = kiosk.client.post("/kiosk/slips/no-slip")
    assert response.headers["Location"].endswith(SCREEN)
    page = _page(kiosk.client, SCREEN)
    assert _verdict(page) == ("rejected", "no_slip") and _english(app, "slip_none") in page
    with app.app_context():
        assert _entries_after(seq) == [("slip.gate_refused", {"slip_id": None, "reason": "no_slip"})]
        assert _count(PortalNotice) == notices


@pytest.mark.parametrize("form, message", [
    (_release_form(lines=(1,)), "Tick every line"),
    (_release_form(lines=()), "Tick every line"),
    (_release_form(number="110105194912310021"), "Check the carrier's ID number"),
    (_release_form(id_type="passport", number="E!9"), "Record the carrier's ID"),
    (_release_form(id_type="driving_licence", number="E12345678"), "Record the carrier's ID"),
], ids=["one-line-unticked", "nothing-ticked", "bad-check-digit", "passport-too-short", "bad-type"])
def test_release_error_changes_nothing_and_keeps_the_ticks(app, kiosk, form, message):
    """Protects the check: with a line unticked or a bad carrier ID the goods are not released,
    nothing is logged or sent, the check page says what to fix and keeps the ticks — but never
    shows the typed ID number again."""
    _on_shift(kiosk)
    with app.app_context():
        slip = make.approved()
        slip_id = slip.id
        _scan(kiosk.client, make.token(slip))
        before, seq, notices = _slip_state(slip_id), _seq(), _count(PortalNotice)
    response = kiosk.client.post(f"/kiosk/slips/{slip_id}/release", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(_check_url(slip_id))
    page = _page(kiosk.client, _check_url(slip_id))
    assert message in page and form["id_number"] not in page
    for line in (1, 2):
        ticked = re.search(rf'value="{line}" (checked)? ?data-testid="line-{line}"', page)
        assert ticked and bool(ticked.group(1)) == (str(line) in form["line"])
    with app.app_context():
        assert _slip_state(slip_id) == before and _entries_after(seq) == []
        assert _count(PortalNotice) == notices
    with kiosk.client.session_transaction() as stored:
        assert form["id_number"] not in json.dumps(dict(stored), default=str)


def test_released_meanwhile_shows_on_the_check_page(app, kiosk):
    """Protects once-only release between two guards: if the slip was released while this guard
    was checking, 'Release' says so on the check page and nothing is recorded twice."""
    _on_shift(kiosk)
    with app.app_context():
        slip = make.approved()
        slip_id = slip.id
        _scan(kiosk.client, make.token(slip))
        slip_gate.release(passes_make.user(GUARD[0]), None, slip, checked={1, 2},
                          id_type="passport", id_number="E12345678")
    kiosk.client.post(f"/kiosk/slips/{slip_id}/release", data=_release_form())
    page = _page(kiosk.client, _check_url(slip_id))
    assert str(PROBLEMS["released"][1]) in page
    with app.app_context():
        assert _count(ShiftBookEntry, ShiftBookEntry.kind == "slip.released") == 1
        assert _slip_state(slip_id)[2].startswith("E1")  # the first release's carrier, kept


def test_check_page_only_for_the_scanned_slip(app, kiosk):
    """Protects against opening slips by id: a guard sees, releases or refuses only the slip they
    have just scanned; any other slip id is not found, and nothing happens to it."""
    _on_shift(kiosk)
    with app.app_context():
        scanned, other = make.approved(), make.approved()
        other_id = other.id
        _scan(kiosk.client, make.token(scanned))
    assert kiosk.client.get(_check_url(other_id)).status_code == 404
    assert kiosk.client.post(f"/kiosk/slips/{other_id}/release", data=_release_form()).status_code == 404
    assert kiosk.client.post(f"/kiosk/slips/{other_id}/refuse",
                             data={"reason": "mismatch"}).status_code == 404
    assert kiosk.client.get(_check_url(99999)).status_code == 404
    with app.app_context():
        assert _slip_state(other_id)[0] == "approved"


def test_slip_screens_need_a_shift(app, kiosk):
    """Protects the kiosk rule: without a current shift the guard is sent to start one."""
    kiosk.login(*GUARD)
    assert kiosk.client.get(SCREEN).headers["Location"].endswith("/kiosk/shift/start")
    assert kiosk.client.post("/kiosk/slips/no-slip").headers["Location"].endswith("/kiosk/shift/start")


def test_service_refuses_release_with_unticked_lines(ctx):
    """Protects the service contract the kiosk relies on: 'unchecked' and 'bad_id' errors."""
    slip = make.approved()
    guard = passes_make.user(GUARD[0])
    with pytest.raises(ActionError) as unticked:
        slip_gate.release(guard, None, slip, checked={1}, id_type="resident_id", id_number=make.CARRIER_ID)
    with pytest.raises(ActionError) as bad_id:
        slip_gate.release(guard, None, slip, checked={1, 2}, id_type="resident_id", id_number="123")
    assert (unticked.value.code, bad_id.value.code) == ("unchecked", "bad_id")
    assert db.session.get(ReleaseSlip, slip.id).state == "approved"
