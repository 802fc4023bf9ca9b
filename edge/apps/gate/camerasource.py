"""Plates from a plain camera: frames through the HAL, read on this device (``recognizer``), a few frames voting,
then the same lane chain an LPR camera's push goes through.

A camera that fails (unplugged, frozen) is reported once as ``gate.camera_fault`` and retried every few seconds;
the lane's guard buttons and the loop keep working meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime

from edge.apps.base import Emit
from edge.hal import Camera, CameraError
from linli.contract.gate import CameraFault, CameraRecovered
from linli.gate.plates import PlateColour, try_parse

from .lane import Lane, Observation
from .recognizer import PlateRead, PlateRecognizer
from .scenes import jpeg

log = logging.getLogger(__name__)
WINDOW = 5


def plate_colour(read: PlateRead) -> PlateColour:
    """Blue / green / yellow from the crop's mean hue (the recogniser itself does not say)."""
    import cv2

    hsv = cv2.cvtColor(read.crop, cv2.COLOR_BGR2HSV)
    h, s = float(hsv[..., 0].mean()), float(hsv[..., 1].mean())
    if s < 50:
        return PlateColour.unknown
    if 95 <= h <= 130:
        return PlateColour.blue
    if 35 <= h < 95:
        return PlateColour.green
    if 15 <= h < 35:
        return PlateColour.yellow
    return PlateColour.unknown


class CameraSource:
    def __init__(self, lane: Lane, camera: Camera, recognizer: PlateRecognizer, min_confidence: float, votes: int,
                 emit: Emit, now: Callable[[], datetime], kick: Callable[[], None]) -> None:
        self.lane = lane
        self.camera = camera
        self.recognizer = recognizer
        self.min_confidence = min_confidence
        self.votes = votes
        self.emit = emit
        self.now = now
        self.kick = kick
        self.frames = 0
        self.reads = 0
        self.last_ms = 0.0
        self.fault: str | None = None
        self._recent: deque[str] = deque(maxlen=WINDOW)
        self._sent: dict[str, float] = {}
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

    def process(self, image) -> Observation | None:  # type: ignore[no-untyped-def]
        """One frame: read plates, vote, and hand a confirmed read to the lane. Returns what was handed."""
        t0 = time.perf_counter()
        reads = self.recognizer(image, max_plates=2)
        self.last_ms = (time.perf_counter() - t0) * 1000
        self.frames += 1
        best = None
        for r in reads:
            plate, _ = try_parse(r.text)
            if plate is not None and not plate.is_none and r.confidence >= self.min_confidence:
                best = (r, plate)
                break
        self._recent.append(best[1].text if best else "")
        if best is None:
            return None
        text = best[1].text
        if Counter(self._recent)[text] < self.votes:
            return None
        mono = time.monotonic()
        if mono - self._sent.get(text, -1e9) < self.lane.repeat_window_s:
            return None
        self._sent = {k: v for k, v in self._sent.items() if mono - v < self.lane.repeat_window_s}
        self._sent[text] = mono
        read = best[0]
        evidence = self.recognizer.warp(image, read.corners, pad_x=0.2, band=-0.5)  # the plate with context
        obs = Observation(text, plate_colour(read), "camera", self.now(), round(read.confidence, 3),
                          image=jpeg(evidence, 85))
        self.reads += 1
        self.lane.handle(obs)
        return obs
