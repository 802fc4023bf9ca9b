"""Config sections of the vision parts, for any camera kind to embed in its ``app:`` section.

Every field has a title and a description (exported in the JSON schema and shown on the local page); unknown
keys are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _VisionModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


DetectorKind = Literal["ssd", "yolov5", "yolov8"]


class DetectorConfig(_VisionModel):
    """An ONNX object detector run with onnxruntime on the CPU."""

    kind: DetectorKind = Field(
        "ssd", title="Model family",
        description="ssd: TF Object Detection API style outputs (boxes, classes, scores, count; NMS inside the "
        "model), e.g. the default SSD-MobileNetV2. yolov5: one output [1, N, 5+classes] (objectness). "
        "yolov8: one output [1, 4+classes, N] (Ultralytics v8/v11 export).")
    model: Path = Field(
        title="Model file",
        description="The .onnx file. A relative path is looked up in the working directory, then in the "
        "linli installation (so models/… works from anywhere).")
    labels: Path | None = Field(
        None, title="Labels file",
        description="One label per line ('person' or '0  person'; ids may have gaps, as in COCO). Optional for "
        "YOLO exports that carry their class names in the ONNX metadata ('names').")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", title="Expected sha256",
        description="Refuse to start when the model file does not hash to this (a corrupt or swapped model).")
    threads: int = Field(2, ge=1, le=16, title="CPU threads",
                         description="onnxruntime intra-op threads (a Raspberry Pi 4/5 has 4 cores).")
    min_score: float = Field(0.3, ge=0.01, le=0.99, title="Lowest score kept",
                             description="Detections below this are dropped before tracking.")
    nms_iou: float = Field(0.45, gt=0, le=1, title="NMS IoU (YOLO)",
                           description="Overlap above which YOLO boxes of one class are merged.")
    color: Literal["rgb", "bgr"] = Field("rgb", title="Input colour order",
                                         description="Channel order the model was trained on.")
    normalize: Literal["auto", "none", "unit", "symmetric"] = Field(
        "auto", title="Input scaling",
        description="none: 0-255 as is; unit: x/255; symmetric: (x-127.5)/127.5. auto: none for uint8 inputs "
        "(quantised models scale inside), unit for float inputs.")


class MotionConfig(_VisionModel):
    """Frame-difference motion gate (after Frigate's): cheap, run on every frame, decides when to detect."""

    enabled: bool = Field(True, title="Enabled",
                          description="Off: the detector runs on every frame (more CPU, same decisions).")
    height: int = Field(100, ge=40, le=480, title="Work height (px)",
                        description="Frames are shrunk to this height (greyscale) for motion detection.")
    threshold: int = Field(30, ge=1, le=255, title="Pixel threshold",
                           description="Grey-level change (0-255) that counts a pixel as changed.")
    contour_area: int = Field(10, ge=1, le=10_000, title="Least area (px)",
                              description="Changed blobs smaller than this (at work size) are noise.")
    frame_alpha: float = Field(0.2, gt=0, le=1, title="Background update rate",
                               description="How fast the background average follows the scene (0-1).")
    lightning_threshold: float = Field(
        0.8, gt=0, le=1, title="Lighting flip",
        description="A change of more than this fraction of the frame is a light switching (IR, lamp), not motion.")


class TrackerConfig(_VisionModel):
    """IoU tracker: keeps one identity per object across frames."""

    iou: float = Field(0.3, gt=0, le=1, title="Match IoU",
                       description="A detection continues a track of its class when their boxes overlap this much.")
    max_missed: int = Field(10, ge=1, le=1000, title="Frames before a track ends",
                            description="A track with no detection for this many detected frames is gone.")
    contain: float = Field(0.6, gt=0, le=1, title="Match containment",
                           description="A detection also continues a track when this fraction of the smaller of "
                           "the two boxes lies inside the other (a partial box of a half-hidden object).")


class ConfirmConfig(_VisionModel):
    """When a tracked object is real enough to act on (see :mod:`edge.vision.evidence` for the rule and its
    figures). ``evidence`` (default): accumulated evidence over the track; ``n_of_m``: the older fixed rule."""

    rule: Literal["evidence", "n_of_m"] = Field(
        "evidence", title="Rule",
        description="evidence: each frame seen adds (score - bias), each frame missed takes leak away; confirmed at "
        "level. n_of_m: N of the last M frames at or above the confirm score.")
    floor: float = Field(0.3, ge=0.01, le=0.99, title="Lowest score that counts (evidence)",
                         description="A frame scoring below this counts as not seen.")
    bias: float = Field(0.2, ge=0, le=0.99, title="Score bias (evidence)",
                        description="Each frame seen adds its score minus this.")
    leak: float = Field(0.25, ge=0, le=10, title="Leak per missed frame (evidence)",
                        description="Evidence lost for each detected frame in which the object was not seen.")
    level: float = Field(1.0, gt=0, le=100, title="Evidence needed",
                         description="Confirmed when the accumulated evidence reaches this.")
    cap: float = Field(3.0, gt=0, le=1000, title="Most evidence kept",
                       description="Evidence never grows beyond this.")
    min_frames: int = Field(2, ge=1, le=100, title="Least frames seen (evidence)",
                            description="Never confirmed on fewer frames than this, however high the score.")
    class_share: float = Field(
        0.3, ge=0, le=1, title="Acting share of a family",
        description="A track of a class family (two-wheelers) counts as its acting class when acting classes hold "
        "at least this share of its score mass, so frames the model gives an exempt name do not hide an e-bike.")
    threshold: float = Field(0.6, ge=0.05, le=0.99, title="Confirm score (n_of_m)",
                             description="A frame counts for an object when its score is at least this.")
    per_class: dict[str, float] = Field(
        default_factory=dict, title="Per-class confirm score (n_of_m)",
        description="Overrides of the confirm score by linli class, e.g. {battery: 0.5}.")
    n: int = Field(3, ge=1, le=100, title="Frames needed (N, n_of_m)",
                   description="An object is confirmed when N of its last M frames reach the confirm score.")
    m: int = Field(5, ge=1, le=100, title="Frame window (M)", description="See N; also the scores kept per track.")

    @model_validator(mode="after")
    def _n_le_m(self) -> Self:
        if self.n > self.m:
            raise ValueError(f"confirm.n ({self.n}) cannot be larger than confirm.m ({self.m})")
        if self.cap < self.level:
            raise ValueError(f"confirm.cap ({self.cap}) cannot be smaller than confirm.level ({self.level})")
        return self

    def threshold_for(self, cls: str) -> float:
        return self.per_class.get(cls, self.threshold)


class RegionConfig(_VisionModel):
    """Where objects count: a polygon in fractions of the frame (0-1), e.g. the car floor and door area."""

    polygon: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], title="Polygon",
        description="Corners [x, y] as fractions of the frame width and height, in order. Default: whole frame.")
    min_overlap: float = Field(0.25, ge=0, le=1, title="Least overlap",
                               description="Fraction of an object's box that must lie inside the polygon.")
    floor: list[tuple[float, float]] | None = Field(
        None, title="Floor polygon",
        description="Where an object stands when it is inside (for a lift: the car floor up to the door sill), "
        "corners [x, y] as fractions. An object acts only while the bottom centre of its box (its foot point) is "
        "inside; one seen only on the landing through the open door, or mirrored in a wall, is tracked but never "
        "acts. None: anywhere in the region.")

    @field_validator("polygon", "floor")
    @classmethod
    def _polygon(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        if len(v) < 3:
            raise ValueError("a region polygon needs at least 3 corners")
        for x, y in v:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"corner ({x}, {y}) is outside the frame: use fractions from 0 to 1")
        return v


