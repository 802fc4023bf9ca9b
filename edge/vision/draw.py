"""Evidence pictures: the frame with its region and boxes drawn, encoded as JPEG."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from edge.vision.detection import Detection
from edge.vision.region import Region

ACT = (0, 0, 230)  # BGR red: an acting (blocking) object
OTHER = (40, 200, 40)  # green: seen, harmless
REGION = (0, 200, 255)  # amber


def annotate(frame: np.ndarray, dets: Iterable[Detection], acting: Iterable[str] = (), region: Region | None = None,
             caption: str | None = None) -> np.ndarray:
    """A copy of ``frame`` (BGR) with the region outline, one labelled box per detection and an optional caption."""
    img = frame.copy()
    h, w = img.shape[:2]
    thick = max(1, round(min(w, h) / 240))
    font = max(0.4, min(w, h) / 800)
    if region is not None and not region.whole_frame:
        cv2.polylines(img, [region.points(w, h)], True, REGION, thick, cv2.LINE_AA)
    act = set(acting)
    for d in dets:
        color = ACT if d.cls in act else OTHER
        x1, y1, x2, y2 = (round(v) for v in d.box)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thick + 1)
        text = f"{d.cls or d.label} {d.score:.2f}" + (f" ({d.label})" if d.cls and d.cls != d.label else "")
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        ty = y1 - 4 if y1 - th - 6 >= 0 else y1 + th + 4
        cv2.rectangle(img, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), color, -1)
        cv2.putText(img, text, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick, cv2.LINE_AA)
    if caption:
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        cv2.rectangle(img, (0, h - th - base - 8), (tw + 10, h), (0, 0, 0), -1)
        cv2.putText(img, caption, (5, h - base - 4), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick,
                    cv2.LINE_AA)
    return img


def to_jpeg(img: np.ndarray, quality: int = 80, max_width: int | None = None) -> bytes:
    """JPEG bytes of a BGR image, shrunk to ``max_width`` when wider."""
    h, w = img.shape[:2]
    if max_width is not None and w > max_width:
        img = cv2.resize(img, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buf.tobytes()
