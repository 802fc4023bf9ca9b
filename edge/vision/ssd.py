"""SSD-style detectors: TF Object Detection API post-processed outputs, NMS already done inside the model.

Outputs, in this order (TFLite ``TFLite_Detection_PostProcess`` and its tf2onnx conversion):
``boxes`` [1, N, 4] (ymin, xmin, ymax, xmax as fractions of the input), ``classes`` [1, N] (class id, float),
``scores`` [1, N], ``count`` [1]. The input is stretched to the model size (no letterbox), as the model was
trained.
"""

from __future__ import annotations

import numpy as np

from edge.vision.detection import Detection
from edge.vision.detector import Detector, ModelError, Prepared


class SsdDetector(Detector):
    default_size = 300
    letterbox = False

    def check_outputs(self) -> None:
        outs = self.session.get_outputs()
        if len(outs) != 4:
            raise ModelError(f"model {self.path.name}: an ssd model has 4 outputs (boxes, classes, scores, count); "
                             f"this one has {len(outs)} — is it a YOLO model (detector.kind yolov5/yolov8)?")
        box_shape = outs[0].shape
        if len(box_shape) != 3 or box_shape[-1] != 4:
            raise ModelError(f"model {self.path.name}: first output {outs[0].name} has shape {box_shape}, "
                             "expected [1, N, 4] boxes")

    def decode(self, outputs: list[np.ndarray], meta: Prepared) -> list[Detection]:
        boxes, classes, scores, count = outputs[:4]
        n = min(int(np.asarray(count).reshape(-1)[0]), boxes.shape[1])
        out: list[Detection] = []
        for i in range(n):
            score = float(scores[0, i])
            if score < self.cfg.min_score:
                continue
            ymin, xmin, ymax, xmax = (float(v) for v in boxes[0, i])
            box = self.to_frame(xmin * self.input_w, ymin * self.input_h, xmax * self.input_w, ymax * self.input_h,
                                meta)
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            out.append(Detection(self.label_of(int(classes[0, i])), round(score, 4), box))
        return out
