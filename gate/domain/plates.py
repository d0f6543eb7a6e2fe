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

Rules, in the order they are applied, and why:

1. Text only: anything that is not ``str`` (a camera sending ``null``) raises ValueError, so
   callers have a single failure mode.
2. Cleaning, one ``str.translate``: people, IMEs and ANPR cameras decorate plates, and none of
   the decoration can be part of a plate, so it is deleted wherever it occurs:
   whitespace (incl. U+3000), separators ``. · • ・ ‧ ∙ ⋅ _ -`` and their dash/full-width
   variants, quotes and brackets (``"粤B12345"``, ``[粤B12345]``, ``粤B12345(蓝)``, 【】「」《》),
   control characters (NUL padding from fixed-size C buffers) and zero-width/BOM characters.
   Full-width ASCII letters/digits (ＡＢ１２, from Chinese IMEs) fold to ASCII, ASCII is
   upper-cased. Only ASCII is upper-cased: ``str.upper()`` would turn e.g. the dotless 'ı'
   into 'I' and let non-plate text through.
3. Colour (``split_color``): Hikvision-style cameras prefix or suffix the plate colour, e.g.
   ``蓝粤B12345``, ``蓝牌粤B12345``, ``粤B12345(蓝)``, ``粤B12345蓝色``; colours are 蓝 黄 绿 白 黑
   plus 黄绿 (large new-energy) and 渐变绿 (small new-energy). The colour is metadata, never
   part of the plate, and is dropped. 黑 is also the Heilongjiang province character, so a
   bare leading colour is only taken as a colour when a province (or 使/领) follows it:
   ``黑A12345`` is a Heilongjiang plate, ``黑黑A12345`` a black Heilongjiang plate.
4. "No plate": cameras report a car without a readable plate as 无车牌, 无牌车, 未识别,
   车牌, unknown, ``-``, ``""`` and similar. These raise ``NoPlate`` (a ValueError), so
   they never become a plate and callers can tell "no plate" from "malformed plate".
5. Shape: the province character must be one of the 31 provincial abbreviations (or 使/领,
   see above); the length must be 7, or 8 for new-energy plates.
6. OCR look-alikes, by position (SPEC §3, reference/devices.md). The look-alike groups are
   0/D/Q/O, 1/I, 8/B, 2/Z, 5/S, 6/G.
   * I and O are never issued in serials, so I→1 and O→0 wherever the slot takes no I/O.
     This is not counted as a correction.
   * In a slot that takes only digits (the 4 last of a small new-energy plate, the 5 digits of
     a large one, the serial of 使/领 plates) a letter with exactly one digit look-alike
     becomes that digit (D/Q→0, B→8, Z→2, S→5, G→6).
   * In a slot that takes only letters a digit becomes a letter only when exactly one allowed
     letter looks like it: in the authority slot 8→B, 2→Z, 5→S, 6→G; ``0`` there could be
     D, O or Q (粤O is a real police series), so it is NOT guessed: the plate is rejected.
     In the new-energy letter slot (``DABCEFGHJK``) 0 and O can only be D, 8 only B, 6 only G.
   * Slots taking both letters and digits are kept as read (no way to know which was meant).
   If several forms fit, the reading with the fewest corrections wins; a tie is rejected as
   ambiguous rather than guessed. A canonical plate needs no correction and fits one form
   only, so it is returned unchanged and normalising is idempotent.

