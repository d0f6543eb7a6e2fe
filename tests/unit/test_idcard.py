"""Tests for gate.domain.idcard: PRC resident ID validation and masking."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric

from gate.domain.idcard import PROVINCE_CODES, check_char, mask_id, parse_resident_id

# Property tests must not leave a .hypothesis/ directory in the project.
quick = settings(database=None, max_examples=200)

_LOC = numdb.get("cn/loc").prefixes
# Province-level codes as stdnum's GB/T 2260 table has them.
TABLE_PROVINCES = sorted(low for length, low, high, _, _ in _LOC if length == 2 and low == high)
# Full 6-digit codes of counties valid in any year (no "[start-end]" range in the table).
TABLE_COUNTIES = sorted(
    prov + low
    for length, prov, high, _, children in _LOC
    if length == 2 and prov == high
    for clen, low, chigh, props, _ in children
    if clen == 4 and low == chigh and not props.get("county", "[").startswith("[")
)


def _make(region: str, born: datetime.date, seq: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


# Real county codes, plus any county under a real province (county level is lenient).
regions = st.one_of(
    st.sampled_from(TABLE_COUNTIES),
    st.tuples(st.sampled_from(TABLE_PROVINCES), st.integers(0, 9999)).map(
        lambda t: f"{t[0]}{t[1]:04d}"
    ),
)
births = st.dates(datetime.date(1900, 1, 1), datetime.date.today())
valid_ids = st.builds(_make, regions, births, st.integers(0, 999))


def test_province_codes_match_stdnum_table() -> None:
    """Protects the strict province check from drifting away from GB/T 2260."""
    assert set(TABLE_PROVINCES) == PROVINCE_CODES
    assert len(TABLE_COUNTIES) > 300


@quick
@given(valid_ids)
def test_valid_numbers_parse_to_themselves(number: str) -> None:
    """Protects residents with valid IDs (incl. retired county codes) from being refused."""
    assert parse_resident_id(number) == number


@quick
# Only known counties: stdnum 2.2 raises KeyError (not ValidationError) on unknown ones.
@given(st.builds(_make, st.sampled_from(TABLE_COUNTIES), births, st.integers(0, 999)))
def test_accepts_everything_stdnum_accepts(number: str) -> None:
    """Protects leniency: no number stdnum's exact county lookup accepts is refused here."""
    if ric.is_valid(number):
        assert parse_resident_id(number) == number


@quick
@given(valid_ids)
def test_every_single_digit_substitution_is_caught(number: str) -> None:
    """Protects against typos: MOD 11-2 changes the check char for any one-digit slip."""
    for pos in range(17):
        for digit in "0123456789":
            if digit == number[pos]:
                continue
            mutated = number[:pos] + digit + number[pos + 1 :]
            assert check_char(mutated[:17]) != number[17]
            with pytest.raises(ValueError):
                parse_resident_id(mutated)


@quick
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_agrees_with_stdnum(first17: str) -> None:
    """Protects the check-char arithmetic against an independent implementation."""
    assert check_char(first17) == ric.calc_check_digit(first17 + "0")


@quick
@given(st.text(max_size=25))
def test_any_text_gives_id_or_value_error(text: str) -> None:
    """Protects callers: the only failure mode is ValueError."""
    try:
        number = parse_resident_id(text)
    except ValueError:
        return
    assert len(number) == 18


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),  # lower-case x from phone keyboards
        (" 110105 19491231 002X ", "11010519491231002X"),
        ("360426199101010071", "360426199101010071"),
    ],
)
def test_parse_examples(raw: str, expected: str) -> None:
    """Protects known-good numbers and the space/case clean-up."""
    assert parse_resident_id(raw) == expected


def _future() -> str:
    # Built when the test runs, not when it is collected: a run that crosses midnight
    # would otherwise check a "tomorrow" that has become today.
    return _make("110105", datetime.date.today() + datetime.timedelta(days=1), 1)


FUTURE = "tomorrow"  # placeholder replaced by _future() inside the test


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "18 characters"),
        ("11010519491231002", "18 characters"),
        ("11010519491231002X1", "18 characters"),
        ("1101051949123100XX", "17 digits"),
        ("11010519491231002Y", "17 digits"),
        ("١١010519491231002X", "17 digits"),  # Arabic-Indic digits pass str.isdigit()
        ("99010519491231002X", "region"),
        ("00010519491231002X", "region"),
        ("110105194913310020", "birth date"),
        (_make("110105", datetime.date(1899, 12, 31), 1), "before 1900-01-01"),
        (FUTURE, "future"),
        ("110105194912310021", "check character"),
    ],
)
def test_parse_rejects(raw: str, reason: str) -> None:
    """Protects the register from malformed IDs and checks the reason names the problem."""
    if raw == FUTURE:
        raw = _future()
    with pytest.raises(ValueError, match=reason):
        parse_resident_id(raw)


def test_feb_30_rejected() -> None:
    """Protects against impossible dates even when the check character is right."""
    first17 = "11010520000230001"
    with pytest.raises(ValueError, match="birth date 20000230 is not a real date"):
        parse_resident_id(first17 + check_char(first17))


def test_bad_region_with_good_check_char() -> None:
    """Protects the strict province check: 99 is no province even with a valid check char."""
    first17 = "99010519491231002"
    with pytest.raises(ValueError, match="province"):
        parse_resident_id(first17 + check_char(first17))


@pytest.mark.parametrize("bad", ["", "1234567890123456", "1234567890123456X", "abcdefghijklmnopq"])
def test_check_char_needs_17_digits(bad: str) -> None:
    """Protects check_char from silently computing on garbage."""
    with pytest.raises(ValueError):
        check_char(bad)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("110105194912311234", "110105********1234"),
        ("E12345678", "E1*****78"),
        ("G1234567", "G1****67"),
        ("ABCDE", "A****E"),  # never more than half is shown
        ("ABCD", "****"),
        ("", ""),
    ],
)
def test_mask_id(raw: str, masked: str) -> None:
    """Protects residents' privacy on screens and in logs."""
    assert mask_id(raw) == masked
