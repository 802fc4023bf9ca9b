"""Camera health from the frames themselves: black, covered (no contrast, no detail) and frozen views.

A camera that stops delivering frames is seen by the caller (``Camera.read()`` raises); these checks catch the
failures that still deliver frames: a dead sensor or lamp (black), a hand, bag or umbrella over the lens
(covered), and a stuck encoder or stream repeating the same picture (frozen — a live sensor always has noise).
Each condition must last its configured time before it counts, and the view must look normal for ``clear_s``
before a fault clears. A freeze is timed from the capture of the frozen picture itself (the frame *before* the
first repeat), so the fault is raised ``frozen_s`` after the picture stopped changing, not a frame or more later.
A video codec does not repeat a picture bit for bit at once: the first repeats still differ a little while its
residual converges. Frames changing less than ``SETTLE`` x ``frozen_diff`` just before a freeze count as its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.vision.config import HealthConfig

FAULTS = ("black", "covered", "frozen")
#: A change below SETTLE x frozen_diff (far below live sensor noise) right before a freeze is the codec settling.
SETTLE = 3.0


@dataclass(frozen=True)
class FrameStats:
    luma: float
    contrast: float
    sharpness: float
    change: float | None  # mean grey change from the previous frame (None for the first)


@dataclass
class HealthState:
    """What the checks conclude: the active fault (or None) and the figures of the last frame."""

    fault: str | None = None
    since: float | None = None  # when the current fault was raised
    stats: FrameStats | None = None
    raised: list[str] = field(default_factory=list)  # faults raised by the last update
    cleared: list[str] = field(default_factory=list)  # faults cleared by the last update
    #: conditions seen in this frame but not yet long enough to be a fault: the picture tells nothing reliable
    #: (a detector finding nothing in a black frame does not mean the object left)
    suspect: list[str] = field(default_factory=list)


class CameraHealth:
    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.state = HealthState()
        self._prev: np.ndarray | None = None
        self._cond_since: dict[str, float | None] = dict.fromkeys(FAULTS)
        self._ok_since: float | None = None
        self._blip = False
        self._prev_ts: float | None = None
        self._low_since: float | None = None  # start of a run of nearly unchanged frames

    def reset(self) -> None:
        """Forget the previous frame (after the camera was reopened)."""
        self._prev = None
        self._cond_since = dict.fromkeys(FAULTS)
        self._ok_since = None
        self._blip = False
        self._prev_ts = None
        self._low_since = None

    def measure(self, frame: np.ndarray) -> FrameStats:
        h, w = frame.shape[:2]
        size = (self.cfg.work_width, max(1, round(h * self.cfg.work_width / w)))
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        mean, std = cv2.meanStdDev(small)
        # blurred first: pixel noise is not detail
        sharp = float(cv2.Laplacian(cv2.GaussianBlur(small, (3, 3), 0), cv2.CV_32F).var())
        # Change is measured on every other pixel at full size: shrinking would average away the sensor noise
        # that tells a live picture from a repeated one.
        sparse = np.ascontiguousarray(grey[::2, ::2])
        change = None
        if self._prev is not None and self._prev.shape == sparse.shape:
            change = float(cv2.absdiff(sparse, self._prev).mean())
        self._prev = sparse
        return FrameStats(float(mean[0][0]), float(std[0][0]), sharp, change)

    def update(self, frame: np.ndarray, ts: float) -> HealthState:
        """Check one frame captured at ``ts`` (monotonic seconds)."""
        st = self.measure(frame)
        c = self.cfg
        conds = {
            "black": st.luma < c.black_luma,
            "covered": st.luma >= c.black_luma and st.contrast < c.covered_std and st.sharpness < c.covered_sharpness,
            "frozen": st.change is not None and st.change < c.frozen_diff,
        }
        if st.change is None:  # first frame: frozen cannot be judged, keep its timer as it was
            conds["frozen"] = self._cond_since["frozen"] is not None
        elif not conds["frozen"] and self._cond_since["frozen"] is not None and not self._blip:
            conds["frozen"] = True  # one changed frame (a re-sent key frame) does not end a freeze
            self._blip = True
        else:
            self._blip = False
        limits = {"black": c.black_s, "covered": c.covered_s, "frozen": c.frozen_s}
        due: list[str] = []
        for name, on in conds.items():
            if not on:
                self._cond_since[name] = None
                continue
            since = self._cond_since[name]
            if since is None:
                # a freeze began with the previous frame (the picture that is now repeated), or earlier while the
                # codec was settling on it
                start = ts
                if name == "frozen" and self._prev_ts is not None:
                    start = self._low_since if self._low_since is not None else self._prev_ts
                self._cond_since[name] = since = start
            if ts - since >= limits[name] - 1e-6:
                due.append(name)
        if st.change is not None and st.change < SETTLE * c.frozen_diff:
            if self._low_since is None:
                self._low_since = self._prev_ts
        elif st.change is not None:
            self._low_since = None
        self._prev_ts = ts
        s = self.state
        s.stats = st
        s.raised, s.cleared = [], []
        s.suspect = [name for name, on in conds.items() if on]
        if due:
            self._ok_since = None
            if s.fault is None:
                s.fault, s.since = due[0], ts
                s.raised.append(due[0])
        elif s.fault is not None:
            if any(conds.values()):
                self._ok_since = None
            else:
                if self._ok_since is None:
                    self._ok_since = ts
                if ts - self._ok_since >= c.clear_s:
                    s.cleared.append(s.fault)
                    s.fault, s.since = None, None
                    self._ok_since = None
        return s
