"""Hostile input for the text parsers: plates, IDs, units, phones and pass tokens.

Each property feeds arbitrary (or adversarially mutated) input to one parser and checks the
two halves of its promise: it never raises anything but its documented exception, and what
it accepts is valid by a grammar written here independently of the implementation (from
SPEC §3 and the module docstrings). Pure logic: no database, no broker.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from flask import Flask
from hypothesis import example, given
from hypothesis import strategies as st

from gate.domain import passes as tokens
from gate.domain.idcard import check_char, mask_id, parse_resident_id
from gate.domain.plates import PROVINCES, NoPlate, is_new_energy, normalize_plate, split_color
from gate.domain.units import normalize_phone, normalize_unit_code
from gate.services import ActionError
from gate.services.pass_gate import problem
from gate.services.privacy import document_hash
from gate.services.resident_vehicles import plate_of
from gate.services.visitors import check_identity
from tests.support.props import few, props

# --- plates ---------------------------------------------------------------------------------
# SPEC §3 and gate/domain/plates.py's docstring, written out again so the two check each other.
_P, _X = f"[{PROVINCES}]", "[A-HJ-NP-Z0-9]"
PLATE = re.compile("|".join((
    rf"{_P}[A-Z]{_X}{{5}}",  # regular
    rf"{_P}[A-Z]{_X}{{4}}[挂学警港澳领]",  # trailer, learner, police, HK, Macau, consulate
    rf"{_P}[A-Z][DABCEFGHJK]{_X}[0-9]{{4}}",  # small new-energy
    rf"{_P}[A-Z][0-9]{{5}}[DABCEFGHJK]",  # large new-energy
    r"[使领][0-9]{6}",  # embassy, consulate
)))
_SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_NE = "DABCEFGHJK"
_DIG = "0123456789"


def _s(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


def _cat(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


_prov, _auth = st.sampled_from(PROVINCES), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
plates = st.one_of(
    _cat(_prov, _auth, _s(_SERIAL, 5)),
    _cat(_prov, _auth, _s(_SERIAL, 4), st.sampled_from("挂学警港澳领")),
    _cat(_prov, _auth, st.sampled_from(_NE), _s(_SERIAL, 1), _s(_DIG, 4)),
    _cat(_prov, _auth, _s(_DIG, 5), st.sampled_from(_NE)),
    _cat(st.sampled_from("使领"), _s(_DIG, 6)),
)
# Text made mostly of plate material, so the fuzzer reaches deep into the grammar.
plate_like = st.text(alphabet=PROVINCES[:6] + "ABDGIOQSZabio0125689使领挂学警港澳蓝黄绿白黑渐变牌色"
                     " ·-_()【】\x00\u3000\u200bＡ１ıſK", max_size=12)
_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in _SERIAL}


@st.composite
def disguised(draw: st.DrawFn, plate: str) -> str:
    """The plate as cameras and guards send it: colour, separators, case, width, brackets."""
    out = []
    for ch in plate:
        if ch in _FULL_WIDTH and draw(st.booleans()):
            ch = _FULL_WIDTH[ch]
        elif ch.isascii() and draw(st.booleans()):
            ch = ch.lower()
        out.append(ch + draw(st.sampled_from(["", "", " ", "·", "-", "\u3000", "\u200b"])))
    text = "".join(out)
    wrap = draw(st.sampled_from(["{}", "[{}]", "“{}”", "{}\x00\x00", " {} \n"]))
    color = draw(st.sampled_from(["", "蓝", "蓝牌", "黄色", "渐变绿"]))
    return wrap.format(f"{color}{text}" if draw(st.booleans()) else f"{text}{color}")


@props
@given(st.one_of(plate_like, st.text(max_size=20)))
@example("粤Bı2345")  # dotless i must not upper-case into I
@example("蓝")  # a colour alone is no plate
def test_any_text_is_a_valid_plate_or_value_error(text: str) -> None:
    """Protects the plate gate: any text gives a plate of the SPEC grammar or ValueError, nothing else."""
    try:
        plate = normalize_plate(text)
    except ValueError:  # NoPlate included
        return
    assert PLATE.fullmatch(plate), (text, plate)
    assert normalize_plate(plate) == plate  # idempotent
    assert is_new_energy(plate) == (len(plate) == 8)


@few
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.lists(st.text(), max_size=2)))
def test_non_text_plate_is_value_error(value: object) -> None:
    """Protects callers' single failure mode: a camera's null or number is a ValueError, not a crash."""
    with pytest.raises(ValueError):
        normalize_plate(value)  # type: ignore[arg-type]
    assert is_new_energy(value) is False  # type: ignore[arg-type]


@props
@given(plates.flatmap(lambda p: st.tuples(st.just(p), disguised(p))))
def test_plate_round_trip_through_decoration(pair: tuple[str, str]) -> None:
    """Protects matching: a canonical plate is a fixed point, and decorated forms of it normalise back."""
    plate, text = pair
    assert normalize_plate(plate) == plate
    assert normalize_plate(text) == plate, text


@props
@given(plate_like)
def test_split_color_never_raises(text: str) -> None:
    """Protects the camera hot path: colour splitting takes any text."""
    color, rest = split_color(text)
    assert color in (None, "blue", "yellow", "green", "white", "black", "yellow-green")
    assert isinstance(rest, str)


@few
@given(st.sampled_from(["", " ", "无车牌", "无牌车", "未识别", "unknown", "NULL", "-", "蓝牌", "（无）"]))
def test_no_plate_words_are_no_plate(text: str) -> None:
    """Protects against "no plate" reports becoming a plate."""
    with pytest.raises(NoPlate):
        normalize_plate(text)


@props
@given(st.one_of(plate_like, st.text(max_size=20), st.none()))
def test_typed_plate_is_plate_or_one_action_error(text: str | None) -> None:
    """Protects the kiosk/API plate field: a plate or one clear ActionError, never a 500."""
    try:
        plate = plate_of(text)  # type: ignore[arg-type]
    except ActionError as exc:
        assert exc.code == "bad_plate"
        return
    assert PLATE.fullmatch(plate)


# --- resident ID numbers ----------------------------------------------------------------------
_REGIONS = ("110105", "310104", "440305", "510107", "650102", "820000")
births = st.dates(date(1900, 1, 1), date.today())


def _id(region: str, born: date, seq: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


resident_ids = st.builds(_id, st.sampled_from(_REGIONS), births, st.integers(0, 999))
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _checksum_ok(number: str) -> bool:
    """GB 11643 written out: the weighted sum of all 18 (X = 10) is 1 mod 11."""
    values = [int(c) for c in number[:17]] + [10 if number[17] == "X" else int(number[17])]
    return (sum(v * w for v, w in zip(values, (*_WEIGHTS, 1), strict=True))) % 11 == 1


@props
@given(st.one_of(st.text(alphabet="0123456789Xx \u3000١２", min_size=15, max_size=20),
                 st.text(max_size=20), resident_ids))
@example("11010519491231002x")
def test_any_text_is_a_valid_id_or_value_error(text: str) -> None:
    """Protects the ID check: whatever is typed or read, only a checksummed real ID gets through."""
    try:
        number = parse_resident_id(text)
    except ValueError:
        return
    assert re.fullmatch(r"[0-9]{17}[0-9X]", number), (text, number)
    assert _checksum_ok(number)
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert date(1900, 1, 1) <= born <= date.today()


@few
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=18)))
@example(None)
def test_non_text_id_is_value_error(value: object) -> None:
    """Protects callers: a reader's null or number is a ValueError like any bad ID (was AttributeError)."""
    with pytest.raises(ValueError):
        parse_resident_id(value)  # type: ignore[arg-type]


