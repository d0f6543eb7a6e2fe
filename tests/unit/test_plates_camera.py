"""Tests for gate.domain.plates on what ANPR cameras (Hikvision, Dahua, Frigate) really send."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.domain.plates import NoPlate, normalize_plate, split_color
from tests.unit.test_plates import GRAMMAR, valid_plates

# Property tests must not leave a .hypothesis/ directory in the project.
quick = settings(database=None, max_examples=300)

COLOR_WORDS = ["蓝", "黄", "绿", "白", "黑", "黄绿", "渐变绿"]
SEPARATORS = [" ", "·", "•", "・", "‧", "-", "－", ".", "．", "_", "\u3000", "\t", "\u00a0",
              "\u200b", "\x00"]
WRAPPERS = [("", ""), ('"', '"'), ("'", "'"), ("[", "]"), ("(", ")"), ("【", "】"), ("「", "」"),
            ("“", "”"), ("《", "》"), ("（", "）")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Hikvision: colour prefix, with or without 牌/色
        ("蓝粤B12345", "粤B12345"),
        ("黄粤B12345", "粤B12345"),
        ("绿粤BD12345", "粤BD12345"),
        ("白粤B1234警", "粤B1234警"),
        ("黑粤B12345", "粤B12345"),
        ("蓝牌粤B12345", "粤B12345"),
        ("蓝色粤B12345", "粤B12345"),
        ("黄绿粤B12345F", "粤B12345F"),
        ("渐变绿沪AD12345", "沪AD12345"),
        ("黑使014578", "使014578"),
        # colour as a suffix
        ("粤B12345(蓝)", "粤B12345"),
        ("粤B12345（蓝）", "粤B12345"),
        ("粤B12345 蓝色", "粤B12345"),
        ("粤B12345蓝牌", "粤B12345"),
        ("粤B1234挂[黄]", "粤B1234挂"),
        # 黑 is also Heilongjiang: a bare 黑 is a colour only when a province follows
        ("黑A12345", "黑A12345"),
        ("黑黑A12345", "黑A12345"),
        ("蓝黑A12345", "黑A12345"),
        ("黑A12345(黑)", "黑A12345"),
        # quotes, brackets, whitespace, NUL padding, BOM and zero-width characters
        ('"粤B12345"', "粤B12345"),
        ("'粤B12345'", "粤B12345"),
        ("[粤B12345]", "粤B12345"),
        ("【粤B12345】", "粤B12345"),
        ("“粤B12345”", "粤B12345"),
        ("\n粤B12345\r\n", "粤B12345"),
        ("粤B12345\x00\x00\x00\x00", "粤B12345"),
        ("\ufeff粤B12345", "粤B12345"),
        ("粤\u200bB12345", "粤B12345"),
        ("粤B\u00a012345", "粤B12345"),
        # separators and middle dots of every kind, full width, lower case
        ("粤B・12345", "粤B12345"),
        ("粤B‧12345", "粤B12345"),
        ("粤B∙12345", "粤B12345"),
        ("粤B－12345", "粤B12345"),
        ("粤Ｂ．１２３４５", "粤B12345"),
        ("粤ｂｄ１２３４５", "粤BD12345"),
        ("蓝牌 “粤b·1234５”", "粤B12345"),
        # Frigate recognized_license_plate: plain, sometimes with a middle dot
        ("粤B12345", "粤B12345"),
        ("沪A·D12345", "沪AD12345"),
        # OCR by position (documented in the module docstring)
        ("绿粤BO12345", "粤BD12345"),  # new-energy letter slot: O/0 can only be D
        ("粤B12345O", "粤B12345D"),  # large new-energy letter slot: O read as 0, 0 as D
        ("沪AD1234O", "沪AD12340"),  # digit slot
        ("蓝粤B1234I", "粤B12341"),  # I is never issued in a serial
        ("使O14578", "使014578"),
        ("粤8·12345", "粤B12345"),  # authority slot: 8 can only be B
    ],
)
def test_camera_formats(raw: str, expected: str) -> None:
    """Protects gate matching against how each camera brand decorates the plate it read."""
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["无车牌", "无牌车", "未识别", "车牌", "unknown", "UNKNOWN", "Unknown", "", "-", "--", " ",
     "\x00\x00\x00", "none", "null", "N/A", "无牌", "未知", "蓝", "蓝牌", "黄色", "(无车牌)",
     "蓝牌无车牌", "“unknown”"],
)
def test_no_plate_outputs_raise(raw: str) -> None:
    """Protects against a camera's "no plate" message becoming a plate that could be listed."""
    with pytest.raises(NoPlate):
        normalize_plate(raw)


