"""Checking a visitor's identity: specific messages for bad IDs, tidy input accepted, no clear number kept."""

from __future__ import annotations

import pytest

from gate.services import ActionError
from gate.services.visitors import check_identity

VALID = "11010519491231002X"


@pytest.fixture(params=["sqlite"])
def backend(request):
    """Identity checks touch no tables; SQLite is enough."""
    return request.param


@pytest.mark.parametrize("text", [VALID, "11010519491231002x", " 110105 19491231 002X ",
                                  "１１０１０５１９４９１２３１００２Ｘ"])
def test_untidy_valid_numbers_accepted(ctx, text):
    """Protects guards from retyping: spaces, full-width digits and a lowercase x are normalised."""
    identity = check_identity("王五", "resident_id", text)
    assert identity.id_masked == "110105********002X"
    assert identity.id_hash == check_identity("王五", "resident_id", VALID).id_hash


@pytest.mark.parametrize("text, words", [
    ("11010519491231002", "18"),            # 17 characters
    ("110105194912310021", "最后一位"),       # wrong check character
    ("110105194913310028", "出生日期"),       # month 13
    ("990105194912310028", "地区"),           # region 99
    ("1101051949123100A2", "数字"),           # a letter inside
])
def test_invalid_numbers_say_which_check_failed(ctx, text, words):
    """Protects the guard's next step: each invalid ID names what is wrong, in Chinese."""
    with pytest.raises(ActionError) as err:
        check_identity("王五", "resident_id", text)
    assert err.value.code == "bad_id"
    with ctx.test_request_context():
        assert words in err.value.message, err.value.message


def test_identity_never_holds_the_clear_number(ctx):
    """Protects PIPL: the checked identity carries only the masked form and a keyed hash."""
    identity = check_identity("王五", "resident_id", VALID, phone="138 0000 0001")
    assert VALID not in repr(identity) and VALID not in str(vars(identity))
    assert identity.phone == "13800000001"


def test_passport_kept_masked_too(ctx):
    """Protects foreign visitors' numbers the same way."""
    identity = check_identity("John Smith", "passport", "E12345678")
    assert identity.id_masked.startswith("E1") and "345" not in identity.id_masked


@pytest.mark.parametrize("name", ["", "x" * 41, "bad\x07name"])
def test_names_checked(ctx, name):
    """Protects the record from empty, over-long or control-character names."""
    with pytest.raises(ActionError):
        check_identity(name, "resident_id", VALID)


def test_card_read_and_typed_number_hash_alike(ctx):
    """Protects the watchlist and returning-visitor match: a card read (lowercase x, spaces and
    all) and the same number typed by a guard give one keyed hash."""
    from gate.domain.events import CardRead
    from gate.services import device_events

    event = device_events.record_card(CardRead("demo", "reader-1", "card-1", "王五",
                                               " 11010519491231002x "))
    assert event.summary["id_hash"] == check_identity("王五", "resident_id", VALID).id_hash
    assert VALID not in str(event.summary)
