"""The vehicle list pages: supervisors add, remove, export and import plates with who/why/when;
the desk reads; what is listed here decides at the barrier."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import ShiftBookEntry, User, VehicleListEntry
from gate.models.types import utcnow
from gate.services import sites, transaction, vehicles
from tests.support.kiosk import GUARD

SUPERVISOR = ("supervisor", "supervisor-demo")
DESK = ("desk", "desk-demo")
HEADER = "list,plate,colour,valid from,valid until,reason,added by,added at,removed at"
BASE = "/console/vehicles/"


def _rows(app) -> list[VehicleListEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(VehicleListEntry).order_by(VehicleListEntry.id)))
        db.session.expunge_all()
        return rows


def _entries(app, kind: str) -> list[ShiftBookEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                                       .order_by(ShiftBookEntry.seq)))
        db.session.expunge_all()
        return rows


def _name(app, username: str) -> str:
    with app.app_context():
        return db.session.scalars(select(User).where(User.username == username)).one().display_name


def _login(client, kiosk, login) -> None:
    assert kiosk.login_staff(*login).status_code == 302
    client.get(f"{BASE}?lang=en")


@pytest.fixture
def supervisor(client, kiosk):
    """A supervisor signed in, pages in English."""
    _login(client, kiosk, SUPERVISOR)
    return client


def _add(client, **fields):
    data = {"list": "blocklist", "plate": "粤B12345", "reason": "车辆被盗报案"}
    data.update(fields)
    return client.post(BASE, data=data)


def _import(client, text: str, encoding: str = "utf-8-sig"):
    # The body is encoded here: werkzeug's test encoder leaves a temporary file open for big ones.
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="list"\r\n\r\nblocklist\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="list.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode()
    body += text.encode(encoding) + f"\r\n--{boundary}--\r\n".encode()
    return client.post(f"{BASE}import", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_add_and_remove_show_who_and_when(app, client, supervisor):
    """Protects the record: an added plate shows with reason, window and who added it; removing it
    keeps the row, greyed, with who removed it, and writes one shift-book entry each way."""
    response = _add(client, plate="粤b·12345", color="白色", valid_from="2030-01-01",
                    valid_until="2030-12-31")
    assert response.status_code == 302 and "list=blocklist" in response.headers["Location"]
    [row] = _rows(app)
    assert (row.list, row.plate, row.color, row.reason) == ("blocklist", "粤B12345", "白色", "车辆被盗报案")
    page = client.get(f"{BASE}?list=blocklist").get_data(True)
    assert f'data-testid="entry-{row.id}"' in page and "粤B12345" in page and "白色" in page
    assert "2030-01-01 – 2030-12-31" in page and _name(app, "supervisor") in page
    with app.app_context():
        from kiosk_ui.helpers import localtime
        assert localtime(row.added_at, "%Y-%m-%d %H:%M") in page
    [added] = _entries(app, "vehicle_list.added")
    assert json.loads(added.data) == {"entry_id": row.id, "list": "blocklist"}
    assert f'data-testid="entry-{row.id}"' not in client.get(f"{BASE}?list=vip").get_data(True)

    assert client.post(f"{BASE}{row.id}/remove").status_code == 302
    [row] = _rows(app)
    assert row.removed_at is not None and row.removed_by == added.actor_id
    page = client.get(f"{BASE}?list=blocklist").get_data(True)
    assert f'data-testid="entry-{row.id}"' not in page and f'data-testid="past-{row.id}"' in page
    assert 'class="gone"' in page and len(_entries(app, "vehicle_list.removed")) == 1
    again = client.post(f"{BASE}{row.id}/remove", follow_redirects=True)
    assert "already removed" in again.get_data(True) and len(_entries(app, "vehicle_list.removed")) == 1


@pytest.mark.parametrize("fields, message", [
    ({"plate": "ABC"}, "not a valid plate"),
    ({"reason": "  "}, "Say why"),
    ({"valid_from": "2030-02-10", "valid_until": "2030-02-01"}, "end must come after the start"),
    ({"valid_from": "10/02/2030"}, "year-month-day"),
])
def test_bad_input_is_refused_with_a_message(app, client, supervisor, fields, message):
    """Protects the list from bad rows: each mistake shows its message by the form (422), keeps
    the typed values, and adds neither a row nor a shift-book entry."""
    response = _add(client, color="黑色", **fields)
    page = response.get_data(True)
    assert response.status_code == 422 and 'data-testid="form-error"' in page and message in page
    assert 'value="黑色"' in page
    assert _rows(app) == [] and _entries(app, "vehicle_list.added") == []


def test_duplicate_refused(app, client, supervisor):
    """Protects the list from doubles: a plate already current on that list is refused."""
    assert _add(client).status_code == 302
    response = _add(client, plate="粤B·12345", reason="再次")
    assert response.status_code == 422 and "already on that list" in response.get_data(True)
    assert len(_rows(app)) == 1 and len(_entries(app, "vehicle_list.added")) == 1
    assert _add(client, list="vip").status_code == 302  # the other list is a different list


def test_desk_reads_but_cannot_change(app, client, kiosk):
    """Protects the roles: the service desk sees the lists and exports them, but adding, removing
    and importing are for supervisors and admins (403)."""
    _login(client, kiosk, SUPERVISOR)
    _add(client)
    [row] = _rows(app)
    kiosk.logout()
    _login(client, kiosk, DESK)
    page = client.get(BASE).get_data(True)
    assert "粤B12345" in page and 'data-testid="add-form"' not in page and "remove-" not in page
    assert client.get(f"{BASE}export.csv").status_code == 200
    assert _add(client, plate="粤B54321").status_code == 403
    assert client.post(f"{BASE}{row.id}/remove").status_code == 403
    assert _import(client, f"{HEADER}\nvip,京A00001,,,,领导\n").status_code == 403
    assert len(_rows(app)) == 1 and _rows(app)[0].removed_at is None


def test_guard_forbidden(client, kiosk):
    """Protects the lists from the gate screen: guards see decisions, not the lists."""
    kiosk.login(*GUARD)
    assert client.get(BASE).status_code == 403
    assert client.get(f"{BASE}export.csv").status_code == 403
    assert _add(client).status_code == 403


def test_another_sites_entry_is_404(app, client, supervisor):
    """Protects estates from each other: another site's entry cannot be removed (404), nothing changes."""
    with app.app_context():
        supervisor_id = db.session.scalars(select(User).where(User.username == "supervisor")).one().id
        with transaction():
            site = sites.create_site("other", "别的小区")
            db.session.flush()
            entry = VehicleListEntry(site_id=site.id, list="blocklist", plate="粤B99999", reason="外站",
                                     added_by=supervisor_id, added_at=utcnow())
            db.session.add(entry)
        entry_id = entry.id
    assert client.post(f"{BASE}{entry_id}/remove").status_code == 404
    assert client.post(f"{BASE}999999/remove").status_code == 404
    assert "粤B99999" not in client.get(BASE).get_data(True)
    assert _rows(app)[0].removed_at is None and _entries(app, "vehicle_list.removed") == []


