"""A zoomed second detector pass on the door and the near floor, and the detector as the lift pipeline calls it.

SSD-MobileNetV2 sees a 300x300 picture: a 640x480 frame is shrunk ~2x, and an e-bike far away at the door
(70-110 px wide in the frame, 30-50 px in the model's input) is below what the model finds reliably. The door is
where every object comes in, and where it is smallest. The rule (``app.zoom``, defaults in
:class:`edge.vision.config.ZoomConfig`):

1. the *zoom box*: ``zoom.box`` when set, else derived from the floor polygon (``region.floor``): its far edge
   (the points within 0.02 of its top) is the door sill; the box spans the sill plus ``margin`` (0 of the frame
   width) each side, at least ``min_width`` (0.3) wide, has the frame's shape (so the model stretches it as it
   stretches a whole frame), with the sill ``sill_at`` (0.6) of the way down;
2. the detector runs on the whole frame and, when the box covers at most ``max_area`` (0.4) of the frame, once
   more on the box cropped out at the model's full input resolution (2.1x magnification for the default car:
   the box is 0.48 of the frame wide and high, 0.23 of its area);
   the zoomed boxes are mapped back into the frame and merged with the full frame's by non-maximum suppression per
   model label (IoU >= ``nms_iou`` 0.5: the better score is kept); the pipeline then joins fragments as before;
3. no floor polygon and no box, a box too large, or ``zoom.enabled: false``: the full frame only.

**CPU.** The zoomed pass is a second inference on every frame the detector looks at: the detector's CPU doubles
while the door is open and something moves or is tracked (the motion gate still skips quiet frames). With the
default car that is ~2x the model's CPU; ``bench/lift_guard.py`` reports
``cpu_ms_per_frame`` with it on. A site on a slow board may set ``zoom.enabled: false`` (far bikes are then found
later, when they are bigger) or ``max_area`` lower.

Parameters chosen on the tuning clips only (``python -m edge.apps.lift_guard.tuning``; models/MODELS.md §2.1):
``sill_at`` 0.5 / 0.6 / 0.7 and ``margin`` 0 / 0.02 / 0.04 / 0.1 were tried; 0.7 made an infrared bike late, a
margin of 0.1 makes the box too large for ``max_area`` (no zoom at all), margin 0 gave the lowest worst-case
latency (0.68 s against 0.84 s with 0.04).

Infrared frames are normalised first (:mod:`edge.vision.night`) for both passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.vision.config import NightConfig, ZoomConfig
from edge.vision.detection import Detection, dedupe
from edge.vision.detector import Detector
from edge.vision.night import NightNormaliser

Frac = tuple[float, float, float, float]
_SILL_TOL = 0.02


def zoom_box(cfg: ZoomConfig, floor: Sequence[tuple[float, float]] | None) -> Frac | None:
    """The zoom box (fractions x1, y1, x2, y2) for this config and floor polygon, None when there is none."""
    if cfg.box is not None:
        x1, y1, x2, y2 = cfg.box
        return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
    if not floor:
        return None
    top = min(y for _x, y in floor)
    sill = [(x, y) for x, y in floor if y <= top + _SILL_TOL]
    sx1, sx2 = min(x for x, _ in sill), max(x for x, _ in sill)
    side = min(1.0, max(cfg.min_width, sx2 - sx1 + 2 * cfg.margin))  # same fraction of width and height
    cx = (sx1 + sx2) / 2
    x1 = min(max(0.0, cx - side / 2), 1.0 - side)
    y1 = min(max(0.0, top - cfg.sill_at * side), 1.0 - side)
    return (x1, y1, x1 + side, y1 + side)


class ZoomedDetector:
    """The detector as the pipeline calls it: night normalisation, the full frame, the zoomed pass, merged."""

    def __init__(self, detector: Detector, zoom: ZoomConfig, night: NightConfig,
                 floor: Sequence[tuple[float, float]] | None) -> None:
        self.detector = detector
        self.zoom = zoom
        self.night = NightNormaliser(night)
        box = zoom_box(zoom, floor) if zoom.enabled else None
        self.box = box if box is not None and (box[2] - box[0]) * (box[3] - box[1]) <= zoom.max_area + 1e-9 \
            else None
        self.zoom_runs = 0
        self.night_frames = 0

    def crop_px(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        if self.box is None:
            return None
        x1, y1, x2, y2 = self.box
        px = (round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height))
        return px if px[2] - px[0] >= 8 and px[3] - px[1] >= 8 else None

    def detect(self, frame: np.ndarray) -> list[Detection]:
        img, night = self.night.normalise(frame)
        self.night_frames += night
        found = self.detector.detect(img)
        crop = self.crop_px(frame.shape[1], frame.shape[0])
        if crop is None:
            return found
        x1, y1, x2, y2 = crop
        self.zoom_runs += 1
        zoomed = [Detection(d.label, d.score, (d.box[0] + x1, d.box[1] + y1, d.box[2] + x1, d.box[3] + y1), d.cls)
                  for d in self.detector.detect(np.ascontiguousarray(img[y1:y2, x1:x2]))]
        return dedupe([*found, *zoomed], self.zoom.nms_iou)
