"""Unit numbers and phone numbers are stored in one normal form."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.domain.units import normalize_phone, normalize_unit_code


@pytest.mark.parametrize("text, expected", [
    ("1-1-101", "1-1-101"),
    ("1栋1单元101", "1-1-101"),
    ("1幢1单元101室", "1-1-101"),
    (" 1 1 101 ", "1-1-101"),
    ("１－１－１０１", "1-1-101"),
    ("01-01-101", "1-1-101"),
    ("3-2-1801", "3-2-1801"),
])
def test_unit_forms(text, expected):
    """Protects unit lookup: the ways guards type a unit all reach the same unit."""
    assert normalize_unit_code(text) == expected


@pytest.mark.parametrize("text", ["", "101", "1-1", "A-1-101", "1-1-1-101", "1-1-10"])
def test_unit_rejects(text):
    """Protects against saving a unit number nobody can find again."""
    with pytest.raises(ValueError):
        normalize_unit_code(text)


@given(st.integers(1, 999), st.integers(1, 99), st.integers(100, 99999))
def test_unit_idempotent(b, e, r):
    """Protects stored values: normalising a normal unit number changes nothing."""
    code = normalize_unit_code(f"{b}-{e}-{r}")
    assert normalize_unit_code(code) == code


@pytest.mark.parametrize("text", ["13800000001", "138 0000 0001", "+86 138-0000-0001", "008613800000001"])
def test_phone_forms(text):
    """Protects resident login and lookup by phone: one stored form."""
    assert normalize_phone(text) == "13800000001"


@pytest.mark.parametrize("text", ["", "12345", "23800000001", "1380000000a"])
def test_phone_rejects(text):
    """Protects against storing numbers that are not mainland mobiles."""
    with pytest.raises(ValueError):
        normalize_phone(text)
