"""Unit (flat) numbers: building-entrance-room, e.g. 1-1-101 (pure Python)."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-－—_/\\.·栋幢号楼单元室#]+")
# [0-9], not \d: \d (and str.isdigit) also take other scripts' digits, e.g. Arabic-Indic ١٠١.
_CODE = re.compile(r"[0-9]{1,3}-[0-9]{1,2}-[0-9]{3,5}")


def normalize_unit_code(text: str) -> str:
    """Return the unit as `B-E-R` (building, entrance, room), or raise ValueError.

    Guards type what residents say: "1栋1单元101", "1 1 101", full-width digits; all mean 1-1-101.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("unit number is empty")
    folded = unicodedata.normalize("NFKC", text).strip()
    parts = [p for p in _SEPARATORS.split(folded) if p]
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError("unit number must be building-entrance-room, e.g. 1-1-101")
    code = "-".join(str(int(p)) if i < 2 else p for i, p in enumerate(parts))
    if not _CODE.fullmatch(code):
        raise ValueError("unit number must be building-entrance-room, e.g. 1-1-101")
    return code


def normalize_phone(text: str) -> str:
    """A mainland mobile number as 11 digits (spaces, dashes and +86 removed), or ValueError."""
    digits = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", text or ""))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not re.fullmatch(r"1[0-9]{10}", digits):
        raise ValueError("phone must be an 11-digit mainland mobile number")
    return digits
