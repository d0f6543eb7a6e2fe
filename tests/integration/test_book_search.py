"""Shift-book search (console /console/book/): filters, keyset pages, CSV and bad input."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from gate.extensions import db
from gate.models import Gate, Post, User
from gate.services import ActionError, book_search, shiftbook, visitors, visits
from gate.services.sites import current_site
from gate.services.users import add_user
from kiosk_ui.csv_export import csv_response

SUPERVISOR = ("supervisor", "supervisor-demo")
ID_NUMBER = "11010519491231002X"


def _supervisor(client, kiosk) -> None:
    """Sign in as the demo supervisor, with English pages (so texts can be checked)."""
    kiosk.login_staff(*SUPERVISOR)
    client.get("/console/?lang=en")


def _guard(staff_no: str = "1001") -> User:
    return db.session.scalars(select(User).where(User.staff_no == staff_no)).one()


def _visit_ids(page: str) -> set[int]:
    return {int(n) for n in re.findall(r"visit_id=(\d+)", page)}


def _entry(kind: str, data: dict, *, at: str | None = None, **kw) -> int:
    seq = shiftbook.append(kind, data, at=at, **kw).seq
    db.session.commit()
    return seq


def _seqs(filters: book_search.Filters, **kw) -> list[int]:
    return [e.seq for e in book_search.search(current_site(), filters, **kw).entries]


def _error(filters: book_search.Filters) -> str:
    with pytest.raises(ActionError) as err:
        book_search.search(current_site(), filters)
    return err.value.code


def test_filters_by_date_kind_guard_post_and_gate(ctx):
    """Protects the search filters: each narrows to exactly the entries it names, and a date is a
    whole day in site time (Asia/Shanghai), not UTC."""
    site = current_site()
    guard, other = _guard("1001"), _guard("1002")
    post = db.session.scalars(select(Post).where(Post.site_id == site.id)).first()
    gate = db.session.scalars(select(Gate).where(Gate.site_id == site.id)).first()
    # 2030-03-01 00:30 in Shanghai is still 2030-02-28 in UTC.
    early = _entry("journal.note", {"record_id": 1}, at="2030-02-28T16:30:00.000000Z", actor_id=guard.id,
                   post_id=post.id)
    late = _entry("journal.patrol", {"record_id": 2}, at="2030-03-02T03:00:00.000000Z",
                  actor_id=other.id, gate_id=gate.id)
    day = book_search.Filters(date_from="2030-03-01", date_to="2030-03-01")
    assert _seqs(day) == [early]
    march = book_search.Filters(date_from="2030-03-01", date_to="2030-03-31")
    assert _seqs(march) == [late, early]
    assert _seqs(book_search.Filters(date_from="2030-03-01", date_to="2030-03-31",
                                     kind="journal.patrol")) == [late]
    assert _seqs(book_search.Filters(date_from="2030-03-01", guard=str(guard.id))) == [early]
    assert _seqs(book_search.Filters(date_from="2030-03-01", post=str(post.id))) == [early]
    assert _seqs(book_search.Filters(date_from="2030-03-01", gate=str(gate.id))) == [late]


def test_reversed_and_absurd_date_ranges_are_refused(ctx):
    """Protects against confusing or runaway searches: a reversed range, more than 366 days, a
    year like 9999 or text that is not a date each get a clear ActionError."""
    assert _error(book_search.Filters(date_from="2030-03-02", date_to="2030-03-01")) == "bad_range"
    assert _error(book_search.Filters(date_from="2020-01-01", date_to="2030-01-01")) == "range_too_long"
    assert _error(book_search.Filters(date_from="9999-01-01")) == "bad_date"
    assert _error(book_search.Filters(date_to="yesterday")) == "bad_date"


def test_unknown_guard_post_gate_and_kind_are_refused(ctx):
    """Protects against silent empty results and other sites' ids: an unknown guard, post, gate or
    entry type says so instead of showing nothing."""
    assert _error(book_search.Filters(guard="999999")) == "unknown_guard"
    assert _error(book_search.Filters(guard="abc")) == "unknown_guard"
    assert _error(book_search.Filters(post="999999")) == "unknown_post"
    assert _error(book_search.Filters(gate="99999999999999")) == "unknown_gate"
    assert _error(book_search.Filters(kind="x' OR 1=1 --")) == "unknown_kind"


def test_keyset_pages_cover_every_entry_once(ctx):
    """Protects paging at scale: "older" pages continue from the last seq (no OFFSET), together
    listing every matching entry exactly once."""
    seqs = [_entry("journal.note", {"record_id": n}, at=f"2031-01-0{n}T04:00:00.000000Z")
            for n in range(1, 6)]
    filters = book_search.Filters(date_from="2031-01-01", date_to="2031-01-31")
    seen, before = [], None
    while True:
        page = book_search.search(current_site(), filters, after_seq=before, limit=2)
        seen += [e.seq for e in page.entries]
        if page.older is None:
            break
        before = page.older
    assert seen == sorted(seqs, reverse=True)


def test_bad_and_huge_before_values_get_a_message(client, kiosk):
    """Protects against errors on hand-edited links: a non-numeric, negative or enormous `before`
    gives a clear message (422), never a crash or another page."""
    _supervisor(client, kiosk)
    for value in ("abc", "-5", "99999999999999999999", "1e9"):
        response = client.get(f"/console/book/?before={value}")
        assert response.status_code == 422, value
        assert "page link is not valid" in response.get_data(True)
    assert client.get("/console/book/?before=3").status_code == 200


def test_plate_and_unit_filters_find_entries_through_records(ctx):
    """Protects the reference filters: entries hold only ids, so plate and unit are resolved to the
    visits they name and entries are matched on those ids (not on a neighbouring id like 12→123)."""
    guard = _guard()
    with_plate = visits.start(guard, None, "1-1-101", visitors.check_identity("张三", None, None),
                              plate="粤B12345")
    other = visits.start(guard, None, "1-1-101", visitors.check_identity("李四", None, None))
    by_plate = book_search.search(current_site(), book_search.Filters(plate="粤b 12345")).entries
    assert by_plate and all(f'"visit_id":{with_plate.id}' in e.data for e in by_plate)
    by_unit = book_search.search(current_site(), book_search.Filters(unit="1-1-101")).entries
    assert {f'"visit_id":{with_plate.id}', f'"visit_id":{other.id}'} <= {
        part for e in by_unit for part in e.data.strip("{}").split(",")}
    assert not any(f'"visit_id":{other.id}' in e.data
                   for e in book_search.search(current_site(), book_search.Filters(unit="1-1-102")).entries)
    assert _seqs(book_search.Filters(plate="粤B99999")) == []
    assert _error(book_search.Filters(plate="hello")) == "bad_plate"
    assert _error(book_search.Filters(unit="9-9-999")) == "unknown_unit"


def test_visitor_by_id_number_uses_the_keyed_hash_only(app, client, kiosk):
    """Protects ID numbers (SPEC §5, PIPL): a search by ID number finds the visitor's entries via
    the keyed hash, and the clear number appears in no URL and no page."""
    with app.app_context():
        guard = _guard()
        identity = visitors.check_identity("王五", "resident_id", ID_NUMBER)
        known = visits.start(guard, None, "1-1-101", identity).id
        named = visits.start(guard, None, "1-1-101", visitors.check_identity("赵六", None, None)).id
    _supervisor(client, kiosk)
    posted = client.post("/console/book/", data={"id_type": "resident_id", "id_number": ID_NUMBER,
                                                 "unit": "1-1-101"})
    assert posted.status_code == 303
    location = posted.headers["Location"]
    assert ID_NUMBER not in location and "idh=" in location and "unit=1-1-101" in location
    page = client.get(location)
    body = page.get_data(True)
    assert page.status_code == 200
    assert ID_NUMBER not in body and ID_NUMBER.lower() not in body
    assert _visit_ids(body) == {known}
    by_name = client.get("/console/book/", query_string={"visitor": "赵六"}).get_data(True)
    assert _visit_ids(by_name) == {named}
    bad = client.post("/console/book/", data={"id_type": "resident_id", "id_number": "110105194912310021"})
    assert bad.status_code == 422 and "110105194912310021" not in bad.get_data(True)
    assert client.get("/console/book/?idh=not-a-hash").status_code == 422


def test_csv_export_follows_filters_and_neutralises_formulas(app, client, kiosk):
    """Protects against CSV injection: a guard name an admin typed as "=HYPERLINK(…)" comes out
    with a leading apostrophe, so Excel shows it instead of running it; the CSV has the filters."""
    with app.app_context():
        site = current_site()
        evil = add_user(site, role="guard", username="evil", display_name='=HYPERLINK("http://x","y")',
                        staff_no="1999", pin="135790")
        db.session.commit()
        _entry("journal.phone_call", {"record_id": 77}, actor_id=evil.id)
        _entry("journal.note", {"record_id": 78})
    _supervisor(client, kiosk)
    response = client.get("/console/book/export.csv", query_string={"kind": "journal.phone_call"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(True).lstrip("\ufeff"))))
    assert len(rows) >= 2 and all(row[2] == "Phone call" for row in rows[1:])
    guards = [row[3] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://x\",\"y\")" in guards
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    bad = client.get("/console/book/export.csv", query_string={"from": "2030-02-01", "to": "2030-01-01"})
    assert bad.status_code == 422 and "before the start date" in bad.get_data(True)


def test_csv_response_neutralises_every_formula_prefix(ctx):
    """Protects against CSV injection in any exported cell: =, +, - and @ all get an apostrophe."""
    with ctx.test_request_context():
        body = csv_response(["h"], [["=1+1", "+1", "-1", "@SUM(A1)", "ok"]], "x.csv").get_data(True)
    assert body.lstrip("\ufeff").splitlines()[1] == "'=1+1,'+1,'-1,'@SUM(A1),ok"


@pytest.mark.parametrize("path,method", [("/console/book/", "get"), ("/console/book/export.csv", "get"),
                                         ("/console/book/", "post")])
def test_guard_cannot_open_the_book_search(client, kiosk, path, method):
    """Protects the supervisor-only search: a guard account gets 403 on the page, the CSV and the
    ID-number search, and no entries leak into the response."""
    kiosk.login()
    response = getattr(client, method)(path, data={"id_number": ID_NUMBER} if method == "post" else None)
    assert response.status_code == 403
    assert "entry-" not in response.get_data(True)


def test_book_page_lists_entries_with_labels_and_shift_links(client, kiosk):
    """Protects the results table: kind labels, the guard's name and a link to the shift report."""
    kiosk.login()
    kiosk.start_shift()
    kiosk.logout()
    _supervisor(client, kiosk)
    body = client.get("/console/book/", query_string={"kind": "shift.start"}).get_data(True)
    assert "Shift started" in body and "/console/shifts/" in body
