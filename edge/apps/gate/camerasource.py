"""Plates from a plain camera: frames through the HAL, each read from several looks on this device (``reading``),
the frames of one vehicle's approach voting, then the same lane chain an LPR camera's push goes through.

A vehicle is the run of frames in which a plate is seen; ``GAP_FRAMES`` frames without one end it. Its plate is
handed to the lane once, when the frames agree (``VehicleVote``). When they disagree, or ``UNSURE_AFTER`` frames
saw a plate but never agreed on it, the lane gets an **unsure** read: the guard decides, nothing opens on a guess.

A camera that fails (unplugged, frozen) is reported once as ``gate.camera_fault`` and retried every few seconds;
the lane's guard buttons and the loop keep working meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

import numpy as np

from edge.apps.base import Emit
from edge.hal import Camera, CameraError
from linli.contract.gate import CameraFault, CameraRecovered
from linli.gate.plates import PlateColour

from .lane import Lane, Observation
from .reading import FrameRead, FrameReader, Thresholds, VehicleVote
from .recognizer import PlateRecognizer
from .scenes import jpeg

log = logging.getLogger(__name__)
GAP_FRAMES = 4
UNSURE_AFTER = 8


class CameraSource:
    def __init__(self, lane: Lane, camera: Camera, recognizer: PlateRecognizer, min_confidence: float, votes: int,
                 emit: Emit, now: Callable[[], datetime], kick: Callable[[], None]) -> None:
        self.lane = lane
        self.camera = camera
        self.recognizer = recognizer
        self.thresholds = Thresholds(position_conf=min_confidence, votes=votes)
        self.reader = FrameReader(recognizer, self.thresholds)
        self.emit = emit
        self.now = now
        self.kick = kick
        self.frames = 0
        self.reads = 0
        self.unsure = 0
        self.last_ms = 0.0
        self.fault: str | None = None
        self.vehicle = VehicleVote(self.thresholds)
        self._handed = False  # this vehicle's read went to the lane
        self._gap = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"gate-cam-{lane.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.kick()
            try:
                if not self.camera.is_open:
                    self.camera.open()
                frame = self.camera.read()
            except CameraError as exc:
                if self.fault is None:
                    self.fault = str(exc)
                    self.emit(CameraFault(lane=self.lane.name, error=str(exc)[:300]))
                self._stop.wait(2.0)
                continue
            if self.fault is not None:
                self.fault = None
                self.emit(CameraRecovered(lane=self.lane.name))
            try:
                self.process(frame.image)
            except Exception:
                log.exception("lane %s: recognition failed", self.lane.name)

    def process(self, image: np.ndarray) -> Observation | None:
        """One frame: read it, add it to the vehicle in view, and hand the vehicle's read (or its doubt) to the
        lane once. Returns what was handed."""
        t0 = time.perf_counter()
        fr = self.reader.read(image)
        self.last_ms = (time.perf_counter() - t0) * 1000
        self.frames += 1
        if not fr.seen:
            self._gap += 1
            if self._gap >= GAP_FRAMES and self.vehicle.reads:
                self.vehicle = VehicleVote(self.thresholds)  # the vehicle has gone
                self._handed = False
            return None
        self._gap = 0
        self.vehicle.add(fr)
        if self._handed:
            return None
        ballot = self.vehicle.verdict()
        seen = sum(1 for r in self.vehicle.reads if r.seen)
        if ballot.status == "read" and ballot.text:
            return self._hand(image, ballot.text, ballot.confidence, fr, unsure=())
        if ballot.status == "unsure" and seen >= UNSURE_AFTER:
            self.unsure += 1
            return self._hand(image, "", None, fr, unsure=ballot.candidates or ("?",))
        return None

    def _hand(self, image: np.ndarray, text: str, confidence: float | None, fr: FrameRead,
              unsure: tuple[str, ...]) -> Observation:
        self._handed = True
        best = self.vehicle.best() or fr
        evidence = None
        if best.corners is not None:
            evidence = jpeg(self.recognizer.warp(image, best.corners, pad_x=0.2, band=-0.5), 85)
        colour = self.vehicle.colour()
        obs = Observation(text, colour if colour is not PlateColour.unknown else PlateColour.unknown, "camera",
                          self.now(), confidence, image=evidence, unsure=unsure)
        if not unsure:
            self.reads += 1
        self.lane.handle(obs)
        return obs
