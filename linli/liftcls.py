"""The lift guard's second stage: a crop classifier each site can train (shared by the device and the server).

What it is, in three parts:

1. **crops** — the detector's candidate boxes (two-wheelers; COCO ``suitcase``/``handbag``/``backpack`` as battery
   candidates) cut out of the frame with a margin (:func:`crop`);
2. **features** — the default detector's own MobileNetV2 backbone, cut at ``Conv_1`` and average-pooled
   (``models/ssd_mobilenet_v2_coco_quant/backbone_gap.onnx``, made from the committed detector by
   ``models/tools/make_backbone.py``; Apache-2.0, ships with linli, nothing is downloaded): 1280 numbers per crop
   (:class:`FeatureExtractor`);
3. **a light classifier** — multinomial logistic regression (standardised features, L2), trained on the server
   from a site's labelled crops in seconds on a CPU (:func:`train`), stored as one small JSON file
   (:class:`ClassifierFile`: format, version, classes, extractor id and SHA-256, weights, held-out figures). The
   device checks the file's SHA-256 against the one it was sent, the format, the classes and the extractor, and
   falls back to the detector-only rule if anything is wrong.

The classes are :data:`CLASSES`; a site's model knows those it had labelled crops of (at least two).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linli.ort_arena import use_shared_arena

FORMAT = "linli-lift-classifier/1"
#: What the classifier can say. ``other`` = nothing that matters (a "false alarm" label in the gallery).
CLASSES = ("ebike", "bicycle", "stroller", "wheelchair", "cart", "battery", "other")
LABEL_NAMES: dict[str, tuple[str, str]] = {
    "ebike": ("电动车", "e-bike"), "bicycle": ("自行车", "bicycle"), "stroller": ("婴儿车", "stroller"),
    "wheelchair": ("轮椅", "wheelchair"), "cart": ("手推车", "cart"), "battery": ("电池", "battery"),
    "other": ("误报", "false alarm"),
}
BACKBONE = Path("models/ssd_mobilenet_v2_coco_quant/backbone_gap.onnx")
BACKBONE_SHA256 = "60470ec2e329ce187baf0156107ed7cb397a4086a78165e5a5e1586196a2fdfa"
EXTRACTOR_ID = "ssd_mobilenet_v2_coco_quant/Conv_1+gap"
#: Largest classifier file either side accepts.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: A crop is the box grown by this share of its size on each side (some context), clipped to the frame.
MARGIN = 0.1
#: Crops smaller than this (either side, pixels) are not classified: too little to see.
MIN_CROP_PX = 24


def resolve_backbone() -> Path:
    """The feature extractor's file: in the working directory, else in the linli installation."""
    if BACKBONE.exists():
        return BACKBONE
    return Path(__file__).resolve().parent.parent / BACKBONE


class ClassifierError(ValueError):
    """A classifier file that cannot be used: the message says which check failed."""