class HealthConfig(_VisionModel):
    """Camera health: a camera that gives no frames, frozen frames, or a black or covered view is a fault."""

    black_luma: float = Field(12.0, ge=0, le=255, title="Black below (luma)",
                              description="Mean brightness (0-255) under which the view counts as black.")
    black_s: float = Field(3.0, gt=0, le=600, title="Black for (s)",
                           description="How long the view must stay black to raise a fault.")
    covered_std: float = Field(6.0, ge=0, le=255, title="Covered below (contrast)",
                               description="Brightness spread (standard deviation) under which the lens counts as "
                               "covered (a hand, an umbrella, a bag over it).")
    covered_sharpness: float = Field(
        10.0, ge=0, le=10_000, title="Covered below (detail)",
        description="Image detail (variance of the Laplacian at work size) under which the lens counts as covered.")
    covered_s: float = Field(5.0, gt=0, le=600, title="Covered for (s)",
                             description="How long the view must stay covered to raise a fault.")
    frozen_diff: float = Field(0.08, ge=0, le=50, title="Frozen below (change)",
                               description="Mean grey change between frames (full size, every other pixel) under "
                               "which frames count as identical (a live sensor always has some noise).")
    frozen_s: float = Field(5.0, gt=0, le=600, title="Frozen for (s)",
                            description="How long frames must stay identical to raise a fault.")
    clear_s: float = Field(2.0, gt=0, le=600, title="Healthy again after (s)",
                           description="How long the view must look normal before a fault is cleared.")
    work_width: int = Field(160, ge=32, le=640, title="Work width (px)",
                            description="Frames are shrunk to this width (greyscale) for the checks.")