def test_export_has_bom_header_and_rows(app, client, supervisor):
    """Protects the export for Excel: UTF-8 with BOM, the agreed header, the list's rows (a removed
    one with its time), formula-like cells neutralised; the other list stays out."""
    _add(client, plate="粤B12345", reason="=HYPERLINK(1)", valid_until="2030-12-31")
    _add(client, plate="粤B54321", reason="欠费")
    _add(client, list="vip", plate="京A00001", reason="领导")
    client.post(f"{BASE}{_rows(app)[1].id}/remove")
    response = client.get(f"{BASE}export.csv?list=blocklist")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert ",".join(rows[0]).lower() == HEADER
    by_plate = {r[1]: r for r in rows[1:]}
    assert set(by_plate) == {"粤B12345", "粤B54321"}
    assert by_plate["粤B12345"][:6] == ["blocklist", "粤B12345", "", "", "2030-12-31", "'=HYPERLINK(1)"]
    assert by_plate["粤B12345"][6] == _name(app, "supervisor") and by_plate["粤B12345"][8] == ""
    assert by_plate["粤B54321"][8] != ""


def test_import_adds_all_rows_with_one_entry(app, client, supervisor):
    """Protects bulk entry: a good file adds every row in one go with one shift-book entry
    "vehicle_list.imported" carrying the counts per list."""
    text = (f"{HEADER}\nblocklist,粤B12345,白色,,,车辆被盗报案,,,\n"
            f"vip,京A00001,黑色,2030-01-01,2030-06-30,集团总经理\n\n"
            f"blocklist,粤B·54321,,,,'=欠费,someone,2024-01-01 10:00,\n")
    response = _import(client, text)
    assert response.status_code == 302, response.get_data(True)
    rows = _rows(app)
    assert [(r.list, r.plate) for r in rows] == [("blocklist", "粤B12345"), ("vip", "京A00001"),
                                                ("blocklist", "粤B54321")]
    assert rows[2].reason == "=欠费" and rows[1].color == "黑色" and rows[1].valid_until is not None
    assert _entries(app, "vehicle_list.added") == []
    [entry] = _entries(app, "vehicle_list.imported")
    assert json.loads(entry.data) == {"count": 3, "lists": {"blocklist": 2, "vip": 1}}


