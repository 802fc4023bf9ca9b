"""Accumulated evidence over a track: when an object of an acting class is real enough to act on.

The rule (``confirm.rule: evidence``, the default) is a one-sided CUSUM over the frames the detector looked at:

    seen frame (score s >= floor):   E <- E + (s - bias)
    frame not seen (or s < floor):   E <- max(0, E - leak)
    E is never below 0 and never above cap.

The object is *confirmed* when ``E >= level`` after at least ``min_frames`` seen frames. With the defaults
(floor 0.3, bias 0.2, leak 0.25, level 1.0, min_frames 2, cap 3.0) at 5 fps:

- a sustained score of 0.4 adds 0.2 a frame: confirmed on the 5th frame, 0.8 s after the first;
- a sustained 0.35 (a small or half-hidden e-bike) is confirmed on the 7th frame (1.2 s);
- two frames at 0.7 are enough (0.2 s); one 0.7 spike (E = 0.5) is not, nor one 0.99 spike (min_frames);
- clutter flickering at 0.3 with gaps never gets there (+0.1, then -0.25 for each miss);
- the cap keeps a long-seen object from holding on to its evidence for ever once it is gone.

The *class* of a track is decided by the class map, not by the score: every seen frame adds its score to the
mass of the class it was mapped to, and frames of one *family* (e.g. the two-wheelers: ``ebike``, ``bicycle``)
continue the same track (:mod:`edge.vision.tracker`). Presence evidence ``E`` is accumulated over the whole family;
the track counts as its best acting class when the acting classes hold at least ``class_share`` of the family's
score mass, otherwise as its heaviest class. So a site that maps COCO ``bicycle`` to ``bicycle`` (not acting)
still blocks an e-bike that the model calls ``bicycle`` in some frames and ``motorcycle`` in others, while a pedal
bicycle that is ``bicycle`` in nearly every frame is not blocked.

The older rule (``confirm.rule: n_of_m``: N of the last M frames at or above ``threshold``) is kept for comparison
(``bench/lift_guard.py`` reports both on the held-out clips).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from edge.vision.config import ConfirmConfig
from edge.vision.tracker import Track

_EPS = 1e-6


class EvidenceConfirmer:
    """Updates each track's evidence, class and confirmation after the tracker folded in a frame."""

    def __init__(self, cfg: ConfirmConfig, acting: Iterable[str],
                 refine: Callable[[Track, str], str] | None = None) -> None:
        self.cfg = cfg
        self.acting = frozenset(acting)
        #: the second stage (edge.vision.second_stage): may rename the class this rule decided; None = detector only
        self.refine = refine

    def decide_class(self, t: Track) -> str:
        """The track's class from its score mass per class (see the module docstring)."""
        if not t.mass:
            return t.cls
        total = sum(t.mass.values())
        acting = {c: m for c, m in t.mass.items() if c in self.acting}
        if acting and total > 0 and sum(acting.values()) / total >= self.cfg.class_share - _EPS:
            return max(acting, key=lambda c: acting[c])
        return max(t.mass, key=lambda c: t.mass[c])

    def update(self, tracks: Iterable[Track], ts: float) -> list[Track]:
        """Fold in the frame just tracked; returns the tracks confirmed by it."""
        c = self.cfg
        new: list[Track] = []
        for t in tracks:
            if t.updated_ts != ts:  # evidence changes once per detected frame
                continue
            s = t.score if t.missed == 0 else 0.0
            if t.missed == 0 and s >= c.floor:
                t.evidence = min(c.cap, t.evidence + (s - c.bias))
                t.seen_frames += 1
            else:
                t.evidence = max(0.0, t.evidence - c.leak)
            t.cls = self.decide_class(t)
            refine = self.refine
            if refine is not None:
                t.cls = refine(t, t.cls)
            if t.first_confirming_ts is None and t.missed == 0 and t.evidence > 0:
                t.first_confirming_ts = t.last_ts
            if t.confirmed:
                continue
            if t.evidence >= c.level - _EPS and t.seen_frames >= c.min_frames:
                t.confirmed_ts = ts
                new.append(t)
        return new
