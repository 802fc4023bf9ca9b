"""Vision parts shared by camera kinds: ONNX detector adapters (SSD, YOLOv5/v8) chosen by config, the class map
(model labels → the kind's classes, which of them act, class families), motion gate, region mask and floor,
fragment merging, IoU tracker, accumulated evidence per track (or the older N-of-M rule),
camera-health checks (black, covered, frozen) and evidence pictures; a zoomed second detector pass at the door
(``edge.vision.zoom``) and infrared-night normalisation (``edge.vision.night``).

Nothing here knows about lifts, gates or kiosks, and nothing here opens a camera: frames come from
``edge.hal.Camera`` through the kind's app.
"""

from edge.vision.camera_health import CameraHealth, HealthState
from edge.vision.classmap import ClassMap, ClassMapConfig
from edge.vision.config import (
    ConfirmConfig,
    DetectorConfig,
    HealthConfig,
    MotionConfig,
    RegionConfig,
    TrackerConfig,
)
from edge.vision.confirm import Confirmer
from edge.vision.detection import Detection, dedupe, iou, merge_fragments
from edge.vision.detector import Detector, ModelError, load_detector, resolve_path
from edge.vision.draw import annotate, to_jpeg
from edge.vision.evidence import EvidenceConfirmer
from edge.vision.motion import MotionGate, MotionResult
from edge.vision.region import Region
from edge.vision.tracker import IouTracker, Track

__all__ = [
    "CameraHealth",
    "ClassMap",
    "ClassMapConfig",
    "ConfirmConfig",
    "Confirmer",
    "Detection",
    "Detector",
    "DetectorConfig",
    "EvidenceConfirmer",
    "HealthConfig",
    "HealthState",
    "IouTracker",
    "ModelError",
    "MotionConfig",
    "MotionGate",
    "MotionResult",
    "Region",
    "RegionConfig",
    "Track",
    "TrackerConfig",
    "annotate",
    "dedupe",
    "iou",
    "load_detector",
    "merge_fragments",
    "resolve_path",
    "to_jpeg",
]