class Extractor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(max_length=100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ClassMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cls: str
    support: int = Field(ge=0, description="held-out crops of this class")
    precision: float | None = Field(None, ge=0, le=1)
    recall: float | None = Field(None, ge=0, le=1)


class ClassifierFile(BaseModel):
    """The file a site's lift guards load (JSON)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["linli-lift-classifier/1"]
    version: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    site: str = Field(max_length=48)
    created: datetime
    classes: list[str] = Field(min_length=2, max_length=len(CLASSES))
    extractor: Extractor
    dim: int = Field(ge=1, le=8192)
    mean: list[float]
    scale: list[float]
    weights: list[list[float]] = Field(description="classes x dim")
    bias: list[float]
    trained_on: dict[str, int] = Field(default_factory=dict, description="training crops per class")
    heldout: list[ClassMetrics] = Field(default_factory=list)

    def check(self) -> None:
        bad = [c for c in self.classes if c not in CLASSES]
        if bad or len(set(self.classes)) != len(self.classes):
            raise ClassifierError(f"classes {self.classes} are not distinct classes of {CLASSES}")
        k, d = len(self.classes), self.dim
        if len(self.mean) != d or len(self.scale) != d or len(self.bias) != k or len(self.weights) != k \
                or any(len(r) != d for r in self.weights):
            raise ClassifierError(f"weights do not fit {k} classes x {d} features")
        if not (np.isfinite(self.weights).all() and np.isfinite(self.bias).all() and np.isfinite(self.mean).all()
                and (np.asarray(self.scale) > 0).all()):
            raise ClassifierError("weights are not finite numbers (or a scale is not positive)")

    def encode(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")).encode()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_file(data: bytes, sha256: str | None = None, extractor_sha256: str | None = BACKBONE_SHA256
               ) -> ClassifierFile:
    """The classifier in ``data`` after every check: size, SHA-256 (when given), JSON, format, shapes, extractor."""
    if len(data) > MAX_FILE_BYTES:
        raise ClassifierError(f"file is {len(data)} bytes, more than {MAX_FILE_BYTES}")
    if sha256 is not None and sha256_of(data) != sha256:
        raise ClassifierError(f"file hashes to {sha256_of(data)[:12]}…, not to the expected {sha256[:12]}… "
                              "(corrupt or replaced)")
    try:
        f = ClassifierFile.model_validate_json(data)
    except ValidationError as exc:
        raise ClassifierError(f"not a {FORMAT} file: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    f.check()
    if extractor_sha256 is not None and f.extractor.sha256 != extractor_sha256:
        raise ClassifierError(f"trained on feature extractor {f.extractor.id}@{f.extractor.sha256[:12]}, this device "
                              f"has @{extractor_sha256[:12]}")
    return f


# ------------------------------------------------------------------------------------------------ crops
def crop(image: np.ndarray, box: Sequence[float], margin: float = MARGIN) -> np.ndarray | None:
    """The box (x1, y1, x2, y2 pixels) grown by ``margin`` on each side, clipped; None when too small."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    a, b = max(0, int(x1 - mx)), max(0, int(y1 - my))
    c, d = min(w, round(x2 + mx)), min(h, round(y2 + my))
    if c - a < MIN_CROP_PX or d - b < MIN_CROP_PX:
        return None
    return image[b:d, a:c]


class FeatureExtractor:
    """The detector's backbone on a crop (BGR, any size): 1280 features. Thread-safe (one run at a time)."""

    def __init__(self, path: Path, sha256: str = BACKBONE_SHA256, threads: int = 1) -> None:
        import onnxruntime as ort

        data = path.read_bytes()
        got = sha256_of(data)
        if got != sha256:
            raise ClassifierError(f"feature extractor {path} hashes to {got[:12]}…, not {sha256[:12]}…")
        self.sha256 = got
        self.id = EXTRACTOR_ID
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        opts.enable_mem_pattern = False  # as the detector's: tensor by tensor from the shared arena
        use_shared_arena(ort, opts)  # the detector's arena: ~17 MB less than one of its own
        self.session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.size = (int(inp.shape[2]), int(inp.shape[1]))
        self._lock = threading.Lock()

    def features(self, crop_bgr: np.ndarray) -> np.ndarray:
        import cv2

        img = cv2.resize(crop_bgr, self.size, interpolation=cv2.INTER_AREA)
        x = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)[None]
        with self._lock:
            out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.uint8)})[0]
        return np.asarray(out, np.float32).reshape(-1)


