"""Record ids typed into URLs, filters and forms: ASCII digits within the databases' range."""

from __future__ import annotations

MAX_ID = 2**31 - 1  # PostgreSQL's integer; a larger id is simply not found (not an overflow error)


def parse_id(text: str | None) -> int | None:
    """The id `text` names, or None unless it is 1..MAX_ID written in ASCII digits.

    `str.isdigit()` alone is not enough: "²" is a digit to it and int() refuses it.
    """
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
