"""Plate rules (linli.gate.plates), exactly: the fuzzy rule as a property in both directions (every one-confusable
misread and every dropped-repeated-character misread of a known plate is found, and nothing else is), the index
candidates agreeing with it, and the exact outcome or message of parsing, normalising, masking and display."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.gate.plates import (
    NEV_LETTERS,
    PROVINCES,
    SERIAL,
    Plate,
    PlateColour,
    PlateError,
    display,
    fuzzy_candidates,
    fuzzy_match,
    mask,
    near,
    normalise,
    parse,
    try_parse,
)

# the rule of the module doc, written out again here (not imported): the tests check the code against it
GROUPS = ("0ODQ", "8B", "1I7", "2Z", "5S", "6G")
LETTER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGIT = "0123456789"


def misreads(known: str) -> set[str]:
    """Every read the fuzzy rule accepts for ``known``: one confusable character after the province, or one of
    two equal neighbouring characters after the province dropped."""
    out = set()
    for i in range(1, len(known)):
        for g in GROUPS:
            if known[i] in g:
                out |= {known[:i] + c + known[i + 1:] for c in g if c != known[i]}
        if i + 1 < len(known) and known[i] == known[i + 1]:
            out.add(known[:i] + known[i + 1:])
    return out


ordinary = st.builds(lambda p, a, s: p + a + "".join(s), st.sampled_from(PROVINCES), st.sampled_from(LETTER),
                     st.lists(st.sampled_from(SERIAL), min_size=5, max_size=5))
nev_small = st.builds(lambda p, a, d, x, n: p + a + d + x + "".join(n), st.sampled_from(PROVINCES),
                      st.sampled_from(LETTER), st.sampled_from(NEV_LETTERS), st.sampled_from(SERIAL),
                      st.lists(st.sampled_from(DIGIT), min_size=4, max_size=4))
nev_large = st.builds(lambda p, a, n, d: p + a + "".join(n) + d, st.sampled_from(PROVINCES), st.sampled_from(LETTER),
                      st.lists(st.sampled_from(DIGIT), min_size=5, max_size=5), st.sampled_from(NEV_LETTERS))
# plates full of repeats and confusable characters: 京AA66666, 沪BB88888, 粤D00DD0 ...
repetitive = st.builds(lambda p, a, s: p + a + a + "".join(s), st.sampled_from(PROVINCES), st.sampled_from("ABDGQSZ"),
                       st.lists(st.sampled_from("0682D5"), min_size=4, max_size=5))
plates = st.one_of(ordinary, nev_small, nev_large, repetitive)
# what a reader may produce from a known plate: the rule's misreads, and near misses that must not match
ALPHABET = "京沪粤ABDGQSZIO0125678"


@st.composite
def read_of(draw: st.DrawFn, known: str) -> str:
    how = draw(st.sampled_from(["misread", "substitute", "delete", "insert", "swap", "province", "two"]))
    i = draw(st.integers(0, len(known) - 1))
    c = draw(st.sampled_from(ALPHABET))
    if how == "misread" and misreads(known):
        return draw(st.sampled_from(sorted(misreads(known))))
    if how == "substitute":
        return known[:i] + c + known[i + 1:]
    if how == "delete":
        return known[:i] + known[i + 1:]
    if how == "insert":
        return known[:i] + c + known[i:]
    if how == "swap" and i + 1 < len(known):
        return known[:i] + known[i + 1] + known[i] + known[i + 2:]
    if how == "province":
        return c + known[1:]
    j = draw(st.integers(0, len(known) - 1))
    d = draw(st.sampled_from(ALPHABET))
    once = known[:i] + c + known[i + 1:]
    return once[:j] + d + once[j + 1:]


@given(plates, st.data())
@settings(max_examples=150)
def test_every_misread_of_a_known_plate_is_found(known: str, data: st.DataObject) -> None:
    for read in misreads(known):
        assert near(read, known), read
        assert known in fuzzy_candidates(read), read
        assert fuzzy_match(read, [known]) == known
    # and in a list with unrelated plates too
    other = data.draw(plates)
    if other != known and not (misreads(known) & misreads(other)) and known not in misreads(other):
        for read in misreads(known):
            if read != other:
                assert fuzzy_match(read, [known, other]) == known


@given(st.one_of(plates, st.text(ALPHABET, min_size=1, max_size=9)), st.data())
@settings(max_examples=500)
def test_nothing_else_matches(known: str, data: st.DataObject) -> None:
    read = data.draw(read_of(known))
    expected = read in misreads(known)
    assert near(read, known) == expected, (read, known)
    assert (known in fuzzy_candidates(read)) == expected, (read, known)
    assert fuzzy_match(read, [known]) == (known if expected else None)


@given(st.text(ALPHABET, max_size=9))
@settings(max_examples=300)
def test_candidates_are_exactly_the_plates_a_read_is_a_misread_of(read: str) -> None:
    cands = fuzzy_candidates(read)
    assert all(read in misreads(c) for c in cands)
    # every way back: a confusable character undone, or one character after the province doubled
    back = {read[:i] + c + read[i + 1:] for i in range(1, len(read)) for g in GROUPS if read[i] in g for c in g
            if c != read[i]} | {read[:i] + read[i] + read[i:] for i in range(1, len(read))}
    assert cands == {k for k in back if read in misreads(k)}


@given(st.lists(plates, min_size=2, max_size=4, unique=True), st.data())
@settings(max_examples=100)
def test_a_read_matching_two_known_plates_matches_none(known: list[str], data: st.DataObject) -> None:
    read = data.draw(read_of(known[0]))
    hits = {k for k in known if read in misreads(k)}
    assert fuzzy_match(read, known) == (hits.pop() if len(hits) == 1 else None)


@pytest.mark.parametrize(("read", "known"), [
    ("京AA6666", "京AA66666"),  # new-energy 京AA66666 read as the 7-character 京AA6666
    ("京A66666", "京AA66666"),  # the authority letter doubled
    ("沪Q12345", "沪D12345"),  # a confusable authority letter (D/Q) is a misread too
    ("沪A1234S", "沪A12345"),
    ("沪A12347", "沪A1234I"),
])
def test_rule_examples(read: str, known: str) -> None:
    assert near(read, known) and fuzzy_match(read, [known]) == known and known in fuzzy_candidates(read)


@pytest.mark.parametrize(("read", "known"), [
    ("京A6666", "京AA66666"),  # two characters dropped is not one misread
    ("京AA6666", "京AA666666"),
    ("京A1234", "京京A1234"),  # the province is never the dropped character
    ("京A1234", "京AB1234"),  # the dropped character was not a repeat
    ("沪A12345", "沪A12345"),  # exact is not fuzzy
    ("浙A12345", "沪A12345"),  # another province
    ("沪A123S5", "沪A12345"),  # 4/S are not confusable
    ("沪A1Z3S5", "沪A12345"),  # two confusable characters
    ("", "沪A12345"),
    ("沪A12345", ""),
])
def test_rule_non_matches(read: str, known: str) -> None:
    assert not near(read, known) and fuzzy_match(read, [known]) is None


def test_no_candidates_for_nothing() -> None:
    assert fuzzy_candidates("") == set()
    assert fuzzy_candidates("沪") == set()


# ------------------------------------------------------------------ parsing, exactly


@pytest.mark.parametrize(("raw", "colour", "plate"), [
    ("沪A12345", "unknown", Plate("沪A12345", "ordinary", PlateColour.unknown)),
    ("沪A12345", "blue", Plate("沪A12345", "ordinary", PlateColour.blue)),
    ("沪AD12345", "unknown", Plate("沪AD12345", "new_energy", PlateColour.green)),
    ("沪A12345D", "unknown", Plate("沪A12345D", "new_energy_large", PlateColour.yellow_green)),
    ("沪A1234警", "unknown", Plate("沪A1234警", "police", PlateColour.white)),
    ("沪A1234领", "unknown", Plate("沪A1234领", "consulate", PlateColour.black)),
    ("粤Z1234港", "unknown", Plate("粤Z1234港", "hong_kong", PlateColour.black)),
    ("粤Z1234澳", "unknown", Plate("粤Z1234澳", "macau", PlateColour.black)),
    ("使123456", "unknown", Plate("使123456", "embassy", PlateColour.black)),
    ("沪A1234学", "unknown", Plate("沪A1234学", "coach", PlateColour.unknown)),
    ("沪A1234挂", "yellow", Plate("沪A1234挂", "trailer", PlateColour.yellow)),
    ("沪A12345", "purple", Plate("沪A12345", "ordinary", PlateColour.unknown)),
    ("沪A12345" + " " * 25, "unknown", Plate("沪A12345", "ordinary", PlateColour.unknown)),  # 32 characters
])
def test_parse_exact(raw: str, colour: str, plate: Plate) -> None:
    assert parse(raw, colour) == plate
    assert try_parse(raw, colour) == (plate, None)


@pytest.mark.parametrize("raw", ["", "_无_", " _无_ ", "-无-", "无牌", "无 牌", "无牌车", "未识别", "noplate", "NONE",
                                 "unknown", "un known", "_"])
def test_no_plate_texts_keep_the_colour(raw: str) -> None:
    assert parse(raw, "yellow") == Plate("", "none", PlateColour.yellow)
    assert parse(raw) == Plate("", "none", PlateColour.unknown)


@pytest.mark.parametrize(("raw", "message"), [
    (5, "plate must be text, got int"),
    (None, "plate must be text, got NoneType"),
    ("沪A12345" + " " * 26, "plate text of 33 characters is too long (a plate has 7 or 8)"),
    ("沪Aäöüéèàç", "plate contains characters no plate has: 'ÀÄÇÈÉ'"),  # the first five, sorted
    ("沪A\u202e12345", "plate contains characters no plate has: '?'"),  # not printable: not echoed
    ("沪A1234", "plate has 6 characters; a plate has 7 (blue/yellow) or 8 (new-energy)"),
    ("XA12345", "plate does not start with a province character (got 'X')"),
    ("AB123456", "plate does not start with a province character (got 'A')"),
    ("使12345A", "7-character plate does not follow GA 36 (province, letter, then 5 of A-Z without I/O and 0-9)"),
    ("使1234567", "8-character plate is not a new-energy plate (D/F rules: 3rd or last character must be one of "
                  "DABCEFGHJK, with digits where GA 36 puts them)"),
    ("沪AX12345", "8-character plate is not a new-energy plate (D/F rules: 3rd or last character must be one of "
                  "DABCEFGHJK, with digits where GA 36 puts them)"),
    ("沪1A2345", "7-character plate does not follow GA 36 (province, letter, then 5 of A-Z without I/O and 0-9)"),
])
def test_rejections_exact(raw: object, message: str) -> None:
    with pytest.raises(PlateError) as exc:
        parse(raw)  # type: ignore[arg-type]
    assert str(exc.value) == message
    assert try_parse(raw) == (None, message)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "text"), [
    ("沪AO", "沪A0"), ("沪AI", "沪A1"), ("AO", "AO"), ("O", "O"), ("", ""),
    ("闽O1O2I", "闽O1021"), ("沪a·1２-3 4.5", "沪A12345"), ("\u200b沪A\ufeff12345\u00a0", "沪A12345"),
])
def test_normalise_exact(raw: str, text: str) -> None:
    assert normalise(raw) == text


@pytest.mark.parametrize(("text", "masked"), [
    ("", ""), ("沪", "*"), ("沪A", "**"), ("沪A1", "***"), ("沪A12", "沪A*2"), ("沪A12345", "沪A****5"),
    ("沪AD12345", "沪A*****5"),
])
def test_mask_exact(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(("text", "shown"), [
    ("沪A12345", "沪A·12345"), ("沪AD12345", "沪A·D12345"), ("使123456", "使123456"), ("沪A1234", "沪A1234"),
    ("沪使12345", "沪使·12345"),
])
def test_display_exact(text: str, shown: str) -> None:
    assert display(text) == shown
