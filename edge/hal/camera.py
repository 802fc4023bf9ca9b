"""Cameras through OpenCV: a device index, an RTSP/HTTP stream or a video file.

One daemon thread per open camera owns the ``cv2.VideoCapture`` (only that thread ever touches it):

- a live source (device, stream) is grabbed continuously so that its buffer never fills up with stale
  frames, and one frame is decoded every 1/fps seconds;
- a video file is played at its own frame rate and timestamps (``CAP_PROP_POS_MSEC``, else its frame rate), in
  real time by default, sampled down to ``cfg.fps`` when the file has more frames (a 10 fps recording read at
  5 fps delivers every other frame, still in real time); ``file_speed: fast`` delivers the same frames as fast as
  they are read, none dropped, each stamped with the file's own time (replay and benchmarks).

Only the newest frame is kept: a consumer slower than ``cfg.fps`` skips frames, as it would with a real
camera (``Frame.seq`` shows the gaps).

``read()`` waits for a frame newer than the last one it returned, at most ``read_timeout_s``: a dead
RTSP stream that blocks inside OpenCV blocks only that thread, which is then abandoned and releases
its capture whenever OpenCV lets go.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge.hal.config import CameraConfig
from edge.hal.errors import HalError

log = logging.getLogger(__name__)

_URL_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://")
_CREDENTIALS = re.compile(r"(?<=://)([^:/@]+):[^@/]*@")


class CameraError(HalError):
    """A camera could not be opened or stopped delivering frames."""


@dataclass
class Frame:
    image: np.ndarray  # BGR, uint8, height x width x 3
    ts: float  # time.monotonic() when the frame was captured
    seq: int  # 1, 2, 3... per Camera, across re-opens


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the reader uses."""

    def isOpened(self) -> bool: ...
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...
    def set(self, prop: int, value: float) -> bool: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


def mask_source(source: int | str) -> str:
    """The source for logs and pages, with any password in a URL replaced by ***."""
    return str(source) if isinstance(source, int) else _CREDENTIALS.sub(r"\1:***@", source)


def is_live(source: int | str) -> bool:
    return isinstance(source, int) or source.lower().startswith(_URL_PREFIXES)


def open_capture(cfg: CameraConfig) -> Capture:
    """Create the OpenCV capture for ``cfg.source`` (may block: called from the reader thread)."""
    timeouts = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(cfg.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(cfg.read_timeout_s * 1000),
        # one decoder thread: a 640x480 sub-stream at 5 fps needs no more, and every FFmpeg thread keeps its own
        # frame buffers (memory on a Pi)
        cv2.CAP_PROP_N_THREADS, 1,
    ]  # fmt: skip
    if isinstance(cfg.source, int):
        cap = cv2.VideoCapture(cfg.source, cv2.CAP_ANY)
        if cap.isOpened():
            if cfg.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
            if cfg.height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap
    return cv2.VideoCapture(cfg.source, cv2.CAP_FFMPEG, timeouts)


