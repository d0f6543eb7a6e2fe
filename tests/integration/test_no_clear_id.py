"""No clear ID number anywhere (SPEC §5, PIPL art. 28): real flows take valid ID numbers, typed
and from the ID-card reader over MQTT, with the bridge and logging at DEBUG; then every column
of every table, the log output, every CSV export, the PDF daily reports, the `gate backup`
archive, the bridge's offline spool, the pages and API answers and the CLI output are scanned
for the numbers, written with or without spaces or dashes and with a lower-case x."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from device_adapters.bridge import Bridge
from device_adapters.simulator import SimulatedIdReader
from device_adapters.topics import Topics
from gate.extensions import db
from gate.models import Device, DeviceEvent, Gate, Lane, Post, Visit
from gate.services.passes import today
from tests.support import slips as make_slip
from tests.support.api import ApiClient, make_key
from tests.support.kiosk import KioskActions
from tests.support.privacy_scan import (
    captured_logs,
    exports,
    id_pattern,
    report,
    scan_backup,
    scan_database,
    scan_exports,
    scan_text,
    scan_tree,
    valid_id,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.mqtt
READER = "idreader-1"


def _with_x(start: int) -> str:
    """A valid number whose check character is X (typed in lower case below)."""
    return next(n for n in (valid_id(s) for s in range(start, 1000)) if n.endswith("X"))


TYPED = _with_x(100)  # typed at the kiosk as "110105 19800101 1xxx"
CARD = valid_id(201)  # read by the ID-card reader, published over MQTT
CARRIER = valid_id(302)  # a release slip's carrier, typed at the gate
WATCHED = valid_id(403)  # put on the watchlist by a supervisor
WORKER = valid_id(504)  # a renovation worker's pass at the service desk
API = valid_id(605)  # hashed through /api/v1/book/id-hash
BAD = TYPED[:-1] + "1"  # a wrong check character: refused, and not echoed or logged either
ALL = (TYPED, CARD, CARRIER, WATCHED, WORKER, API, BAD)
# Pages allowed to show a number back: the kiosk form re-filled for the guard who just typed it,
# after a refusal, so that one wrong digit can be fixed. Never stored or logged, and sent with
# Cache-Control: no-store (test_refilled_form_is_not_cached) so the browser keeps no copy.
RETYPE_ECHO = {"kiosk check-in, bad number"}


@pytest.fixture
def app_config(app_config, fresh_mosquitto, tmp_path):
    """The app on this test's broker, with the bridge's offline spool in a known folder."""
    return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url, GATE_OFFLINE_DIR=str(tmp_path / "spool"))


@pytest.fixture
def reader(app, fresh_mosquitto):
    """An ID-card reader at the pedestrian gate (the demo has none), as a simulator on the broker."""
    with app.app_context():
        lane = db.session.scalars(select(Lane).join(Gate).where(Gate.kind == "pedestrian")).first()
        db.session.add(Device(site_id=lane.gate.site_id, lane_id=lane.id, kind="idreader", code=READER,
                              name="岗亭身份证阅读器", profile="native"))
        db.session.commit()
        db.session.remove()
    sim = SimulatedIdReader(fresh_mosquitto.url, Topics("gatehouse", "demo"), READER)
    sim.start()
    yield sim
    sim.stop()


def _signed_in(app, login: str, secret: str):
    client = app.test_client()
    KioskActions(client).login_staff(login, secret)
    return client


def _latest_card(app) -> int | None:
    with app.app_context():
        try:
            return db.session.scalar(select(DeviceEvent.id).where(DeviceEvent.kind == "card")
                                     .order_by(DeviceEvent.id.desc()).limit(1))
        finally:
            db.session.remove()


def _visits(app) -> int:
    with app.app_context():
        try:
            return len(db.session.scalars(select(Visit.id)).all())
        finally:
            db.session.remove()


def _walk_the_flows(app, client, runner, reader) -> list[tuple[str, str]]:
    """Every way an ID number enters the system; returns (where, text) of each answer shown."""
    shown: list[tuple[str, str]] = []

    def keep(where: str, response) -> None:
        shown.append((where, response.get_data(True)))

    guard = KioskActions(client)
    guard.login()
    guard.start_shift()
    form = {"unit": "1-1-101", "action": "start", "id_type": "resident_id", "name": "王五",
            "phone": "13912345678", "purpose": "探亲", "plate": "", "card_event": ""}
    typed = f"{TYPED[:6]} {TYPED[6:14]} {TYPED[14:].lower()}"
    keep("kiosk check-in, bad number", client.post("/kiosk/visitors/new", data={**form, "id_number": BAD}))
    keep("kiosk returning lookup", client.post("/kiosk/visitors/returning",
                                               data={"id_type": "resident_id", "id_number": typed}))
    before = _visits(app)
    keep("kiosk check-in, typed", client.post("/kiosk/visitors/new", data={**form, "id_number": typed}))
    assert _visits(app) == before + 1
    reader.card("赵六", CARD)
    card_id = wait_for(lambda: _latest_card(app), timeout=10)
    keep("kiosk card read", client.post("/kiosk/visitors/new",
                                        data={**form, "action": "card", "id_number": ""}))
    keep("kiosk check-in, card", client.post("/kiosk/visitors/new", data={
        **form, "name": "赵六", "id_number": "", "card_event": str(card_id)}))
    assert _visits(app) == before + 2
    with app.test_request_context("/"):
        slip = make_slip.approved()
        token, slip_id = make_slip.token(slip), slip.id
        db.session.remove()
    client.post("/kiosk/slips/", data={"text": token})
    keep("kiosk slip release", client.post(f"/kiosk/slips/{slip_id}/release", data={
        "line": ["1", "2"], "id_type": "resident_id", "id_number": "-".join(
            (CARRIER[:6], CARRIER[6:14], CARRIER[14:]))}, follow_redirects=True))

    supervisor = _signed_in(app, "supervisor", "supervisor-demo")
    keep("watchlist add", supervisor.post("/watchlist/add", data={
        "kind": "id", "id_type": "resident_id", "id_number": WATCHED, "reason": "尾随"},
        follow_redirects=True))
    keep("book search by ID", supervisor.post("/console/book/", data={
        "id_type": "resident_id", "id_number": TYPED}, follow_redirects=True))
    keep("privacy search by ID", supervisor.post("/console/privacy/search", data={
        "by": "id", "id_type": "resident_id", "id_number": CARD}))
    desk = _signed_in(app, "desk", "desk-demo")
    with app.app_context():
        day = today().isoformat()
    keep("worker pass", desk.post("/desk/workers/new", data={
        "unit": "1-1-101", "name": "钱师傅", "id_number": WORKER, "employer": "美家装修", "phone": "",
        "starts_on": day, "ends_on": day, "daily_from": "08:00", "daily_until": "18:00"},
        follow_redirects=True))
    _key_id, key = make_key(app, "supervisor")
    answer = ApiClient(app.test_client(), key).post("/book/id-hash", json={"id_type": "resident_id",
                                                                          "id_number": API})
    assert answer.status_code == 200
    keep("API id-hash", answer)
    result = runner.invoke(args=["person", "export", "--id-number", TYPED])
    assert result.exit_code == 0, result.output
    shown.append(("CLI person export", result.output))
    return shown


def test_no_clear_id_number_anywhere(app, client, runner, reader, tmp_path):
    """Protects PIPL art. 28 / SPEC §5 end to end: after ID numbers went in through the kiosk
    (typed, lower-case x, spaces), the ID-card reader over MQTT and the bridge, the slip gate
    (dashes), the watchlist, the book and privacy searches, the worker-pass desk, the API and the
    CLI, with every logger at DEBUG, no clear number is in any table column, log line, CSV export,
    PDF daily report, backup archive member, offline spool file, page, API answer or CLI output."""
    with captured_logs() as logs:
        bridge = Bridge(app).start()
        try:
            shown = _walk_the_flows(app, client, runner, reader)
        finally:
            bridge.stop()
        backups = tmp_path / "backups"
        backups.mkdir()
        result = runner.invoke(args=["backup", str(backups)])
        assert result.exit_code == 0, result.output
        with app.app_context():
            posts, day = db.session.scalars(select(Post.id)).all(), today()
            db.session.remove()
        texts = exports(_signed_in(app, "supervisor", "supervisor-demo"), posts, day)
    pattern = id_pattern(ALL)
    with app.app_context():
        found = scan_database(db.engine, pattern)
        db.session.remove()
    assert "card" in logs.getvalue() and len(texts) > 6  # the scans had something to read
    found += scan_text("log output", logs.getvalue(), pattern)
    found += scan_exports(texts, pattern)
    [archive] = backups.iterdir()
    found += scan_backup(archive, pattern)
    spool = tmp_path / "spool"
    if spool.exists():
        found += scan_tree(spool, pattern)
    for where, text in shown:
        if where not in RETYPE_ECHO:
            found += scan_text(where, text, pattern)
    assert found == [], report(found)


def test_refilled_form_is_not_cached(client, kiosk):
    """Protects: the check-in form refilled with a typed ID number is sent with no-store."""
    kiosk.login()
    kiosk.start_shift()
    form = {"unit": "1-1-101", "action": "start", "id_type": "resident_id", "name": "王五",
            "phone": "13912345678", "purpose": "探亲", "plate": "", "card_event": "", "id_number": BAD}
    response = client.post("/kiosk/visitors/new", data=form)
    assert response.status_code == 422
    assert BAD in response.get_data(True)  # the echo this test is about
    assert response.headers["Cache-Control"] == "no-store"
