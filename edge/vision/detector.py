"""ONNX detectors: loading (path, checksum, labels), input preparation, and the adapter chosen by config.

A detector is used in three steps so that benchmarks can time the model alone::

    tensor, meta = det.prepare(frame_bgr)   # resize / letterbox, colour order, scaling, layout
    outputs = det.run(tensor)               # onnxruntime, nothing else
    found = det.decode(outputs, meta)       # boxes back in frame pixels, labels, scores

``det.detect(frame)`` does all three. Adapters: :class:`edge.vision.ssd.SsdDetector` (TF OD API outputs, NMS in
the model) and :class:`edge.vision.yolo.YoloDetector` (YOLOv5 / v8 heads, NMS here). ``load_detector(cfg)``
picks one from ``cfg.kind``.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.vision.config import DetectorConfig
from edge.vision.detection import Detection
from edge.vision.labels import LabelError, labels_from_metadata, read_labels
from linli.ort_arena import use_shared_arena

log = logging.getLogger(__name__)

#: Where "models/…" is found when the working directory does not have it: the linli checkout/installation.
INSTALL_ROOT = Path(__file__).resolve().parent.parent.parent


class ModelError(RuntimeError):
    """A model that cannot be used (missing, corrupt, wrong shape for its adapter). The message says which and why."""


def resolve_path(path: Path) -> Path:
    """An absolute path as is; a relative one in the working directory, else under the linli installation."""
    if path.is_absolute() or path.exists():
        return path
    alt = INSTALL_ROOT / path
    return alt if alt.exists() else path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Prepared:
    """How a frame was turned into the model's input, to map boxes back: ``scale`` and padding (letterbox) or
    per-axis scale (stretch)."""

    frame_w: int
    frame_h: int
    sx: float  # model pixels per frame pixel, x
    sy: float
    pad_x: float = 0.0
    pad_y: float = 0.0


class Detector(ABC):
    """Base of the ONNX adapters."""

    def __init__(self, cfg: DetectorConfig) -> None:
        import onnxruntime as ort  # imported here: only camera kinds need it

        self.cfg = cfg
        path = resolve_path(cfg.model)
        if not path.is_file():
            raise ModelError(f"model file {cfg.model} not found (looked in {Path.cwd()} and {INSTALL_ROOT})")
        self.path = path
        self.sha256 = file_sha256(path)
        if cfg.sha256 is not None and cfg.sha256 != self.sha256:
            raise ModelError(f"model file {path} hashes to {self.sha256[:12]}…, not to the expected "
                             f"{cfg.sha256[:12]}… (corrupt or replaced)")
        self.session = self._session(ort, path)
        inp = self.session.get_inputs()
        if len(inp) != 1:
            raise ModelError(f"model {path.name}: expected one image input, it has {len(inp)}")
        self.input_name = inp[0].name
        shape = list(inp[0].shape)
        if len(shape) != 4:
            raise ModelError(f"model {path.name}: input {self.input_name} has shape {shape}, expected 4 dimensions")
        self.nchw = shape[1] in (1, 3) and shape[3] not in (1, 3)
        h, w = (shape[2], shape[3]) if self.nchw else (shape[1], shape[2])
        if not isinstance(h, int) or not isinstance(w, int):
            h = w = self.default_size
        self.input_w, self.input_h = int(w), int(h)
        self.input_type = inp[0].type
        self.dtype = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32,
                      "tensor(float16)": np.float16}.get(self.input_type)
        if self.dtype is None:
            raise ModelError(f"model {path.name}: input type {self.input_type} is not supported "
                             "(uint8, float32 or float16)")
        norm = cfg.normalize
        if norm == "auto":
            norm = "none" if self.dtype == np.uint8 else "unit"
        self.normalize = norm
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.labels = self._labels()
        self.check_outputs()
        log.info("detector %s (%s) loaded: input %dx%d %s, %d labels, sha256 %s…", path.name, cfg.kind,
                 self.input_w, self.input_h, self.input_type, len(self.labels), self.sha256[:12])

    default_size = 640

    def _session(self, ort: Any, path: Path) -> Any:
        """An onnxruntime session tuned for a small edge CPU that runs a frame now and then.

        - threads that have no work *sleep* (``session.intra_op.allow_spinning`` / ``inter_op`` = 0): onnxruntime
          otherwise busy-waits its pool after each run, which cost ~2.6x the CPU of the inference itself at 5 fps;
        - ``threads`` intra-op threads (the config), one inter-op thread (the graph is sequential).

        - the process's one CPU arena (:mod:`linli.ort_arena`), shared with a site classifier's feature extractor;
        - no memory pattern (``enable_mem_pattern``): the activations are taken from the CPU arena tensor by tensor
          instead of one block planned for the whole graph, ~1 MB less resident after the first runs, same CPU.

        Measured here (2 threads, one frame every 0.2 s): 72 ms of CPU per frame spinning, 20 ms not. The CPU arena
        stays on: without it glibc's heap keeps each run's freed activations and the RSS grows ~20 MB more
        (models/MODELS.md §3).
        """
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.cfg.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.enable_mem_pattern = False
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        use_shared_arena(ort, opts)
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a corrupt file
            raise ModelError(f"model file {path} cannot be loaded by onnxruntime: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from None

    # ------------------------------------------------------------------ set-up
    def _labels(self) -> list[str]:
        if self.cfg.labels is not None:
            lp = resolve_path(self.cfg.labels)
            try:
                return read_labels(lp)
            except LabelError as exc:
                raise ModelError(str(exc)) from None
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        names = labels_from_metadata(meta)
        if names is None:
            raise ModelError(f"model {self.path.name}: no labels file configured and no class names in its metadata")
        return names

    @property
    def version(self) -> str:
        """``file name@sha256[:12]``: what the device reports as its model version."""
        return f"{self.path.name}@{self.sha256[:12]}"

    def label_names(self) -> set[str]:
        return {lb for lb in self.labels if lb}

    @abstractmethod
    def check_outputs(self) -> None:
        """Raise ModelError when the model's outputs do not fit this adapter."""

    # ------------------------------------------------------------------ the three steps
    letterbox = False

    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, Prepared]:
        """The model input for a BGR frame, and how to map boxes back."""
        fh, fw = frame.shape[:2]
        if self.letterbox:
            s = min(self.input_w / fw, self.input_h / fh)
            nw, nh = max(1, round(fw * s)), max(1, round(fh * s))
            img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
            px, py = (self.input_w - nw) / 2, (self.input_h - nh) / 2
            top, left = round(py - 0.1), round(px - 0.1)
            img = cv2.copyMakeBorder(img, top, self.input_h - nh - top, left, self.input_w - nw - left,
                                     cv2.BORDER_CONSTANT, value=(114, 114, 114))
            meta = Prepared(fw, fh, s, s, left, top)
        else:
            img = cv2.resize(frame, (self.input_w, self.input_h), interpolation=cv2.INTER_LINEAR)
            meta = Prepared(fw, fh, self.input_w / fw, self.input_h / fh)
        if self.cfg.color == "rgb":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if self.normalize == "none":
            x = img.astype(self.dtype, copy=False)
        elif self.normalize == "unit":
            x = img.astype(np.float32) * (1.0 / 255.0)
        else:
            x = (img.astype(np.float32) - 127.5) * (1.0 / 127.5)
        if self.nchw:
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None].astype(self.dtype, copy=False)), meta

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: tensor})  # type: ignore[no-any-return]

    @abstractmethod
    def decode(self, outputs: list[np.ndarray], meta: Prepared) -> list[Detection]:
        """Detections in frame pixels, score >= cfg.min_score."""

    def detect(self, frame: np.ndarray) -> list[Detection]:
        tensor, meta = self.prepare(frame)
        return self.decode(self.run(tensor), meta)

    # ------------------------------------------------------------------ helpers for adapters
    def label_of(self, class_id: int) -> str:
        if 0 <= class_id < len(self.labels) and self.labels[class_id]:
            return self.labels[class_id]
        return f"class_{class_id}"

    def to_frame(self, x1: float, y1: float, x2: float, y2: float, meta: Prepared) -> tuple[float, float, float,
                                                                                             float]:
        """Model-input pixels → frame pixels, clipped to the frame."""
        fx1 = (x1 - meta.pad_x) / meta.sx
        fx2 = (x2 - meta.pad_x) / meta.sx
        fy1 = (y1 - meta.pad_y) / meta.sy
        fy2 = (y2 - meta.pad_y) / meta.sy
        return (float(np.clip(fx1, 0, meta.frame_w)), float(np.clip(fy1, 0, meta.frame_h)),
                float(np.clip(fx2, 0, meta.frame_w)), float(np.clip(fy2, 0, meta.frame_h)))


def load_detector(cfg: DetectorConfig) -> Detector:
    """The adapter for ``cfg.kind``. Raises ModelError naming the file and what is wrong."""
    if cfg.kind == "ssd":
        from edge.vision.ssd import SsdDetector

        return SsdDetector(cfg)
    from edge.vision.yolo import YoloDetector

    return YoloDetector(cfg)


def describe(det: Detector) -> dict[str, Any]:
    """What the local page and the status show about the model."""
    return {"file": det.path.name, "kind": det.cfg.kind, "sha256": det.sha256, "input": f"{det.input_w}x{det.input_h}",
            "labels": len(det.label_names())}
