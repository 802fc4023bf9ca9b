"""Chinese licence plates (GA 36-2018): normalise, validate, classify, fuzzy-match, mask. Pure functions.

Normalisation (``normalise``), in this order:

1. Unicode NFKC (full-width ``ＡＢ１２`` → ``AB12``), then upper case.
2. Separators and invisible characters are dropped: spaces, ``·`` ``•`` ``・`` ``‧`` ``-`` ``_`` ``.`` ``．``,
   zero-width characters.
3. In the serial (every position after the province and the issuing-authority letter) ``O`` → ``0`` and
   ``I`` → ``1``: GA 36 never uses the letters I and O in serials, so these are always misreads.

Validation (``parse``) then classifies the text, or says in one line why it is not a plate:

- ordinary 7 characters: province + authority letter + 5 of ``A-HJ-NP-Z0-9`` (blue small car, yellow large car);
- ordinary with a special last character: 4 serial characters + one of 学 (coach) 挂 (trailer) 警 (police)
  领 (consulate) 港 / 澳 (cross-border, issued as 粤Z);
- new-energy small car, 8 characters: province + letter + ``[DABCEFGHJK]`` + 1 of ``A-HJ-NP-Z0-9`` + 4 digits;
- new-energy large vehicle, 8 characters: province + letter + 5 digits + ``[DABCEFGHJK]``;
- embassy: 使 + 6 digits;
- no plate: empty text, ``_无_`` (what LPR cameras send), 无牌, 无, 未识别, NOPLATE.

Fuzzy matching (``fuzzy_match``) — the rule, written down:

A read matches a known plate when (a) the province character is the same, and either (b1) they have the same
length and differ in exactly one position after the province, where both characters belong to the same
confusable group: {0 O D Q} {8 B} {1 I 7} {2 Z} {5 S} {6 G}; or (b2) the read is one character shorter and
inserting a copy of one of its characters next to itself gives the known plate (a dropped repeated character,
京AA66666 read as 京A6666). The match must be unique: when two known plates match, nothing matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # no I, no O
NEV_LETTERS = "DABCEFGHJK"
SPECIAL_SUFFIX = "学挂警领港澳"
NO_PLATE_TEXTS = frozenset({"", "_无_", "无", "无牌", "无牌车", "未识别", "NOPLATE", "NONE", "UNKNOWN", "_"})
MAX_RAW_CHARS = 32

_SEPARATORS = dict.fromkeys(map(ord, " \t\r\n·•・‧-_.．\u200b\u200c\u200d\u2060\ufeff\u00a0"), None)
_SER = "[A-HJ-NP-Z0-9]"
_P = f"[{PROVINCES}]"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("new_energy", re.compile(f"^{_P}[A-Z][{NEV_LETTERS}]{_SER}[0-9]{{4}}$")),
    ("new_energy_large", re.compile(f"^{_P}[A-Z][0-9]{{5}}[{NEV_LETTERS}]$")),
    ("ordinary", re.compile(f"^{_P}[A-Z]{_SER}{{5}}$")),
    ("coach", re.compile(f"^{_P}[A-Z]{_SER}{{4}}学$")),
    ("trailer", re.compile(f"^{_P}[A-Z]{_SER}{{4}}挂$")),
    ("police", re.compile(f"^{_P}[A-Z]{_SER}{{4}}警$")),
    ("consulate", re.compile(f"^{_P}[A-Z]{_SER}{{4}}领$")),
    ("hong_kong", re.compile(f"^粤Z{_SER}{{4}}港$")),
    ("macau", re.compile(f"^粤Z{_SER}{{4}}澳$")),
    ("embassy", re.compile("^使[0-9]{6}$")),
]

CONFUSABLE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset("0ODQ"), frozenset("8B"), frozenset("1I7"), frozenset("2Z"), frozenset("5S"), frozenset("6G"),
)


class PlateColour(StrEnum):
    unknown = "unknown"
    blue = "blue"
    yellow = "yellow"
    white = "white"
    black = "black"
    green = "green"
    yellow_green = "yellow_green"


#: LPR camera ``colorType`` codes (vzicar-style push) → colour.
CAMERA_COLOURS: dict[int, PlateColour] = {
    0: PlateColour.unknown, 1: PlateColour.blue, 2: PlateColour.yellow, 3: PlateColour.white, 4: PlateColour.black,
    5: PlateColour.green, 6: PlateColour.yellow_green,
}

COLOUR_NAMES_ZH = {"unknown": "未知", "blue": "蓝牌", "yellow": "黄牌", "white": "白牌", "black": "黑牌",
                   "green": "绿牌", "yellow_green": "黄绿牌"}
KIND_NAMES_ZH = {"ordinary": "普通", "new_energy": "新能源小型车", "new_energy_large": "新能源大型车",
                 "coach": "教练车", "trailer": "挂车", "police": "警车", "consulate": "领馆", "hong_kong": "港籍",
                 "macau": "澳籍", "embassy": "使馆", "none": "无牌"}


class PlateError(ValueError):
    """Text that is not a licence plate. The message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Plate:
    """A validated plate (``kind`` = ``none`` for a vehicle without a plate; ``text`` is then empty)."""

    text: str
    kind: str
    colour: PlateColour = PlateColour.unknown

    @property
    def is_none(self) -> bool:
        return self.kind == "none"

    @property
    def province(self) -> str:
        return self.text[:1]


def normalise(raw: str) -> str:
    """Full-width → ASCII, upper case, separators dropped, O/I in the serial → 0/1 (see the module doc)."""
    text = unicodedata.normalize("NFKC", raw).upper().translate(_SEPARATORS)
    if len(text) <= 2:
        return text
    head, serial = text[:2], text[2:]
    return head + serial.replace("O", "0").replace("I", "1")


