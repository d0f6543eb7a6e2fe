"""Vehicle violations (seed §十二): guards record them with a photo at the kiosk, plates show their
repeat count, supervisors review and export; photos stay within the estate and the retention."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from device_adapters import web_link
from device_adapters.simulator import SNAPSHOT_JPEG, SimulatedCamera
from device_adapters.topics import Topics
from gate.app import create_app
from gate.extensions import db
from gate.models import ShiftBookEntry, User, Violation, ViolationPhoto
from gate.models.types import utcnow
from gate.services import ActionError, retention, sites, transaction, users, violations
from tests.support.kiosk import KioskActions

BASE = "/kiosk/violations/"
CONSOLE = "/console/violations/"
SUPERVISOR = ("supervisor", "supervisor-demo")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _count(app, model, *where) -> int:
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(model).where(*where))
        db.session.remove()
        return n


def _entries(app, prefix: str = "violation") -> list[dict]:
    with app.test_request_context():
        rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind.startswith(prefix))
                                  .order_by(ShiftBookEntry.seq)).all()
        out = [{"kind": r.kind, "data": json.loads(r.data)} for r in rows]
        db.session.remove()
        return out


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _guard_user() -> User:
    return db.session.scalars(select(User).where(User.staff_no == "1001")).one()


def _record(type_code: str = "parking", plate: str | None = "粤B12345", *, days_ago: float = 0,
            state: str = "open", photos=()) -> int:
    """A violation by the demo guard, `days_ago` in the past; returns its id."""
    site = sites.current_site()
    v = violations.record(site.id, _guard_user(), type_code, plate, "B2车库36号", "",
                          occurred_at=utcnow() - timedelta(days=days_ago), photos=photos)
    if state != "open":
        violations.review(v, _user("supervisor"), state, "核实")
    return v.id


@pytest.fixture
def guard(client, kiosk):
    """The demo guard on shift at the kiosk, pages in English."""
    kiosk.login()
    kiosk.start_shift()
    client.get(f"{BASE}?lang=en")
    return client


@pytest.fixture
def supervisor(client, kiosk):
    """The demo supervisor signed in, pages in English."""
    assert kiosk.login_staff(*SUPERVISOR).status_code == 302
    client.get(f"{CONSOLE}?lang=en")
    return client


def _post(client, *, photo: bytes | None = None, filename: str = "car.jpg", follow_redirects=False,
          **fields):
    """Post the record form; the multipart body is encoded here (werkzeug's test encoder leaves a
    temporary file open for big uploads, a ResourceWarning)."""
    data = {"type": "parking", "plate": "粤B12345", "place": "B2车库36号", "note": "堵住消防通道"}
    data.update(fields)
    boundary = uuid.uuid4().hex
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
                    .encode() for key, value in data.items())
    if photo is not None:
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{filename}"'
                 f"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + photo + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return client.post(f"{BASE}new", data=body, follow_redirects=follow_redirects,
                       content_type=f"multipart/form-data; boundary={boundary}")


@pytest.mark.parametrize("code", ["driving", "parking", "loitering", "lock_reminder"])
def test_plate_required_except_for_loitering(app, code):
    """Protects the record per type: every built-in type saves with a normalised plate; only
    车场闲杂人员 (a person, not a car) may be saved without one, the others say the plate is missing."""
    with app.test_request_context():
        _plate_rules(code)


def _plate_rules(code: str) -> None:
    site = sites.current_site()
    v = violations.record(site.id, _guard_user(), code, "粤b 12345", "地面停车场", "")
    assert (v.plate, v.type_code, v.state) == ("粤B12345", code, "open")
    if code == "loitering":
        assert violations.record(site.id, _guard_user(), code, "", "地面停车场", "").plate is None
    else:
        with pytest.raises(ActionError) as exc:
            violations.record(site.id, _guard_user(), code, "  ", "地面停车场", "")
        assert exc.value.code == "plate_required"
    assert [k.code for k in violations.types_for(site.id)][:4] == list(violations.BUILT_IN)


def test_guard_records_with_upload_and_prints_notice(app, guard):
    """Protects the guard's flow and the shift book's privacy: the type's script is in the banner,
    the upload is stored as a JPEG, the entry holds ids and codes only (no plate, place or note),
    and the notice shows estate, type, plate, place, script and the guard number, not his name."""
    page = guard.get(f"{BASE}new?type=parking").get_data(True)
    assert "Sorry, no parking here" in page and 'data-testid="script"' in page
    response = _post(guard, photo=SNAPSHOT_JPEG)
    assert response.status_code == 302
    with app.test_request_context():
        v = db.session.scalars(select(Violation)).one()
        vid, shift_id = v.id, v.shift_id
        assert [(p.source, p.mime, p.data) for p in v.photos] == [("upload", "image/jpeg", SNAPSHOT_JPEG)]
        photo_id = v.photos[0].id
        name, estate = _guard_user().display_name, sites.current_site().name
    assert response.headers["Location"].endswith(f"{BASE}{vid}") and shift_id is not None
    [entry] = _entries(app)
    assert entry == {"kind": "violation.recorded", "data": {"violation_id": vid, "type": "parking",
                                                              "photos": 1}}
    show = guard.get(f"{BASE}{vid}").get_data(True)
    assert f"{BASE}photo/{photo_id}" in show and 'data-count="0"' in show
    assert guard.get(f"{BASE}photo/{photo_id}").data == SNAPSHOT_JPEG
    notice = guard.get(f"{BASE}{vid}/notice").get_data(True)
    for text in (estate, "Illegal parking", "粤B12345", "B2车库36号",
                 "Sorry, no parking here", "1001"):
        assert text in notice
    article = notice[notice.index('data-testid="notice"'):notice.index("</article>")]
    assert name not in article and "堵住消防通道" not in article
    assert f'data-testid="violation-{vid}"' in guard.get(BASE).get_data(True)


@pytest.mark.parametrize("fields, photo, message", [
    ({"plate": "ABC123"}, None, "not a valid plate"),
    ({"place": "   "}, None, "Say where it happened"),
    ({}, b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024), "larger than 2 MB"),
    ({}, b"GIF89a" + b"\x00" * 100, "Only JPEG or PNG"),
    ({}, b"%PDF-1.7 not a photo", "Only JPEG or PNG"),
    ({"note": "x" * 501}, None, "too long"),
    ({"type": "speeding"}, None, "Choose the type"),
])
def test_bad_input_refused_with_nothing_written(app, guard, fields, photo, message):
    """Protects the record from bad input: a wrong plate, no place, an oversize or non-image photo
    (checked by its bytes, not its name) are refused by the form (422) with one clear message,
    the typed values kept, and neither a violation, a photo nor a shift-book entry is written."""
    response = _post(guard, photo=photo, filename="photo.jpg", **fields)
    page = response.get_data(True)
    assert response.status_code == 422 and message in page and 'data-testid="form-error"' in page
    if "place" not in fields and "type" not in fields:
        assert "B2车库36号" in page
    assert _count(app, Violation) == 0 and _count(app, ViolationPhoto) == 0 and _entries(app) == []


def test_repeat_count_over_90_days(app, guard):
    """Protects the repeat-offender hint: it counts this plate's violations of the last 90 days,
    not dismissed ones, not older ones, not other plates; the kiosk's JSON and the saved page agree."""
    with app.test_request_context():
        site_id = sites.current_site().id
        for days in (1, 30, 89.9):
            _record(days_ago=days)
        _record(days_ago=91)
        _record(days_ago=2, state="dismissed")
        _record(days_ago=3, state="confirmed")
        _record(plate="粤B54321")
        assert violations.repeat_count(site_id, "粤b12345") == 4
        assert violations.repeat_count(site_id, "粤B12345", at=utcnow() - timedelta(days=20)) == 3
        assert violations.repeat_count(site_id, "") == 0
    data = guard.get(f"{BASE}repeat?plate=粤b·12345").get_json()
    assert (data["ok"], data["plate"], data["count"]) == (True, "粤B12345", 4)
    assert guard.get(f"{BASE}repeat?plate=XYZ").get_json()["ok"] is False
    _post(guard)
    with app.test_request_context():
        vid = db.session.scalar(select(func.max(Violation.id)))
    page = guard.get(f"{BASE}{vid}").get_data(True)
    assert 'data-count="4"' in page and "repeat-hint repeat" in page


