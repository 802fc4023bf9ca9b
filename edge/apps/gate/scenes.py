"""Synthetic plate scenes for the simulator, the tests and the benchmark: GA 36 plate layouts rendered with Pillow
and a CJK font (Debian ``fonts-noto-cjk``), pasted on a car rear in a street scene, with tilt, blur, noise and
lighting. Deterministic for a given seed; nothing is stored in the repository.

- blue (small car): 440 × 140 mm, white characters on blue, 7 characters 45 × 90 mm, 12 mm apart, a dot and a
  34 mm gap after the second;
- green new-energy: 480 × 140 mm, black characters on a white→green gradient, 8 characters 43 × 90 mm, 9 mm apart,
  49 mm gap after the second;
- yellow (large car): as blue, black on yellow; double-row yellow (trucks, 挂 trailers): 440 × 220 mm, province
  and letter on a short upper row, five characters on the lower row;
- yellow-green large new-energy: 480 × 140 mm, black on yellow (left third) and green.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from linli.gate.plates import NEV_LETTERS, PROVINCES, SERIAL

FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
)
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"


class FontMissing(RuntimeError):
    pass


@cache
def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    for path, index in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=index)
    raise FontMissing("no CJK font found: apt-get install fonts-noto-cjk (scripts/setup.sh does)")


@cache
def _glyph(ch: str, w: int, h: int) -> np.ndarray:
    """The character as a w×h coverage mask (0..255), stretched like the narrow plate font."""
    from PIL import Image, ImageDraw

    font = _font(160)
    img = Image.new("L", (240, 240), 0)
    ImageDraw.Draw(img).text((20, 0), ch, font=font, fill=255)
    arr = np.array(img)
    ys, xs = np.nonzero(arr > 40)
    arr = arr[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    gh, gw = arr.shape
    tw = w if gw / gh > 0.35 else max(4, round(h * gw / gh * 1.3))
    glyph = cv2.resize(arr, (tw, h), interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w), np.uint8)
    x0 = (w - tw) // 2
    out[:, x0:x0 + tw] = glyph
    return out


def random_plate(rng: random.Random, kind: str = "blue") -> str:
    p = rng.choice(PROVINCES)
    a = rng.choice(LETTERS)
    if kind == "green":
        return p + a + rng.choice(NEV_LETTERS) + rng.choice(SERIAL) + "".join(rng.choice(DIGITS) for _ in range(4))
    if kind == "yellow_green":
        return p + a + "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice(NEV_LETTERS)
    if kind == "trailer":
        return p + a + "".join(rng.choice(DIGITS) for _ in range(4)) + "挂"
    serial = [rng.choice(SERIAL) for _ in range(5)]
    if sum(c.isalpha() for c in serial) > 2:  # real serials have at most two letters
        serial = [c if c.isdigit() else rng.choice(DIGITS) for c in serial]
    return p + a + "".join(serial)


def render_plate(text: str, scale: float = 1.0, double: bool = False) -> np.ndarray:
    """The plate alone, BGR, ``scale`` pixels per mm (``double``: a two-row yellow plate)."""
    if double:
        return _render_double(text, scale)
    green = len(text) == 8
    large_nev = green and text[-1] in NEV_LETTERS and text[2:7].isdigit()
    W, H = (480 if green else 440), 140
    cw, gap, dot_gap = (43, 9, 49) if green else (45, 12, 34)
    yellow = text.endswith(("学", "挂"))
    img = np.zeros((H, W, 3), np.float32)
    if large_nev:
        img[:] = (60, 190, 50)
        img[:, : W * 3 // 10] = (0, 200, 245)
        fg = np.array([20, 20, 20], np.float32)
    elif green:
        t = np.linspace(0, 1, H)[:, None, None]
        img[:] = (1 - t) * np.array([245, 250, 245]) + t * np.array([90, 200, 70])
        fg = np.array([20, 20, 20], np.float32)
    elif yellow:
        img[:] = (0, 200, 245)
        fg = np.array([20, 20, 20], np.float32)
    else:
        img[:] = (190, 70, 10)
        fg = np.array([245, 245, 245], np.float32)
    frame_col = (40, 40, 40) if (green or yellow) else (230, 230, 230)
    cv2.rectangle(img, (4, 4), (W - 5, H - 5), frame_col, 2)
    x = (W - (len(text) * cw + (len(text) - 2) * gap + dot_gap)) / 2
    for i, ch in enumerate(text):
        mask = _glyph(ch, cw, 90).astype(np.float32)[..., None] / 255
        xi, yi = round(x), 25
        img[yi:yi + 90, xi:xi + cw] = img[yi:yi + 90, xi:xi + cw] * (1 - mask) + fg * mask
        x += cw + (dot_gap if i == 1 else gap)
        if i == 1:
            cv2.circle(img, (round(x - dot_gap / 2), 70), 5, tuple(float(v) for v in fg), -1)
    return _scaled(img, scale)


def _scaled(img: np.ndarray, scale: float) -> np.ndarray:
    out = np.clip(img, 0, 255).astype(np.uint8)
    if scale != 1.0:
        h, w = out.shape[:2]
        out = cv2.resize(out, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return out


def _render_double(text: str, scale: float) -> np.ndarray:
    W, H = 440, 220
    img = np.zeros((H, W, 3), np.float32)
    img[:] = (0, 200, 245)
    fg = np.array([20, 20, 20], np.float32)
    cv2.rectangle(img, (4, 4), (W - 5, H - 5), (40, 40, 40), 2)
    for i, ch in enumerate(text[:2]):
        mask = _glyph(ch, 80, 60).astype(np.float32)[..., None] / 255
        x = 110 + i * 140
        img[15:75, x:x + 80] = img[15:75, x:x + 80] * (1 - mask) + fg * mask
    for i, ch in enumerate(text[2:]):
        mask = _glyph(ch, 65, 110).astype(np.float32)[..., None] / 255
        x = 27 + i * 80
        img[90:200, x:x + 65] = img[90:200, x:x + 65] * (1 - mask) + fg * mask
    return _scaled(img, scale)


@dataclass(frozen=True)
class Scene:
    image: np.ndarray
    text: str
    corners: np.ndarray  # the plate's corners in the image, 4x2


def make_scene(text: str, seed: int = 0, size: tuple[int, int] = (1280, 720), plate_px: int = 220,
               tilt_deg: float = 0.0, yaw: float = 0.0, blur: float = 0.0, noise: float = 0.0,
               light: float = 1.0, double: bool = False) -> Scene:
    """A car rear with ``text`` on its plate in a street scene. ``tilt_deg`` rotates the plate, ``yaw`` (0..0.4)
    foreshortens one side, ``blur`` is a Gaussian sigma in px, ``noise`` a Gaussian sigma in grey levels."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.empty((h, w, 3), np.float32)
    img[:] = rng.uniform(90, 150, 3)
    img[int(h * 0.6):] = rng.uniform(60, 100)
    img += rng.normal(0, 6, (h, w, 1))
    car_col = rng.uniform(30, 220, 3)
    cx, cy = w // 2 + int(rng.integers(-w // 8, w // 8)), int(h * 0.55)
    cw2, ch2 = int(plate_px * 1.9), int(plate_px * 0.9)
    cv2.rectangle(img, (cx - cw2, cy - ch2), (cx + cw2, cy + ch2), tuple(float(v) for v in car_col), -1)
    for sx in (-1, 1):
        cv2.rectangle(img, (cx + sx * int(cw2 * 0.8) - 40, cy - ch2 // 2), (cx + sx * int(cw2 * 0.8) + 40,
                      cy - ch2 // 2 + 30), (30, 30, 200), -1)
    plate = render_plate(text, double=double)
    ph, pw = plate.shape[:2]
    scale = plate_px / pw
    src = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], np.float32)
    dw, dh = pw * scale, ph * scale
    base = np.array([[-dw / 2, -dh / 2], [dw / 2, -dh / 2], [dw / 2, dh / 2], [-dw / 2, dh / 2]], np.float32)
    base[1:3, 1] *= 1 - yaw  # the right edge looks shorter
    a = np.deg2rad(tilt_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    dst = base @ rot.T + np.array([cx, cy + ch2 * 0.35], np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(plate, m, (w, h)).astype(np.float32)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (w, h)).astype(np.float32)[..., None] / 255
    img = img * (1 - mask) + warped * mask
    img *= light
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if noise > 0:
        img += rng.normal(0, noise, img.shape)
    return Scene(np.clip(img, 0, 255).astype(np.uint8), text, dst)


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
