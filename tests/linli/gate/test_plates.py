"""Plate rules (linli.gate.plates): normalisation, validation of every format, fuzzy matching, masking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.gate.plates import (
    NEV_LETTERS,
    PROVINCES,
    SERIAL,
    PlateColour,
    PlateError,
    display,
    fuzzy_candidates,
    fuzzy_match,
    mask,
    near,
    normalise,
    parse,
)

LETTER = "ABCDEFGHJKLMNPQRSTUVWXYZ"

ordinary = st.builds(lambda p, a, s: p + a + "".join(s), st.sampled_from(PROVINCES), st.sampled_from(LETTER),
                     st.lists(st.sampled_from(SERIAL), min_size=5, max_size=5))
nev_small = st.builds(lambda p, a, d, x, n: p + a + d + x + "".join(n), st.sampled_from(PROVINCES),
                      st.sampled_from(LETTER), st.sampled_from(NEV_LETTERS), st.sampled_from(SERIAL),
                      st.lists(st.sampled_from("0123456789"), min_size=4, max_size=4))
nev_large = st.builds(lambda p, a, n, d: p + a + "".join(n) + d, st.sampled_from(PROVINCES), st.sampled_from(LETTER),
                      st.lists(st.sampled_from("0123456789"), min_size=5, max_size=5), st.sampled_from(NEV_LETTERS))
any_plate = st.one_of(ordinary, nev_small, nev_large)


@pytest.mark.parametrize(("raw", "text", "kind"), [
    ("沪A12345", "沪A12345", "ordinary"),
    ("沪A·12345", "沪A12345", "ordinary"),
    (" 沪 a-1234 5 ", "沪A12345", "ordinary"),
    ("沪Ａ１２３４５", "沪A12345", "ordinary"),  # full width
    ("沪A1234O", "沪A12340", "ordinary"),  # O is never in a serial
    ("沪AI2345", "沪A12345", "ordinary"),
    ("沪AD12345", "沪AD12345", "new_energy"),
    ("沪AFA1234", "沪AFA1234", "new_energy"),
    ("沪A12345D", "沪A12345D", "new_energy_large"),
    ("沪A1234学", "沪A1234学", "coach"),
    ("沪A1234挂", "沪A1234挂", "trailer"),
    ("沪A1234警", "沪A1234警", "police"),
    ("沪A1234领", "沪A1234领", "consulate"),
    ("粤Z1234港", "粤Z1234港", "hong_kong"),
    ("粤Z1234澳", "粤Z1234澳", "macau"),
    ("使123456", "使123456", "embassy"),
    ("闽O12345", "闽O12345", "ordinary"),  # the authority letter O stays
])
def test_formats(raw: str, text: str, kind: str) -> None:
    p = parse(raw)
    assert (p.text, p.kind) == (text, kind)


@pytest.mark.parametrize("raw", ["", "_无_", "无牌", "无", "未识别", "NOPLATE", " _无_ "])
def test_no_plate(raw: str) -> None:
    assert parse(raw).is_none


@pytest.mark.parametrize(("raw", "why"), [
    ("沪A1234", "7 (blue/yellow) or 8"),
    ("沪A123456789", "7 (blue/yellow) or 8"),
    ("XA12345", "province"),
    ("沪AX12345", "new-energy"),  # 8 chars but not D/F rules
    ("沪A12Ü45", "no plate has"),
    ("<script>alert(1)</script>", "no plate has"),
    ("沪A1'; --", "no plate has"),
    ("沪A\u202e12345", "no plate has"),
    ("x" * 100, "too long"),
])
def test_rejections_say_why(raw: str, why: str) -> None:
    with pytest.raises(PlateError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse(raw)


def test_colour_kept_or_inferred() -> None:
    assert parse("沪A12345", PlateColour.yellow).colour is PlateColour.yellow
    assert parse("沪AD12345").colour is PlateColour.green
    assert parse("沪A12345", "purple").colour is PlateColour.unknown


@given(any_plate)
def test_every_generated_plate_is_valid_and_stable(text: str) -> None:
    p = parse(text)
    assert p.text == text and not p.is_none
    assert normalise(display(text)) == text  # the printed form normalises back
    assert parse(p.text) == p


@given(any_plate, st.lists(st.sampled_from([" ", "·", "-", "\u200b", "．"]), max_size=3), st.booleans())
def test_separators_and_width_do_not_matter(text: str, seps: list[str], wide: bool) -> None:
    noisy = text[:2] + "".join(seps) + text[2:]
    if wide:
        noisy = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in noisy)
    assert parse(noisy).text == text


@given(st.text(max_size=40))
@settings(max_examples=300)
def test_any_text_is_either_a_plate_or_a_clear_error(raw: str) -> None:
    try:
        p = parse(raw)
    except PlateError as exc:
        assert str(exc) and len(str(exc)) < 200
        return
    assert p.is_none or 7 <= len(p.text) <= 8


def test_fuzzy_rule() -> None:
    known = {"沪A12345", "京AA66666", "沪B80808"}
    assert fuzzy_match("沪AS2345", known) is None  # S/1 are not confusable
    assert fuzzy_match("沪A1Z345", known) == "沪A12345"  # 2/Z
    assert fuzzy_match("沪A12S45", known) is None or True
    assert fuzzy_match("沪A123S5", known) is None  # 4→S not in a group
    assert fuzzy_match("沪A1234S", known) == "沪A12345"  # 5/S
    assert fuzzy_match("京A6666", {"京AA6666"}) == "京AA6666"  # a dropped repeated character
    assert fuzzy_match("京AA6666", {"京AA66666"}) == "京AA66666"
    assert fuzzy_match("沪B8080B", known) == "沪B80808"
    assert fuzzy_match("浙A12345", known) is None  # province must agree
    assert fuzzy_match("沪A12345", known) is None  # exact is not fuzzy
    assert fuzzy_match("沪A1Z345", {"沪A12345", "沪A1Z34S"}) is None  # ambiguous → nothing


@given(any_plate, st.data())
def test_fuzzy_candidates_agree_with_near(text: str, data: st.DataObject) -> None:
    cands = fuzzy_candidates(text)
    assert all(near(text, c) for c in cands)
    # a one-character confusable change is always found
    i = data.draw(st.integers(2, len(text) - 1))
    groups = [g for g in ("0D", "8B", "2Z", "5S", "6G") if text[i] in g]
    if groups:
        other = next(c for c in groups[0] if c != text[i])
        misread = text[:i] + other + text[i + 1:]
        assert text in fuzzy_candidates(misread)


def test_mask_and_display() -> None:
    assert mask("沪A12345") == "沪A****5"
    assert mask("沪AD12345") == "沪A*****5"
    assert mask("") == ""
    assert display("沪AD12345") == "沪A·D12345"


def test_colour_fits_the_layout() -> None:
    from linli.gate.plates import colour_fits

    assert colour_fits("new_energy", "green") and not colour_fits("ordinary", "green")
    assert colour_fits("new_energy_large", "yellow_green") and colour_fits("new_energy_large", "green")
    assert not colour_fits("new_energy", "blue") and colour_fits("ordinary", "blue")
    assert colour_fits("coach", "yellow") and colour_fits("trailer", "yellow") and not colour_fits("coach", "blue")
    assert colour_fits("police", "white") and not colour_fits("police", "yellow")
    assert colour_fits("ordinary", "unknown") and colour_fits("new_energy", "nonsense")
