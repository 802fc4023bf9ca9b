"""The camera thread: read a frame, run the pipeline, hand the verdict to the guard — and keep the camera alive.

A camera that cannot be opened or stops delivering is a ``camera_lost`` fault (after a start-up grace period
the first time): the relay is released and the camera is reopened with back-off. A detector that throws is a
``detector`` fault. Every pass kicks the watchdog, so a hang anywhere here drops the relay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime

import numpy as np

from edge.hal import Camera, CameraError
from edge.runtime.metrics import Histogram
from edge.runtime.watchdog import Watchdog
from edge.vision import annotate, to_jpeg

from .evidence import EvidenceStore
from .guard import Guard
from .pipeline import FrameResult, LiftPipeline

LOOP = "lift_camera"
PURGE_EVERY_S = 3600.0


class CameraLoop:
    def __init__(self, camera: Camera, pipeline: LiftPipeline, guard: Guard, watchdog: Watchdog,
                 evidence: EvidenceStore, live_every_s: float, grace_s: float, logger: logging.Logger) -> None:
        self.camera = camera
        self.pipeline = pipeline
        self.guard = guard
        self.watchdog = watchdog
        self.evidence = evidence
        self.live_every_s = live_every_s
        self.grace_s = grace_s
        self.log = logger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._ever_opened = False
        self._backoff = 0.5
        self._last_purge = 0.0
        self._last_live = 0.0
        self.live_jpeg: bytes | None = None
        self.live_at: datetime | None = None
        self.last: FrameResult | None = None
        self.frame_times: deque[float] = deque(maxlen=50)
        self.detect_ms: deque[float] = deque(maxlen=100)
        #: detector time per run, for /metrics (linli_detect_seconds): 5 ms … 2 s
        self.detect_hist = Histogram((0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0))
        self.detector_error: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        cfg = self.camera.cfg
        self.watchdog.watch(LOOP, timeout_s=max(self.watchdog.timeout_s, cfg.read_timeout_s + 3.0,
                                                cfg.open_timeout_s + 3.0))
        self._thread = threading.Thread(target=self._run, name="lift-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.watchdog.unwatch(LOOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self.camera.close()

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        while not self._stop.is_set():
            self.watchdog.kick(LOOP)
            try:
                self._step()
            except Exception as exc:  # never let the loop die: a dead loop is a stuck guard
                self.log.exception("camera loop step failed")
                self.guard.set_fault("detector", f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.5)
            self.guard.tick()
            self._housekeeping()

    def _step(self) -> None:
        if not self.camera.is_open and not self._open():
            return
        try:
            frame = self.camera.read()
        except CameraError as exc:
            self._lost(str(exc))
            self.camera.close()
            return
        self.guard.clear_fault("camera_lost")
        self._backoff = 0.5
        self.frame_times.append(time.monotonic())
        door = self.guard.door_open()
        try:
            res = self.pipeline.process(frame.image, frame.ts, frame.seq, door)
        except Exception as exc:
            self.detector_error = f"{type(exc).__name__}: {exc}"
            self.guard.set_fault("detector", f"detector failed: {self.detector_error}")
            self.log.exception("pipeline failed on frame %d", frame.seq)
            return
        if res.detected:
            self.detect_ms.append(res.detect_ms)
            self.detect_hist.observe(res.detect_ms / 1000.0)
            if self.detector_error is not None:
                self.detector_error = None
                self.guard.clear_fault("detector")
        self._health(res)
        self.last = res
        self.guard.on_frame(res, frame.image)
        self._live(res, frame.image)

    def _open(self) -> bool:
        try:
            self.camera.open()
        except CameraError as exc:
            first = not self._ever_opened and time.monotonic() - self._started < self.grace_s
            if first:
                self.log.info("camera not there yet (%s); waiting for it", exc)
            else:
                self._lost(str(exc))
            self._stop.wait(self._backoff)
            self._backoff = min(self._backoff * 2, 5.0)
            return False
        self._ever_opened = True
        self.pipeline.reset()
        self.pipeline.health.reset()
        return True

    def _lost(self, detail: str) -> None:
        self.guard.set_fault("camera_lost", detail)

    def _health(self, res: FrameResult) -> None:
        h = res.health
        st = h.stats
        for kind in h.raised:
            self.guard.set_fault(kind, _health_detail(kind, res), st.luma if st else None,  # type: ignore[arg-type]
                                 st.contrast if st else None)
        for kind in h.cleared:
            self.guard.clear_fault(kind)

    def _live(self, res: FrameResult, image: np.ndarray) -> None:
        now = time.monotonic()
        if now - self._last_live < self.live_every_s:
            return
        self._last_live = now
        try:
            dets = res.detections if res.detected else [t.detection for t in res.tracks if t.detection is not None]
            pic = annotate(image, dets, self.pipeline.classes.acting, self.pipeline.region)
            self.live_jpeg = to_jpeg(pic, 70, 640)
            self.live_at = datetime.now(UTC)
        except Exception:
            self.log.exception("live picture failed")

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            try:
                self.evidence.purge()
            except Exception:
                self.log.exception("evidence purge failed")

    # ------------------------------------------------------------------ figures
    @property
    def fps(self) -> float:
        t = list(self.frame_times)
        if len(t) < 2 or time.monotonic() - t[-1] > 3.0:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0]) if t[-1] > t[0] else 0.0

    def detect_ms_p50(self) -> float | None:
        d = sorted(self.detect_ms)
        return round(d[len(d) // 2], 1) if d else None


def _health_detail(kind: str, res: FrameResult) -> str:
    st = res.health.stats
    figures = "" if st is None else (f" (brightness {st.luma:.0f}, contrast {st.contrast:.1f}, detail "
                                     f"{st.sharpness:.1f}, change {st.change if st.change is not None else 0:.2f})")
    what = {"black": "the camera view is black", "covered": "the lens looks covered",
            "frozen": "the camera repeats the same picture"}.get(kind, kind)
    return what + figures
