"""Tests for gate.domain.plates: Chinese licence-plate normalisation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.domain.plates import PROVINCES, is_new_energy, normalize_plate

# The grammar, written independently of the implementation so the two check each other.
_P = f"[{PROVINCES}]"
_X = "[A-HJ-NP-Z0-9]"
GRAMMAR = re.compile(
    "|".join(
        [
            rf"{_P}[A-Z]{_X}{{5}}",  # regular
            rf"{_P}[A-Z]{_X}{{4}}[挂学警港澳领]",  # trailer, learner, police, HK/Macau, consulate
            rf"{_P}[A-Z][DABCEFGHJK]{_X}[0-9]{{4}}",  # small new-energy
            rf"{_P}[A-Z][0-9]{{5}}[DABCEFGHJK]",  # large new-energy
            r"使[0-9]{6}",  # embassy
            r"领[0-9]{6}",  # consulate, 领 first
        ]
    )
)

# Property tests must not leave a .hypothesis/ directory in the project.
quick = settings(database=None, max_examples=300)

SEPARATORS = [" ", "·", "•", "-", ".", "_", "\u3000", "\t"]
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _chars(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


def _join(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


_prov = st.sampled_from(PROVINCES)
_auth = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
valid_plates = st.one_of(
    _join(_prov, _auth, _chars(ALNUM, 5)),
    _join(_prov, _auth, _chars(ALNUM, 4), st.sampled_from("挂学警港澳领")),
    _join(_prov, _auth, st.sampled_from("DABCEFGHJK"), _chars(ALNUM, 1), _chars("0123456789", 4)),
    _join(_prov, _auth, _chars("0123456789", 5), st.sampled_from("DABCEFGHJK")),
    _join(st.sampled_from("使领"), _chars("0123456789", 6)),
)


@st.composite
def disguised(draw: st.DrawFn, plate: str) -> str:
    """The plate as a person might type it: separators, lower case, full-width ASCII."""
    out = [draw(st.sampled_from(["", " ", "\u3000"]))]
    for ch in plate:
        if ch.isascii():
            ch = draw(st.sampled_from([ch, ch.lower(), chr(ord(ch) + 0xFEE0)]))
        out.append(ch)
        out.extend(draw(st.lists(st.sampled_from(SEPARATORS), max_size=2)))
    return "".join(out)


LOOK_ALIKES = {"0": "DQO", "1": "I", "8": "B", "2": "Z", "5": "S", "6": "G", "D": "0", "B": "8"}


@st.composite
def ocr_noisy(draw: st.DrawFn) -> str:
    """A valid plate with some characters swapped for OCR look-alikes."""
    chars = list(draw(valid_plates))
    for i in draw(st.lists(st.integers(0, len(chars) - 1), max_size=3)):
        if chars[i] in LOOK_ALIKES:
            chars[i] = draw(st.sampled_from(LOOK_ALIKES[chars[i]]))
    return "".join(chars)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("粤B12345", "粤B12345"),
        ("京A·12345", "京A12345"),
        ("京A•12345", "京A12345"),
        (" 京 a-123_45 ", "京A12345"),
        ("粤b12345", "粤B12345"),
        ("粤Ｂ１２３４５", "粤B12345"),  # full-width from a Chinese IME
        ("粤ｂ\u3000１２３４５", "粤B12345"),
        ("粤BI2345", "粤B12345"),  # I never appears in a serial
        ("粤B1234O", "粤B12340"),  # O never appears in a serial
        ("粤B8BZ2S", "粤B8BZ2S"),  # mixed slots keep look-alikes as read
        ("粤8·12345", "粤B12345"),  # authority slot must be a letter
        ("京I12345", "京I12345"),  # the authority letter may be any of A-Z
        ("粤B1234警", "粤B1234警"),
        ("粤B1234学", "粤B1234学"),
        ("粤B1234挂", "粤B1234挂"),
        ("粤Z1234港", "粤Z1234港"),
        ("粤Z1234澳", "粤Z1234澳"),
        ("沪A1234领", "沪A1234领"),
        ("使014578", "使014578"),
        ("使O14S78", "使014578"),  # embassy serial is digits only
        ("领123456", "领123456"),
        ("沪AD12345", "沪AD12345"),  # small new-energy
        ("沪A·DF1234", "沪ADF1234"),
        ("沪A0F1234", "沪ADF1234"),  # third char of small new-energy must be a letter
        ("沪ADF12ZS", "沪ADF1225"),  # last 4 of small new-energy must be digits
        ("沪ADFBGDQ", "沪ADF8600"),
        ("粤B12345F", "粤B12345F"),  # large new-energy
        ("粤B1234SD", "粤B12345D"),
        ("粤BO1234D", "粤B01234D"),  # O->0 beats reading it as the small form's D
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    """Protects the documented forms and the clean-up/OCR rules on concrete inputs."""
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("  · - ", "empty"),
        ("粤", "7 characters"),
        ("粤B1234", "7 characters"),
        ("粤B1234567", "7 characters"),
        ("ABC123", "province"),
        ("B12345粤", "province"),
        ("yue B12345", "province"),
        ("粤112345", "authority letter"),  # 1 is no letter look-alike
        ("粤0·12345", "not guessed"),  # authority 0 could be D, O or Q (粤O is a police series)
        ("粤B1234#", "character 7"),
        ("粤B12@45", "character 5"),
        ("粤BZ12345", "DABCEFGHJK"),  # bad new-energy letter
        ("粤BX12345", "DABCEFGHJK"),
        ("粤B12345Z", "DABCEFGHJK"),
        ("沪ADF123X", "digit"),
        ("使01457", "6 digits"),
        ("使01457X", "digit"),
        ("领12345A", "digit"),
        ("粤B1234领5", "character"),
        ("沪A0123B6", "ambiguous"),  # 沪A01238G vs 沪AD12386: refuse to guess
        ("粤Bı2345", "character 3"),  # only ASCII is upper-cased; dotless i is not I
    ],
)
def test_normalize_rejects(raw: str, reason: str) -> None:
    """Protects against admitting malformed plates and checks the reason names the problem."""
    with pytest.raises(ValueError, match=reason):
        normalize_plate(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("沪AD12345", True),
        ("粤B12345F", True),
        ("粤b·12345f", True),
        ("粤B12345", False),
        ("使014578", False),
        ("x", False),
    ],
)
def test_is_new_energy(raw: str, expected: bool) -> None:
    """Protects the green-plate check used for charging-bay rules."""
    assert is_new_energy(raw) is expected


def test_provinces() -> None:
    """Protects the province list: 31 distinct mainland abbreviations."""
    assert len(PROVINCES) == len(set(PROVINCES)) == 31


@quick
@given(valid_plates)
def test_grammar_plates_are_fixed_points(plate: str) -> None:
    """Protects canonical plates from being altered (e.g. by over-eager OCR fixes)."""
    assert GRAMMAR.fullmatch(plate)
    assert normalize_plate(plate) == plate


@quick
@given(st.one_of(ocr_noisy(), st.text(alphabet=PROVINCES[:3] + ALNUM + "IO使领学 ·", max_size=10)))
def test_idempotent(text: str) -> None:
    """Protects stored plates: normalising an accepted plate again never changes it."""
    try:
        once = normalize_plate(text)
    except ValueError:
        return
    assert normalize_plate(once) == once


@quick
@given(valid_plates.flatmap(lambda p: st.tuples(st.just(p), disguised(p))))
def test_separators_case_and_width_do_not_matter(pair: tuple[str, str]) -> None:
    """Protects gate matching against how the plate happened to be typed."""
    plate, typed = pair
    assert normalize_plate(typed) == plate


@quick
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=PROVINCES + ALNUM + "IOabcio使领挂学警港澳·- \u3000Ｂ１", max_size=12),
        ocr_noisy(),
    )
)
def test_any_text_gives_grammar_plate_or_value_error(text: str) -> None:
    """Protects callers: the only failure mode is ValueError, and output obeys the grammar."""
    try:
        plate = normalize_plate(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert GRAMMAR.fullmatch(plate), plate
