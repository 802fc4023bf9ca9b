"""IoU tracker: one identity per object across the frames the detector looked at.

Greedy matching within the same class *family* (after the class map; e.g. ``ebike`` and ``bicycle`` are both
two-wheelers, so one object the model calls by either name keeps one track). A detection continues a track when
their boxes overlap by IoU >= ``iou`` or when one box lies mostly inside the other (``contain`` of the smaller box:
a partial box of a half-hidden object). An unmatched detection starts a track; a track not matched for
``max_missed`` detected frames ends. Each track keeps the scores of its last frames (0 for a frame where it was not
seen), its score mass per class and its accumulated evidence (:mod:`edge.vision.evidence`).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.vision.config import TrackerConfig
from edge.vision.detection import Box, Detection, contain_matrix, iou_matrix


@dataclass
class Track:
    id: int
    cls: str
    label: str
    box: Box
    score: float  # last matched score
    first_ts: float  # capture time of the first frame it was seen in
    last_ts: float  # capture time of the last frame it was seen in
    window: deque[float]  # scores of the last M detected frames (0.0 = not seen)
    best_score: float = 0.0
    hits: int = 1
    missed: int = 0
    confirmed_ts: float | None = None  # set by the confirmer
    first_confirming_ts: float | None = None  # first frame that counted towards confirmation
    detection: Detection | None = None  # the detection of the last matched frame
    history: list[float] = field(default_factory=list)  # every matched score (bounded), for events
    mass: dict[str, float] = field(default_factory=dict)  # summed score per class (after the class map)
    evidence: float = 0.0  # accumulated evidence (edge.vision.evidence)
    seen_frames: int = 0  # frames that added evidence
    updated_ts: float = 0.0  # capture time of the last frame folded in (seen or not)
    inside: bool = True  # the last box's foot point is on the car floor (set by the kind's pipeline)
    first_inside_ts: float | None = None  # first frame seen on the floor
    votes: dict[str, float] = field(default_factory=dict)  # second stage: summed class probability over its crops
    agree: dict[str, int] = field(default_factory=dict)  # second stage: crops whose top class was each class
    crops: int = 0  # second stage: crops classified
    crop: np.ndarray | None = None  # second stage: the last crop (for the block's evidence)
    verdict: str | None = None  # second stage: the class it settled on (None: not settled, the detector decides)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_ts is not None

    @property
    def age_s(self) -> float:
        return self.last_ts - self.first_ts


class IouTracker:
    def __init__(self, cfg: TrackerConfig, window: int = 5, families: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.window = window
        self.families = families or {}
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self.ended: list[Track] = []  # tracks that ended at the last update

    def reset(self) -> None:
        self.tracks = []
        self.ended = []

    def update(self, dets: Sequence[Detection], ts: float) -> list[Track]:
        """Fold in the detections of one frame (captured at ``ts``); returns the live tracks."""
        self.ended = []
        matched_t: set[int] = set()
        matched_d: set[int] = set()
        if self.tracks and dets:
            tb, db = [t.box for t in self.tracks], [d.box for d in dets]
            m = np.maximum(iou_matrix(tb, db), np.where(contain_matrix(tb, db) >= self.cfg.contain, self.cfg.iou, 0.0))
            for ti, t in enumerate(self.tracks):
                for di, d in enumerate(dets):
                    if self.family(t.cls) != self.family(d.cls or d.label):
                        m[ti, di] = 0.0
            order = np.dstack(np.unravel_index(np.argsort(-m, axis=None), m.shape))[0]
            for ti, di in order:
                if m[ti, di] < self.cfg.iou:
                    break
                if ti in matched_t or di in matched_d:
                    continue
                matched_t.add(int(ti))
                matched_d.add(int(di))
                self._hit(self.tracks[ti], dets[di], ts)
        alive: list[Track] = []
        for ti, t in enumerate(self.tracks):
            t.updated_ts = ts
            if ti not in matched_t:
                t.missed += 1
                t.window.append(0.0)
                if t.missed >= self.cfg.max_missed:
                    self.ended.append(t)
                    continue
            alive.append(t)
        for di, d in enumerate(dets):
            if di not in matched_d:
                t = Track(id=next(self._ids), cls=d.cls or d.label, label=d.label, box=d.box, score=d.score,
                          first_ts=ts, last_ts=ts, window=deque([d.score], maxlen=self.window), best_score=d.score,
                          detection=d, history=[d.score], mass={d.cls or d.label: d.score}, updated_ts=ts)
                alive.append(t)
        self.tracks = alive
        return list(alive)

    def family(self, cls: str) -> str:
        return self.families.get(cls, cls)

    def _hit(self, t: Track, d: Detection, ts: float) -> None:
        t.box = d.box
        t.score = d.score
        t.label = d.label
        t.last_ts = ts
        t.hits += 1
        t.missed = 0
        t.window.append(d.score)
        t.best_score = max(t.best_score, d.score)
        t.detection = d
        if len(t.history) < 1000:
            t.history.append(d.score)
        key = d.cls or d.label
        t.mass[key] = t.mass.get(key, 0.0) + d.score
        t.cls = max(t.mass, key=lambda c: t.mass[c])  # the evidence rule refines this (acting share)
