#!/usr/bin/env python3
"""Held-out plate scenes: a second generator, written apart from ``edge/apps/gate/scenes.py`` and never used to tune
the recogniser. Everything differs from the first generator on purpose:

- fonts: Debian ``fonts-wqy-zenhei`` and ``fonts-arphic-ukai`` for the Chinese characters, ``fonts-dejavu-core``
  and ``fonts-liberation2`` for letters and digits (the first generator draws everything with Noto Sans CJK);
- plates: blue, green small new-energy (gradient), yellow-green large new-energy (yellow left, green right), yellow
  single row, yellow double row, 挂 trailers (double row), 学 coach plates, white 警 plates; a plate-holder frame
  with dealer text and a telephone number around half of them; screws, an embossed edge, the GA 36 dot;
- geometry: a full homography from a random 3-D turn of the plate (yaw ±35°, pitch ±18°, roll ±9°), plates
  110–320 px wide, frames of 960×540, 1280×720 or 1920×1080 at any place of the frame;
- degradations: motion blur along a random direction, sensor noise, JPEG at quality 18–55, a glare spot, mud and
  dirt, night infra-red (grey, retro-reflective plate, dark surroundings), dusk;
- every vehicle is an approach of ``FRAMES`` frames (the plate growing, the light and noise changing a little),
  as a lane camera sees it; plate-free vehicles and signs with Chinese text are the scenes where no plate may
  be invented.

Deterministic: ``vehicle(seed)`` gives the same pixels for the same seed; nothing is stored in the repository.

    python bench/plates_heldout.py --write /tmp/heldout 24     # look at some
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

FRAMES = 3
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
NEV = "DF"  # the letters small new-energy plates really use (GA 36-2018: D electric, F others)

CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/arphic/ukai.ttc")
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
               "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
               "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")
DEALERS = ("上汽大众 浦东4S店", "一汽丰田 宝山店", "比亚迪 汽车城店", "吉利汽车 闵行店", "广汽本田 服务热线",
           "长安福特 徐汇店", "特斯拉 服务中心", "东风日产 嘉定店")
SIGNS = ("停车场入口", "减速慢行", "访客请登记", "出口", "小区内限速5公里", "新手上路 请多关照", "禁止停车")
KINDS_CLEAN = (("blue", 34), ("green", 24), ("yellow", 9), ("yellow_green", 8), ("double", 8), ("trailer", 6),
               ("coach", 6), ("police", 5))


class FontMissing(RuntimeError):
    pass


@cache
def _font(path: str, size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    if not Path(path).exists():
        raise FontMissing(f"{path} missing: apt-get install fonts-wqy-zenhei fonts-arphic-ukai fonts-dejavu-core "
                          "fonts-liberation2 (scripts/setup.sh does)")
    return ImageFont.truetype(path, size)


@cache
def _glyph(ch: str, font: str, w: int, h: int) -> np.ndarray:
    """``ch`` in ``font`` as a w×h coverage mask, stretched to the cell like plate lettering."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (300, 300), 0)
    ImageDraw.Draw(img).text((30, 10), ch, font=_font(font, 200), fill=255)
    arr = np.array(img)
    ys, xs = np.nonzero(arr > 60)
    arr = arr[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    gh, gw = arr.shape
    tw = w if gw / gh > 0.4 else min(w, max(3, round(h * gw / gh * 1.5)))  # "1" stays narrow
    out = np.zeros((h, w), np.uint8)
    out[:, (w - tw) // 2:(w - tw) // 2 + tw] = cv2.resize(arr, (tw, h), interpolation=cv2.INTER_AREA)
    return out


def plate_text(rng: random.Random, kind: str) -> str:
    p, a = rng.choice(PROVINCES), rng.choice(LETTERS)

    def serial(n: int) -> str:
        s = [rng.choice(DIGITS) for _ in range(n)]
        for i in rng.sample(range(n), rng.choice((0, 0, 1, 2))):
            s[i] = rng.choice(LETTERS)
        return "".join(s)

    if kind == "green":
        second = rng.choice(DIGITS + LETTERS) if rng.random() < 0.5 else rng.choice(DIGITS)
        return p + a + rng.choice(NEV) + second + "".join(rng.choice(DIGITS) for _ in range(4))
    if kind == "yellow_green":
        return p + a + "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice(NEV)
    if kind == "trailer":
        return p + a + serial(4) + "挂"
    if kind == "coach":
        return p + a + serial(4) + "学"
    if kind == "police":
        return p + a + "".join(rng.choice(DIGITS) for _ in range(4)) + "警"
    return p + a + serial(5)


# ---------------------------------------------------------------------------------------------- the plate
def _background(kind: str, h: int, w: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """(BGR float background, BGR ink)."""
    img = np.zeros((h, w, 3), np.float32)
    jitter = np.array([rng.uniform(-12, 12) for _ in range(3)], np.float32)
    dark = np.array([18, 18, 18], np.float32)
    if kind == "blue":
        img[:] = np.array([170, 60, 0], np.float32) + jitter
        return img, np.array([250, 250, 250], np.float32)
    if kind == "green":
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img[:] = (1 - t) * np.array([225, 245, 220]) + t * np.array([60, 185, 40]) + jitter
        return img, dark
    if kind == "yellow_green":
        img[:] = np.array([40, 170, 30], np.float32) + jitter
        img[:, :round(w * 0.3)] = np.array([20, 190, 240], np.float32) + jitter
        return img, dark
    if kind == "police":
        img[:] = np.array([240, 240, 240], np.float32) + jitter
        return img, dark
    img[:] = np.array([10, 185, 240], np.float32) + jitter  # yellow, double, trailer, coach
    return img, dark


def _draw(img: np.ndarray, ch: str, x: int, y: int, w: int, h: int, ink: np.ndarray, fonts: tuple[str, str]) -> None:
    font = fonts[0] if ord(ch) > 127 else fonts[1]
    m = _glyph(ch, font, w, h).astype(np.float32)[..., None] / 255
    img[y:y + h, x:x + w] = img[y:y + h, x:x + w] * (1 - m) + ink * m


def render(text: str, kind: str, rng: random.Random) -> np.ndarray:
    """The plate at 1 px/mm, BGR uint8 (440 or 480 × 140, double rows 440 × 220)."""
    fonts = (rng.choice(CJK_FONTS), rng.choice(LATIN_FONTS))
    double = kind in ("double", "trailer")
    if double:
        W, H = 440, 220
    else:
        W, H = (480 if len(text) == 8 else 440), 140
    img, ink = _background(kind, H, W, rng)
    edge = tuple(float(v) for v in (ink * 0.9 + 10))
    cv2.rectangle(img, (5, 5), (W - 6, H - 6), edge, 3)
    if double:
        # top row: province + letter, 80 × 60 mm, centred; bottom row: 5 characters 65 × 110 mm
        for i, ch in enumerate(text[:2]):
            _draw(img, ch, 110 + i * 140, 15, 80, 60, ink, fonts)
        for i, ch in enumerate(text[2:]):
            _draw(img, ch, 27 + i * 80, 90, 65, 110, ink, fonts)
    else:
        cw, gap, dot_gap = (43, 9, 49) if len(text) == 8 else (45, 12, 34)
        x = (W - (len(text) * cw + (len(text) - 2) * gap + dot_gap)) / 2
        for i, ch in enumerate(text):
            col = np.array([20, 20, 210], np.float32) if (kind == "police" and ch == "警") else ink
            _draw(img, ch, round(x), 25, cw, 90, col, fonts)
            x += cw + (dot_gap if i == 1 else gap)
            if i == 1:
                cv2.circle(img, (round(x - dot_gap / 2), 70), 5, tuple(float(v) for v in ink), -1)
    for sx in (0.22, 0.78):  # screws
        cv2.circle(img, (round(W * sx), 14 if not double else 12), 5, (150, 150, 150), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def with_frame(plate: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """A plate-holder frame with dealer text around the plate; returns the image and the plate's corners in it."""
    from PIL import Image, ImageDraw

    ph, pw = plate.shape[:2]
    side, top, bottom = 14, rng.choice((10, 16)), rng.choice((34, 42))
    col = rng.choice(((20, 20, 20), (190, 190, 195), (120, 20, 20)))
    out = np.zeros((ph + top + bottom, pw + 2 * side, 3), np.uint8)
    out[:] = col
    out[top:top + ph, side:side + pw] = plate
    pil = Image.fromarray(out[..., ::-1].copy())
    text_col = (235, 235, 235) if col[0] < 150 else (30, 30, 30)
    dealer = rng.choice(DEALERS)
    if rng.random() < 0.5:
        dealer += f"  {rng.choice(('021', '400', '0571'))}-{rng.randint(1000000, 9999999)}"
    ImageDraw.Draw(pil).text((side + 10, top + ph + 4), dealer, font=_font(rng.choice(CJK_FONTS), bottom - 12),
                             fill=text_col)
    out = np.array(pil)[..., ::-1].copy()
    corners = np.array([[side, top], [side + pw, top], [side + pw, top + ph], [side, top + ph]], np.float32)
    return out, corners


# ---------------------------------------------------------------------------------------------- the scene
def _street(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    sky = rng.uniform(120, 210, 3)
    img[:] = sky
    y = 0
    while y < h * 0.55:  # buildings and trees, blocks of colour with a texture
        bh = int(rng.integers(30, 120))
        x = 0
        while x < w:
            bw = int(rng.integers(40, 260))
            img[y:y + bh, x:x + bw] = rng.uniform(40, 200, 3)
            x += bw
        y += bh
    img[int(h * 0.55):] = rng.uniform(50, 110)
    img += rng.normal(0, 5, (h, w, 1)).astype(np.float32)
    return img


def _sign(img: np.ndarray, rng: random.Random, w: int, h: int) -> None:
    """A sign with Chinese text (a hard negative: text, a coloured panel, but no plate)."""
    from PIL import Image, ImageDraw

    text = rng.choice(SIGNS)
    size = rng.randint(24, 48)
    panel = Image.new("RGB", (size * len(text) + 30, size + 24), rng.choice(((0, 70, 170), (20, 120, 40),
                                                                             (230, 190, 0), (240, 240, 240))))
    ink = (255, 255, 255) if panel.getpixel((0, 0))[2] > 100 and panel.getpixel((0, 0))[0] < 100 else (20, 20, 20)
    ImageDraw.Draw(panel).text((15, 10), text, font=_font(rng.choice(CJK_FONTS), size), fill=ink)
    arr = np.array(panel)[..., ::-1].astype(np.float32)
    ph, pw = arr.shape[:2]
    x, y = rng.randint(0, max(1, w - pw - 1)), rng.randint(0, max(1, int(h * 0.45) - ph))
    img[y:y + ph, x:x + pw] = arr[: h - y, : w - x]


def _turn(w: float, h: float, yaw: float, pitch: float, roll: float, f: float) -> np.ndarray:
    """The corners of a w×h rectangle turned in 3-D and projected by a pinhole camera (focal ``f``), centred."""
    pts = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]], np.float64)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    p = pts @ (rz @ rx @ ry).T
    p[:, 2] += f
    return (p[:, :2] * f / p[:, 2:3]).astype(np.float32)


@dataclass
class Look:
    """What a vehicle's approach looks like (drawn once per vehicle, varied a little per frame)."""

    size: tuple[int, int]
    plate_px: float
    cx: float
    cy: float
    yaw: float
    pitch: float
    roll: float
    framed: bool
    car: tuple[float, float, float]
    degradations: tuple[str, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)


def _apply(img: np.ndarray, look: Look, rng: np.random.Generator, plate_mask: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    d = look.degradations
    if "night_ir" in d:
        grey = img @ np.array([0.3, 0.45, 0.25], np.float32)
        grey = grey * 0.35 + plate_mask[..., 0] * grey * 1.1  # the plate reflects the IR light back
        img = np.repeat(np.clip(grey, 0, 255)[..., None], 3, axis=2)
        img += rng.normal(0, 7, img.shape[:2])[..., None].astype(np.float32)
    if "dusk" in d:
        img *= look.extra.get("dusk", 0.45)
    if "glare" in d:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        gx, gy, r = look.cx + look.extra["gx"], look.cy + look.extra["gy"], look.extra["gr"]
        img += 230 * np.exp(-(((xx - gx) ** 2 + ((yy - gy) * 1.8) ** 2) / (2 * r * r)))[..., None]
    if "dirt" in d:
        for _ in range(int(look.extra.get("spots", 8))):
            x, y = look.cx + rng.normal(0, look.plate_px * 0.3), look.cy + rng.normal(0, look.plate_px * 0.08)
            r = max(2, int(abs(rng.normal(look.plate_px * 0.025, look.plate_px * 0.01))))
            col = (40 + rng.uniform(0, 30), 70 + rng.uniform(0, 30), 90 + rng.uniform(0, 30))
            overlay = img.copy()
            cv2.circle(overlay, (int(x), int(y)), r, col, -1)
            img = cv2.addWeighted(overlay, 0.75, img, 0.25, 0)
    if "motion_blur" in d:
        n = max(3, int(look.extra["mb_len"]) | 1)
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1.0 / n
        k = cv2.warpAffine(k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), look.extra["mb_ang"], 1.0), (n, n))
        img = cv2.filter2D(img, -1, k / max(1e-6, k.sum()))
    if "noise" in d:
        img += rng.normal(0, look.extra["noise"], img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if "jpeg" in d:
        _ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(look.extra["q"])])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def _frame(text: str, kind: str, look: Look, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed * 31 + 7)  # the street does not change during the approach
    prng = random.Random(seed)
    w, h = look.size
    img = _street(rng, w, h)
    if look.extra.get("sign"):
        _sign(img, random.Random(seed + 1), w, h)
    grow = 0.82 + 0.09 * k  # the car comes closer
    plate_px = look.plate_px * grow
    cx, cy = look.cx, look.cy + (k - 1) * look.plate_px * 0.12
    car_w, car_h = plate_px * 4.2, plate_px * 1.8
    car = tuple(float(c) for c in look.car)
    x0, y0 = int(cx - car_w / 2), int(cy - car_h * 0.7)
    cv2.rectangle(img, (x0, y0), (int(x0 + car_w), int(y0 + car_h)), car, -1)
    cv2.rectangle(img, (int(x0 + car_w * 0.15), int(y0 - car_h * 0.45)), (int(x0 + car_w * 0.85), y0),
                  tuple(c * 0.5 for c in car), -1)  # rear window
    for sx in (0.05, 0.8):
        cv2.rectangle(img, (int(x0 + car_w * sx), int(y0 + car_h * 0.15)), (int(x0 + car_w * (sx + 0.15)),
                      int(y0 + car_h * 0.32)), (40, 40, 190), -1)
    cv2.rectangle(img, (x0 - 5, int(y0 + car_h * 0.75)), (int(x0 + car_w + 5), int(y0 + car_h * 0.95)),
                  tuple(c * 0.7 for c in car), -1)  # bumper
    mask = np.zeros((h, w, 1), np.float32)
    if text:
        plate = render(text, kind, random.Random(seed + 2))
        if look.framed:
            plate, inner = with_frame(plate, random.Random(seed + 3))
        else:
            ph0, pw0 = plate.shape[:2]
            inner = np.array([[0, 0], [pw0, 0], [pw0, ph0], [0, ph0]], np.float32)
        ph, pw = plate.shape[:2]
        s = plate_px / (inner[1, 0] - inner[0, 0])
        f = 1.6 * w
        dst = _turn(pw * s, ph * s, look.yaw, look.pitch, look.roll, f) + np.array([cx, cy], np.float32)
        src = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(plate, m, (w, h), flags=cv2.INTER_AREA).astype(np.float32)
        mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (w, h)).astype(np.float32)[..., None] / 255
        img = img * (1 - mask) + warped * mask
        if "glare" in look.degradations:
            look.extra.setdefault("gx", prng.uniform(-0.3, 0.3) * plate_px)
            look.extra.setdefault("gy", prng.uniform(-0.1, 0.1) * plate_px)
            look.extra.setdefault("gr", plate_px * prng.uniform(0.06, 0.12))
    elif "glare" in look.degradations:
        look.extra.setdefault("gx", 0.0)
        look.extra.setdefault("gy", 0.0)
        look.extra.setdefault("gr", plate_px * 0.1)
    return _apply(img, look, np.random.default_rng(seed * 131 + k), mask)


