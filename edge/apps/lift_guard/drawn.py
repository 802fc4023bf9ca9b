"""Drawn objects for the second stage's offline loop: the classes no packaged photo shows.

No photo of a pedal bicycle, stroller, wheelchair, shopping cart or e-bike battery ships in any package reachable
offline (models/MODELS.md §4), so these are drawn: thin-tube frames and spoked wheels, a pram body and hood, a
wheelchair with its big wheels and seat, a wire cart, a battery pack with its handle. Each comes as a BGR sprite
and a mask, from a seed (pose, colours, proportions and line widths vary), to paste into a lift car with
:func:`edge.apps.lift_guard.heldout.paste` or to cut crops from. The e-bike stays the Middlebury motorcycle photo.

They prove the loop (label → train → deploy → decisions change); they are not a model of real strollers or
bicycles. What a site's classifier learns from drawings says nothing about its photographs (MODELS.md §5).
"""

from __future__ import annotations

import cv2
import numpy as np

DRAWN = ("bicycle", "stroller", "wheelchair", "cart", "battery")


def _colour(rng: np.random.Generator, dark: bool = False) -> tuple[int, int, int]:
    lo, hi = (10, 90) if dark else (30, 230)
    return tuple(int(v) for v in rng.integers(lo, hi, 3))  # type: ignore[return-value]