def test_review_by_supervisor_only(app, client, kiosk, guard):
    """Protects the review: a guard cannot confirm or dismiss (403 page, service refuses too); a
    supervisor dismisses only with a reason, confirms once, and each review is one entry."""
    with app.test_request_context():
        vid = _record()
        with pytest.raises(ActionError) as exc:
            violations.review(db.session.get(Violation, vid), _guard_user(), "confirmed")
        assert exc.value.code == "not_allowed"
    assert client.post(f"{CONSOLE}{vid}/review", data={"decision": "confirmed"}).status_code == 403
    assert client.get(CONSOLE).status_code == 403
    kiosk.logout()
    assert kiosk.login_staff(*SUPERVISOR).status_code == 302
    client.get(f"{CONSOLE}?lang=en")
    page = client.post(f"{CONSOLE}{vid}/review", data={"decision": "dismissed", "note": ""},
                       follow_redirects=True).get_data(True)
    assert "Say why" in page
    client.post(f"{CONSOLE}{vid}/review", data={"decision": "confirmed", "note": "已核实"})
    again = client.post(f"{CONSOLE}{vid}/review", data={"decision": "dismissed", "note": "误报"},
                        follow_redirects=True).get_data(True)
    assert "already reviewed" in again
    with app.test_request_context():
        v = db.session.get(Violation, vid)
        assert (v.state, v.review_note, v.reviewed_by) == ("confirmed", "已核实", _user("supervisor").id)
    assert [e["data"] for e in _entries(app, "violation.reviewed")] == [
        {"violation_id": vid, "decision": "confirmed"}]


