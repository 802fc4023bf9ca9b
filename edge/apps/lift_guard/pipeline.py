"""Frame → decision input: camera health, motion gate, detection in the region (infrared frames normalised, a
zoomed second pass at the door: :mod:`edge.vision.zoom`), fragments of one object joined,
tracking by class family, accumulated evidence per track (:mod:`edge.vision.evidence`), and whether each object
stands on the car floor (``region.floor``: objects on the landing or mirrored in a wall never act).

Runs in the camera thread, one frame at a time. The detector looks only while the door is open, and then only
when something moves, while anything is tracked, right after the door opened, and every ``recheck_frames``
frames (an e-bike standing still). With the door closed the car may be moving: nothing the guard could do then,
so the frames are only checked for camera health.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edge.vision import (
    CameraHealth,
    ClassMap,
    Confirmer,
    Detection,
    Detector,
    HealthState,
    IouTracker,
    MotionGate,
    MotionResult,
    Region,
    Track,
    TrackerConfig,
    dedupe,
)
from edge.vision.detection import merge_fragments
from edge.vision.evidence import EvidenceConfirmer
from edge.vision.second_stage import BAG_LABELS, SecondStage
from edge.vision.zoom import ZoomedDetector

from .config import LiftGuardConfig


@dataclass
class FrameResult:
    seq: int
    ts: float  # capture time (monotonic)
    width: int
    height: int
    health: HealthState
    motion: MotionResult | None = None
    detected: bool = False  # the detector looked at this frame
    detections: list[Detection] = field(default_factory=list)  # mapped, in the region
    tracks: list[Track] = field(default_factory=list)
    newly_confirmed: list[Track] = field(default_factory=list)
    detect_ms: float = 0.0
    classify_ms: float = 0.0  # the second stage's crops in this frame
    total_ms: float = 0.0

    def acting(self, classes: ClassMap) -> list[Track]:
        """Confirmed tracks of a blocking class standing on the car floor, best first."""
        found = [t for t in self.tracks if t.confirmed and t.inside and classes.is_acting(t.cls)]
        return sorted(found, key=lambda t: t.best_score, reverse=True)


class LiftPipeline:
    def __init__(self, cfg: LiftGuardConfig, detector: Detector | None, second: SecondStage | None = None) -> None:
        self.cfg = cfg
        self.detector = detector
        #: the detector as called per frame: infrared frames normalised, the zoomed pass at the door (edge.vision.zoom)
        self.looker = None if detector is None else ZoomedDetector(detector, cfg.zoom, cfg.night, cfg.region.floor)
        self.second = second
        self.classes = ClassMap(cfg.classes)
        self._bag_classes = ClassMap(cfg.classes.model_copy(update={"map": {
            **{lb: cfg.second_stage.bag_class for lb in BAG_LABELS if lb in cfg.second_stage.candidates},
            **cfg.classes.map}}))
        self.region = Region(cfg.region)
        self.health = CameraHealth(cfg.health)
        self.motion = MotionGate(cfg.motion)
        self.tracker = IouTracker(TrackerConfig(iou=cfg.track_iou, max_missed=cfg.release_frames,
                                                contain=cfg.track_contain),
                                  window=cfg.confirm.m, families=self.classes.families)
        self.confirmer: Confirmer | EvidenceConfirmer = (
            EvidenceConfirmer(cfg.confirm, self.classes.acting, self._refine) if cfg.confirm.rule == "evidence"
            else Confirmer(cfg.confirm))
        self._since_detect = 10**9
        self._door_was_open = False
        self._motion_mask_size: tuple[int, int] | None = None
        self.frames = 0
        self.detections_run = 0

    def _refine(self, t: Track, cls: str) -> str:
        second = self.second
        return cls if second is None else second.refine(t, cls)

    def reset(self) -> None:
        """Forget tracks and motion history (camera reopened, door closed)."""
        self.tracker.reset()
        self.motion.reset()
        self._since_detect = 10**9

    def _motion_gate(self, width: int, height: int) -> MotionGate:
        if self._motion_mask_size != (width, height):
            self._motion_mask_size = (width, height)
            mask = None if self.region.whole_frame else self.region.mask(width, height, 4)
            self.motion = MotionGate(self.cfg.motion, mask)
        return self.motion

    def process(self, image: np.ndarray, ts: float, seq: int, door_open: bool) -> FrameResult:
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        self.frames += 1
        health = self.health.update(image, ts)
        res = FrameResult(seq=seq, ts=ts, width=w, height=h, health=health)
        opened_now = door_open and not self._door_was_open
        if (self._door_was_open and not door_open) or health.fault is not None:
            self.reset()  # the car may have moved, or the view was bad: what was tracked is stale
        self._door_was_open = door_open
        gate = self._motion_gate(w, h)
        res.motion = gate.update(image) if self.cfg.motion.enabled else None
        self._since_detect += 1
        want = door_open and self.detector is not None and health.fault is None and not health.suspect and (
            opened_now
            or res.motion is None
            or res.motion.moving
            or bool(self.tracker.tracks)
            or self._since_detect >= self.cfg.recheck_frames)
        if want:
            assert self.looker is not None
            t1 = time.perf_counter()
            raw = self.looker.detect(image)
            res.detect_ms = (time.perf_counter() - t1) * 1000
            second = self.second
            classes = self.classes if second is None else self._bag_classes  # bags are tracked only for it
            dets = merge_fragments(dedupe(self.region.filter(classes.apply(raw), w, h)),
                                   self.classes.families, self.cfg.track_contain)
            res.tracks = self.tracker.update(dets, ts)
            if second is not None:
                t2 = time.perf_counter()
                second.observe(image, res.tracks, ts)
                res.classify_ms = (time.perf_counter() - t2) * 1000
            for t in res.tracks:
                if t.missed == 0:
                    t.inside = self.region.on_floor(t.box, w, h)
                    if t.inside and t.first_inside_ts is None:
                        t.first_inside_ts = ts
            res.newly_confirmed = self.confirmer.update(res.tracks, ts)
            res.detections = dets
            res.detected = True
            self._since_detect = 0
            self.detections_run += 1
        else:
            res.tracks = list(self.tracker.tracks)
        res.total_ms = (time.perf_counter() - t0) * 1000
        return res