def _wheel(img: np.ndarray, m: np.ndarray, c: tuple[int, int], r: int, rng: np.random.Generator, spokes: int,
           tyre: int) -> None:
    cv2.circle(img, c, r, (25, 25, 25), tyre, cv2.LINE_AA)
    cv2.circle(m, c, r, 255, tyre)
    rim = _colour(rng)
    cv2.circle(img, c, max(2, r - tyre), rim, 2, cv2.LINE_AA)
    for k in range(spokes):
        a = np.pi * 2 * k / spokes + rng.uniform(0, 0.3)
        p = (int(c[0] + np.cos(a) * (r - tyre)), int(c[1] + np.sin(a) * (r - tyre)))
        cv2.line(img, c, p, (170, 170, 170), 1, cv2.LINE_AA)
        cv2.line(m, c, p, 255, 1)
    cv2.circle(img, c, max(2, r // 8), (90, 90, 90), -1)
    cv2.circle(m, c, max(2, r // 8), 255, -1)


def _line(img: np.ndarray, m: np.ndarray, a: tuple[float, float], b: tuple[float, float],
          col: tuple[int, int, int], w: int) -> None:
    pa, pb = (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))
    cv2.line(img, pa, pb, col, w, cv2.LINE_AA)
    cv2.line(m, pa, pb, 255, w)


def draw(kind: str, seed: int, height: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """(BGR sprite, uint8 mask) of one drawn object, ``height`` pixels tall (width follows the object)."""
    rng = np.random.default_rng([DRAWN.index(kind), seed])
    H = height
    W = int(H * {"bicycle": 1.7, "stroller": 1.0, "wheelchair": 1.0, "cart": 1.2, "battery": 0.75}[kind])
    img = np.full((H, W, 3), 127, np.uint8)
    m = np.zeros((H, W), np.uint8)
    col = _colour(rng)
    if kind == "bicycle":
        r = int(H * rng.uniform(0.27, 0.31))
        tube = max(3, int(H * rng.uniform(0.02, 0.035)))
        rear, front = (r + 4, H - r - 4), (W - r - 4, H - r - 4)
        _wheel(img, m, rear, r, rng, int(rng.integers(12, 28)), max(3, tube))
        _wheel(img, m, front, r, rng, int(rng.integers(12, 28)), max(3, tube))
        bb = (rear[0] + (front[0] - rear[0]) * 0.42, rear[1])
        seat = (rear[0] + (front[0] - rear[0]) * 0.32, H * rng.uniform(0.18, 0.26))
        head = (front[0] - (front[0] - rear[0]) * 0.12, H * rng.uniform(0.16, 0.24))
        for a, b in ((rear, bb), (rear, seat), (bb, seat), (seat, head), (bb, head), (head, front)):
            _line(img, m, a, b, col, tube)
        _line(img, m, (seat[0] - 18, seat[1] - 6), (seat[0] + 14, seat[1] - 6), (20, 20, 20), tube + 3)
        _line(img, m, (head[0] - 10, head[1] - 14), (head[0] + 16, head[1] - 18), (30, 30, 30), tube)
        _line(img, m, head, (head[0] - 4, head[1] - 14), col, tube)
        cv2.circle(img, (int(bb[0]), int(bb[1])), max(4, tube * 2), (60, 60, 60), -1)
        cv2.circle(m, (int(bb[0]), int(bb[1])), max(4, tube * 2), 255, -1)
    elif kind == "stroller":
        r = int(H * 0.09)
        body_c = (int(W * 0.45), int(H * 0.45))
        axes = (int(W * 0.36), int(H * 0.2))
        cv2.ellipse(img, body_c, axes, 0, 0, 180, col, -1, cv2.LINE_AA)
        cv2.ellipse(m, body_c, axes, 0, 0, 180, 255, -1)
        hood = _colour(rng, dark=True)
        cv2.ellipse(img, (int(W * 0.3), int(H * 0.45)), (int(W * 0.22), int(H * 0.28)), 0, 180, 300, hood, -1)
        cv2.ellipse(m, (int(W * 0.3), int(H * 0.45)), (int(W * 0.22), int(H * 0.28)), 0, 180, 300, 255, -1)
        _line(img, m, (W * 0.78, H * 0.5), (W * 0.95, H * 0.12), (40, 40, 40), 4)
        _line(img, m, (W * 0.88, H * 0.12), (W * 0.99, H * 0.12), (30, 30, 30), 7)
        for x in (0.2, 0.72):
            _line(img, m, (W * 0.45, H * 0.62), (W * x, H - r - 3), (60, 60, 60), 3)
            _wheel(img, m, (int(W * x), H - r - 3), r, rng, 8, 4)
    elif kind == "wheelchair":
        big = int(H * 0.3)
        c_big = (int(W * 0.45), H - big - 3)
        _wheel(img, m, c_big, big, rng, int(rng.integers(14, 30)), 5)
        cv2.circle(img, c_big, int(big * 0.85), (150, 150, 150), 2)
        _wheel(img, m, (int(W * 0.85), H - int(H * 0.06) - 3), int(H * 0.06), rng, 4, 3)
        seat = _colour(rng, dark=True)
        cv2.rectangle(img, (int(W * 0.3), int(H * 0.45)), (int(W * 0.8), int(H * 0.52)), seat, -1)
        cv2.rectangle(m, (int(W * 0.3), int(H * 0.45)), (int(W * 0.8), int(H * 0.52)), 255, -1)
        cv2.rectangle(img, (int(W * 0.25), int(H * 0.12)), (int(W * 0.33), int(H * 0.5)), seat, -1)
        cv2.rectangle(m, (int(W * 0.25), int(H * 0.12)), (int(W * 0.33), int(H * 0.5)), 255, -1)
        _line(img, m, (W * 0.25, H * 0.12), (W * 0.12, H * 0.08), (40, 40, 40), 5)
        _line(img, m, (W * 0.78, H * 0.52), (W * 0.85, H * 0.85), (120, 120, 120), 4)
        _line(img, m, (W * 0.85, H * 0.85), (W * 0.95, H * 0.85), (30, 30, 30), 5)
    elif kind == "cart":
        r = int(H * 0.06)
        top, bot = int(H * 0.15), int(H * 0.65)
        pts = np.array([[int(W * 0.1), top], [int(W * 0.95), top], [int(W * 0.85), bot], [int(W * 0.2), bot]])
        wire = (int(rng.integers(150, 220)),) * 3
        for i in range(9):
            t = i / 8
            a = pts[0] + (pts[3] - pts[0]) * t
            b = pts[1] + (pts[2] - pts[1]) * t
            _line(img, m, tuple(a), tuple(b), wire, 2)  # type: ignore[arg-type]
            a = pts[0] + (pts[1] - pts[0]) * t
            b = pts[3] + (pts[2] - pts[3]) * t
            _line(img, m, tuple(a), tuple(b), wire, 2)  # type: ignore[arg-type]
        cv2.polylines(img, [pts.astype(np.int32)], True, col, 4, cv2.LINE_AA)
        cv2.polylines(m, [pts.astype(np.int32)], True, 255, 4)
        _line(img, m, (W * 0.1, top), (W * 0.02, H * 0.05), col, 5)
        _line(img, m, (W * 0.25, bot), (W * 0.25, H - r - 3), (90, 90, 90), 4)
        _line(img, m, (W * 0.8, bot), (W * 0.8, H - r - 3), (90, 90, 90), 4)
        for x in (0.25, 0.8):
            _wheel(img, m, (int(W * x), H - r - 3), r, rng, 4, 3)
    else:  # battery: a lithium pack with a handle and a label stripe
        x0, y0, x1, y1 = int(W * 0.1), int(H * 0.2), int(W * 0.9), int(H * 0.98)
        case = _colour(rng, dark=True)
        cv2.rectangle(img, (x0, y0), (x1, y1), case, -1)
        cv2.rectangle(m, (x0, y0), (x1, y1), 255, -1)
        cv2.rectangle(img, (x0, int(H * 0.45)), (x1, int(H * 0.6)), _colour(rng), -1)
        cv2.putText(img, "48V", (x0 + 6, int(H * 0.57)), cv2.FONT_HERSHEY_SIMPLEX, H / 240, (240, 240, 240), 2)
        cv2.rectangle(img, (int(W * 0.3), int(H * 0.05)), (int(W * 0.7), y0), (20, 20, 20), 8)
        cv2.rectangle(m, (int(W * 0.3), int(H * 0.05)), (int(W * 0.7), y0), 255, 8)
        cv2.circle(img, (int(W * 0.75), int(H * 0.3)), max(3, H // 40), (0, 0, 200), -1)
    shade = rng.uniform(0.75, 1.15)
    img = np.clip(img.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        img, m = img[:, ::-1].copy(), m[:, ::-1].copy()
    return img, m


def on_background(sprite: tuple[np.ndarray, np.ndarray], bg: np.ndarray) -> np.ndarray:
    """The sprite over a background of the same size (for crops): masked pixels from the sprite."""
    img, m = sprite
    bgr = cv2.resize(bg, (img.shape[1], img.shape[0]))
    return np.where(m[..., None] > 0, img, bgr)


def labelled_crops(per_class: int, seed: int = 0, classes: tuple[str, ...] = ("ebike", "bicycle", "stroller",
                   "wheelchair", "cart", "battery", "other"), size: tuple[int, int] = (320, 240)
                   ) -> list[tuple[str, np.ndarray]]:
    """``per_class`` crops of each class as the device cuts them (object in the *tuning* generator's car, box plus
    the crop margin): the e-bike is the left Middlebury motorcycle photo, a person (astronaut) or a bare patch of
    the car is ``other``, the rest are drawn. Sizes, places, mirroring and brightness vary with ``seed``."""
    from linli.liftcls import crop

    from .scenes import car_interior, sprite

    rng = np.random.default_rng(seed)
    W, H = size
    out: list[tuple[str, np.ndarray]] = []
    for c in classes:
        for i in range(per_class):
            img = car_interior(W, H, True).copy()
            if c == "other" and i % 2 == 1:  # a patch of empty car: what a false detection sees
                x, y = int(rng.integers(0, W // 2)), int(rng.integers(0, H // 2))
                box = (x, y, x + int(rng.integers(40, W // 2)), y + int(rng.integers(40, H // 2)))
            else:
                if c == "ebike":
                    spr = sprite("motorcycle")
                elif c == "other":
                    spr = sprite("person")
                else:
                    spr = draw(c, seed * 1000 + i, 240)
                if rng.random() < 0.5:
                    spr = (spr[0][:, ::-1].copy(), spr[1][:, ::-1].copy())
                wf = float(rng.uniform(0.25, 0.6)) * (0.5 if c == "battery" else 1.0)
                w = max(8, int(wf * W))
                h = max(8, int(spr[1].shape[0] * w / spr[1].shape[1]))
                if h > H - 4:
                    w, h = int(w * (H - 4) / h), H - 4
                x0 = int(rng.integers(0, max(1, W - w)))
                y0 = int(rng.integers(max(0, H // 3 - h // 2), max(H // 3 - h // 2 + 1, H - h)))
                s_img = cv2.resize(spr[0], (w, h), interpolation=cv2.INTER_AREA)
                s_m = cv2.resize(spr[1], (w, h), interpolation=cv2.INTER_NEAREST) > 0
                dst = img[y0:y0 + h, x0:x0 + w]
                dst[s_m[:dst.shape[0], :dst.shape[1]]] = s_img[:dst.shape[0], :dst.shape[1]][
                    s_m[:dst.shape[0], :dst.shape[1]]]
                box = (x0, y0, x0 + dst.shape[1], y0 + dst.shape[0])
            gain = float(rng.uniform(0.7, 1.25))
            noisy = np.clip(img.astype(np.float32) * gain + rng.normal(0, 3.0, img.shape), 0, 255).astype(np.uint8)
            cut = crop(noisy, box)
            if cut is not None:
                out.append((c, cut))
    return out
