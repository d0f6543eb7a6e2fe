"""Chinese licence-plate normalisation for gate entry (pure Python, no I/O).

Accepted forms, after cleaning (``P`` = province character, ``L`` = authority letter A-Z,
``x`` = letter except I/O or digit, ``9`` = digit, ``N`` = one of ``DABCEFGHJK``):

* regular, 7 chars:            ``PLxxxxx``  e.g. 粤B12345
* regular with suffix, 7:      ``PLxxxx`` + one of 挂学警港澳领  e.g. 粤B1234学, 沪A1234领
* small new-energy, 8 chars:   ``PLNx9999`` e.g. 沪AD12345
* large new-energy, 8 chars:   ``PL99999N`` e.g. 粤B12345F
* embassy (使 first), 7 chars:  ``使999999`` e.g. 使014578
* consulate (领 first), 7:      ``领999999`` e.g. 领123456 (same shape as 使 plates; the usual
  consulate form is the suffix one above, 沪A1234领)
"""

from __future__ import annotations

from typing import NamedTuple

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
# I and O are never issued in serials because they read as 1 and 0.
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ" + _DIGITS
_NEW_ENERGY = "DABCEFGHJK"
_SUFFIXES = "挂学警港澳领"

# Full-width ASCII (U+FF01..U+FF5E) comes from Chinese IMEs; map letters/digits to ASCII and
# upper-case in the same step. Only ASCII is upper-cased: str.upper() would turn e.g. the
# Turkish dotless 'ı' into 'I' and let non-plate text slip through.
_CLEAN = {ord(c): c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}
for _c in _LETTERS + _LETTERS.lower() + _DIGITS:
    _CLEAN[ord(_c) + 0xFEE0] = _c.upper()
# Separators people type or OCR emits between the authority letter and the serial.
for _c in " ·•-._\u3000－．＿・‧":
    _CLEAN[ord(_c)] = None
del _c

# I/O are invalid in serials, so reading them as 1/0 is always safe.
_IO = {"I": "1", "O": "0"}
# OCR look-alikes, applied only where a slot accepts letters only or digits only.
_TO_LETTER = {"0": "D", "8": "B", "2": "Z", "5": "S", "6": "G"}
_TO_DIGIT = {"D": "0", "Q": "0", "B": "8", "Z": "2", "S": "5", "G": "6"}


class _Slot(NamedTuple):
    allowed: str
    desc: str


class _Form(NamedTuple):
    name: str
    slots: tuple[_Slot, ...]


_P = _Slot(PROVINCES, "a province character")
_L = _Slot(_LETTERS, "the issuing-authority letter A-Z")
_X = _Slot(_ALNUM, "a letter (except I and O) or a digit")
_D = _Slot(_DIGITS, "a digit")
_N = _Slot(_NEW_ENERGY, "one of DABCEFGHJK")

# Order matters only for picking the error message when nothing fits.
_FORMS = (
    _Form("regular plate", (_P, _L, _X, _X, _X, _X, _X)),
    _Form("suffixed plate", (_P, _L, _X, _X, _X, _X, _Slot(_SUFFIXES, f"one of {_SUFFIXES}"))),
    _Form("small new-energy plate", (_P, _L, _N, _X, _D, _D, _D, _D)),
    _Form("large new-energy plate", (_P, _L, _D, _D, _D, _D, _D, _N)),
    _Form("embassy plate", (_Slot("使", "使"), _D, _D, _D, _D, _D, _D)),
    _Form("consulate plate", (_Slot("领", "领"), _D, _D, _D, _D, _D, _D)),
)


def _fix_char(ch: str, slot: _Slot) -> tuple[str | None, int]:
    """Return ch as it fits slot (or None) and 1 if a look-alike correction was needed."""
    if ch in slot.allowed:
        return ch, 0
    ch = _IO.get(ch, ch)
    if ch in slot.allowed:
        return ch, 0
    # Only correct where the slot leaves no doubt whether a letter or a digit is meant.
    if set(slot.allowed) <= set(_LETTERS):
        ch = _TO_LETTER.get(ch, ch)
    elif set(slot.allowed) <= set(_DIGITS):
        ch = _TO_DIGIT.get(ch, ch)
    return (ch, 1) if ch in slot.allowed else (None, 0)


def _read(text: str, form: _Form) -> tuple[str, int, int]:
    """Read text as form: the reading, how many leading chars fit, and corrections made."""
    out, corrections = [], 0
    for ch, slot in zip(text, form.slots, strict=True):
        fixed, corrected = _fix_char(ch, slot)
        if fixed is None:
            break
        out.append(fixed)
        corrections += corrected
    return "".join(out), len(out), corrections


def _typed_prefix(text: str, form: _Form) -> int:
    """Count the leading characters of text that fit form without look-alike corrections."""
    n = 0
    for ch, slot in zip(text, form.slots, strict=True):
        fixed, corrected = _fix_char(ch, slot)
        if fixed is None or corrected:
            break
        n += 1
    return n


def _clean(text: str) -> str:
    """Drop whitespace and separators, fold full-width and lower-case ASCII."""
    return "".join(c for c in text.translate(_CLEAN) if not c.isspace())


def normalize_plate(text: str) -> str:
    """Return the canonical plate (forms: module docstring) or raise ValueError saying why."""
    plate = _clean(text)
    if not plate:
        raise ValueError("plate is empty")
    if plate[0] not in PROVINCES + "使领":
        raise ValueError(f"plate must start with a province character (or 使/领), got {plate[0]!r}")
    forms = [f for f in _FORMS if len(f.slots) == len(plate) and plate[0] in f.slots[0].allowed]
    if not forms:
        if plate[0] in "使领":
            raise ValueError(f"{plate[0]} plate must be {plate[0]} + 6 digits, got {plate!r}")
        raise ValueError(
            f"plate must have 7 characters (8 for new-energy), got {len(plate)}: {plate!r}"
        )
    readings = [_read(plate, f) for f in forms]
    fits = sorted((n_fixed, r) for r, n_fit, n_fixed in readings if n_fit == len(plate))
    # Prefer the reading needing fewest look-alike corrections. A canonical plate needs none
    # and exact readings of different forms never coincide, so normalising is idempotent.
    if fits and (len(fits) == 1 or fits[0][0] < fits[1][0]):
        return fits[0][1]
    if fits:
        tied = " or ".join(r for n, r in fits if n == fits[0][0])
        raise ValueError(f"ambiguous plate {plate!r}: could be {tied}")
    # Blame the form the text resembles most as typed (ties: the more common form, listed
    # first), but point at the character that still fails after corrections.
    best = max(range(len(forms)), key=lambda i: _typed_prefix(plate, forms[i]))
    form, pos = forms[best], readings[best][1]
    raise ValueError(
        f"{form.name}: character {pos + 1} ({plate[pos]!r}) must be {form.slots[pos].desc}"
    )


def is_new_energy(plate: str) -> bool:
    """Return True if plate is a valid new-energy (8-character, green) plate."""
    try:
        return len(normalize_plate(plate)) == 8
    except ValueError:
        return False