def test_photos_stay_within_the_estate(app, app_config, client):
    """Protects photos (personal data): anonymous visitors are sent to log in, a guard of another
    estate gets 404 for this estate's photo, a guard of this estate sees it."""
    with app.test_request_context():
        vid = _record(photos=[(SNAPSHOT_JPEG, "upload")])
        photo_id = db.session.get(Violation, vid).photos[0].id
        with transaction():
            other = sites.create_site("other", "别的小区")
            users.add_user(other, role="guard", username="g-other", display_name="外站保安",
                           staff_no="2001", pin="222222")
    url = f"{BASE}photo/{photo_id}"
    assert client.get(url).status_code == 302
    other_app = create_app(dict(app_config, GATE_SITE="other"))
    try:
        other_client = other_app.test_client()
        assert KioskActions(other_client).login("2001", "222222").status_code == 302
        assert other_client.get(url).status_code == 404
    finally:
        with other_app.app_context():
            db.session.remove()
            db.engine.dispose()
    kiosk = KioskActions(client)
    kiosk.login()
    assert client.get(url).data == SNAPSHOT_JPEG


def test_csv_export_and_type_counts(app, supervisor):
    """Protects the export: UTF-8 with BOM, one row per filtered violation with guard number and
    photo count but no photo bytes, formula-like notes neutralised; the console counts by type."""
    with app.test_request_context():
        site = sites.current_site()
        v = violations.record(site.id, _guard_user(), "parking", "粤B12345", "B2", "=cmd|calc",
                              photos=[(SNAPSHOT_JPEG, "upload")])
        vid = v.id
        _record("loitering", None)
        _record("driving", "粤B54321", days_ago=40)
    response = supervisor.get(f"{CONSOLE}export.csv?plate=粤B12345")
    assert response.mimetype == "text/csv" and response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["No.", "Time", "Type", "Plate"] and len(rows) == 2
    assert rows[1][0] == str(vid) and rows[1][3] == "粤B12345" and rows[1][5] == "'=cmd|calc"
    assert rows[1][6] == "1001" and rows[1][-1] == "1" and b"\xff\xd8" not in response.data
    page = supervisor.get(CONSOLE).get_data(True)
    assert 'data-testid="count-parking">Illegal parking <span class="count">1<' in page
    assert 'data-testid="count-driving">Unsafe driving <span class="count">0<' in page
    assert f'data-testid="row-{vid}"' in page
    assert supervisor.get(f"{CONSOLE}?from=2020/01/01").status_code == 200


