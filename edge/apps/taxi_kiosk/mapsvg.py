"""The kiosk's map, drawn on the device as SVG: the surroundings from the config (roads, landmarks, in metres from the
pick-up point) and the approaching car from its position relative to the kiosk. No tiles, no internet.

The view is a square centred on the kiosk, just large enough to show the car (between ``min_radius_m`` and
``max_radius_m``); a car farther away sits on the edge in its true direction with its distance written by it.
Labels never cover one another: the kiosk's and the car's go first, then road names where they fit along their
road, then landmark names. Every text has a halo or a box in a known colour (``data-bg``) so its contrast can be
checked.
"""

from __future__ import annotations

import itertools
import math
from html import escape

from linli.contract.taxi_kiosk import CarPosition
from linli.i18n import Lang

from .config import MapConfig
from .texts import SCREEN, fmt_distance, fmt_plate

PAPER = "#f4f1e8"
ROAD = "#ffffff"
ROAD_EDGE = "#9c9482"
INK = "#111111"
KIOSK = "#0b3d91"
CAR = "#ffb000"

_NICE_STEPS = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in SVG units (y down)


def text_width(text: str, size: float) -> float:
    """Estimated width of a label: CJK ~1 em, Latin letters and digits ~0.6 em."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


class _Placer:
    """Greedy label placement: a label is drawn only where it overlaps nothing placed before."""

    def __init__(self, r: float) -> None:
        self.r = r
        self.boxes: list[Box] = []

    def free(self, box: Box) -> bool:
        x0, y0, x1, y1 = box
        lim = self.r * 0.97
        if x0 < -lim or x1 > lim or y0 < -lim or y1 > lim:
            return False
        return all(x1 <= b[0] or x0 >= b[2] or y1 <= b[1] or y0 >= b[3] for b in self.boxes)

    def take(self, box: Box) -> None:
        self.boxes.append(box)


def _box(cx: float, cy: float, w: float, h: float, angle: float = 0.0) -> Box:
    """Axis-aligned bounds of a w × h label centred on (cx, cy), turned by ``angle`` degrees."""
    a = math.radians(angle)
    bw = abs(w * math.cos(a)) + abs(h * math.sin(a))
    bh = abs(w * math.sin(a)) + abs(h * math.cos(a))
    return cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2


def _label(x: float, y: float, text: str, size: float, *, weight: int = 700, rotate: float = 0.0) -> str:
    rot = f' transform="rotate({rotate:.1f} {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text class="map-label" x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" font-weight="{weight}" '
            f'text-anchor="middle" dominant-baseline="central" fill="{INK}" stroke="{PAPER}" '
            f'stroke-width="{size * 0.3:.1f}" stroke-linejoin="round" paint-order="stroke" data-bg="{PAPER}"'
            f'{rot}>{escape(text)}</text>')


def _boxed(x: float, y: float, text: str, size: float, fg: str, bg: str, cls: str) -> tuple[str, Box]:
    width = text_width(text, size) + size * 0.9
    height = size * 1.45
    svg = (f'<g class="{cls}"><rect x="{x - width / 2:.1f}" y="{y - height / 2:.1f}" width="{width:.1f}" '
           f'height="{height:.1f}" rx="{size * 0.3:.1f}" fill="{bg}" stroke="{INK}" stroke-width="{size * 0.08:.1f}"/>'
           f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" font-weight="700" text-anchor="middle" '
           f'dominant-baseline="central" fill="{fg}" data-bg="{bg}">{escape(text)}</text></g>')
    return svg, (x - width / 2, y - height / 2, x + width / 2, y + height / 2)


def _radius(cfg: MapConfig, car: CarPosition | None) -> float:
    r = cfg.min_radius_m
    if car is not None:
        r = max(r, math.hypot(car.dx_m, car.dy_m) * 1.3)
    return min(r, cfg.max_radius_m)


def _scale_step(radius: float) -> int:
    target = radius / 2.5
    return max((s for s in _NICE_STEPS if s <= target), default=_NICE_STEPS[0])


#: the smallest map label is 0.7 of the base size: a base of 27 CSS px keeps every label at 18 px or more
MIN_FONT_PX = 27.0


def render_map(cfg: MapConfig, car: CarPosition | None, lang: Lang, plate: str = "", px: float = 900.0) -> str:
    """SVG markup (a string, already escaped) of the kiosk's surroundings and, when known, the car. ``px`` is the
    map's width on the screen in CSS px: labels are sized so that none is smaller than 18 px there."""
    r = _radius(cfg, car)
    t = SCREEN.bind(lang)
    font = max(r * 0.085, MIN_FONT_PX * 2 * r / max(px, 50.0))
    place = _Placer(r)
    under: list[str] = [
        f'<svg class="map" viewBox="{-r:.1f} {-r:.1f} {2 * r:.1f} {2 * r:.1f}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="{escape(t("map_title"))}" preserveAspectRatio="xMidYMid meet" data-px="{px:.0f}">',
        f'<rect x="{-r:.1f}" y="{-r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" fill="{PAPER}"/>',
    ]
    over: list[str] = []
    # roads: an edge line under a white fill, so they read on any screen; major roads wider
    for road in cfg.roads:
        pts = " ".join(f"{x:.1f},{-y:.1f}" for x, y in road.points)
        w = r * (0.07 if road.major else 0.042)
        under.append(f'<polyline points="{pts}" fill="none" stroke="{ROAD_EDGE}" stroke-width="{w * 1.35:.1f}" '
                     'stroke-linecap="round" stroke-linejoin="round"/>')
        under.append(f'<polyline points="{pts}" fill="none" stroke="{ROAD}" stroke-width="{w:.1f}" '
                     'stroke-linecap="round" stroke-linejoin="round"/>')
    # the kiosk (a blue dot in a white ring) and "you are here" below it
    under.append(f'<circle class="map-kiosk" cx="0" cy="0" r="{r * 0.05:.1f}" fill="{KIOSK}" stroke="#ffffff" '
                 f'stroke-width="{r * 0.02:.1f}"/>')
    dot = r * 0.07
    place.take((-dot, -dot, dot, dot))
    you_y = r * 0.15 if car is None or car.dy_m > -r * 0.2 or abs(car.dx_m) > r * 0.4 else -r * 0.15
    svg, box = _boxed(0, you_y, t("you_are_here"), font, "#ffffff", KIOSK, "map-you")
    over.append(svg)
    place.take(box)
    if car is not None:
        over.append(_car(car, r, font, plate, lang, place))
    # scale bar (bottom left) and north (top right)
    step = _scale_step(r)
    x0, y0 = -r * 0.92, r * 0.9
    over.append(f'<path d="M{x0:.1f},{y0 - font * 0.3:.1f} V{y0:.1f} H{x0 + step:.1f} V{y0 - font * 0.3:.1f}" '
                f'fill="none" stroke="{INK}" stroke-width="{r * 0.008:.1f}"/>')
    scale_text = fmt_distance(step, lang)
    over.append(_label(x0 + step / 2, y0 - font * 0.75, scale_text, font * 0.7, weight=600))
    place.take(_box(x0 + step / 2, y0 - font * 0.6, max(step, text_width(scale_text, font * 0.7)), font * 1.2))
    north = "北 ↑" if lang == "zh" else "N ↑"
    over.append(_label(r * 0.86, -r * 0.88, north, font * 0.75))
    place.take(_box(r * 0.86, -r * 0.88, text_width(north, font * 0.75), font))
    for road in cfg.roads:
        name = (road.name_en or road.name) if lang == "en" else road.name
        if name:
            label = _road_label(road.points, name, font * 0.8, r, place)
            if label:
                over.append(label)
    for lm in cfg.landmarks:
        if abs(lm.x) > r * 0.95 or abs(lm.y) > r * 0.95:
            continue
        s = font * 0.45
        under.append(f'<rect x="{lm.x - s / 2:.1f}" y="{-lm.y - s / 2:.1f}" width="{s:.1f}" height="{s:.1f}" '
                     f'fill="{ROAD_EDGE}"/>')
        text = (lm.label_en or lm.label) if lang == "en" else lm.label
        size = font * 0.75
        for dy in (font * 0.85, -font * 0.85):
            box = _box(lm.x, -lm.y + dy, text_width(text, size) + size * 0.3, size * 1.2)
            if place.free(box):
                place.take(box)
                over.append(_label(lm.x, -lm.y + dy, text, size, weight=600))
                break
    return "".join(under + over) + "</svg>"


