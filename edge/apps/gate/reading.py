"""Never trust one read: one plate read from several looks at it, and a vehicle's plate from several frames.

Within a frame (``FrameReader``), every plate the detector finds is read from several crops — the text band cut
at three heights and widths, all rectified from the detected corners, and, for a plate as tall as a double-row
one, the two rows cut apart and set side by side (the upper 5/12 and the lower 2/3, as the reader only knows one
row). A crop's text counts only when it is a GA 36 plate *and* fits the plate's colour:

============== =====================================================================
colour         plate kinds it may carry
============== =====================================================================
green          small new-energy (8 characters, D/F third); large too (its yellow third may be hidden)
yellow_green   large new-energy (8 characters, D/F last)
blue           ordinary (7 characters)
yellow         ordinary, 学 coach, 挂 trailer (double-row yellow plates read as one)
white          警 police
black          embassy, consulate, Hong Kong / Macau
unknown, IR    any, but one layout only and 0.85 of the vote at every position (nothing checks the layout)
============== =====================================================================

(``linli.gate.plates.COLOUR_KINDS``; the lane applies the same check to an LPR camera's pushed colour),
and every character, the province above all (the reader confuses provinces most), is read with at least the
configured confidence. The crops vote; the frame's read is the text with most of the vote, or nothing.

Across frames (``VehicleVote``), a vehicle's plate is decided when ``votes`` frames read the same text and no
other text has more than ``max_dissent`` of the weight. Two texts with real support make the read **unsure**: the
lane hands it to the guard (or waits for another frame) instead of opening on a guess.

Colour (``plate_colour``): the hue of the plate background (the most common saturated hue of the crop), with
yellow-green told apart by its yellow left third and green rest; an infra-red night frame (no colour in the whole
frame) is ``unknown`` with ``night`` set.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from linli.gate.plates import COLOUR_KINDS, PlateColour, colour_fits, try_parse

from .recognizer import PlateRecognizer, _order_corners

#: (band, pad) of the single-row looks: the text band cut at three heights and widths
SINGLE_LOOKS = ((0.12, 0.01), (0.06, 0.03), (0.17, 0.0))
DOUBLE_MIN_RATIO = 0.40  # plate height / width from the corners: single rows are 0.32, double rows 0.5
#: the second, full-size look runs only when the picture changed by this much (mean grey levels of a thumbnail)
MOTION_THUMB = (64, 36)
MOTION_MIN = 3.0


@dataclass(frozen=True)
class Thresholds:
    """What the looks must reach (tuned on the first generator's scenes only, bench/gate.py)."""

    min_char: float = 0.7  # a look with a character below this does not vote (its doubt would only blur the vote)
    position_share: float = 0.75  # of the votes at every position for the winning character
    province_share: float = 0.8  # the same for the province character (the reader confuses provinces most)
    position_conf: float = 0.7  # mean confidence of the winning character at every position
    unchecked_share: float = 0.85  # position share when no colour could check the layout (IR night)
    max_dissent: float = 0.2  # of the weight another layout (length, kind) may have
    votes: int = 2  # frames (for a vehicle) that must have voted for the plate


def _dominant(mask: np.ndarray, hues: np.ndarray) -> str | None:
    """The hue band (yellow, green, blue) of at least half of the ``mask``ed pixels, or None."""
    vals = hues[mask]
    if vals.size < 20:
        return None
    counts = {"yellow": int(((vals >= 12) & (vals < 34)).sum()), "green": int(((vals >= 34) & (vals < 90)).sum()),
              "blue": int(((vals >= 90) & (vals < 135)).sum())}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] >= 0.5 * vals.size else None


