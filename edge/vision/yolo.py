"""YOLO-style detectors (v5 and v8/v11 exports): one raw output, letterboxed input, NMS done here.

- ``yolov5``: output [1, N, 5 + C] rows of (cx, cy, w, h, objectness, class scores…); score = obj × class.
- ``yolov8``: output [1, 4 + C, N] columns of (cx, cy, w, h, class scores…), no objectness.

Boxes are in input pixels (cx, cy, w, h); they are mapped back through the letterbox and merged per class with
OpenCV's batched NMS.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.vision.detection import Detection
from edge.vision.detector import Detector, ModelError, Prepared

MAX_DETECTIONS = 100


class YoloDetector(Detector):
    default_size = 640
    letterbox = True

    def check_outputs(self) -> None:
        outs = self.session.get_outputs()
        shape = outs[0].shape
        if len(shape) != 3:
            raise ModelError(f"model {self.path.name}: a {self.cfg.kind} model has one output of 3 dimensions; "
                             f"{outs[0].name} has shape {shape} — is it an SSD model (detector.kind ssd)?")
        n_labels = len(self.labels)
        extra = 5 if self.cfg.kind == "yolov5" else 4
        width = shape[2] if self.cfg.kind == "yolov5" else shape[1]
        if isinstance(width, int) and width - extra != n_labels:
            layout = "[1, N, 5+classes]" if self.cfg.kind == "yolov5" else "[1, 4+classes, N]"
            raise ModelError(f"model {self.path.name}: output shape {shape} does not fit {self.cfg.kind} {layout} "
                             f"with the {n_labels} labels given")

    def decode(self, outputs: list[np.ndarray], meta: Prepared) -> list[Detection]:
        raw = np.asarray(outputs[0])[0]
        if self.cfg.kind == "yolov8":
            raw = raw.T  # [N, 4 + C]
            cls_scores = raw[:, 4:]
        else:
            cls_scores = raw[:, 5:] * raw[:, 4:5]
        if cls_scores.size == 0:
            return []
        class_ids = np.argmax(cls_scores, axis=1)
        scores = cls_scores[np.arange(len(class_ids)), class_ids]
        keep = scores >= self.cfg.min_score
        if not np.any(keep):
            return []
        xywh = raw[keep, :4].astype(np.float32)
        scores = scores[keep].astype(np.float32)
        class_ids = class_ids[keep].astype(np.int32)
        rects = np.stack([xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2, xywh[:, 2], xywh[:, 3]], axis=1)
        idx = cv2.dnn.NMSBoxesBatched(rects.tolist(), scores.tolist(), class_ids.tolist(), self.cfg.min_score,
                                      self.cfg.nms_iou, top_k=MAX_DETECTIONS)
        out: list[Detection] = []
        for i in np.asarray(idx, dtype=np.int64).reshape(-1):
            x, y, w, h = (float(v) for v in rects[i])
            box = self.to_frame(x, y, x + w, y + h, meta)
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            out.append(Detection(self.label_of(int(class_ids[i])), round(float(scores[i]), 4), box))
        return out