def test_import_also_reads_gb18030(app, client, supervisor):
    """Protects uploads saved by Excel in China (GB18030, not UTF-8): they import the same."""
    assert _import(client, f"{HEADER}\nblocklist,粤B12345,,,,车辆被盗\n", "gb18030").status_code == 302
    assert [r.reason for r in _rows(app)] == ["车辆被盗"]


def test_import_with_a_bad_row_adds_nothing_and_names_the_line(app, client, supervisor):
    """Protects all-or-nothing: with any bad row nothing is imported, and each bad row is listed
    with its line number and what is wrong."""
    _add(client, plate="粤B11111")
    text = (f"{HEADER}\nblocklist,粤B12345,,,,车辆被盗\n"
            f"vip,ABC,,,,领导\n"
            f"watch,粤B22222,,,,x\n"
            f"blocklist,粤B33333,,,,\n"
            f"blocklist,粤B44444,,2030-02-10,2030-02-01,窗口\n"
            f"blocklist,粤B11111,,,,已在名单\n"
            f"blocklist,粤B12345,,,,同文件重复\n")
    response = _import(client, text)
    page = response.get_data(True)
    assert response.status_code == 422 and 'data-testid="import-problems"' in page
    for line in (3, 4, 5, 6, 7, 8):
        assert f'data-testid="problem-{line}"' in page
    assert 'data-testid="problem-2"' not in page
    assert "Line 3: That is not a valid plate" in page and "blocklist or vip" in page
    assert len(_rows(app)) == 1 and _entries(app, "vehicle_list.imported") == []


@pytest.mark.parametrize("text, message", [
    ("blocklist,粤B12345,,,,车辆被盗\n", "header"),
    (HEADER + "\n" + "".join(f"blocklist,粤B{n:05d},,,,批量\n" for n in range(2001)), "at most 2000"),
    (HEADER + "\n", "no rows"),
])
def test_import_refuses_bad_files(app, client, supervisor, text, message):
    """Protects the import limits: a file without the header, with more than 2000 rows, or with no
    rows is refused whole with a message, and nothing is added."""
    response = _import(client, text)
    assert response.status_code == 422 and message in response.get_data(True)
    assert _rows(app) == [] and _entries(app, "vehicle_list.imported") == []


def test_import_refuses_more_than_one_megabyte(app, client, supervisor):
    """Protects the server from huge uploads: a file over 1 MB is refused unread."""
    text = HEADER + "\n" + "#" * (1024 * 1024)
    response = _import(client, text)
    assert response.status_code == 422 and "larger than 1 MB" in response.get_data(True)
    assert _rows(app) == []


def test_blocklisted_here_keeps_the_barrier_closed(app, client, supervisor):
    """Protects the point of the list: a plate added on this page makes the plate decision
    ("prompt", "blocked") for that car at the camera."""
    assert _add(client, plate="粤B12345").status_code == 302
    with app.app_context():
        decision = vehicles.handle_plate(PlateRead("demo", "anpr-in", f"evt-{uuid.uuid4().hex}",
                                                   "粤b12345", 0.95, "in", utcnow()))
        assert (decision.action, decision.reason) == ("prompt", "blocked")


def test_console_links_to_the_lists(client, supervisor):
    """Protects discoverability: the supervisor console nav leads to the vehicle lists."""
    page = client.get("/console/").get_data(True)
    assert 'data-testid="vehicle-lists-link"' in page and BASE in page
