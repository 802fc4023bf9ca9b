"""N-of-M confirmation: an object is real when at least N of its last M detected frames reach the confirm score.

With the defaults (3 of 5 at 5 fps) an object seen clearly is confirmed 0.4 s after its first frame; one that
flickers around the threshold is confirmed only when it is above it most of the time, and stays confirmed
while its track lives (the tracker ends it after ``max_missed`` frames unseen), so a score hovering at the
threshold does not switch the outcome on and off.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge.vision.config import ConfirmConfig
from edge.vision.tracker import Track


class Confirmer:
    def __init__(self, cfg: ConfirmConfig) -> None:
        self.cfg = cfg

    def update(self, tracks: Iterable[Track], ts: float) -> list[Track]:
        """Mark tracks that have just become confirmed (``confirmed_ts = ts``); returns those newly confirmed."""
        new: list[Track] = []
        for t in tracks:
            thr = self.cfg.threshold_for(t.cls)
            if t.first_confirming_ts is None and t.window and t.window[-1] >= thr and t.missed == 0:
                t.first_confirming_ts = t.last_ts
            if t.confirmed:
                continue
            if sum(1 for s in t.window if s >= thr) >= self.cfg.n:
                t.confirmed_ts = ts
                new.append(t)
        return new