@props
@given(resident_ids, st.integers(0, 17), st.integers(1, 10))
def test_any_one_character_change_is_rejected(number: str, position: int, delta: int) -> None:
    """Protects against a mistyped digit naming another person: every one-place change is caught."""
    alphabet = "0123456789X" if position == 17 else "0123456789"
    old = alphabet.index(number[position])
    changed = number[:position] + alphabet[(old + delta) % len(alphabet)] + number[position + 1:]
    if changed == number:
        return
    with pytest.raises(ValueError):
        parse_resident_id(changed)


@props
@given(st.sampled_from(_REGIONS), st.dates(date(1800, 1, 1), date(2999, 12, 31)), st.integers(0, 999))
def test_birth_dates_outside_1900_to_today_are_rejected(region: str, born: date, seq: int) -> None:
    """Protects against impossible people: a correct checksum does not save a date out of range."""
    number = _id(region, born, seq)
    if date(1900, 1, 1) <= born <= date.today():
        assert parse_resident_id(number) == number
    else:
        with pytest.raises(ValueError, match="birth date"):
            parse_resident_id(number)


@props
@given(st.one_of(resident_ids, st.text(max_size=30)))
@example("ABCDE")  # revealed 4 of 5 characters before the fix
@example("1234567")
def test_mask_reveals_no_more_than_documented(number: str) -> None:
    """Protects privacy on screens: 18-char IDs show region + last 4, anything else at most half."""
    masked = mask_id(number)
    clean = "".join(number.split())
    shown = [c for c in masked if c != "*"]
    if len(clean) == 18:
        assert masked == clean[:6] + "*" * 8 + clean[-4:]
    else:
        assert len(shown) <= min(4, len(clean) // 2), (number, masked)
    if len(clean) > 4:
        assert "*" * 4 in masked


@pytest.fixture(scope="module")
def keyed():
    """An app context with a fixed ID-hash key: document_hash needs current_app, nothing else."""
    app = Flask(__name__)
    app.config["GATE_ID_HMAC_KEY"] = "test-key-" + "k" * 32
    with app.app_context():
        yield


@props
@given(resident_ids, st.sampled_from(["{}", " {} ", "{}\n"]), st.booleans(), st.booleans())
def test_keyed_hash_is_stable_however_the_id_arrives(keyed, number: str, wrap: str, lower: bool,
                                                     wide: bool) -> None:
    """Protects returning-visitor matching: typed (spaces, x, full-width) and card-read IDs hash alike."""
    typed = wrap.format(number.lower() if lower else number)
    if wide:
        typed = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in typed)
    identity = check_identity("王五", "resident_id", typed)
    card = document_hash("resident_id", parse_resident_id(number))
    assert identity.id_hash == card == document_hash("resident_id", number)
    assert number not in identity.id_hash and identity.id_masked == mask_id(number)