def plate_colour(crop: np.ndarray) -> PlateColour:
    """The plate's background colour from its crop (BGR).

    A dark crop (dusk) counts its saturated pixels against its own brightness, not a fixed level; a small
    new-energy plate's gradient (whitish at the top, green below) is green; a washed-out plate whose faint colour
    is green is ``unknown``, not white (so its layout is not checked against the wrong colour)."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    lit = v > min(50.0, 0.5 * float(np.percentile(v, 75)))
    sat = (s > 70) & lit
    if sat.mean() < 0.25:
        rows = crop.shape[0]
        lower = sat[rows * 6 // 10:]
        if lower.mean() >= 0.3 and _dominant(lower, h[rows * 6 // 10:]) == "green":
            return PlateColour.green
        light = float(np.median(v))
        if light > 150 and float(np.median(s)) < 40:
            faint = (s > 15) & lit
            if faint.mean() >= 0.4 and _dominant(faint, h) == "green":
                return PlateColour.unknown
            return PlateColour.white
        if light < 60:
            return PlateColour.black
        return PlateColour.unknown
    whole = _dominant(sat, h)
    w = crop.shape[1]
    left = _dominant(sat[:, : w * 3 // 10], h[:, : w * 3 // 10])
    right = _dominant(sat[:, w * 4 // 10:], h[:, w * 4 // 10:])
    if left == "yellow" and right == "green":
        return PlateColour.yellow_green
    return {"yellow": PlateColour.yellow, "green": PlateColour.green, "blue": PlateColour.blue}.get(
        whole or "", PlateColour.unknown)


def is_night(frame: np.ndarray) -> bool:
    """An infra-red (grey) frame: next to no colour anywhere."""
    small = cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA)
    return float(cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[..., 1].mean()) < 12


def _warp(frame: np.ndarray, c: np.ndarray, top: float, bottom: float, pad: float, out_h: int | None = None
          ) -> np.ndarray:
    """The part of the plate from ``top`` to ``1 - bottom`` of its height, ``pad`` wider each side, flattened."""
    u = ((c[1] - c[0]) + (c[2] - c[3])) / 2
    v = ((c[3] - c[0]) + (c[2] - c[1])) / 2
    src = np.array([c[0] - pad * u + top * v, c[1] + pad * u + top * v,
                    c[2] + pad * u - bottom * v, c[3] - pad * u - bottom * v], np.float32)
    W = max(8, round(float(np.linalg.norm(u)) * (1 + 2 * pad)))
    H = out_h or max(4, round(float(np.linalg.norm(v)) * (1 - top - bottom)))
    dst = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(frame, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _double_rows(frame: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
    """The upper rows (province + letter) and the lower rows (5 characters) of a double-row plate, two cuts each.

    The detector's box of a double-row plate often misses the top of the upper row, so the plate is rectified with
    a margin and its rows found from the bright background (yellow, and bright under infra-red too): GA 36 puts the
    upper row at 15-75 mm and the lower at 90-200 mm of 220 mm."""
    W, H = 440, 300
    margin = 0.3
    v = c[3] - c[0]
    src = np.array([c[0] - margin * v, c[1] - margin * v, c[2] + 0.1 * v, c[3] + 0.1 * v], np.float32)
    m = cv2.getPerspectiveTransform(src, np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float32))
    flat = cv2.warpPerspective(frame, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY)
    _t, bright = cv2.threshold(grey[:, W // 10: W * 9 // 10], 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    rows = np.flatnonzero(bright.mean(axis=1) > 0.3)
    if rows.size < 20:
        return []
    top, bottom = int(rows[0]), int(rows[-1])
    h = bottom - top
    if h < 20:
        return []
    out = []
    for a, b, x0, x1 in ((0.05, 0.36, 0.2, 0.8), (0.03, 0.38, 0.18, 0.82)):
        upper = flat[top + round(a * h): top + round(b * h), round(x0 * W): round(x1 * W)]
        # its characters are 80 x 60 mm: narrowed to the single-row shape the reader knows (45 x 90 mm)
        out.append(cv2.resize(upper, (max(8, round(upper.shape[1] * 0.45)), upper.shape[0]),
                              interpolation=cv2.INTER_AREA))
    for a, b in ((0.39, 0.93), (0.37, 0.95)):
        out.append(flat[top + round(a * h): top + round(b * h), :])
    return out


def looks(frame: np.ndarray, corners: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """The single-row crops of one plate, the (upper, lower) row crops when it is tall enough to be a double-row
    plate (empty otherwise), and whether it is."""
    c = _order_corners(corners.astype(np.float32))
    width = float(np.linalg.norm(((c[1] - c[0]) + (c[2] - c[3])) / 2))
    height = float(np.linalg.norm(((c[3] - c[0]) + (c[2] - c[1])) / 2))
    double = height / max(1.0, width) >= DOUBLE_MIN_RATIO
    crops = [_warp(frame, c, band, band, pad) for band, pad in SINGLE_LOOKS]
    rows: list[np.ndarray] = []
    if double:
        rows = _double_rows(frame, c)
    return crops, rows, double


@dataclass(frozen=True)
class Look:
    """One crop's read: ``kind`` is None when it is not a plate; ``fits`` when its layout fits the colour."""

    text: str
    confs: tuple[float, ...]
    kind: str | None
    fits: bool
    checked: bool = True  # the plate's colour was known, so the layout was checked against it

    @property
    def weight(self) -> float:
        return float(np.mean(self.confs)) if self.confs else 0.0


