"""PRC resident identity card numbers (GB 11643): validation and masking, pure Python."""

from __future__ import annotations

import datetime

# GB/T 2260 province-level codes (incl. 71 Taiwan, 81 Hong Kong, 82 Macau), as in stdnum's
# cn/loc table.
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82".split()
)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_MAP = "10X98765432"
_EARLIEST_BIRTH = datetime.date(1900, 1, 1)


def check_char(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("check character needs exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_MAP[total % 11]


def _birth_date(number: str) -> datetime.date:
    """Return the birth date encoded in positions 7-14, or raise ValueError."""
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError(f"birth date {number[6:14]} is not a real date") from None
    if born < _EARLIEST_BIRTH:
        raise ValueError(f"birth date {born.isoformat()} is before 1900-01-01")
    if born > datetime.date.today():
        raise ValueError(f"birth date {born.isoformat()} is in the future")
    return born


def _check_region(number: str) -> None:
    """Raise ValueError unless the 6-digit region prefix is plausible under GB/T 2260."""
    # Strict at province level, lenient at county level: county codes are retired, re-used
    # and added faster than any table is updated, and an ID keeps its code of issue for life,
    # so an unknown county must not lock a resident out. Provinces are stable. This makes a
    # county lookup (stdnum's ric.get_birth_place) unable to change the outcome, so it is not
    # done; tests/unit/test_idcard.py keeps PROVINCE_CODES in sync with stdnum's table.
    if number[:2] not in PROVINCE_CODES:
        raise ValueError(f"region code {number[:6]} has no valid province prefix ({number[:2]})")


def parse_resident_id(text: str) -> str:
    """Return the normalised 18-character resident ID number, or raise ValueError with why."""
    if not isinstance(text, str):  # a reader's null: the same single failure mode as bad text
        raise ValueError(f"resident ID must be text, got {type(text).__name__}")
    number = "".join(text.split()).upper()
    if len(number) != 18:
        raise ValueError(f"resident ID must have 18 characters, got {len(number)}")
    # isascii() guards against other Unicode digits (e.g. '١') that isdigit() accepts.
    body_ok = number.isascii() and number[:17].isdigit()
    if not (body_ok and (number[17].isdigit() or number[17] == "X")):
        raise ValueError("resident ID must be 17 digits followed by a digit or X")
    _check_region(number)
    _birth_date(number)
    expected = check_char(number[:17])
    if number[17] != expected:
        raise ValueError(f"check character is {number[17]}, expected {expected}")
    return number


def mask_id(number: str) -> str:
    """Mask an ID for display: 110105********1234 for resident IDs, else at most half, ab****yz."""
    number = "".join(number.split())
    if not number:
        return ""
    if len(number) == 18:
        # Region and last 4 are what staff use to tell residents apart at the gate.
        return number[:6] + "*" * 8 + number[-4:]
    if len(number) <= 4:
        # Too short to reveal anything safely.
        return "*" * 4
    # Never more than half: 2 + 2 of a 5-character number would leave one character hidden.
    keep = 2 if len(number) >= 8 else 1
    return number[:keep] + "*" * max(4, len(number) - 2 * keep) + number[-keep:]