@props
@given(st.one_of(st.text(max_size=25), st.text(alphabet="0123456789Xx ١", max_size=20)),
       st.sampled_from(["resident_id", "passport", "other", None, "bogus"]))
def test_typed_id_is_identity_or_one_action_error(keyed, text: str, id_type: str | None) -> None:
    """Protects the visitor desk: a typed ID gives an Identity or one ActionError, never the clear number."""
    try:
        identity = check_identity("王五", id_type, text)
    except ActionError as exc:
        assert exc.code in ("bad_id", "bad_id_type", "too_long", "bad_text")
        return
    if identity.id_hash is None:
        assert not unicodedata.normalize("NFKC", text).strip()
        return
    clear = "".join(text.split()).upper()
    assert clear not in (identity.id_hash, identity.id_masked) or len(clear) <= 4
    if id_type == "resident_id":
        assert identity.id_masked and len(identity.id_masked) == 18


# --- units and phones -------------------------------------------------------------------------
@props
@given(st.one_of(st.text(alphabet="0123456789١٢３²-栋单元室 ", max_size=14), st.text(max_size=14)))
@example("1-1-١٠١")  # Arabic-Indic room digits were stored as they came
def test_unit_code_is_ascii_b_e_r_or_value_error(text: str) -> None:
    """Protects unit look-ups: only building-entrance-room in ASCII digits is a unit code."""
    try:
        code = normalize_unit_code(text)
    except ValueError:
        return
    assert re.fullmatch(r"[0-9]{1,3}-[0-9]{1,2}-[0-9]{3,5}", code), (text, code)
    assert normalize_unit_code(code) == code


@props
@given(st.one_of(st.text(alphabet="0123456789١٣+86 -()", max_size=16), st.text(max_size=16)))
@example("1٣٨٠٠١٣٨٠٠٠")  # Arabic-Indic digits were stored as a phone number
def test_phone_is_eleven_ascii_digits_or_value_error(text: str) -> None:
    """Protects the stored phone numbers: 11 ASCII digits starting with 1, or a ValueError."""
    try:
        phone = normalize_phone(text)
    except ValueError:
        return
    assert re.fullmatch(r"1[0-9]{10}", phone), (text, phone)


