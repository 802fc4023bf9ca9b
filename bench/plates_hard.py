"""Hard tuning scenes for the gate: plates from the reader's *training* renderer (``models/tools/plate_train_data``:
74 fonts, dealer holders, 3-D turns, glare, dirt, infra-red, dusk, colour casts, blur, JPEG…) set on a car in a
1280 × 720 street frame, 70–300 px wide, three frames of an approach each.

It is a tuning set, not an independent measure: the reader was trained on this renderer's plates (never on these
seeds' frames), and the detector's second look and the colour rules were chosen on it. The independent measure
stays ``bench/plates_heldout.py``, which shares no code with it. Needs the training fonts (models/PLATES.md,
"Reproduce"); ``available()`` says whether they are installed.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models" / "tools"))

import plate_train_data as P


def available() -> bool:
    try:
        P.fonts()
    except P.FontMissing:
        return False
    return True


def _frame(canvas: np.ndarray, corners: np.ndarray, out_w: float, rng: random.Random,
           size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    w, h = size
    img = np.empty((h, w, 3), np.float32)
    img[:] = [rng.uniform(60, 170) for _ in range(3)]
    img[int(h * rng.uniform(0.55, 0.7)):] = rng.uniform(40, 110)
    dst = P._turn(corners, rng, out_w)
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.45, 0.75) * h
    dst = (dst + np.array([cx, cy], np.float32)).astype(np.float32)
    ch, cw = canvas.shape[:2]
    m = cv2.getPerspectiveTransform(corners, dst)
    warped = cv2.warpPerspective(canvas, m, (w, h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ch, cw), 255, np.uint8), m, (w, h)).astype(np.float32)[..., None] / 255
    bw, bh = out_w * 2.2, out_w * 0.9
    body = tuple(rng.uniform(20, 230) for _ in range(3))
    cv2.rectangle(img, (int(cx - bw), int(cy - bh)), (int(cx + bw), int(cy + bh * 0.6)), body, -1)
    return (img * (1 - mask) + warped * mask).astype(np.uint8)


def vehicles(n: int, seed: int = 7) -> Iterator[tuple[str, str, list[np.ndarray]]]:
    """``n`` vehicles: (plate text, kind, three frames as the car comes closer)."""
    for i in range(n):
        rng = random.Random(seed * 100000 + i)
        kind = rng.choices([k for k, _ in P.KINDS], [w for _, w in P.KINDS])[0]
        text = P.plate_text(rng, kind, rng.choice(P.PROVINCES))
        canvas, corners = P._holder(P.render_plate(text, kind, rng), rng)
        out_w = rng.uniform(70, 300)
        look, geometry = rng.getrandbits(32), rng.getrandbits(32)
        frames = [P._degrade(_frame(canvas, corners, out_w * (0.85 + 0.08 * j), random.Random(geometry)),
                             random.Random(look), out_w / 440) for j in range(3)]
        yield text, kind, frames
