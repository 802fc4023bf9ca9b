#!/usr/bin/env python3
"""Training data for the plate reader: text bands cut exactly as the gate's recogniser cuts them.

Every sample is a GA 36 plate drawn flat in one of many fonts, set in a scene (car body, sometimes a dealer's
plate-holder frame with text), turned in 3-D, scaled to 80-360 px wide, degraded like a lane camera's frame, and
then cut out with the recogniser's own code (``edge.apps.gate.reading._warp`` for the single-row looks,
``_double_rows`` for the two rows of a double-row plate) from the plate's corners moved a little, as the detector
finds them. The crop then goes through the recogniser's normalisation (height 32, ``(x/255 - 0.5)/0.5``).

Fonts: Noto Sans/Serif CJK (every weight), AR PL UMing, AR PL SungtiL GB, Droid Sans Fallback, LXGW WenKai, Smiley
Sans for the Chinese characters; the same plus FreeSans/FreeMono, URW base35, croscore, Roboto, Open Sans and Noto
Mono for letters and digits. The fonts of the held-out benchmark set (WenQuanYi, AR PL UKai and the other Arphic
Kai fonts, DejaVu, Liberation) are never used: ``fonts()`` refuses them.

Plate kinds, the 31 provinces drawn evenly: blue (7), yellow single row (7, 学 coach), yellow double row (ordinary
and 挂 trailer: upper row and lower row are separate samples, as the recogniser reads them), green small
new-energy (8, D/F third), yellow-green large new-energy (8, D/F last), white 警 police, black 港/澳.

Augmentation: character width, height, spacing and stroke weight; perspective (yaw, pitch, roll); detector corner
error; band cut 6-17 % and 0-3 % wider (the recogniser's looks); blur (Gaussian, motion), sensor noise, JPEG 15-95,
glare, dirt and mud, infra-red night (grey, bright plate), dusk and low contrast, frames with dealer text;
hard shadow edges, overexposure, the camera's sharpening halos and low-resolution streams scaled up.

Needs numpy, opencv-python-headless and Pillow (no torch): ``sample(rng)`` gives one (crop, text);
``python models/tools/plate_train_data.py --write DIR 40`` writes some crops to look at.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from edge.apps.gate.reading import SINGLE_LOOKS, _double_rows, _warp  # noqa: E402
from edge.apps.gate.recognizer import REC_H, _order_corners  # noqa: E402

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
SERIAL = LETTERS + DIGITS

#: fonts of the held-out benchmark set (bench/plates_heldout.py): never trained on
FORBIDDEN = ("wqy", "wenquanyi", "ukai", "gkai", "bkai", "dejavu", "liberation")

_CJK = [
    *[(f"/usr/share/fonts/opentype/noto/NotoSansCJK-{w}.ttc", 2)
      for w in ("Thin", "Light", "DemiLight", "Regular", "Medium", "Bold", "Black")],
    *[(f"/usr/share/fonts/opentype/noto/NotoSerifCJK-{w}.ttc", 2)
      for w in ("ExtraLight", "Light", "Regular", "Medium", "SemiBold", "Bold", "Black")],
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 7),  # Noto Sans Mono CJK SC
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 7),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 2),
    ("/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    *[(f"/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai{m}-{w}.ttf", 0)
      for m in ("", "Mono") for w in ("Light", "Regular", "Bold")],
    ("/usr/share/fonts/truetype/smiley-sans/SmileySans-Oblique.ttf", 0),
]
_LATIN_DIRS = ("/usr/share/fonts/truetype/freefont", "/usr/share/fonts/opentype/urw-base35",
               "/usr/share/fonts/truetype/croscore", "/usr/share/fonts/truetype/roboto/unhinted",
               "/usr/share/fonts/truetype/open-sans", "/usr/share/fonts/truetype/noto")
_LATIN_SKIP = ("Italic", "Oblique", "Z003", "D050000L", "StandardSymbols", "Thin", "BdIta")

DEALERS = ("一汽大众 4S店", "东风本田 服务热线", "上汽通用 城西店", "奇瑞汽车 销售中心", "长城汽车 欢迎您",
           "北京现代 南区店", "蔚来中心", "理想汽车 交付中心", "红旗 体验中心", "五菱 售后服务",
           "13812345678", "400-800-1234", "平安出行", "广汽传祺 专营店", "小鹏汽车")


class FontMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Font:
    path: str
    index: int = 0

    @property
    def name(self) -> str:
        return f"{Path(self.path).stem}#{self.index}"


@cache
def fonts() -> tuple[tuple[Font, ...], tuple[Font, ...]]:
    """(fonts for Chinese characters, fonts for letters and digits) that are installed; held-out fonts refused."""
    cjk = tuple(Font(p, i) for p, i in _CJK if Path(p).exists())
    latin: list[Font] = []
    for d in _LATIN_DIRS:
        for p in sorted(Path(d).rglob("*")) if Path(d).is_dir() else []:
            if p.suffix.lower() in (".ttf", ".otf") and not any(s in p.name for s in _LATIN_SKIP) \
                    and ("noto" not in d or "Mono" in p.name or p.name.startswith("NotoSans-")):
                latin.append(Font(str(p)))
    for f in (*cjk, *latin):
        if any(s in f.path.lower() for s in FORBIDDEN):
            raise ValueError(f"held-out font in the training fonts: {f.path}")
    if len(cjk) < 4:
        raise FontMissing("too few CJK fonts: apt-get install fonts-noto-cjk fonts-noto-cjk-extra fonts-arphic-uming "
                          "fonts-arphic-gbsn00lp fonts-droid-fallback fonts-lxgw-wenkai fonts-smiley-sans")
    return cjk, tuple(latin) + cjk[:6]


@cache
def _pil_font(font: Font, size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.truetype(font.path, size, index=font.index)


@cache
def _ink(ch: str, font: Font) -> np.ndarray | None:
    """The character's coverage (0..255) cropped to its ink, drawn 128 px high; None when the font lacks it."""
    from PIL import Image, ImageDraw

    f = _pil_font(font, 128)
    img = Image.new("L", (220, 200), 0)
    ImageDraw.Draw(img).text((30, 10), ch, font=f, fill=255)
    arr = np.array(img)
    ys, xs = np.nonzero(arr > 60)
    if ys.size < 30:
        return None
    return arr[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def glyph(ch: str, font: Font, w: int, h: int, stroke: int = 0) -> np.ndarray | None:
    """The character as a w×h coverage mask, stretched like a narrow plate font (narrow glyphs such as 1 keep
    their shape); ``stroke`` > 0 thickens, < 0 thins the strokes."""
    arr = _ink(ch, font)
    if arr is None:
        return None
    gh, gw = arr.shape
    tw = w if gw / gh > 0.35 else max(3, min(w, round(h * gw / gh * 1.3)))
    g = cv2.resize(arr, (tw, h), interpolation=cv2.INTER_AREA)
    if stroke:
        k = np.ones((abs(stroke) + 1, abs(stroke) + 1), np.uint8)
        g = cv2.dilate(g, k) if stroke > 0 else cv2.erode(g, k)
    out = np.zeros((h, w), np.uint8)
    x0 = (w - tw) // 2
    out[:, x0:x0 + tw] = g
    return out


# ---------------------------------------------------------------------------------------------------- plate texts
KINDS = (("blue", 30), ("green", 20), ("yellow", 8), ("yellow_green", 9), ("double", 8), ("trailer", 8),
         ("coach", 6), ("police", 7), ("hkmo", 2))


def plate_text(rng: random.Random, kind: str, province: str) -> str:
    a = rng.choice(LETTERS)
    d = lambda n: "".join(rng.choice(DIGITS) for _ in range(n))  # noqa: E731
    if kind == "green":
        return province + a + rng.choice("DF" * 4 + "ABCEGHJK") + rng.choice(SERIAL) + d(4)
    if kind == "yellow_green":
        return province + a + d(5) + rng.choice("DF" * 4 + "ABCEGHJK")
    if kind == "trailer":
        return province + a + _serial(rng, 4) + "挂"
    if kind == "coach":
        return province + a + _serial(rng, 4) + "学"
    if kind == "police":
        return province + a + d(4) + "警"
    if kind == "hkmo":
        return "粤Z" + _serial(rng, 4) + rng.choice("港澳")
    return province + a + _serial(rng, 5)


def _serial(rng: random.Random, n: int) -> str:
    s = [rng.choice(SERIAL) if rng.random() < 0.35 else rng.choice(DIGITS) for _ in range(n)]
    if sum(c.isalpha() for c in s) > 2:
        s = [c if c.isdigit() else rng.choice(DIGITS) for c in s]
    return "".join(s)


# ---------------------------------------------------------------------------------------------------- drawing
def _u3(rng: random.Random, a: float, b: float) -> np.ndarray:
    return np.array([rng.uniform(a, b) for _ in range(3)], np.float32)


def _colours(kind: str, rng: random.Random, n: int) -> tuple[np.ndarray, list[np.ndarray], tuple[float, ...]]:
    """(background H×W×3 float builder is done by the caller) → background colour, per-character colours, frame."""
    j = lambda c: np.clip(np.array(c, np.float32) + _u3(rng, -25, 25), 0, 255)  # noqa: E731
    black, white, red = j((25, 25, 25)), j((240, 240, 240)), j((30, 30, 200))
    if kind == "blue":
        return j((180, 70, 15)), [white] * n, tuple(float(v) for v in white)
    if kind in ("yellow", "double", "trailer", "coach"):
        fg = [black] * n
        if kind == "coach" and rng.random() < 0.5:
            fg[-1] = red
        return j((20, 195, 240)), fg, tuple(float(v) for v in black)
    if kind == "police":
        return j((240, 240, 240)), [black] * (n - 1) + [red], tuple(float(v) for v in black)
    if kind == "hkmo":
        return j((25, 25, 25)), [white] * n, tuple(float(v) for v in white)
    return j((80, 200, 60)), [black] * n, tuple(float(v) for v in black)


def render_plate(text: str, kind: str, rng: random.Random) -> np.ndarray:
    """The plate flat, BGR uint8, about 1 px per mm (double-row plates: both rows, 440 × 220)."""
    cjk, latin = fonts()
    cfont = rng.choice(cjk)
    lfont = rng.choice(latin) if rng.random() < 0.7 else cfont
    double = kind in ("double", "trailer")
    n = len(text)
    wide = n == 8
    W, H = (480 if wide else 440), (220 if double else 140)
    bg, fg, frame = _colours(kind, rng, n)
    img = np.empty((H, W, 3), np.float32)
    img[:] = bg
    if kind == "green":
        t = np.linspace(0, 1, H)[:, None, None] if rng.random() < 0.8 else np.linspace(0, 1, W)[None, :, None]
        top = np.array([245, 250, 245], np.float32) + _u3(rng, -15, 10)
        img[:] = (1 - t) * top + t * bg
    elif kind == "yellow_green":
        img[:, : W * 3 // 10 + rng.randint(-10, 10)] = np.array((20, 200, 245), np.float32) + _u3(rng, -20, 20)
    img += rng.uniform(-8, 8)
    if rng.random() < 0.85:
        th = rng.randint(1, 4)
        cv2.rectangle(img, (3 + th // 2, 3 + th // 2), (W - 4 - th // 2, H - 4 - th // 2), frame, th)
    stroke = rng.choice((-1, 0, 0, 0, 1, 1, 2))
    ch_h = rng.randint(80, 96)
    if double:
        up_w, lo_w = rng.randint(70, 90), rng.randint(58, 70)
        for i, ch in enumerate(text[:2]):
            _paste(img, ch, cfont if i == 0 else lfont, 105 + i * 140 + rng.randint(-6, 6), 15, up_w, 60,
                   fg[i], stroke)
        step = rng.uniform(76, 84)
        x0 = (W - (5 * lo_w + 4 * (step - lo_w))) / 2
        for i, ch in enumerate(text[2:]):
            f = cfont if ch in "挂学警" else lfont
            _paste(img, ch, f, round(x0 + i * step), 92 + rng.randint(-4, 4), lo_w, 105, fg[i + 2], stroke)
    else:
        cw = rng.randint(39, 46) if wide else rng.randint(40, 48)
        gap = rng.uniform(6, 11) if wide else rng.uniform(8, 14)
        dot_gap = rng.uniform(30, 52)
        x = (W - (n * cw + (n - 2) * gap + dot_gap)) / 2 + rng.uniform(-8, 8)
        y = (H - ch_h) // 2 + rng.randint(-6, 6)
        for i, ch in enumerate(text):
            f = cfont if (i == 0 or ch in "挂学警港澳") else lfont
            _paste(img, ch, f, round(x), y + rng.randint(-2, 2), cw, ch_h, fg[i], stroke)
            x += cw + (dot_gap if i == 1 else gap)
            if i == 1 and rng.random() < 0.85:
                cv2.circle(img, (round(x - dot_gap / 2), H // 2), rng.randint(3, 6), tuple(float(v) for v in fg[0]), -1)
    if rng.random() < 0.6:  # screws
        for sx in (0.22, 0.78):
            cv2.circle(img, (round(W * sx), rng.randint(8, 14)), rng.randint(4, 7), (170, 170, 170), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _paste(img: np.ndarray, ch: str, font: Font, x: int, y: int, w: int, h: int, col: np.ndarray, stroke: int
           ) -> None:
    g = glyph(ch, font, w, h, stroke)
    if g is None:  # the font lacks it: the first CJK font has every plate character
        g = glyph(ch, fonts()[0][3], w, h, stroke)
    assert g is not None
    H, W = img.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    m = g[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32)[..., None] / 255
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - m) + col * m


def _holder(plate: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """The plate on a car body, maybe in a dealer's holder frame with text; (canvas, plate corners in it)."""
    ph, pw = plate.shape[:2]
    mx, my = 120, 110
    canvas = np.empty((ph + 2 * my, pw + 2 * mx, 3), np.float32)
    canvas[:] = _u3(rng, 20, 230)
    canvas += np.linspace(rng.uniform(-30, 0), rng.uniform(0, 30), canvas.shape[0])[:, None, None]
    if rng.random() < 0.5:
        fcol = rng.choice(((20, 20, 20), (200, 200, 205), (40, 40, 160), (150, 150, 150)))
        t, b = rng.randint(6, 14), rng.randint(16, 34)
        cv2.rectangle(canvas, (mx - rng.randint(6, 14), my - t), (mx + pw + rng.randint(6, 14), my + ph + b),
                      fcol, -1)
        from PIL import Image, ImageDraw

        txt = rng.choice(DEALERS)
        f = _pil_font(rng.choice(fonts()[0][:6]), 12 + 4 * min(3, (b - 16) // 5))  # few faces: each costs memory
        im = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        col = (240, 240, 240) if sum(fcol) < 300 else (20, 20, 20)
        ImageDraw.Draw(im).text((mx + rng.randint(0, pw // 3), my + ph + 2), txt, font=f, fill=col)
        if rng.random() < 0.3:
            ImageDraw.Draw(im).text((mx + rng.randint(0, pw // 2), my - t - 2), rng.choice(DEALERS), font=f, fill=col)
        canvas = np.array(im).astype(np.float32)
    canvas[my:my + ph, mx:mx + pw] = plate
    corners = np.array([[mx, my], [mx + pw - 1, my], [mx + pw - 1, my + ph - 1], [mx, my + ph - 1]], np.float32)
    return np.clip(canvas, 0, 255).astype(np.uint8), corners


def _turn(corners: np.ndarray, rng: random.Random, out_w: float) -> np.ndarray:
    """The plate corners after a 3-D turn (yaw, pitch, roll), scaled so the plate is about ``out_w`` wide."""
    c = corners - corners.mean(axis=0)
    yaw, pitch, roll = (math.radians(rng.uniform(-a, a)) for a in (32, 16, 8))
    pts3 = np.c_[c, np.zeros(4)]
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    rz = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    p = pts3 @ (rz @ rx @ ry).T
    f = rng.uniform(900, 2500)
    p2 = p[:, :2] * (f / (f + p[:, 2:3]))
    width = float(np.linalg.norm(c[1] - c[0]))
    return (p2 * (out_w / width)).astype(np.float32)


def _degrade(img: np.ndarray, rng: random.Random, scale: float) -> np.ndarray:
    out = img.astype(np.float32)
    h, w = out.shape[:2]
    if rng.random() < 0.25:  # glare spot
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.5) * w
        yy, xx = np.ogrid[:h, :w]
        out += rng.uniform(60, 200) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
    if rng.random() < 0.25:  # dirt and mud
        for _ in range(rng.randint(2, 12)):
            c = (rng.uniform(0, w), rng.uniform(0, h))
            ax = (max(1, round(rng.uniform(2, 18) * scale)), max(1, round(rng.uniform(1, 10) * scale)))
            col = rng.uniform(30, 110)
            cv2.ellipse(out, (round(c[0]), round(c[1])), ax, rng.uniform(0, 180), 0, 360,
                        (col, col * 1.1, col * 1.2), -1)
    r = rng.random()
    if r < 0.15:  # infra-red night: grey, the plate bright
        g = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        if rng.random() < 0.5:
            g = 255 - g if rng.random() < 0.3 else g
        g = g * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30)
        out = np.repeat(g[..., None], 3, axis=2)
    elif r < 0.35:  # dusk, low contrast
        a = rng.uniform(0.25, 0.7)
        out = out * a + rng.uniform(0, 110) * (1 - a) * rng.uniform(0.3, 1.0)
    elif r < 0.45:  # colour cast
        out *= np.array([rng.uniform(0.7, 1.3) for _ in range(3)], np.float32)
    if rng.random() < 0.2:  # a hard shadow edge across the plate (a wall, the barrier arm, the car's own body)
        yy, xx = np.mgrid[:h, :w]
        ang, off = rng.uniform(0, math.pi), rng.uniform(-0.3, 0.3)
        side = (xx / w - 0.5 - off) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang) > 0
        out[side] *= rng.uniform(0.3, 0.7)
    if rng.random() < 0.1:  # overexposed: the bright plate clips
        out = out * rng.uniform(1.2, 1.7) + rng.uniform(0, 25)
    b = rng.random()
    big = min(1.0, 2 * scale)  # small plates: less blur in pixels, or nothing is left to read
    if b < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 0.5 + 1.5 * big))
    elif b < 0.5:  # motion blur
        k = rng.randint(3, 3 + round(6 * big))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1
        m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        ker = cv2.warpAffine(ker, m, (k, k))
        out = cv2.filter2D(out, -1, ker / max(1e-6, ker.sum()))
    if rng.random() < 0.2:  # the camera's own sharpening: halos around the strokes
        soft = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 2.0))
        out = out + rng.uniform(0.5, 1.5) * (out - soft)
    if rng.random() < 0.15:  # a low-resolution stream scaled up
        f = rng.uniform(0.35, 0.7)
        small = cv2.resize(out, (max(8, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=rng.choice((cv2.INTER_NEAREST, cv2.INTER_LINEAR)))
    if rng.random() < 0.6:
        out += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(2, 18), out.shape)
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        _ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 95)])
        out8 = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out8


def scene_crops(rng: random.Random, kind: str | None = None, province: str | None = None
                ) -> list[tuple[np.ndarray, str]]:
    """One plate in a degraded scene, cut like the recogniser: [(crop BGR, text)] (two crops for double rows)."""
    kind = kind or rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    text = plate_text(rng, kind, province or rng.choice(PROVINCES))
    plate = render_plate(text, kind, rng)
    canvas, corners = _holder(plate, rng)
    out_w = rng.uniform(80, 360) if rng.random() < 0.8 else rng.uniform(60, 120)
    dst = _turn(corners, rng, out_w)
    tight = np.ceil(dst.max(axis=0) - dst.min(axis=0)).astype(int)
    # the scene is the plate's surroundings: as far out as the holder canvas reaches
    ch, cw = canvas.shape[:2]
    full = cv2.getPerspectiveTransform(corners, dst)
    edges = cv2.perspectiveTransform(np.array([[[0, 0], [cw - 1, 0], [cw - 1, ch - 1], [0, ch - 1]]], np.float32),
                                     full)[0]
    lo = np.minimum(edges.min(axis=0), dst.min(axis=0) - tight * 0.3)
    hi = np.maximum(edges.max(axis=0), dst.max(axis=0) + tight * 0.3)
    shift = -lo
    size = np.ceil(hi - lo).astype(int) + 1
    m = cv2.getPerspectiveTransform(corners, (dst + shift).astype(np.float32))
    scene = cv2.warpPerspective(canvas, m, (int(size[0]), int(size[1])), flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_REPLICATE)
    scene = _degrade(scene, rng, out_w / 440)
    pc = (dst + shift).astype(np.float32)
    # the detector's corners: a few per cent off, along and across the plate
    u, v = pc[1] - pc[0], pc[3] - pc[0]
    err = rng.uniform(0.0, 0.06)
    noisy = np.array([p + rng.gauss(0, err / 2) * u + rng.gauss(0, err) * v for p in pc], np.float32)
    c = _order_corners(noisy)
    if kind in ("double", "trailer"):
        rows = _double_rows(scene, c)
        if len(rows) < 4:
            return []
        return [(rows[rng.randint(0, 1)], text[:2]), (rows[rng.randint(2, 3)], text[2:])]
    if rng.random() < 0.5:
        band, pad = rng.choice(SINGLE_LOOKS)
    else:
        band, pad = rng.uniform(0.06, 0.17), rng.uniform(0.0, 0.03)
    return [(_warp(scene, c, band, band, pad), text)]


def normalise(crop: np.ndarray, max_w: int = 320) -> np.ndarray:
    """The recogniser's input for one crop: height 32, the aspect kept (at most ``max_w``), (x/255 - 0.5)/0.5,
    CHW float32 (``PlateRecognizer.read_chars``)."""
    rw = min(max_w, max(1, math.ceil(REC_H * crop.shape[1] / crop.shape[0])))
    im = cv2.resize(crop, (rw, REC_H)).astype(np.float32)
    return ((im / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def sample_stream(seed: int):  # type: ignore[no-untyped-def]
    """Endless (crop, text), provinces balanced: every 31 plates draw each province once."""
    rng = random.Random(seed)
    while True:
        order = list(PROVINCES)
        rng.shuffle(order)
        for p in order:
            yield from scene_crops(rng, province=p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", type=Path, required=True)
    ap.add_argument("n", type=int, nargs="?", default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.write.mkdir(parents=True, exist_ok=True)
    for i, (crop, text) in zip(range(args.n), sample_stream(args.seed), strict=False):
        cv2.imwrite(str(args.write / f"{i:04d}_{text}.png"), crop)
    print(f"wrote {args.n} crops to {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