# --- pass tokens ------------------------------------------------------------------------------
KEY = b"k" * 32
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
pids = st.binary(min_size=12, max_size=12)


def _issue(pid: bytes, kind: str = "pass") -> str:
    return tokens.issue(KEY, "demo", pid, T0, T0 + timedelta(days=1), kind=kind)


def _rejected(text: str, kind: str = "pass") -> str:
    """The TokenRejected reason for text; any other exception fails the test."""
    with pytest.raises(tokens.TokenRejected) as err:
        tokens.read(KEY, "demo", text, kind=kind)
    return err.value.reason


@props
@given(pids, st.data())
def test_tampered_tokens_are_rejected(pid: bytes, data: st.DataObject) -> None:
    """Protects against forged passes: a changed, cut or extended token is refused with a reason."""
    token = _issue(pid)
    edit = data.draw(st.sampled_from(["change", "cut", "extend", "swap"]))
    if edit == "change":
        i = data.draw(st.integers(0, len(token) - 1))
        new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != token[i]))
        bad = token[:i] + new + token[i + 1:]
    elif edit == "cut":
        i, j = sorted(data.draw(st.tuples(st.integers(0, len(token)), st.integers(0, len(token)))))
        bad = token[:i] + token[j:] if (i, j) != (0, len(token)) and i != j else token[:-1]
    elif edit == "extend":
        bad = token + data.draw(st.text(min_size=1, max_size=8))
    else:
        i = data.draw(st.integers(3, len(token) - 2))
        if token[i] == token[i + 1]:
            return
        bad = token[:i] + token[i + 1] + token[i] + token[i + 2:]
    assert _rejected(bad) in (tokens.MALFORMED, tokens.FORGED)


@props
@given(st.one_of(st.text(max_size=80),
                 st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", min_size=64, max_size=64)
                 .map(lambda s: "GP1" + s)))
@example("GP1" + "A" * 63 + "é")
def test_any_text_is_a_pass_or_token_rejected(text: str) -> None:
    """Protects the scanner path: any scanned text is None, a verified pass, or TokenRejected."""
    token = tokens.extract(text)
    tokens.is_code(text)
    tokens.normalize_code(text)
    if token is None:
        return
    try:
        claims = tokens.read(KEY, "demo", token)
    except tokens.TokenRejected as exc:
        assert exc.reason in (tokens.MALFORMED, tokens.FORGED, tokens.OTHER_SITE)
        return
    raise AssertionError(f"random text verified as a pass: {text!r} → {claims}")


@few
@given(pids)
def test_slip_and_pass_prefixes_never_cross(pid: bytes) -> None:
    """Protects both documents: a slip token under the pass prefix (or back) is refused."""
    slip, visitor = _issue(pid, "slip"), _issue(pid)
    assert _rejected("GP1" + slip[3:]) == tokens.FORGED
    assert _rejected("GS1" + visitor[3:], kind="slip") == tokens.FORGED


def _pass(valid_from: datetime, valid_until: datetime, **extra: object) -> SimpleNamespace:
    fields = {"revoked_at": None, "resident": None, "valid_from": valid_from, "valid_until": valid_until,
              "max_uses": None, "uses": 0, "daily_from": None, "daily_until": None}
    return SimpleNamespace(**(fields | extra))


@props
@given(pids, st.integers(-10 * 24 * 60, 10 * 24 * 60))
def test_expired_or_early_pass_is_rejected(pid: bytes, offset_minutes: int) -> None:
    """Protects the pass window: the window signed in the token decides; outside it the gate says no."""
    claims = tokens.read(KEY, "demo", _issue(pid))
    now = claims.valid_from + timedelta(minutes=offset_minutes)
    verdict = problem(_pass(claims.valid_from, claims.valid_until), now)
    if now < claims.valid_from:
        assert verdict == "not_yet_valid"
    elif now >= claims.valid_until:
        assert verdict == "expired"
    else:
        assert verdict is None
    assert problem(_pass(claims.valid_from, claims.valid_until), now, direction="out") is None