#: plate colour → the kinds (GA 36) a plate of that colour may be; a colour not listed checks nothing
COLOUR_KINDS: dict[PlateColour, frozenset[str]] = {
    PlateColour.green: frozenset({"new_energy", "new_energy_large"}),  # a camera may call yellow-green green
    PlateColour.yellow_green: frozenset({"new_energy_large"}),
    PlateColour.blue: frozenset({"ordinary"}),
    PlateColour.yellow: frozenset({"ordinary", "coach", "trailer"}),
    PlateColour.white: frozenset({"police"}),
    PlateColour.black: frozenset({"embassy", "consulate", "hong_kong", "macau"}),
}


def colour_fits(kind: str, colour: PlateColour | str) -> bool:
    """Whether a read of plate ``kind`` can be right on a plate of ``colour`` (a green plate read as 7 characters
    is a misread, however valid the 7 characters look)."""
    allowed = COLOUR_KINDS.get(PlateColour(colour)) if colour in PlateColour.__members__.values() else None
    return allowed is None or kind in allowed


def expected_colour(kind: str) -> PlateColour | None:
    return {"new_energy": PlateColour.green, "new_energy_large": PlateColour.yellow_green,
            "police": PlateColour.white, "embassy": PlateColour.black, "consulate": PlateColour.black,
            "hong_kong": PlateColour.black, "macau": PlateColour.black}.get(kind)


def parse(raw: str, colour: PlateColour | str = PlateColour.unknown) -> Plate:
    """Validate and classify. Raises :class:`PlateError` naming the problem (nothing of the input is echoed
    except a short, printable excerpt)."""
    if not isinstance(raw, str):
        raise PlateError(f"plate must be text, got {type(raw).__name__}")
    if len(raw) > MAX_RAW_CHARS:
        raise PlateError(f"plate text of {len(raw)} characters is too long (a plate has 7 or 8)")
    col = PlateColour(colour) if colour in PlateColour.__members__.values() else PlateColour.unknown
    compact = unicodedata.normalize("NFKC", raw).strip().upper()
    if compact in NO_PLATE_TEXTS or compact.replace(" ", "") in NO_PLATE_TEXTS:
        return Plate("", "none", col)
    text = normalise(raw)
    if text in NO_PLATE_TEXTS:
        return Plate("", "none", col)
    bad = sorted({c for c in text if not (c.isascii() and c.isalnum()) and c not in PROVINCES + SPECIAL_SUFFIX
                  and c != "使"})
    if bad:
        shown = "".join(c if c.isprintable() else "?" for c in bad[:5])
        raise PlateError(f"plate contains characters no plate has: {shown!r}")
    if len(text) not in (7, 8):
        raise PlateError(f"plate has {len(text)} characters; a plate has 7 (blue/yellow) or 8 (new-energy)")
    for kind, pat in _PATTERNS:
        if pat.match(text):
            if col is PlateColour.unknown:
                col = expected_colour(kind) or col
            return Plate(text, kind, col)
    if text[0] not in PROVINCES and text[0] != "使":
        raise PlateError(f"plate does not start with a province character (got {text[0]!r})")
    if len(text) == 8:
        raise PlateError("8-character plate is not a new-energy plate (D/F rules: 3rd or last character must be "
                         f"one of {NEV_LETTERS}, with digits where GA 36 puts them)")
    raise PlateError("7-character plate does not follow GA 36 (province, letter, then 5 of A-Z without I/O and 0-9)")


def try_parse(raw: str, colour: PlateColour | str = PlateColour.unknown) -> tuple[Plate | None, str | None]:
    try:
        return parse(raw, colour), None
    except PlateError as exc:
        return None, str(exc)


def _confusable(a: str, b: str) -> bool:
    return any(a in g and b in g for g in CONFUSABLE_GROUPS)


def near(read: str, known: str) -> bool:
    """The fuzzy rule of the module doc for one pair (exact equality is not 'near')."""
    if not read or not known or read[0] != known[0] or read == known:
        return False
    if len(read) == len(known):
        diffs = [i for i, (a, b) in enumerate(zip(read, known, strict=True)) if a != b]
        return len(diffs) == 1 and diffs[0] > 0 and _confusable(read[diffs[0]], known[diffs[0]])
    if len(read) + 1 == len(known):
        for i in range(1, len(read)):
            if read[:i + 1] + read[i] + read[i + 1:] == known:
                return True
    return False


def fuzzy_match(read: str, known: Iterable[str]) -> str | None:
    """The unique known plate ``read`` is a likely misread of, else None (see the rule above)."""
    hits = {k for k in known if near(read, k)}
    return next(iter(hits)) if len(hits) == 1 else None


def fuzzy_candidates(read: str) -> set[str]:
    """Every plate text ``read`` could be a one-step misread of (to look up in an index instead of scanning)."""
    out: set[str] = set()
    if not read:
        return out
    for i in range(1, len(read)):
        for g in CONFUSABLE_GROUPS:
            if read[i] in g:
                out.update(read[:i] + c + read[i + 1:] for c in g if c != read[i])
        out.add(read[:i + 1] + read[i] + read[i + 1:])
    out.discard(read)
    return {c for c in out if near(read, c)}


def mask(text: str) -> str:
    """A plate for people who do not need it: province + letter, the last character, the rest ``*``."""
    if len(text) <= 3:
        return "*" * len(text)
    return text[:2] + "*" * (len(text) - 3) + text[-1]


def display(text: str) -> str:
    """``沪A12345`` → ``沪A·12345`` (how it is printed on the plate)."""
    return f"{text[:2]}·{text[2:]}" if len(text) >= 7 and text[0] != "使" else text