@dataclass(frozen=True)
class Ballot:
    """What a set of looks (one frame's, or a vehicle's) says together."""

    status: Literal["read", "unsure", "none"]
    text: str | None
    confidence: float
    candidates: tuple[str, ...] = ()
    reason: str = ""


def count(looks: list[tuple[int, Look]], t: Thresholds, need_frames: int) -> Ballot:
    """Per-character vote of ``(frame number, look)`` pairs; see the module doc."""
    valid = [(f, lk) for f, lk in looks if lk.kind is not None and lk.fits and len(lk.confs) == len(lk.text)]
    voting = [(f, lk) for f, lk in valid if min(lk.confs) >= t.min_char]
    # what the guard is shown: every plate a look read, weak ones too (they do not vote)
    ranked = [lk.text for _, lk in sorted(valid, key=lambda p: -p[1].weight)]
    candidates = tuple(dict.fromkeys(ranked))[:3]
    if not valid:
        return Ballot("none", None, 0.0, (), "no plate read")
    if not voting:
        return Ballot("unsure", None, 0.0, candidates, "characters uncertain")
    layouts: dict[tuple[int, str], float] = defaultdict(float)
    for _, lk in voting:
        layouts[(len(lk.text), lk.kind or "")] += lk.weight
    layout, lw = max(layouts.items(), key=lambda kv: kv[1])
    total = sum(layouts.values())
    unchecked = not any(lk.checked for _, lk in voting)  # no colour (IR night, washed out): stricter
    if total - lw > (0.0 if unchecked else t.max_dissent) * total + 1e-9:
        return Ballot("unsure", None, 0.0, candidates, "layouts disagree")
    mine = [(f, lk) for f, lk in voting if (len(lk.text), lk.kind) == layout]
    text, shares, confs = [], [], []
    for i in range(layout[0]):
        votes: dict[str, float] = defaultdict(float)
        doubt = 0.0  # what the looks were unsure of counts against every character
        for _, lk in mine:
            votes[lk.text[i]] += lk.confs[i]
            doubt += 1.0 - lk.confs[i]
        ch, w = max(votes.items(), key=lambda kv: kv[1])
        text.append(ch)
        shares.append(w / (sum(votes.values()) + doubt))
        confs.append(w / sum(1 for _, lk in mine if lk.text[i] == ch))
    got = "".join(text)
    plate, _ = try_parse(got)
    if plate is None or plate.kind != layout[1]:
        return Ballot("unsure", None, 0.0, candidates, "characters voted into no plate")
    frames = len({f for f, lk in mine})
    if shares[0] < t.province_share:
        return Ballot("unsure", None, 0.0, candidates, "province uncertain")
    if min(shares) < (max(t.position_share, t.unchecked_share) if unchecked else t.position_share) \
            or min(confs) < t.position_conf:
        return Ballot("unsure", None, 0.0, candidates, "characters uncertain")
    if frames < need_frames:
        return Ballot("unsure", None, 0.0, (got,), "waiting for another frame")
    return Ballot("read", got, round(min(confs) * min(shares), 3), (got,))