def _road_label(points: list[tuple[float, float]], name: str, size: float, r: float, place: _Placer) -> str | None:
    """The name along the road, at the first spot inside the view where it covers nothing. Chinese names of
    steep roads are written upright, one character under the other, as on Chinese street maps."""
    w, h = text_width(name, size) + size * 0.4, size * 1.25
    cjk = all(ord(ch) > 0x2E7F for ch in name)
    segs = sorted(itertools.pairwise(points), key=lambda s: -_visible_length(s, r))
    for (x1, y1), (x2, y2) in segs:
        a, b = _clip(x1, y1, x2, y2, r * 0.9)
        if a is None or b is None or math.hypot(b[0] - a[0], b[1] - a[1]) < w * 1.2:
            continue
        angle = math.degrees(math.atan2(-(y2 - y1), x2 - x1))
        if angle > 90:
            angle -= 180
        elif angle < -90:
            angle += 180
        upright = cjk and abs(angle) > 60
        for f in (0.5, 0.3, 0.7, 0.15, 0.85):
            cx, cy = a[0] + (b[0] - a[0]) * f, -(a[1] + (b[1] - a[1]) * f)
            box = _box(cx, cy, size * 1.2, len(name) * size * 1.08) if upright else _box(cx, cy, w, h, angle)
            if place.free(box):
                place.take(box)
                if not upright:
                    return _label(cx, cy, name, size, weight=600, rotate=angle)
                top = cy - (len(name) - 1) * size * 1.08 / 2
                return "".join(_label(cx, top + i * size * 1.08, ch, size, weight=600) for i, ch in enumerate(name))
    return None


