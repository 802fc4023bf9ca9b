"""Simulated lift-car camera clips: a car interior seen from a ceiling corner, with real photographs of a
motorcycle (the e-bike stand-in) or a person pasted in and moving through the door, written as mp4v videos that
``edge.hal.Camera`` plays like any camera — so the real detector runs on them.

No lift-interior or e-bike photograph ships in any package we can use offline (see models/MODELS.md); the car is
drawn here, the objects come from scikit-image's bundled images (``motorcycle_left.png`` with its disparity map
to cut the bike out of its garage; ``astronaut.png`` for a person). Clips are described as data (YAML, see
``config/lift_guard_scenes.yaml``): segments with a door state, objects moving from one place to another, and
camera faults (black, covered, frozen).

The hard cases a real car adds (the tuning set's difficulty classes, see models/MODELS.md §2.1): a far, small bike;
a bike partly hidden by its owner (objects are pasted in list order, so a person listed after the bike stands in
front of it); infrared night pictures (``light: ir``: grey, flat, noisy, soft, lit by the camera's own illuminator)
and a flickering tube (``light: flicker``); a camera mounted at the side (``camera: side``: the whole picture seen
from a camera turned towards the side wall, so the door and whatever comes through it are at the picture's left
edge, partly outside it); and a bike that waits on the landing without crossing the sill. A clip may say what the
guard must do (``expect``), which :mod:`edge.apps.lift_guard.tuning` judges.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from edge.hal.sim import make_scene_video

from .drawn import DRAWN, draw

Light = Literal["day", "ir", "flicker"]
View = Literal["corner", "side"]
Expect = Literal["block", "none", "black", "covered", "frozen"]
Sprite = Literal["motorcycle", "person", "bicycle", "stroller", "wheelchair", "cart", "battery"]
Place = tuple[float, float, float]  # centre x, bottom y, width — fractions of the frame


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SceneObject(_M):
    sprite: Sprite
    start: Place = Field(description="(centre x, bottom y, width) as fractions of the frame")
    end: Place | None = Field(None, description="where it is at the end of the segment; default: start")
    jitter: float = Field(0.0, ge=0, le=0.9, description="random size change per frame (makes scores flap)")
    alpha: float = Field(1.0, gt=0, le=1, description="opacity (a half-hidden object)")


class Segment(_M):
    seconds: float = Field(gt=0)
    door: Literal["open", "closed"] = "open"
    objects: list[SceneObject] = Field(default_factory=list)
    effect: Literal["none", "black", "covered", "frozen"] = "none"
    light: Light = Field("day", description="day; ir: infrared night picture; flicker: a failing tube")


class Clip(_M):
    segments: list[Segment] = Field(min_length=1)
    camera: View = Field("corner", description="corner: ceiling corner facing the door; side: turned to the side "
                         "wall, the door at the picture's left edge")
    expect: Expect | None = Field(None, description="what the guard must do (tuning evaluation); None: not judged")

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.segments)

    def door_timeline(self) -> list[tuple[float, float, bool]]:
        """(start s, end s, door open) for each segment: what a test or the sim drives on the door input."""
        out, t = [], 0.0
        for s in self.segments:
            out.append((t, t + s.seconds, s.door == "open"))
            t += s.seconds
        return out


class SceneFile(_M):
    fps: float = Field(5.0, gt=0, le=60)
    width: int = Field(640, ge=160, le=1920)
    height: int = Field(480, ge=120, le=1080)
    clips: dict[str, Clip]


def load_scenes(path: Path) -> SceneFile:
    return SceneFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------------------ imagery
def _need_skimage() -> object:
    try:
        from skimage import data
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError("the simulated lift scenes need scikit-image's bundled photos: "
                           "pip install scikit-image (a dev dependency of linli)") from None
    return data


@cache
def sprite(kind: Sprite) -> tuple[np.ndarray, np.ndarray]:
    """(BGR image, uint8 mask) of a cut-out object."""
    if kind in DRAWN:  # no packaged photo shows these: drawn (edge.apps.lift_guard.drawn)
        return draw(kind, 0, 240)
    data = _need_skimage()
    if kind == "motorcycle":
        left, _right, disp = data.stereo_motorcycle()  # type: ignore[attr-defined]
        d = np.where(np.isfinite(disp), disp, 0).astype(np.float32)
        h = d.shape[0]
        rows = np.arange(300, h)
        edge = np.concatenate([d[300:, :40], d[300:, -40:]], axis=1)
        a, b = np.polyfit(rows, np.median(edge, axis=1), 1)  # the garage floor's disparity, row by row
        floor = a * np.arange(h)[:, None] + b
        m = ((d > 40) & (d > floor + 2.5)).astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        _n, lab, stats, _c = cv2.connectedComponentsWithStats(m)
        m = (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
        x, y, w, hh = cv2.boundingRect(m)
        img = cv2.cvtColor(left, cv2.COLOR_RGB2BGR)
        return img[y:y + hh, x:x + w].copy(), m[y:y + hh, x:x + w] * 255
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # type: ignore[attr-defined]
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.ellipse(m, (228, 92), (78, 88), 0, 0, 360, 255, -1)
    body = [(150, 150), (300, 150), (350, 240), (365, 330), (470, 345), (510, 420), (511, 511), (20, 511),
            (25, 330), (70, 240), (115, 180)]
    cv2.fillPoly(m, [np.array(body, np.int32)], 255)
    return img, m


def _brushed(h: int, w: int, base: tuple[int, int, int], rng: np.random.Generator, streak: float) -> np.ndarray:
    t = np.empty((h, w, 3), np.float32)
    t[:] = base
    t += rng.normal(0, streak, (h, 1, 1)) + rng.normal(0, 3, (h, w, 1))
    t *= np.linspace(1.08, 0.86, w, dtype=np.float32)[None, :, None]
    return np.clip(t, 0, 255).astype(np.uint8)


@cache
def car_interior(width: int, height: int, door_open: bool) -> np.ndarray:
    """A lift car seen from a ceiling corner: steel side walls, handrails, a grey floor, the door ahead."""
    rng = np.random.default_rng(11)
    W, H = width, height
    sx, sy = W / 640, H / 480
    img = np.zeros((H, W, 3), np.uint8)
    fx0, fy0, fx1, fy1 = int(170 * sx), int(40 * sy), int(470 * sx), int(250 * sy)
    walls = [np.array([[0, 0], [fx0, fy0], [fx0, fy1], [0, H]], np.int32),
             np.array([[W, 0], [fx1, fy0], [fx1, fy1], [W, H]], np.int32)]
    steel = _brushed(H, W, (172, 174, 178), rng, 9)
    m = np.zeros((H, W), np.uint8)
    cv2.fillPoly(m, walls, 255)
    img[m > 0] = steel[m > 0]
    floor = np.clip(np.full((H, W, 3), (68, 72, 80), np.int16) + rng.normal(0, 9, (H, W, 1)).astype(np.int16),
                    0, 255).astype(np.uint8)
    m[:] = 0
    cv2.fillPoly(m, [np.array([[0, H], [fx0, fy1], [fx1, fy1], [W, H]], np.int32)], 255)
    img[m > 0] = floor[m > 0]
    m[:] = 0
    cv2.fillPoly(m, [np.array([[0, 0], [fx0, fy0], [fx1, fy0], [W, 0]], np.int32)], 255)
    img[m > 0] = (214, 214, 210)
    cv2.ellipse(img, (W // 2, int(18 * sy)), (int(90 * sx), int(10 * sy)), 0, 0, 360, (250, 250, 245), -1)
    img[fy0:fy1, fx0:fx1] = _brushed(fy1 - fy0, fx1 - fx0, (150, 152, 156), rng, 6)
    dx0, dx1, dy0 = int(220 * sx), int(420 * sx), fy0 + int(10 * sy)
    if door_open:  # the landing: a tiled wall and floor
        hall = np.full((fy1 - dy0, dx1 - dx0, 3), (128, 146, 156), np.uint8)
        hall[int((fy1 - dy0) * 0.7):] = (96, 104, 112)
        for x in range(0, dx1 - dx0, max(8, int(30 * sx))):
            cv2.line(hall, (x, 0), (x, int((fy1 - dy0) * 0.7)), (116, 134, 144), 1)
        img[dy0:fy1, dx0:dx1] = hall
    else:
        img[dy0:fy1, dx0:dx1] = _brushed(fy1 - dy0, dx1 - dx0, (186, 186, 190), rng, 5)
        cv2.line(img, ((dx0 + dx1) // 2, dy0), ((dx0 + dx1) // 2, fy1), (90, 90, 90), 2)
    cv2.rectangle(img, (dx0, dy0), (dx1, fy1), (60, 60, 60), 2)
    px = int(430 * sx)
    cv2.rectangle(img, (px, int(90 * sy)), (px + int(25 * sx), int(200 * sy)), (40, 40, 40), -1)
    for i in range(6):
        cv2.circle(img, (px + int(12 * sx), int((100 + i * 17) * sy)), max(2, int(5 * sx)), (200, 200, 200), -1)
    cv2.line(img, (0, int(300 * sy)), (fx0, int(190 * sy)), (205, 205, 205), max(2, int(5 * sx)))
    cv2.line(img, (W, int(300 * sy)), (fx1, int(190 * sy)), (205, 205, 205), max(2, int(5 * sx)))
    return img


def paste(img: np.ndarray, obj: Sprite, place: Place, alpha: float = 1.0) -> tuple[int, int, int, int] | None:
    """Draw a cut-out object with its bottom centre at ``place`` (fractions), ``place[2]`` of the frame wide.
    Returns the box (x1, y1, x2, y2 pixels) of what is visible of it: the ground truth for evaluations."""
    H, W = img.shape[:2]
    spr, mask = sprite(obj)
    cx, by, wf = place
    w = max(4, int(wf * W))
    h = max(4, int(mask.shape[0] * w / mask.shape[1]))
    spr = cv2.resize(spr, (w, h), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST) > 0
    x0, y0 = int(cx * W - w / 2), int(by * H - h)
    X0, Y0, X1, Y1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if X1 <= X0 or Y1 <= Y0:
        return None
    sub = m[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0]
    src = spr[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0]
    dst = img[Y0:Y1, X0:X1]
    if alpha >= 1.0:
        dst[sub] = src[sub]
    else:
        dst[sub] = (alpha * src[sub] + (1 - alpha) * dst[sub]).astype(np.uint8)
    ys, xs = np.nonzero(sub)
    if len(xs) == 0:
        return None
    return int(X0 + xs.min()), int(Y0 + ys.min()), int(X0 + xs.max() + 1), int(Y0 + ys.max() + 1)


# ------------------------------------------------------------------------------------------ camera and light
SIDE_YAW_DEG = 24.0  # the side mount: the camera turned this far towards the car's side wall


@cache
def view_homography(view: View, width: int, height: int) -> np.ndarray:
    """Pixel homography from the corner camera's picture to ``view``'s (a pure rotation of the camera about its
    vertical axis: H = K R K^-1, focal length 0.9 x the width)."""
    if view == "corner":
        return np.eye(3)
    f = 0.9 * width
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
    a = -np.radians(SIDE_YAW_DEG)  # turned to the right: the door moves to the left edge
    r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return k @ r @ np.linalg.inv(k)  # type: ignore[no-any-return]


def view_points(view: View, width: int, height: int, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points in fractions of the corner picture → fractions of ``view``'s picture (clipped to the frame): where
    an installer would draw the floor polygon for that camera."""
    hm = view_homography(view, width, height)
    xy = np.array([[x * width, y * height] for x, y in pts], np.float64).reshape(-1, 1, 2)
    out = cv2.perspectiveTransform(xy, hm).reshape(-1, 2)
    return [(float(np.clip(x / width, 0, 1)), float(np.clip(y / height, 0, 1))) for x, y in out]