def test_no_plate_is_a_value_error() -> None:
    """Protects the public contract: callers catching ValueError also catch "no plate"."""
    assert issubclass(NoPlate, ValueError)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("粤0·12345", "D, Q, O"),  # authority 0 could be D, O or Q: not guessed
        ("蓝粤0D12345", "not guessed"),
        ("黑A12345黑黑", "DABCEFGHJK"),  # one colour stripped: 8 chars left
        ("黑色A12345", "province"),  # colour word, then no province
        ("红粤B12345", "province"),  # not a plate colour
        ("蓝粤B12345蓝粤", "7 characters"),
        (None, "text"),
        (b"\xe7\xb2\xa4B12345", "text"),
        (12345, "text"),
    ],
)
def test_camera_rejects(raw: object, reason: str) -> None:
    """Protects against guesses on ambiguous reads and crashes on non-text payloads."""
    with pytest.raises(ValueError, match=reason):
        normalize_plate(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("蓝粤B12345", ("blue", "粤B12345")),
        ("黄牌粤B12345", ("yellow", "粤B12345")),
        ("绿粤BD12345", ("green", "粤BD12345")),
        ("渐变绿粤BD12345", ("green", "粤BD12345")),
        ("黄绿粤B12345F", ("yellow-green", "粤B12345F")),
        ("白粤B1234警", ("white", "粤B1234警")),
        ("黑黑A12345", ("black", "黑A12345")),
        ("黑A12345", (None, "黑A12345")),
        ("粤B12345(蓝)", ("blue", "粤B12345")),
        ("粤b·12345", (None, "粤B12345")),
        ("", (None, "")),
    ],
)
def test_split_color(raw: str, expected: tuple[str | None, str]) -> None:
    """Protects the colour metadata: named like Hikvision's plateColor, never kept in the plate."""
    assert split_color(raw) == expected


@st.composite
def camera_decorated(draw: st.DrawFn, plate: str) -> str:
    """The plate as some camera or bridge might send it."""
    out = []
    for ch in plate:
        if ch.isascii():
            ch = draw(st.sampled_from([ch, ch.lower(), chr(ord(ch) + 0xFEE0)]))
        out.append(ch)
        out.extend(draw(st.lists(st.sampled_from(SEPARATORS), max_size=2)))
    body = "".join(out)
    color = draw(st.sampled_from(COLOR_WORDS)) + draw(st.sampled_from(["", "牌", "色", "色牌"]))
    where = draw(st.sampled_from(["none", "prefix", "suffix", "bracketed"]))
    if where == "prefix":
        body = color + draw(st.sampled_from(SEPARATORS + [""])) + body
    elif where == "suffix":
        body = body + color
    elif where == "bracketed":
        body = body + "(" + color + ")"
    left, right = draw(st.sampled_from(WRAPPERS))
    pad = st.text(alphabet=" \t\r\n\x00\u3000\ufeff", max_size=3)
    return draw(pad) + left + body + right + draw(pad)


@quick
@given(valid_plates.flatmap(lambda p: st.tuples(st.just(p), camera_decorated(p))))
def test_camera_decoration_does_not_matter(pair: tuple[str, str]) -> None:
    """Protects gate matching: every decorated form of a plate normalises back to it."""
    plate, sent = pair
    assert normalize_plate(sent) == plate


@quick
@given(valid_plates)
def test_canonical_plates_survive(plate: str) -> None:
    """Protects stored plates: canonical plates are fixed points, and have no colour split off."""
    assert normalize_plate(plate) == plate
    assert split_color(plate) == (None, plate)


ALPHABET = ("京沪粤黑使领挂学警港澳蓝黄绿白渐变色牌无车未识别ABDFGIOQSZabio0123456789"
            "０Ａｂ·•・-._ ()（）[]【】\"'\x00\u3000\ufeff")


@quick
@given(st.one_of(st.text(), st.text(alphabet=ALPHABET, max_size=14)))
def test_garbage_gives_grammar_plate_or_value_error(text: str) -> None:
    """Protects callers: only ValueError escapes, and whatever is accepted obeys the grammar."""
    try:
        plate = normalize_plate(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert GRAMMAR.fullmatch(plate), plate


@quick
@given(st.one_of(st.text(alphabet=ALPHABET, max_size=14),
                 valid_plates.flatmap(camera_decorated)))
def test_idempotent_on_camera_text(text: str) -> None:
    """Protects stored plates: normalising an accepted camera read again never changes it."""
    try:
        once = normalize_plate(text)
    except ValueError:
        return
    assert normalize_plate(once) == once