Speed: normalisation is on the camera hot path. Cleaning is one ``translate`` and a canonical
result is accepted by one compiled regex, so the usual call takes about a microsecond; only
inputs needing colour removal or look-alike correction take the slower per-slot path.
"""

from __future__ import annotations

import re
from typing import NamedTuple

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
# I and O are never issued in serials because they read as 1 and 0.
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ" + _DIGITS
_NEW_ENERGY = "DABCEFGHJK"
_SUFFIXES = "挂学警港澳领"
_FIRST = PROVINCES + "使领"

# --- rule 2: cleaning -----------------------------------------------------------------------
_CLEAN: dict[int, str | None] = {ord(c): c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}
for _c in _LETTERS + _LETTERS.lower() + _DIGITS:
    _CLEAN[ord(_c) + 0xFEE0] = _c.upper()  # full-width ASCII (U+FF21...) to ASCII
_DROP = (
    "·•・‧∙⋅･-‐‑‒–—−－._．＿"  # separators and middle dots
    "\"'`()[]{}<>（）［］｛｝＜＞【】〔〕〈〉《》「」『』“”‘’＂＇｀"  # quotes and brackets
    "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"  # soft hyphen, zero-width, BOM
)
_CLEAN.update(dict.fromkeys(map(ord, _DROP)))
_CLEAN.update(dict.fromkeys(range(0x20)))  # C0 controls, incl. NUL padding
_CLEAN.update(dict.fromkeys(range(0x7F, 0xA0)))  # DEL and C1 controls
# Every whitespace character is below U+3001 (U+3000 is the ideographic space).
_CLEAN.update(dict.fromkeys(i for i in range(0x3001) if chr(i).isspace()))
del _c

# --- rule 3: colour ----------------------------------------------------------------------------
# Names follow Hikvision's plateColor vocabulary so they can be compared with that field.
COLORS = {"渐变绿": "green", "黄绿": "yellow-green", "蓝": "blue", "黄": "yellow",
          "绿": "green", "白": "white", "黑": "black"}
_COLOR = "渐变绿|黄绿|[蓝黄绿白黑]"
_COLOR_PREFIX = re.compile(rf"({_COLOR})(?:色?牌|色)?(?=[{_FIRST}])|({_COLOR})(?:色?牌|色)")
_COLOR_SUFFIX = re.compile(rf"({_COLOR})(?:色?牌|色)?$")
_COLOR_START = "渐蓝黄绿白黑"
_COLOR_END = "蓝黄绿白黑牌色"

# --- rule 4: no plate -------------------------------------------------------------------------
# Compared after cleaning (ASCII upper-cased, separators and brackets gone).
_NO_PLATE = frozenset({
    "无车牌", "无牌车", "无牌", "无", "无车牌号", "未识别", "未知", "未知车牌", "车牌", "牌",
    "UNKNOWN", "NONE", "NULL", "NOPLATE", "NOPLATES", "N/A", "NA", "?", "??",
})


class NoPlate(ValueError):
    """The camera (or person) reported that there is no readable plate."""


# --- rule 6: slots and forms ------------------------------------------------------------------
# 1/I is not here: I->1 is the free rule, and 1 in a letter slot is not read as I.
_LOOK_ALIKES = ("0DQO", "8B", "2Z", "5S", "6G")


class _Slot(NamedTuple):
    allowed: str
    desc: str
    free: dict[str, str]  # I->1 / O->0: not counted as a correction
    fix: dict[str, str]  # unambiguous look-alikes: one correction each
    doubt: dict[str, str]  # look-alikes with several candidates: named in the error


def _slot(allowed: str, desc: str) -> _Slot:
    free = {k: v for k, v in (("I", "1"), ("O", "0")) if k not in allowed and v in allowed}
    fix: dict[str, str] = {}
    doubt: dict[str, str] = {}
    kind = _LETTERS if set(allowed) <= set(_LETTERS) else _DIGITS if allowed.isdigit() else ""
    for group in _LOOK_ALIKES if kind else ():
        for ch in group:
            ones = "".join(c for c in group if c in allowed and c in kind and c != ch)
            if ch in allowed or ch in kind or not ones:
                continue
            (fix if len(ones) == 1 else doubt)[ch] = ones
    # A letter-only slot reads O as 0 first, so O gets whatever 0 gets.
    if "O" not in allowed and "0" in fix and kind == _LETTERS:
        fix["O"] = fix["0"]
    return _Slot(allowed, desc, free, fix, doubt)


class _Form(NamedTuple):
    name: str
    slots: tuple[_Slot, ...]


_P = _slot(PROVINCES, "a province character")
_L = _slot(_LETTERS, "the issuing-authority letter A-Z")
_X = _slot(_ALNUM, "a letter (except I and O) or a digit")
_D = _slot(_DIGITS, "a digit")
_N = _slot(_NEW_ENERGY, "one of DABCEFGHJK")

# Order matters only for picking the error message when nothing fits.
_FORMS = (
    _Form("regular plate", (_P, _L, _X, _X, _X, _X, _X)),
    _Form("suffixed plate", (_P, _L, _X, _X, _X, _X, _slot(_SUFFIXES, f"one of {_SUFFIXES}"))),
    _Form("small new-energy plate", (_P, _L, _N, _X, _D, _D, _D, _D)),
    _Form("large new-energy plate", (_P, _L, _D, _D, _D, _D, _D, _N)),
    _Form("embassy plate", (_slot("使", "使"), _D, _D, _D, _D, _D, _D)),
    _Form("consulate plate", (_slot("领", "领"), _D, _D, _D, _D, _D, _D)),
)

# The canonical grammar: exactly the strings that some form reads with no change at all.
_PR = f"[{PROVINCES}]"
_XR = "[A-HJ-NP-Z0-9]"
_CANONICAL = re.compile("|".join((
    rf"{_PR}[A-Z]{_XR}{{4}}(?:{_XR}|[{_SUFFIXES}])",
    rf"{_PR}[A-Z][{_NEW_ENERGY}]{_XR}[0-9]{{4}}",
    rf"{_PR}[A-Z][0-9]{{5}}[{_NEW_ENERGY}]",
    r"[使领][0-9]{6}",
))).fullmatch


def _read(text: str, form: _Form, typed: bool = False) -> tuple[str, int, int]:
    """Read text as form: the reading, how many leading chars fit, and corrections made.

    With typed=True stop at the first character that would need a look-alike correction.
    """
    out, corrections = [], 0
    for ch, slot in zip(text, form.slots, strict=True):
        if ch in slot.allowed:
            out.append(ch)
        elif ch in slot.free:
            out.append(slot.free[ch])
        elif ch in slot.fix and not typed:
            out.append(slot.fix[ch])
            corrections += 1
        else:
            break
    return "".join(out), len(out), corrections


def _show(text: str) -> str:
    """repr() of text for an error message, cut short: camera payloads can be long."""
    return repr(text) if len(text) <= 30 else repr(text[:30]) + "..."


def _clean(text: str) -> str:
    """Drop whitespace, separators, quotes, brackets and controls; fold width and ASCII case."""
    return text.translate(_CLEAN)


def split_color(text: str) -> tuple[str | None, str]:
    """Split a camera's colour prefix or suffix off a plate (rule 3 of the module docstring).

    Returns (colour, rest): colour is None or one of blue, yellow, green, white, black,
    yellow-green; rest is the cleaned text without the colour (not yet validated).
    """
    plate = _clean(text)
    if plate and plate[0] in _COLOR_START:
        m = _COLOR_PREFIX.match(plate)
        if m:
            return COLORS[m[1] or m[2]], plate[m.end():]
    if plate and plate[-1] in _COLOR_END:
        m = _COLOR_SUFFIX.search(plate)
        if m:
            return COLORS[m[1]], plate[:m.start()]
    return None, plate


def normalize_plate(text: str) -> str:
    """Return the canonical plate (forms: module docstring) or raise ValueError saying why.

    Raises NoPlate (a ValueError) when the text says that no plate was read.
    """
    if not isinstance(text, str):
        raise ValueError(f"plate must be text, got {type(text).__name__}")
    plate = text.translate(_CLEAN)
    if _CANONICAL(plate):
        return plate  # fast path: the usual camera read and every stored plate
    if plate in _NO_PLATE:
        raise NoPlate(f"no plate read (the camera sent {_show(text)})")
    color, plate = split_color(plate)
    if not plate:
        raise NoPlate("plate is empty" + (f" (only the colour {color})" if color else ""))
    if plate in _NO_PLATE:
        raise NoPlate(f"no plate read (the camera sent {_show(text)})")
    if color and _CANONICAL(plate):
        return plate
    if plate[0] not in _FIRST:
        raise ValueError(f"plate must start with a province character (or 使/领), got {plate[0]!r}")
    forms = [f for f in _FORMS if len(f.slots) == len(plate) and plate[0] in f.slots[0].allowed]
    if not forms:
        if plate[0] in "使领":
            raise ValueError(f"{plate[0]} plate must be {plate[0]} + 6 digits, got {_show(plate)}")
        raise ValueError(
            f"plate must have 7 characters (8 for new-energy), got {len(plate)}: {_show(plate)}"
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
    best = max(range(len(forms)), key=lambda i: _read(plate, forms[i], typed=True)[1])
    form, pos = forms[best], readings[best][1]
    slot, ch = form.slots[pos], plate[pos]
    if ch in slot.doubt:
        raise ValueError(
            f"{form.name}: character {pos + 1} ({ch!r}) must be {slot.desc}; it could be "
            f"any of {', '.join(slot.doubt[ch])}, so it is not guessed"
        )
    raise ValueError(f"{form.name}: character {pos + 1} ({ch!r}) must be {slot.desc}")


def is_new_energy(plate: str) -> bool:
    """Return True if plate is a valid new-energy (8-character, green) plate."""
    try:
        return len(normalize_plate(plate)) == 8
    except ValueError:
        return False