def view_box(view: View, width: int, height: int, box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """A box of the corner picture as seen by ``view`` (the bounding box of its corners), None when outside."""
    if view == "corner":
        return box
    x1, y1, x2, y2 = box
    xy = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64).reshape(-1, 1, 2)
    out = cv2.perspectiveTransform(xy, view_homography(view, width, height)).reshape(-1, 2)
    bx1, by1 = max(0, int(out[:, 0].min())), max(0, int(out[:, 1].min()))
    bx2, by2 = min(width, int(out[:, 0].max())), min(height, int(out[:, 1].max()))
    return (bx1, by1, bx2, by2) if bx2 > bx1 and by2 > by1 else None


def light(img: np.ndarray, mode: Light, i: int, rng: np.random.Generator) -> np.ndarray:
    """The car's lighting over a rendered frame.

    - ``ir``: an infrared night picture: the sensor sees reflectance in the near infrared, not colour (one grey
      channel), the image is flat (grey levels squeezed into about a third of the range and lifted), soft (the IR
      lens focus shifts), strongly noisy (high gain), and brighter near the camera where its illuminator points;
    - ``flicker``: a failing fluorescent tube: the brightness beats against the frame rate, with dark drops."""
    if mode == "day":
        return img
    h, w = img.shape[:2]
    if mode == "ir":
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        g = cv2.GaussianBlur(g, (5, 5), 1.2)
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        spot = 0.8 + 0.45 * np.exp(-((yy - 1.0) ** 2 / 0.5 + xx ** 2 / 0.8))  # the illuminator below the camera
        g = (45 + 0.33 * g) * spot + rng.normal(0, 9, (h, w)).astype(np.float32)
        return cv2.cvtColor(np.clip(g, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    gain = 0.62 + 0.38 * np.cos(2 * np.pi * 0.37 * i)
    if rng.random() < 0.2:
        gain *= 0.6  # the tube drops out for a moment
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ clips
class ClipPainter:
    """``painter(img, i)`` for :func:`edge.hal.sim.make_scene_video`: draws frame ``i`` of a clip."""

    def __init__(self, clip: Clip, fps: float, size: tuple[int, int], seed: int = 5) -> None:
        self.clip = clip
        self.fps = fps
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.bounds: list[tuple[int, int, Segment]] = []
        f = 0
        for seg in clip.segments:
            n = max(1, round(seg.seconds * fps))
            self.bounds.append((f, f + n, seg))
            f += n
        self.frames = f
        self._last: np.ndarray | None = None
        #: frame index → [(sprite, box)] of the objects drawn in it (ground truth for evaluations)
        self.truth: dict[int, list[tuple[str, tuple[int, int, int, int]]]] = {}

    def frame(self, i: int) -> np.ndarray:
        start, end, seg = next(b for b in self.bounds if b[0] <= i < b[1]) if i < self.frames else self.bounds[-1]
        if seg.effect == "frozen" and self._last is not None:
            return self._last  # the same picture, bit for bit: a stuck encoder
        w, h = self.size
        if seg.effect == "black":
            img = np.clip(self.rng.normal(4, 1.5, (h, w, 3)), 0, 255).astype(np.uint8)
        elif seg.effect == "covered":  # a palm or bag on the lens: dark, no detail
            img = np.full((h, w, 3), (52, 60, 74), np.uint8)
            img = cv2.GaussianBlur(np.clip(img + self.rng.normal(0, 1.0, (h, w, 1)), 0, 255).astype(np.uint8),
                                   (31, 31), 0)
        else:
            img = car_interior(w, h, seg.door == "open").copy()
            p = (i - start) / max(1, end - start - 1)
            for o in seg.objects:
                a, b = o.start, o.end or o.start
                place = tuple(a[k] + (b[k] - a[k]) * p for k in range(3))
                if o.jitter:
                    place = (place[0], place[1], place[2] * (1 + self.rng.uniform(-o.jitter, o.jitter)))
                box = paste(img, o.sprite, place, o.alpha)  # type: ignore[arg-type]
                if box is not None:
                    box = view_box(self.clip.camera, w, h, box)
                if box is not None:
                    self.truth.setdefault(i, []).append((o.sprite, box))
            if self.clip.camera != "corner":
                img = cv2.warpPerspective(img, view_homography(self.clip.camera, w, h), (w, h),
                                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            noise = self.rng.normal(0, 2.0, (h, w, 1)).astype(np.int16)  # sensor noise: a live camera never repeats
            img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            img = light(img, seg.light, i, self.rng)
        self._last = img
        return img

    def __call__(self, img: np.ndarray, i: int) -> None:
        img[:] = self.frame(i)


def write_clip(path: Path | str, clip: Clip, fps: float = 5.0, size: tuple[int, int] = (640, 480)) -> str:
    """Write ``clip`` as an mp4v video that a Camera can play (at ``fps``, in real time)."""
    painter = ClipPainter(clip, fps, size)
    return make_scene_video(str(path), painter.frames, fps=fps, size=size, painter=painter)


def clip_frames(clip: Clip, fps: float = 5.0, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """The clip's frames in memory (benchmarks and pipeline tests: no video codec in between)."""
    painter = ClipPainter(clip, fps, size)
    return [painter.frame(i).copy() for i in range(painter.frames)]