class _Reader(threading.Thread):
    """Owns one capture; delivers frames to its Camera until stopped, failed or abandoned."""

    def __init__(self, cam: Camera) -> None:
        super().__init__(name=f"camera-{cam.name}", daemon=True)
        self.cam = cam
        self.cfg = cam.cfg
        self.halt = threading.Event()
        self.opened = threading.Event()
        self.open_error: str | None = None
        self._cap: Capture | None = None

    def _open(self) -> Capture | None:
        cap = open_capture(self.cfg)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def run(self) -> None:
        try:
            self._cap = self._open()
            if self._cap is None:
                self.open_error = "OpenCV could not open it (unreachable, not a video, or unsupported codec)"
            self.opened.set()
            if self._cap is not None and not self.halt.is_set():
                self._loop()
        except Exception as e:  # OpenCV raises cv2.error and friends; report, never die silently
            if not self.opened.is_set():
                self.open_error = f"{type(e).__name__}: {e}"
                self.opened.set()
            else:
                self.cam._fail(self, f"capture failed: {type(e).__name__}: {e}")
        finally:
            if self._cap is not None:
                self._cap.release()

    def _loop(self) -> None:
        if not is_live(self.cfg.source):
            self._file_loop()
            return
        period = 1.0 / self.cfg.fps
        next_due = time.monotonic()
        while not self.halt.is_set():
            assert self._cap is not None
            if not self._cap.grab():
                if not self.halt.is_set():
                    self.cam._fail(self, "no frame from the source (disconnected or stream stalled)")
                return
            now = time.monotonic()
            if now < next_due:
                continue  # drain the source's buffer; decode only at cfg.fps
            ok, image = self._cap.retrieve()
            if not ok or image is None:
                self.cam._fail(self, "could not decode a frame")
                return
            next_due = max(next_due + period, now)
            self.cam._publish(self, image)

    def _file_loop(self) -> None:
        """Play a file by its own timestamps, sampled down to cfg.fps (see the module docstring)."""
        period = 1.0 / self.cfg.fps
        fast = self.cfg.file_speed == "fast"
        t0 = time.monotonic()
        offset = 0.0  # file time of the start of this pass (loops add the previous passes' length)
        next_pts = 0.0  # file time from which the next frame may be delivered
        played = 0  # frames of the file in this pass
        index = 0
        last_pts = -1.0
        assert self._cap is not None
        file_fps = self._cap.get(cv2.CAP_PROP_FPS)
        frame_s = 1.0 / file_fps if file_fps and 0 < file_fps <= 1000 else period
        while not self.halt.is_set():
            assert self._cap is not None
            if not self._cap.grab():
                if self.halt.is_set():
                    return
                if not fast and played:  # like a camera: the missing frame is noticed when it is due
                    delay = t0 + offset + last_pts + frame_s - time.monotonic()
                    if delay > 0 and self.halt.wait(delay):
                        return
                if not self.cfg.loop or played == 0:
                    what = f"end of file after {played} frames" if played else "no decodable frame in the file"
                    self.cam._fail(self, what, eof=True)
                    return
                self._cap.release()
                self._cap = self._open()
                offset += max(last_pts, 0.0) + frame_s
                played, index, last_pts = 0, 0, -1.0
                if self._cap is None:
                    self.cam._fail(self, "could not reopen the file to loop it")
                    return
                continue
            pos_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            pts = pos_ms / 1000.0 if pos_ms is not None and pos_ms >= 0 and (index == 0 or pos_ms > 0) else -1.0
            if pts <= last_pts:  # no usable timestamp (or not increasing): the frame rate decides
                pts = index * frame_s if last_pts < 0 else last_pts + frame_s
            index += 1
            last_pts = pts
            at = offset + pts
            if at + 1e-6 < next_pts:
                continue  # more frames than cfg.fps: this one is skipped (grabbed, never decoded to BGR)
            next_pts = max(next_pts + period, at + period * 0.5) if next_pts else at + period
            if not fast:
                delay = t0 + at - time.monotonic()
                if delay > 0 and self.halt.wait(delay):
                    return
            ok, image = self._cap.retrieve()
            if not ok or image is None:
                self.cam._fail(self, "could not decode a frame")
                return
            played += 1
            if fast:
                if not self.cam._publish_wait(self, image, t0 + at):
                    return
            else:
                self.cam._publish(self, image)


