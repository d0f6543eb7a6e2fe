"""Ids posted by kiosk forms that only look like digits ("²", "١") are refused, not a server error.

`str.isdigit()` accepts superscripts and other scripts' digits that `int()` refuses; the forms
read their ids through `gate.domain.ids.parse_id` instead.
"""

from __future__ import annotations

import pytest

from tests.support.kiosk import GUARD

NOT_IDS = ["²", "١٢", "0", "99999999999999999999"]


@pytest.mark.parametrize("value", NOT_IDS)
def test_shift_start_ignores_order_ids_that_are_not_ids(kiosk, value):
    """Protects the shift start: a forged post-order acknowledgement id is ignored (the orders stay
    unacknowledged and the page says so), never a 500."""
    kiosk.login(*GUARD)
    response = kiosk.client.post("/kiosk/shift/start", data={"ack": [value]})
    assert response.status_code < 500


@pytest.mark.parametrize("value", NOT_IDS)
def test_check_in_ignores_card_event_ids_that_are_not_ids(kiosk, value):
    """Protects check-in: a card-read id that is not an id is treated as no card read, never a 500."""
    kiosk.login(*GUARD)
    kiosk.start_shift()
    response = kiosk.client.post("/kiosk/visitors/new", data={
        "unit": "1-1-101", "id_type": "resident_id", "id_number": "", "name": "王五",
        "purpose": "探亲", "action": "start", "card_event": value})
    assert response.status_code < 500
    assert response.status_code != 302 or "/kiosk/visitors/new" not in response.location
