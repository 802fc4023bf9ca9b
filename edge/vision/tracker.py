"""IoU tracker: one identity per object across the frames the detector looked at.

Greedy matching by IoU within the same class (after the class map). An unmatched detection starts a track; a
track not matched for ``max_missed`` detected frames ends. Each track keeps the scores of its last frames (0 for
a frame where it was not seen) for N-of-M confirmation (:mod:`edge.vision.confirm`).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.vision.config import TrackerConfig
from edge.vision.detection import Box, Detection, iou_matrix


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
    first_confirming_ts: float | None = None  # first frame whose score reached the confirm score
    detection: Detection | None = None  # the detection of the last matched frame
    history: list[float] = field(default_factory=list)  # every matched score (bounded), for events

    @property
    def confirmed(self) -> bool:
        return self.confirmed_ts is not None

    @property
    def age_s(self) -> float:
        return self.last_ts - self.first_ts


class IouTracker:
    def __init__(self, cfg: TrackerConfig, window: int = 5) -> None:
        self.cfg = cfg
        self.window = window
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
            m = iou_matrix([t.box for t in self.tracks], [d.box for d in dets])
            for ti, t in enumerate(self.tracks):
                for di, d in enumerate(dets):
                    if t.cls != (d.cls or d.label):
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
                          detection=d, history=[d.score])
                alive.append(t)
        self.tracks = alive
        return list(alive)

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