class Camera:
    """One camera. ``open()`` starts it, ``read()`` returns the next frame, ``close()`` stops it."""

    def __init__(self, name: str, cfg: CameraConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._cond = threading.Condition()
        self._reader: _Reader | None = None
        self._latest: Frame | None = None
        self._returned_seq = 0
        self._seq = 0
        self._error: str | None = None
        self._times: deque[float] = deque(maxlen=max(10, int(cfg.fps * 10)))
        self.frames = 0
        self.errors = 0
        self.last_error: str | None = None

    @property
    def source(self) -> str:
        return mask_source(self.cfg.source)

    def _err(self, message: str) -> CameraError:
        text = f"camera '{self.name}': {message}"
        self.errors += 1
        self.last_error = text
        return CameraError(text)

    def open(self) -> None:
        """Start the camera; raises CameraError naming the camera and the source when it cannot."""
        with self._cond:
            if self._reader is not None and self._error is None:
                return
        self.close()
        src = self.source
        if not is_live(self.cfg.source):
            path = Path(str(self.cfg.source)).expanduser()
            if not path.exists():
                raise self._err(f"cannot open {src}: no such file")
            if not path.is_file():
                raise self._err(f"cannot open {src}: not a regular file")
        reader = _Reader(self)
        with self._cond:
            self._reader = reader
            self._error = None
            self._latest = None
        reader.start()
        # The FFMPEG open timeout applies too; this bound holds for any backend.
        if not reader.opened.wait(self.cfg.open_timeout_s + 0.5):
            self._abandon(reader)
            raise self._err(f"cannot open {src}: no answer within {self.cfg.open_timeout_s:g} s")
        if reader.open_error is not None:
            self._abandon(reader)
            raise self._err(f"cannot open {src}: {reader.open_error}")
        log.info("camera '%s' opened %s", self.name, src)

    def _abandon(self, reader: _Reader) -> None:
        reader.halt.set()
        with self._cond:
            if self._reader is reader:
                self._reader = None
            self._cond.notify_all()

    def _publish(self, reader: _Reader, image: np.ndarray) -> None:
        image = self._scaled(image)
        now = time.monotonic()
        with self._cond:
            if reader is not self._reader:
                return
            self._seq += 1
            self.frames += 1
            self._latest = Frame(image=image, ts=now, seq=self._seq)
            self._times.append(now)
            self._cond.notify_all()

    def _publish_wait(self, reader: _Reader, image: np.ndarray, ts: float) -> bool:
        """Fast file playback: wait until the last frame was taken, then publish this one stamped ``ts`` (the
        file's time). False when the reader should stop."""
        image = self._scaled(image)
        with self._cond:
            while (reader is self._reader and not reader.halt.is_set() and self._latest is not None
                   and self._latest.seq > self._returned_seq):
                self._cond.wait(0.2)
            if reader is not self._reader or reader.halt.is_set():
                return False
            self._seq += 1
            self.frames += 1
            self._latest = Frame(image=image, ts=ts, seq=self._seq)
            self._times.append(time.monotonic())
            self._cond.notify_all()
        return True

    def _scaled(self, image: np.ndarray) -> np.ndarray:
        """Scale to cfg.width x cfg.height; with only one of them set, keep the aspect ratio."""
        w, h = self.cfg.width, self.cfg.height
        if w is None and h is None:
            return image
        ih, iw = image.shape[:2]
        if w is None:
            th = h or ih
            tw = max(1, round(iw * th / ih))
        else:
            tw = w
            th = h if h is not None else max(1, round(ih * tw / iw))
        if (tw, th) == (iw, ih):
            return image
        return cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)

    def _fail(self, reader: _Reader, message: str, eof: bool = False) -> None:
        with self._cond:
            if reader is not self._reader:
                return
            self._error = f"camera '{self.name}': {message} ({self.source})"
            self.errors += 1
            self.last_error = self._error
            self._cond.notify_all()
        (log.info if eof else log.warning)("%s", self._error)

    def read(self) -> Frame:
        """The next frame not returned before. Raises CameraError when the camera is not open, failed,
        reached the end of its file (unless ``loop``) or gave no frame within ``read_timeout_s``."""
        deadline = time.monotonic() + self.cfg.read_timeout_s
        with self._cond:
            while True:
                latest = self._latest
                if latest is not None and latest.seq > self._returned_seq:
                    self._returned_seq = latest.seq
                    self._cond.notify_all()  # a fast file reader waits for this
                    return latest
                if self._error is not None:
                    raise CameraError(self._error)
                if self._reader is None:
                    raise self._err("not open (call open() first)")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._err(f"no frame within {self.cfg.read_timeout_s:g} s from {self.source}")
                self._cond.wait(remaining)

    def close(self) -> None:
        """Stop the reader thread. Does not wait for an OpenCV call that hangs: that thread is abandoned."""
        with self._cond:
            reader, self._reader = self._reader, None
            self._latest = None
            self._cond.notify_all()
        if reader is not None:
            reader.halt.set()
            if reader is not threading.current_thread():
                reader.join(timeout=1.0)

    @property
    def is_open(self) -> bool:
        return self._reader is not None and self._error is None

    @property
    def fps_measured(self) -> float:
        """Frames per second delivered by the source over the last few seconds (0 when it stalled)."""
        with self._cond:
            times = list(self._times)
        if len(times) < 2:
            return 0.0
        now = time.monotonic()
        window = max(2.0, 5.0 / self.cfg.fps)
        if now - times[-1] > max(self.cfg.read_timeout_s, 2.0 / self.cfg.fps):
            return 0.0
        recent = [t for t in times if now - t <= window]
        if len(recent) < 2:
            recent = times[-2:]
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "open": self.is_open,
            "fps": self.cfg.fps,
            "fps_measured": round(self.fps_measured, 2),
            "frames": self.frames,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    def __repr__(self) -> str:
        return f"<Camera {self.name!r} {self.source}>"
