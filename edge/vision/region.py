"""A region of interest: a polygon in fractions of the frame; an object counts when enough of its box is inside."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.vision.config import RegionConfig
from edge.vision.detection import Detection

_DOWNSCALE = 4  # the mask is kept at 1/4 of the frame size: plenty for box overlap


class Region:
    def __init__(self, cfg: RegionConfig) -> None:
        self.cfg = cfg
        self._masks: dict[tuple[int, int], np.ndarray] = {}

    @property
    def whole_frame(self) -> bool:
        xs = [p[0] for p in self.cfg.polygon]
        ys = [p[1] for p in self.cfg.polygon]
        return len(self.cfg.polygon) == 4 and min(xs) == 0 and min(ys) == 0 and max(xs) == 1 and max(ys) == 1

    def points(self, width: int, height: int) -> np.ndarray:
        """The polygon in pixels of a frame of this size (int32, for drawing)."""
        return np.array([(round(x * (width - 1)), round(y * (height - 1))) for x, y in self.cfg.polygon], np.int32)

    def mask(self, width: int, height: int, scale: int = 1) -> np.ndarray:
        """uint8 mask (255 inside) at ``width/scale`` x ``height/scale``."""
        key = (width // scale, height // scale)
        m = self._masks.get(key)
        if m is None:
            m = np.zeros((key[1], key[0]), np.uint8)
            pts = self.points(key[0], key[1])
            cv2.fillPoly(m, [pts], 255)
            self._masks[key] = m
        return m

    def overlap(self, det: Detection, width: int, height: int) -> float:
        """Fraction of the detection's box inside the polygon."""
        m = self.mask(width, height, _DOWNSCALE)
        mh, mw = m.shape
        x1, y1, x2, y2 = det.box
        ix1, iy1 = int(max(0, x1 // _DOWNSCALE)), int(max(0, y1 // _DOWNSCALE))
        ix2, iy2 = int(min(mw, -(-x2 // _DOWNSCALE))), int(min(mh, -(-y2 // _DOWNSCALE)))
        if ix2 <= ix1 or iy2 <= iy1:
            return 0.0
        return float(np.count_nonzero(m[iy1:iy2, ix1:ix2])) / ((iy2 - iy1) * (ix2 - ix1))

    def on_floor(self, box: tuple[float, float, float, float], width: int, height: int) -> bool:
        """Whether the box's foot point (bottom centre, a little above the edge) is inside the floor polygon."""
        if self.cfg.floor is None:
            return True
        pts = np.array([(x * (width - 1), y * (height - 1)) for x, y in self.cfg.floor], np.float32)
        x1, y1, x2, y2 = box
        foot = ((x1 + x2) / 2, y2 - 0.02 * (y2 - y1))
        return cv2.pointPolygonTest(pts, (float(foot[0]), float(foot[1])), False) >= 0

    def filter(self, dets: Sequence[Detection], width: int, height: int) -> list[Detection]:
        if self.whole_frame:
            return list(dets)
        return [d for d in dets if self.overlap(d, width, height) >= self.cfg.min_overlap]
