"""Infrared night frames, normalised for the detector.

An infrared camera at night gives a grey picture (all three channels equal), flat (the scene's grey levels squeezed
into a narrow band) and noisy (high sensor gain). A COCO detector trained on daylight colour photos scores such a
picture's two-wheelers below its floor. The rule (``app.night``, defaults in :class:`edge.vision.config.NightConfig`):

1. a frame is *infrared* when the mean absolute difference between its colour channels, on a 80 px wide
   thumbnail, is below ``grey_tol`` (3 grey levels); a colour frame is passed through untouched;
2. ``stretch`` (default): Gaussian smoothing (``blur_px`` 5) takes the sensor noise down, then the grey levels
   between the ``low_pct`` (1 %) and ``high_pct`` (99 %) percentiles are stretched to 0-255 (one look-up table);
   ``clahe``: contrast-limited adaptive histogram equalisation (clip 2, 8x8 tiles) instead.

Chosen on the tuning clips (``ir_night``, ``python -m edge.apps.lift_guard.tuning``): CLAHE raised almost
nothing (the bike was missed), because it amplifies the noise as much as the bike; smoothing first and a global
stretch made it visible to the model (blocked 0.6-0.7 s after crossing with the zoomed pass). Smoothing 3, 5, 7 and
9 px all passed; none (0) made the bike late (2.1 s): 5 was kept. Cost: ~1-2 ms a frame
on a desktop core, only on grey frames. Camera health and snapshots keep the original frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.vision.config import NightConfig

_THUMB_W = 80


def is_grey(frame: np.ndarray, tol: float) -> bool:
    """Whether a BGR frame is grey (an infrared picture): its channels differ by less than ``tol`` on average."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        return True
    h, w = frame.shape[:2]
    th = max(1, round(h * _THUMB_W / max(1, w)))
    small = cv2.resize(frame, (_THUMB_W, th), interpolation=cv2.INTER_AREA).astype(np.int16)
    b, g, r = small[..., 0], small[..., 1], small[..., 2]
    spread = (np.abs(b - g).mean() + np.abs(g - r).mean() + np.abs(b - r).mean()) / 3
    return bool(spread < tol)


class NightNormaliser:
    """``normalise(frame)`` → (the frame the detector should see, whether it was an infrared frame)."""

    def __init__(self, cfg: NightConfig) -> None:
        self.cfg = cfg
        self._clahe = cv2.createCLAHE(clipLimit=cfg.clahe_clip, tileGridSize=(cfg.clahe_tiles, cfg.clahe_tiles))

    def normalise(self, frame: np.ndarray) -> tuple[np.ndarray, bool]:
        c = self.cfg
        if not c.enabled or not is_grey(frame, c.grey_tol):
            return frame, False
        g = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if c.method == "clahe":
            out = self._clahe.apply(g)
        else:
            k = c.blur_px | 1 if c.blur_px > 0 else 0
            if k > 1:
                g = cv2.GaussianBlur(g, (k, k), 0)
            lo, hi = np.percentile(g[::4, ::4], (c.low_pct, c.high_pct))
            span = max(1.0, float(hi - lo))
            lut = np.clip((np.arange(256, dtype=np.float32) - float(lo)) * (255.0 / span), 0, 255).astype(np.uint8)
            out = cv2.LUT(g, lut)
        return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR), True