def _car(car: CarPosition, r: float, font: float, plate: str, lang: Lang, place: _Placer) -> str:
    dist = math.hypot(car.dx_m, car.dy_m)
    x, y = car.dx_m, -car.dy_m
    edge = r * 0.82
    far = dist > edge
    if far:  # keep it on the map, in its true direction
        x, y = x / dist * edge, y / dist * edge
    size = r * 0.06
    body = (f'<g class="map-car" transform="translate({x:.1f} {y:.1f}) rotate({car.heading_deg:.1f})">'
            f'<rect x="{-size * 0.7:.1f}" y="{-size * 1.15:.1f}" width="{size * 1.4:.1f}" height="{size * 2.3:.1f}" '
            f'rx="{size * 0.45:.1f}" fill="{CAR}" stroke="{INK}" stroke-width="{size * 0.18:.1f}"/>'
            f'<rect x="{-size * 0.5:.1f}" y="{-size * 0.75:.1f}" width="{size:.1f}" height="{size * 0.55:.1f}" '
            f'rx="{size * 0.15:.1f}" fill="{INK}"/></g>')
    place.take((x - size * 1.2, y - size * 1.2, x + size * 1.2, y + size * 1.2))
    label = fmt_plate(plate) if plate else ""
    if far:
        label = f"{label} · {fmt_distance(dist, lang)}" if label else fmt_distance(dist, lang)
    if not label:
        return body
    # the plate above the car, or below it (near the top edge, or when "you are here" is in the way)
    lx = max(-r * 0.6, min(r * 0.6, x))
    for ly in (y - size * 2.5, y + size * 2.5):
        svg, box = _boxed(lx, ly, label, font * 0.85, "#ffffff", INK, "map-plate")
        if place.free(box):
            break
    place.take(box)
    return body + svg


def _visible_length(seg: tuple[tuple[float, float], tuple[float, float]], r: float) -> float:
    (x1, y1), (x2, y2) = seg
    a, b = _clip(x1, y1, x2, y2, r)
    if a is None or b is None:
        return 0.0
    return math.hypot(b[0] - a[0], b[1] - a[1])


def _clip(x1: float, y1: float, x2: float, y2: float, r: float
          ) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Liang–Barsky clipping of a segment to the square [-r, r]²."""
    dx, dy = x2 - x1, y2 - y1
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x1 + r), (dx, r - x1), (-dy, y1 + r), (dy, r - y1)):
        if p == 0:
            if q < 0:
                return None, None
            continue
        u = q / p
        if p < 0:
            t0 = max(t0, u)
        else:
            t1 = min(t1, u)
        if t0 > t1:
            return None, None
    return (x1 + t0 * dx, y1 + t0 * dy), (x1 + t1 * dx, y1 + t1 * dy)