# ----------------------------------------------------------------------------------------------- model
@dataclass
class Classifier:
    """A loaded classifier file: ``probs(features)`` → probability per class (in ``classes`` order)."""

    file: ClassifierFile
    sha256: str

    def __post_init__(self) -> None:
        f = self.file
        self.classes = list(f.classes)
        self._mean = np.asarray(f.mean, np.float32)
        self._scale = np.asarray(f.scale, np.float32)
        self._w = np.asarray(f.weights, np.float32)
        self._b = np.asarray(f.bias, np.float32)

    @property
    def version(self) -> str:
        return f"{self.file.version}@{self.sha256[:12]}"

    def probs(self, feats: np.ndarray) -> dict[str, float]:
        z = ((np.asarray(feats, np.float32) - self._mean) / self._scale) @ self._w.T + self._b
        p = _softmax(z[None])[0]
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit(x: np.ndarray, y: np.ndarray, k: int, l2: float = 1e-2, steps: int = 400, lr: float = 0.05
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression on standardised features (Adam, full batch, L2; classes weighted so that
    each counts the same). Returns mean, scale, weights (k x d), bias.

    The small matrix products run on one BLAS thread: OpenBLAS's thread pool made training 17x slower on a busy
    2-core machine (23 s instead of 1.4 s for 126 crops)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(x, y, k, l2, steps, lr)


def _fit(x: np.ndarray, y: np.ndarray, k: int, l2: float, steps: int, lr: float
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    xs = (x - mean) / scale
    n, d = xs.shape
    onehot = np.eye(k)[y]
    counts = np.bincount(y, minlength=k).astype(np.float64)
    sw = (n / (k * np.maximum(counts, 1)))[y][:, None]
    w = np.zeros((k, d))
    b = np.zeros(k)
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        p = _softmax(xs @ w.T + b)
        g = (p - onehot) * sw / n
        gw = g.T @ xs + l2 * w
        gb = g.sum(axis=0)
        mw = 0.9 * mw + 0.1 * gw
        vw = 0.999 * vw + 0.001 * gw * gw
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        w -= lr * (mw / c1) / (np.sqrt(vw / c2) + 1e-8)
        b -= lr * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
    return mean, scale, w, b


def split(labels: Sequence[str], heldout: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices (train, held-out): ``heldout`` of each class's crops held out (at least one when a class has 2+)."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    for c in sorted(set(labels)):
        idx = [i for i, lb in enumerate(labels) if lb == c]
        rng.shuffle(idx)
        n_test = 0 if len(idx) < 2 else max(1, round(len(idx) * heldout))
        test += idx[:n_test]
        train += idx[n_test:]
    return sorted(train), sorted(test)


def per_class(classes: Sequence[str], truth: Sequence[str], pred: Sequence[str]) -> list[ClassMetrics]:
    out = []
    for c in classes:
        tp = sum(1 for t, p in zip(truth, pred, strict=True) if t == c and p == c)
        n_pred = sum(1 for p in pred if p == c)
        n_true = sum(1 for t in truth if t == c)
        out.append(ClassMetrics(cls=c, support=n_true, precision=round(tp / n_pred, 3) if n_pred else None,
                                recall=round(tp / n_true, 3) if n_true else None))
    return out


class NotEnoughLabels(ValueError):
    """Too few labelled crops to train: the message says what is missing."""


def train(features: np.ndarray, labels: Sequence[str], site: str, version: str, extractor: Extractor,
          heldout: float = 0.25, min_per_class: int = 3, seed: int = 0) -> ClassifierFile:
    """Train on a site's labelled crops except a held-out share per class, and measure it on that share: the
    figures shown before deploying are those of the very model that is deployed.

    Classes with fewer than ``min_per_class`` crops are left out (named in the error if fewer than two remain)."""
    counts = {c: sum(1 for lb in labels if lb == c) for c in CLASSES}
    classes = [c for c in CLASSES if counts[c] >= min_per_class]
    if len(classes) < 2:
        have = ", ".join(f"{c} {n}" for c, n in counts.items() if n) or "none"
        raise NotEnoughLabels(f"need at least {min_per_class} labelled crops of each of two classes (have: {have})")
    keep = [i for i, lb in enumerate(labels) if lb in classes]
    x = np.asarray(features, np.float32)[keep]
    lab = [labels[i] for i in keep]
    y = np.asarray([classes.index(lb) for lb in lab])
    tr, te = split(lab, heldout, seed)
    m, s, w, b = fit(x[tr], y[tr], len(classes))
    metrics: list[ClassMetrics] = []
    if te:
        p = _softmax(((x[te] - m) / s) @ w.T + b)
        metrics = per_class(classes, [lab[i] for i in te], [classes[int(j)] for j in p.argmax(axis=1)])
    f = ClassifierFile(format=FORMAT, version=version, site=site, created=datetime.now(UTC), classes=classes,
                       extractor=extractor, dim=int(x.shape[1]), mean=_r(m), scale=_r(s),
                       weights=[_r(r) for r in w], bias=_r(b),
                       trained_on={c: sum(1 for i in tr if lab[i] == c) for c in classes},
                       heldout=metrics)
    f.check()
    return f


def _r(v: Any) -> list[float]:
    return [float(f"{float(a):.5g}") for a in np.asarray(v).reshape(-1)]
