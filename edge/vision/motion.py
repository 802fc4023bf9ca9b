"""Motion gate: is anything moving in the region? Decides whether the (expensive) detector needs to look.

After Frigate's detector: greyscale frame shrunk to ``height`` px, blurred, compared with a running average
background; pixels changed by more than ``threshold`` form blobs; blobs of at least ``contour_area`` are motion.
When most of the frame changes at once (lights switching, IR mode) it is not motion: the background is reset.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.config import MotionConfig


@dataclass(frozen=True)
class MotionResult:
    moving: bool
    changed_fraction: float  # of the masked work frame
    lighting_change: bool = False


class MotionGate:
    def __init__(self, cfg: MotionConfig, mask: np.ndarray | None = None) -> None:
        """``mask``: optional uint8 mask (non-zero = watch) at any size; resized to the work size on first use."""
        self.cfg = cfg
        self._mask_src = mask
        self._mask: np.ndarray | None = None
        self._bg: np.ndarray | None = None
        self._size: tuple[int, int] | None = None

    def reset(self) -> None:
        self._bg = None

    def _prep(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        size = (max(1, round(w * self.cfg.height / h)), self.cfg.height)
        if size != self._size:
            self._size = size
            self._bg = None
            self._mask = None
            if self._mask_src is not None:
                self._mask = cv2.resize(self._mask_src, size, interpolation=cv2.INTER_NEAREST) > 0
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32)

    def update(self, frame: np.ndarray) -> MotionResult:
        """Compare ``frame`` (BGR) with the background and fold it in."""
        cur = self._prep(frame)
        if self._bg is None:
            self._bg = cur
            return MotionResult(True, 1.0)  # nothing known yet: let the detector look
        diff = cv2.absdiff(cur, self._bg)
        changed = diff > self.cfg.threshold
        if self._mask is not None:
            changed &= self._mask
            area = max(1, int(self._mask.sum()))
        else:
            area = changed.size
        frac = float(changed.sum()) / area
        if frac > self.cfg.lightning_threshold:
            self._bg = cur
            return MotionResult(False, frac, lighting_change=True)
        cv2.accumulateWeighted(cur, self._bg, self.cfg.frame_alpha)
        if frac == 0.0:
            return MotionResult(False, 0.0)
        binary = cv2.dilate(changed.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        moving = any(cv2.contourArea(c) >= self.cfg.contour_area for c in contours)
        return MotionResult(moving, frac)