@dataclass(frozen=True)
class FrameRead:
    """One frame's looks at its best plate, with what they say on their own (``ballot``)."""

    looks: tuple[Look, ...]
    colour: PlateColour
    night: bool
    double: bool
    ballot: Ballot
    corners: np.ndarray | None = None
    det_score: float = 0.0

    @property
    def text(self) -> str | None:
        return self.ballot.text

    @property
    def seen(self) -> bool:
        """Something plate-like was found (whether or not it was read)."""
        return self.corners is not None


class FrameReader:
    def __init__(self, recognizer: PlateRecognizer, thresholds: Thresholds | None = None, max_plates: int = 2
                 ) -> None:
        self.recognizer = recognizer
        self.t = thresholds or Thresholds()
        self.max_plates = max_plates
        self.second_looks = 0  # frames searched again at det_fallback_side
        self._searched: np.ndarray | None = None  # thumbnail of the last frame searched again in vain

    def judge(self, text: str, confs: tuple[float, ...], colour: PlateColour) -> Look:
        plate, _ = try_parse(text)
        if plate is None or plate.is_none or plate.text != text:
            return Look(text, confs, None, False)
        return Look(plate.text, confs, plate.kind, colour_fits(plate.kind, colour), colour in COLOUR_KINDS)

    def _detect(self, frame: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """The detector on the scaled frame; when that finds no plate, once more at ``det_fallback_side`` (small,
        distant plates, which the scaled frame leaves too few pixels) — unless the picture has not changed since
        the last second look that found nothing (an empty lane is not searched at full size frame after frame)."""
        rec = self.recognizer
        dets = rec.detect(frame)
        side = rec.det_fallback_side
        if dets or side <= 0 or max(frame.shape[:2]) <= rec.det_max_side * 1.1:
            return dets
        thumb = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), MOTION_THUMB, interpolation=cv2.INTER_AREA
                           ).astype(np.float32)
        if self._searched is not None and float(np.abs(thumb - self._searched).mean()) < MOTION_MIN:
            return []
        dets = rec.detect(frame, side)
        self.second_looks += 1
        self._searched = None if dets else thumb
        return dets

    def read(self, frame: np.ndarray) -> FrameRead:
        night = is_night(frame)
        dets = self._detect(frame)[: self.max_plates]
        if not dets:
            return FrameRead((), PlateColour.unknown, night, False, Ballot("none", None, 0.0))
        best: FrameRead | None = None
        for score, _box, corners in dets:
            crops, rows, double = looks(frame, corners)
            colour = PlateColour.unknown if night else plate_colour(crops[0])
            reads = self.recognizer.read_chars(crops + rows)
            judged = [self.judge(t, c, colour) for t, c in reads[: len(crops)]]
            if rows:
                ups, lows = reads[len(crops): len(crops) + 2], reads[len(crops) + 2:]
                for (ut, uc), (lt, lc) in zip(ups, lows, strict=True):
                    if len(ut) == 2 and len(lt) == 5:
                        judged.append(self.judge(ut + lt, uc + lc, colour))
            fr = FrameRead(tuple(judged), colour, night, double, count(list(enumerate(judged)), self.t, 1),
                           corners, score)
            if best is None or (fr.ballot.status == "read" and (best.ballot.status != "read"
                                                                or fr.ballot.confidence > best.ballot.confidence)):
                best = fr
        assert best is not None
        return best


@dataclass
class VehicleVote:
    """The frames of one vehicle's approach; ``verdict()`` is what they read together."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    reads: list[FrameRead] = field(default_factory=list)

    def add(self, fr: FrameRead) -> None:
        self.reads.append(fr)

    def verdict(self) -> Ballot:
        pairs = [(n, lk) for n, r in enumerate(self.reads) for lk in r.looks]
        return count(pairs, self.thresholds, self.thresholds.votes)

    def colour(self) -> PlateColour:
        cols = Counter(r.colour for r in self.reads if r.colour is not PlateColour.unknown)
        return cols.most_common(1)[0][0] if cols else PlateColour.unknown

    def best(self) -> FrameRead | None:
        seen = [r for r in self.reads if r.seen]
        return max(seen, key=lambda r: (r.ballot.confidence, r.det_score)) if seen else None
