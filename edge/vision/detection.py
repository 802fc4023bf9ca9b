"""What a detector finds: labelled, scored boxes in the pixel coordinates of the frame it looked at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the frame


@dataclass(frozen=True, slots=True)
class Detection:
    """One object: the model's ``label`` (e.g. ``motorcycle``), its ``score`` (0-1), its ``box`` (x1, y1, x2, y2
    pixels). ``cls`` is the linli class after the class map (``ebike``, ``person`` …), None before mapping."""

    label: str
    score: float
    box: Box
    cls: str | None = None

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def with_cls(self, cls: str) -> Detection:
        return replace(self, cls=cls)

    def normalised(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The box as fractions of the frame (for events: independent of the camera resolution)."""
        x1, y1, x2, y2 = self.box
        return (round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4), round(y2 / height, 4))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    if inter <= 0:
        return 0.0
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """IoU of every box of ``a`` with every box of ``b`` (shape len(a) x len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)), np.float32)
    A = np.asarray(a, np.float32)[:, None, :]
    B = np.asarray(b, np.float32)[None, :, :]
    ix1 = np.maximum(A[..., 0], B[..., 0])
    iy1 = np.maximum(A[..., 1], B[..., 1])
    ix2 = np.minimum(A[..., 2], B[..., 2])
    iy2 = np.minimum(A[..., 3], B[..., 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (A[..., 2] - A[..., 0]) * (A[..., 3] - A[..., 1])
    area_b = (B[..., 2] - B[..., 0]) * (B[..., 3] - B[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def dedupe(dets: Sequence[Detection], iou_threshold: float = 0.6) -> list[Detection]:
    """Greedy non-maximum suppression per linli class (or per label before mapping).

    The SSD model suppresses overlaps per *model* class, so one e-bike can come out as both ``bicycle`` and
    ``motorcycle``; once both map to ``ebike`` this keeps the better one."""
    out: list[Detection] = []
    for d in sorted(dets, key=lambda d: d.score, reverse=True):
        key = d.cls if d.cls is not None else d.label
        if all((o.cls if o.cls is not None else o.label) != key or iou(o.box, d.box) < iou_threshold for o in out):
            out.append(d)
    return out


def contain_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Intersection over the *smaller* box's area, for every pair (1.0: one box lies wholly inside the other)."""
    if not a or not b:
        return np.zeros((len(a), len(b)), np.float32)
    A = np.asarray(a, np.float32)[:, None, :]
    B = np.asarray(b, np.float32)[None, :, :]
    iw = np.clip(np.minimum(A[..., 2], B[..., 2]) - np.maximum(A[..., 0], B[..., 0]), 0, None)
    ih = np.clip(np.minimum(A[..., 3], B[..., 3]) - np.maximum(A[..., 1], B[..., 1]), 0, None)
    area_a = (A[..., 2] - A[..., 0]) * (A[..., 3] - A[..., 1])
    area_b = (B[..., 2] - B[..., 0]) * (B[..., 3] - B[..., 1])
    small = np.minimum(area_a, area_b)
    return np.where(small > 0, iw * ih / np.maximum(small, 1e-9), 0.0).astype(np.float32)


def merge_fragments(dets: Sequence[Detection], families: dict[str, str], contain: float = 0.6,
                    iou_threshold: float = 0.3) -> list[Detection]:
    """One detection per object of a class family: boxes of one family (``families`` maps class → family; a class
    not in it is its own family) that overlap by IoU >= ``iou_threshold`` or where one lies mostly inside the other
    (>= ``contain`` of the smaller box: the front half of a bike behind its owner, or the bike and its wheel) become
    one detection with the union box, the best score and that score's label and class.

    Unlike :func:`dedupe` (same class, near-identical boxes) this joins the *pieces* of one object. Detections of
    other families (a person beside the bike) are never merged."""
    groups: list[list[Detection]] = []
    for d in sorted(dets, key=lambda d: d.score, reverse=True):
        fam = families.get(d.cls or d.label, d.cls or d.label)
        for g in groups:
            head = g[0]
            if families.get(head.cls or head.label, head.cls or head.label) != fam:
                continue
            ub = _union([x.box for x in g])
            if iou(ub, d.box) >= iou_threshold or _contain(ub, d.box) >= contain:
                g.append(d)
                break
        else:
            groups.append([d])
    out = []
    for g in groups:
        out.append(g[0] if len(g) == 1 else Detection(g[0].label, g[0].score, _union([x.box for x in g]), g[0].cls))
    return out


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _contain(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min(max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]), max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]))
    return iw * ih / small if small > 0 else 0.0
