"""API: reading the shift book with a supervisor key (filters, keyset pages, ID numbers hashed)."""

from __future__ import annotations

from gate.services import visitors, visits
from tests.support.api import ApiClient, error_code, make_key
from tests.support.passes import user

ID_NUMBER = "11010519491231002X"


def _supervisor(app, client) -> ApiClient:
    return ApiClient(client, make_key(app, "supervisor")[1])


def test_book_pages_newest_first_without_gaps(app, client):
    """Protects keyset paging: walking `next_before` visits every entry once, newest first."""
    api = _supervisor(app, client)
    seen: list[int] = []
    before = None
    while True:
        query = {"limit": 7, **({"before": before} if before else {})}
        page = api.get("/book", query_string=query).get_json()
        seen += [e["seq"] for e in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) and len(seen) > 7
    assert seen[-1] == 1


def test_book_filters_and_refusals(app, client):
    """Protects the console's filters over the API, and their refusals as 422 with codes."""
    api = _supervisor(app, client)
    entries = api.get("/book", query_string={"kind": "api_key.created"}).get_json()["items"]
    assert [e["kind"] for e in entries] == ["api_key.created"]
    assert isinstance(entries[0]["data"], dict) and "key_id" in entries[0]["data"]
    assert error_code(api.get("/book", query_string={"guard": 999999})) == "unknown_guard"
    assert error_code(api.get("/book", query_string={"plate": "nonsense"})) == "bad_plate"
    swapped = api.get("/book", query_string={"date_from": "2030-02-01", "date_to": "2030-01-01"})
    assert swapped.status_code == 422 and error_code(swapped) == "bad_range"
    assert api.get("/book", query_string={"kind": "DROP TABLE"}).status_code == 400
    assert api.get("/book", query_string={"id_hash": "not-a-hash"}).status_code == 400


def test_id_number_search_goes_through_the_keyed_hash(app, client):
    """Protects ID numbers (SPEC §5): the number is posted once and answered with its hash; the
    search takes only the hash, and no response holds the clear number."""
    with app.app_context():
        identity = visitors.check_identity("王五", "resident_id", ID_NUMBER)
        visit_id = visits.start(user("1001"), None, "1-1-101", identity).id
    api = _supervisor(app, client)
    hashed = api.post("/book/id-hash", json={"id_type": "resident_id", "id_number": ID_NUMBER})
    assert hashed.status_code == 200 and ID_NUMBER not in hashed.get_data(as_text=True)
    found = api.get("/book", query_string={"id_hash": hashed.get_json()["id_hash"]})
    assert [e["data"].get("visit_id") for e in found.get_json()["items"]] == [visit_id]
    assert ID_NUMBER not in found.get_data(as_text=True)
    bad = api.post("/book/id-hash", json={"id_type": "resident_id", "id_number": "110105194912310021"})
    assert bad.status_code == 422 and error_code(bad) == "bad_id"
    assert "110105194912310021" not in bad.get_data(as_text=True)


def test_desk_and_resident_keys_cannot_read_the_book(app, client):
    """Protects the shift book: only supervisor keys read it or hash ID numbers."""
    for role, unit in (("desk", None), ("resident", "1-1-101")):
        api = ApiClient(client, make_key(app, role, unit=unit)[1])
        assert error_code(api.get("/book")) == "forbidden_scope"
        assert api.post("/book/id-hash", json={"id_number": ID_NUMBER}).status_code == 403