@dataclass(frozen=True)
class Vehicle:
    seed: int
    text: str  # "" for a vehicle without a plate
    kind: str  # blue, green, yellow, yellow_green, double, trailer, coach, police, none
    degraded: bool
    degradations: tuple[str, ...]
    frames: tuple[np.ndarray, ...]


def vehicle(seed: int, degraded: bool, plate: bool = True) -> Vehicle:
    """One approach (``FRAMES`` frames), fully determined by ``seed`` and the two flags."""
    rng = random.Random(seed * 7919 + (1 if degraded else 0) + (0 if plate else 2))
    kinds, weights = zip(*KINDS_CLEAN, strict=True)
    kind = rng.choices(kinds, weights)[0] if plate else "none"
    text = plate_text(rng, kind) if plate else ""
    size = rng.choice(((960, 540), (1280, 720), (1280, 720), (1920, 1080)))
    w, h = size
    plate_px = rng.uniform(0.11, 0.24) * w if size[0] < 1900 else rng.uniform(0.09, 0.17) * w
    plate_px = max(110.0, min(320.0, plate_px))
    degr: tuple[str, ...] = ()
    extra: dict[str, float] = {"sign": float(rng.random() < 0.3 or not plate)}
    if degraded:
        pool = ["motion_blur", "noise", "jpeg", "glare", "dirt", "night_ir", "dusk"]
        degr = tuple(sorted(rng.sample(pool, rng.choice((1, 2, 2, 3)))))
        extra.update(mb_len=rng.uniform(4, 11), mb_ang=rng.uniform(0, 180), noise=rng.uniform(6, 16),
                     q=rng.uniform(18, 55), dusk=rng.uniform(0.3, 0.55), spots=rng.randint(4, 12))
    turn = 1.0 if degraded else 0.5
    look = Look(size=size, plate_px=plate_px, cx=rng.uniform(0.25, 0.75) * w, cy=rng.uniform(0.5, 0.72) * h,
                yaw=np.deg2rad(rng.uniform(-35, 35) * turn), pitch=np.deg2rad(rng.uniform(-18, 18) * turn),
                roll=np.deg2rad(rng.uniform(-9, 9) * turn), framed=rng.random() < 0.5,
                car=(rng.uniform(20, 230), rng.uniform(20, 230), rng.uniform(20, 230)), degradations=degr,
                extra=extra)
    frames = tuple(_frame(text, kind, look, k, seed) for k in range(FRAMES))
    return Vehicle(seed, text, kind, degraded, degr, frames)


def heldout(n_clean: int, n_degraded: int, n_empty: int, base_seed: int = 900_000) -> list[tuple[str, int, bool, bool]]:
    """The frozen set as (label, seed, degraded, plate) tuples; ``vehicle(seed, degraded, plate)`` draws one."""
    out = [("clean", base_seed + i, False, True) for i in range(n_clean)]
    out += [("degraded", base_seed + 10_000 + i, True, True) for i in range(n_degraded)]
    out += [("empty", base_seed + 20_000 + i, i % 2 == 1, False) for i in range(n_empty)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="write held-out plate scenes as JPEG files to look at")
    ap.add_argument("--write", type=Path, required=True)
    ap.add_argument("n", type=int, nargs="?", default=12)
    args = ap.parse_args()
    args.write.mkdir(parents=True, exist_ok=True)
    for label, seed, degraded, plate in heldout(args.n, args.n, max(2, args.n // 4)):
        v = vehicle(seed, degraded, plate)
        for k, f in enumerate(v.frames):
            name = f"{label}-{seed}-{k}-{v.kind}-{'_'.join(v.degradations) or 'clean'}.jpg"
            cv2.imwrite(str(args.write / name), f)
    print(f"wrote {len(list(args.write.glob('*.jpg')))} frames to {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