class ZoomConfig(_VisionModel):
    """A second, zoomed detector pass on the door and the near floor, where an object coming in is still small
    (:mod:`edge.vision.zoom`). It costs one more inference on every frame the detector looks at."""

    enabled: bool = Field(True, title="Enabled",
                          description="Run the zoomed pass (when its box is small enough, see max_area).")
    box: tuple[float, float, float, float] | None = Field(
        None, title="Zoom box",
        description="x1, y1, x2, y2 as fractions of the frame. None: a box with the frame's shape around the door "
        "sill, derived from the floor polygon (its far edge).")
    margin: float = Field(0.0, ge=0, le=0.5, title="Margin beside the sill",
                          description="Added left and right of the sill, as a fraction of the frame width "
                          "(derived box only).")
    sill_at: float = Field(0.6, ge=0.1, le=0.95, title="Sill height in the box",
                           description="Where the sill sits in the derived box, from its top (0-1): most of the box "
                           "is above the sill, where an object standing at the door is.")
    min_width: float = Field(0.3, ge=0.1, le=1, title="Narrowest box",
                             description="The derived box is at least this fraction of the frame wide.")
    max_area: float = Field(0.4, gt=0, le=1, title="Largest box (share of the frame)",
                            description="The zoomed pass runs only when its box covers at most this share of the "
                            "frame; a larger box magnifies too little to be worth the second inference.")
    nms_iou: float = Field(0.5, gt=0, le=1, title="Merge overlap",
                           description="A box of the zoomed pass and one of the full frame with the same label "
                           "overlapping this much are one object (the better score is kept).")


class NightConfig(_VisionModel):
    """Infrared night pictures (grey, flat, noisy) are normalised before the detector looks
    (:mod:`edge.vision.night`); colour pictures are left as they are. Camera health sees the original frame."""

    enabled: bool = Field(True, title="Enabled", description="Normalise grey (infrared) frames for the detector.")
    grey_tol: float = Field(3.0, ge=0, le=50, title="Grey below (colour spread)",
                            description="A frame counts as infrared when its colour channels differ by less than "
                            "this on average (0-255).")
    method: Literal["stretch", "clahe"] = Field(
        "stretch", title="Method",
        description="stretch: smooth the sensor noise, then stretch the grey levels between two percentiles to the "
        "full range. clahe: contrast-limited adaptive histogram equalisation (amplifies noise).")
    blur_px: int = Field(5, ge=0, le=15, title="Noise smoothing (px)",
                         description="Gaussian kernel (odd, at frame size) applied before stretching; 0: none.")
    low_pct: float = Field(1.0, ge=0, le=20, title="Dark percentile",
                           description="Grey level at this percentile becomes black (stretch).")
    high_pct: float = Field(99.0, ge=80, le=100, title="Bright percentile",
                            description="Grey level at this percentile becomes white (stretch).")
    clahe_clip: float = Field(2.0, gt=0, le=40, title="CLAHE clip limit", description="clahe only.")
    clahe_tiles: int = Field(8, ge=1, le=32, title="CLAHE tiles", description="Tiles per side (clahe only).")