def test_site_types_added_and_retired(app, guard, kiosk, client):
    """Protects configurable types: a supervisor's type (with script) is offered at the kiosk and
    recorded; once retired it is no longer offered or accepted, old records keep its name."""
    with app.test_request_context():
        row = violations.add_type(_user("supervisor"), "占用消防通道", "对不起，消防通道禁止停车。")
        code, type_id = row.code, row.id
        with pytest.raises(ActionError):
            violations.add_type(_user("supervisor"), "占用消防通道", "x")
    page = guard.get(f"{BASE}new?type={code}").get_data(True)
    assert "对不起，消防通道禁止停车。" in page
    assert _post(guard, type=code).status_code == 302
    kiosk.logout()
    kiosk.login_staff(*SUPERVISOR)
    assert client.post(f"{CONSOLE}types/{type_id}/retire").status_code == 302
    assert client.post(f"{CONSOLE}types/999999/retire").status_code == 404
    assert client.post(f"{CONSOLE}types", data={"name": "鸣笛", "script": "请勿鸣笛。"}).status_code == 302
    with app.test_request_context():
        assert code not in [k.code for k in violations.types_for(sites.current_site().id)]
        with pytest.raises(ActionError):
            _record(code)
    assert "占用消防通道" in client.get(CONSOLE).get_data(True)
    kinds = [e["kind"] for e in _entries(app, "violation_type")]
    assert kinds == ["violation_type.added", "violation_type.retired", "violation_type.added"]


def test_retention_purges_photos_only(app):
    """Protects retention: photos older than GATE_RETENTION_VIOLATION_PHOTOS_DAYS are deleted, the
    violation itself and newer photos stay, and the dry run only counts."""
    with app.test_request_context():
        old_id = _record(days_ago=200, photos=[(SNAPSHOT_JPEG, "upload")])
        new_id = _record(photos=[(PNG, "upload")])
        db.session.get(Violation, old_id).photos[0].taken_at = utcnow() - timedelta(days=181)
        db.session.commit()
        assert retention.purge(dry_run=True)["violation_photos"] == 1
        assert retention.purge()["violation_photos"] == 1
        assert db.session.get(Violation, old_id).photos == []
        assert [p.mime for p in db.session.get(Violation, new_id).photos] == ["image/png"]
        assert db.session.get(Violation, old_id).plate == "粤B12345"


def test_no_broker_means_no_snapshot_but_the_record_is_kept(app, guard):
    """Protects the guard when the camera link is down: no broker gives None, and the kiosk says
    so and still saves the violation (the guard uploads a photo instead)."""
    with app.test_request_context():
        assert web_link.request_snapshot("anpr-in", timeout=0.2, app=app) is None
    page = _post(guard, camera="anpr-in", follow_redirects=True)
    assert page.status_code == 200 and "did not send a photo" in page.get_data(True)
    assert _count(app, Violation) == 1 and _count(app, ViolationPhoto) == 0
    assert _post(guard, camera="nope").status_code == 422


@pytest.mark.mqtt
class TestSnapshotOverMosquitto:
    """The SPEC §3 snapshot request and reply through a real broker and the simulated camera."""

    @pytest.fixture
    def app_config(self, app_config, fresh_mosquitto):
        """The test app talks to this test's broker."""
        return dict(app_config, GATE_MQTT_URL=fresh_mosquitto.url)

    @pytest.fixture
    def camera(self, fresh_mosquitto, app):
        """The demo's entry camera as a simulator; the web link is closed afterwards."""
        cam = SimulatedCamera(fresh_mosquitto.url, Topics("gatehouse", "demo"), "anpr-in")
        cam.start()
        yield cam
        cam.stop()
        web_link.close(app)

    def test_camera_snapshot_attached(self, app, guard, camera):
        """Protects the camera photo: the kiosk asks the camera, gets its JPEG back within the
        timeout and stores it as "camera:anpr-in"; a camera that is not there gives None."""
        with app.test_request_context():
            assert web_link.request_snapshot("anpr-in", app=app) == SNAPSHOT_JPEG
            assert web_link.request_snapshot("anpr-out", timeout=0.3, app=app) is None
        assert _post(guard, camera="anpr-in").status_code == 302
        with app.test_request_context():
            [photo] = db.session.scalars(select(ViolationPhoto)).all()
            assert (photo.source, photo.mime, photo.data) == ("camera:anpr-in", "image/jpeg", SNAPSHOT_JPEG)
