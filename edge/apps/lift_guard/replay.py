"""``linli replay``: run the real lift pipeline on a recorded clip, with the door driven by a schedule.

An installer tunes a new lift from footage: record a minute of the car camera (an e-bike pushed in, people, the
door cycling), write down when the door was open, and replay::

    linli replay car.mp4 -c /etc/linli/lift-07.yaml --doors doors.csv --fast --video annotated.mp4

What runs is what runs on the device: the file camera (``edge.hal.Camera``, at the file's own timestamps, in real
time or ``--fast``), the camera loop's step (camera health faults, pipeline, guard), the guard with its hold relay
on mock pins, voice into the recording speaker, snapshots into a temporary folder. The door-open input follows the
schedule — and stays open while the relay holds it, as a real door does. Time is the clip's: the guard's clock
follows each frame's timestamp (plus the real processing time of the frame), so timers such as ``max_hold_s`` and
``frozen_s`` mean the same as on a lift.

Door schedule (``--doors``): YAML ``open: [[0, 12.5], [20, 31]]`` (seconds from the start of the clip) or CSV
lines ``start,end`` (a header line is allowed). Without one the door is open for the whole clip.

Output: a timeline (door, detections with each track's evidence, relay on/off, blocks and releases, faults, voice)
and a verdict line ``VERDICT blocks=… first_block_s=… latency_ms=… faults=…``. ``--expect block|none`` makes the
exit status say whether the clip did what it should (0 yes, 1 no); ``--json`` writes the whole result.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edge.hal import Camera, CameraError, Hal, HalConfig
from edge.runtime.clock import Clock
from edge.runtime.watchdog import Watchdog
from edge.vision import annotate
from linli.contract import EventData
from linli.contract import lift_guard as ev

from .camera_loop import CameraLoop
from .config import LiftGuardConfig
from .evidence import EvidenceStore
from .guard import Guard
from .pipeline import FrameResult, LiftPipeline
from .sim import LiftSim
from .voice import Prompter

log = logging.getLogger(__name__)
Interval = tuple[float, float]


# ------------------------------------------------------------------------------------------ door schedule
def parse_doors(text: str, name: str = "schedule") -> list[Interval]:
    """Door-open intervals (seconds) from YAML (``open: [[a, b], …]`` or a plain list) or CSV (``start,end``)."""
    rows: list[list[Any]]
    stripped = text.strip()
    if not stripped:
        return []
    if "," in stripped.splitlines()[0] and not stripped.startswith(("open:", "[", "-", "{")):
        rows = [r for r in csv.reader(io.StringIO(stripped)) if r and any(c.strip() for c in r)]
        try:
            float(rows[0][0])
        except (ValueError, IndexError):
            rows = rows[1:]  # a header line
    else:
        doc = yaml.safe_load(stripped)
        if isinstance(doc, dict):
            doc = doc.get("open")
        if not isinstance(doc, list):
            raise ValueError(f"{name}: expected 'open: [[start, end], …]' or CSV lines 'start,end'")
        rows = [list(r.values()) if isinstance(r, dict) else r for r in doc]
    out: list[Interval] = []
    for i, r in enumerate(rows, 1):
        try:
            a, b = float(r[0]), float(r[1])
        except (ValueError, IndexError, TypeError):
            raise ValueError(f"{name}: interval {i} ({r!r}) is not two numbers 'start, end' in seconds") from None
        if not (0 <= a < b):
            raise ValueError(f"{name}: interval {i} ({a:g}, {b:g}) must have 0 <= start < end")
        out.append((a, b))
    out.sort()
    for (a0, b0), (a1, _b1) in itertools.pairwise(out):
        if a1 < b0:
            raise ValueError(f"{name}: intervals ({a0:g}, {b0:g}) and ({a1:g}, …) overlap")
    return out


def door_open_at(schedule: list[Interval] | None, t: float) -> bool:
    return schedule is None or any(a <= t < b for a, b in schedule)


# ------------------------------------------------------------------------------------------ the clip's clock
class ClipClock(Clock):
    """Clock of the replay: the current frame's capture time plus the real time spent on it so far."""

    def __init__(self, start_wall: datetime) -> None:
        self.start_wall = start_wall
        self.frame_ts: float | None = None
        self.t0: float | None = None
        self._since = time.perf_counter()

    def at_frame(self, ts: float) -> None:
        if self.t0 is None:
            self.t0 = ts
        self.frame_ts = ts
        self._since = time.perf_counter()

    def monotonic(self) -> float:
        base = self.frame_ts if self.frame_ts is not None else 0.0
        return base + (time.perf_counter() - self._since)

    def clip_s(self) -> float:
        return self.monotonic() - (self.t0 or 0.0)

    def now(self) -> datetime:
        return self.start_wall + timedelta(seconds=self.clip_s())

    def time(self) -> float:
        return self.now().timestamp()


# ------------------------------------------------------------------------------------------ result
@dataclass
class Line:
    t: float  # seconds from the start of the clip
    what: str  # door | detect | relay | block | release | fault | fault_cleared | voice | suppress | resume
    text: str


@dataclass
class ReplayResult:
    clip: str
    frames: int = 0
    seconds: float = 0.0
    blocks: list[dict[str, Any]] = field(default_factory=list)  # lift.block data + "t"
    releases: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    voice: list[str] = field(default_factory=list)
    relay_on_s: float = 0.0
    timeline: list[Line] = field(default_factory=list)
    cpu_ms_per_frame: float = 0.0
    max_evidence: float = 0.0  # highest evidence of an acting-class track (how close a miss came)

    @property
    def first_block_s(self) -> float | None:
        return self.blocks[0]["t"] if self.blocks else None

    def verdict(self) -> str:
        lat = ",".join(f"{b['latency_ms']:.0f}" for b in self.blocks) or "-"
        first = f"{self.first_block_s:.2f}" if self.first_block_s is not None else "-"
        faults = ",".join(sorted({f["fault"] for f in self.faults})) or "none"
        return (f"VERDICT blocks={len(self.blocks)} first_block_s={first} latency_ms={lat} "
                f"relay_on_s={self.relay_on_s:.1f} faults={faults} frames={self.frames} "
                f"max_evidence={self.max_evidence:.2f}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["timeline"] = [asdict(x) for x in self.timeline]
        d["first_block_s"] = self.first_block_s
        return d


class _Sink:
    """The guard's event output, recorded on the clip's timeline."""

    def __init__(self, clock: ClipClock, result: ReplayResult, on_line: Callable[[Line], None]) -> None:
        self.clock = clock
        self.result = result
        self.on_line = on_line
        self.lock = threading.Lock()

    def __call__(self, event: EventData, blobs: Any = ()) -> None:
        type = event.EVENT.type
        d = event.model_dump(mode="json")
        t = round(self.clock.clip_s(), 2)
        with self.lock:
            if type == ev.BLOCK:
                self.result.blocks.append({**{k: d[k] for k in ("cls", "label", "score", "latency_ms", "seen_ms",
                                                              "track_s", "verdict")}, "t": t})
                text = (f"BLOCK {d['cls']} ({d['label']}) score {d['score']:.2f}, relay "
                        f"{'on' if d['relay'] else 'NOT on'} {d['latency_ms']:.0f} ms after it stood on the floor"
                        + (f", classifier: {d['verdict'] or 'no verdict yet'}" if d.get("classifier") else ""))
            elif type == ev.RELEASE:
                self.result.releases.append({"reason": d["reason"], "hold_s": d["hold_s"], "t": t})
                text = f"release: {d['reason']} after {d['hold_s']:.1f} s" + (f" ({d['note']})" if d.get("note")
                                                                                else "")
            elif type == ev.FAULT:
                self.result.faults.append({"fault": d["fault"], "t": t})
                text = f"FAULT {d['fault']}: {d['detail']}"
            elif type == ev.FAULT_CLEARED:
                text = f"fault cleared: {d['fault']}"
            else:
                text = f"{type} {json.dumps(d, ensure_ascii=False, default=str)[:160]}"
            line = Line(t, type.removeprefix("lift."), text)
            self.result.timeline.append(line)
        self.on_line(line)


class _EndOfClip(Exception):
    """The clip is over (not a camera fault)."""


class _ScheduledCamera:
    """The file camera, with the clip's clock and the door input stepped to each frame's time before the
    pipeline sees it (the camera loop reads the door right after the frame)."""

    def __init__(self, cam: Camera, before: Callable[[float], None]) -> None:
        self.cam = cam
        self.cfg = cam.cfg
        self.before = before
        self.opened = False

    @property
    def is_open(self) -> bool:
        return self.cam.is_open

    def open(self) -> None:
        if self.opened:
            raise _EndOfClip()  # the camera loop reopens a camera that stopped: a clip is played once
        self.opened = True
        self.cam.open()

    def close(self) -> None:
        self.cam.close()

    def read(self) -> Any:
        try:
            f = self.cam.read()
        except CameraError as exc:
            if "end of file" in str(exc):
                raise _EndOfClip() from None
            raise
        self.before(f.ts)
        return f


# ------------------------------------------------------------------------------------------ the run
def replay(clip: Path, cfg: LiftGuardConfig, doors: list[Interval] | None = None, *, fast: bool = True,
           fps: float = 5.0, video_out: Path | None = None, on_line: Callable[[Line], None] | None = None,
           detect_lines: bool = True, detector: Any = None, second: Any = None) -> ReplayResult:
    """Replay ``clip`` through the real camera, pipeline and guard; ``cfg`` is the lift's ``app:`` section (its
    wiring names are replaced by the replay's own mock pins). ``detector`` reuses a loaded model; ``second`` a
    loaded second stage (else ``cfg.classifier`` with a local ``path`` is loaded, and a bad file is an error)."""
    from edge.vision import load_detector

    if not clip.is_file():
        raise FileNotFoundError(f"no such clip: {clip}")
    on_line = on_line or (lambda _line: None)
    hal_cfg = HalConfig.model_validate({
        "pin_factory": "mock",
        "inputs": {"door_open": {"pin": 5, "pull_up": True, "bounce_ms": 0}},
        "relays": {"door_hold": {"pin": 6}},
        "speaker": {"backend": "record"},
        "cameras": {"car": {"source": str(clip), "fps": fps, "read_timeout_s": 10.0,
                            "file_speed": "fast" if fast else "realtime"}},
    })
    cfg = cfg.model_copy(update={"camera": "car", "door_input": "door_open", "hold_relay": "door_hold",
                                 "inhibit_inputs": [], "camera_grace_s": 0.0})
    result = ReplayResult(clip=str(clip))
    clock = ClipClock(datetime.now(UTC))
    det = detector if detector is not None else load_detector(cfg.detector)
    if second is None and cfg.classifier is not None:
        from .classifier import load_second_stage

        second = load_second_stage(cfg.classifier, cfg.second_stage, frozenset(cfg.classes.acting))
    writer: cv2.VideoWriter | None = None
    logger = logging.getLogger("linli.replay")
    with tempfile.TemporaryDirectory(prefix="linli-replay-") as tmp, Hal(hal_cfg) as hal:
        sim = LiftSim(hal_cfg, cfg)
        sim.set_door(False)
        sink = _Sink(clock, result, on_line)
        guard = Guard(cfg, hal.relays["door_hold"], hal.inputs["door_open"], {}, Prompter(cfg.voice, hal.speaker),
                      sink, EvidenceStore(Path(tmp) / "snapshots", 1), clock, logger, det.version)
        hal.inputs["door_open"].on_change(guard.door_changed)
        guard.classifier = second.version if second is not None else None
        pipeline = LiftPipeline(cfg, det, second)
        state: dict[str, Any] = {"door": False, "relay": False, "relay_since": 0.0, "spoken": 0, "suspect": set()}

        def note(what: str, text: str) -> None:
            line = Line(round(clock.clip_s(), 2), what, text)
            result.timeline.append(line)
            on_line(line)

        def before(ts: float) -> None:
            clock.at_frame(ts)
            want = door_open_at(doors, clock.clip_s())
            sim.step(want)
            if sim.door_is_open != state["door"]:
                state["door"] = sim.door_is_open
                note("door", ("open" if sim.door_is_open else "closed") + (" (held by the relay)"
                                                                           if sim.held_open else ""))

        cam = _ScheduledCamera(hal.cameras["car"], before)
        wd = Watchdog(3600.0, lambda *_: None, systemd=False)
        loop = CameraLoop(cam, pipeline, guard, wd, guard.evidence, 3600.0, 0.0, logger)  # type: ignore[arg-type]
        loop._ever_opened = True
        cpu0 = time.process_time()
        last: FrameResult | None = None
        try:
            while True:
                try:
                    loop._step()
                except _EndOfClip:
                    break
                if loop.camera.cam.last_error and not loop.camera.is_open and "end of file" in str(
                        loop.camera.cam.last_error):
                    break
                res = loop.last
                if res is None or res is last:
                    continue
                last = res
                result.frames += 1
                guard.tick()
                _after_frame(result, res, guard, hal, state, note, detect_lines, clock)
                if video_out is not None:
                    img = _annotated(res, guard, pipeline, clock.clip_s(), state["door"])
                    if writer is None:
                        h, w = img.shape[:2]
                        video_out.parent.mkdir(parents=True, exist_ok=True)
                        writer = cv2.VideoWriter(str(video_out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
                    writer.write(img)
        finally:
            result.seconds = round(clock.clip_s(), 2)
            if state["relay"]:
                result.relay_on_s += clock.clip_s() - state["relay_since"]
            guard.shutdown()
            loop.camera.close()
            if writer is not None:
                writer.release()
        result.cpu_ms_per_frame = round((time.process_time() - cpu0) * 1000 / max(1, result.frames), 2)
        result.relay_on_s = round(result.relay_on_s, 2)
    return result


def _after_frame(result: ReplayResult, res: FrameResult, guard: Guard, hal: Hal, state: dict[str, Any],
                 note: Callable[[str, str], None], detect_lines: bool, clock: ClipClock) -> None:
    for t in res.tracks:
        if guard.classes.is_acting(t.cls) or t.cls in guard.classes.families:
            result.max_evidence = max(result.max_evidence, t.evidence)
    if detect_lines and res.detected and res.tracks:
        parts = []
        for t in res.tracks:
            seen = f"{t.label} {t.score:.2f}" if t.missed == 0 else "unseen"
            where = "" if t.inside else ", not on the floor"
            parts.append(f"#{t.id} {t.cls} {seen} E={t.evidence:.2f}{' confirmed' if t.confirmed else ''}{where}")
        note("detect", "; ".join(parts))
    for kind in res.health.suspect:
        if kind not in state["suspect"]:
            state["suspect"].add(kind)
            note("camera", f"view looks {kind} (not yet long enough for a fault)")
    state["suspect"] &= set(res.health.suspect)
    relay = hal.relays["door_hold"].is_on
    if relay != state["relay"]:
        if state["relay"]:
            result.relay_on_s += clock.clip_s() - state["relay_since"]
        state["relay"], state["relay_since"] = relay, clock.clip_s()
        note("relay", "ON (door held)" if relay else "off")
    spoken = hal.speaker.history
    for item in spoken[state["spoken"]:]:
        result.voice.append(item.text)
        note("voice", f"[{item.lang}] {item.text}")
    state["spoken"] = len(spoken)


def _annotated(res: FrameResult, guard: Guard, pipeline: LiftPipeline, t: float, door: bool) -> np.ndarray:
    img = guard._last_image if guard._last_image is not None else np.zeros((res.height, res.width, 3), np.uint8)
    dets = res.detections if res.detected else [t_.detection for t_ in res.tracks if t_.detection is not None]
    ev_text = " ".join(f"#{t_.id}:{t_.evidence:.1f}" for t_ in res.tracks if t_.evidence > 0)
    caption = (f"{t:6.2f}s door {'open' if door else 'shut'} relay {'ON' if guard.relay.is_on else 'off'} "
               f"{ev_text}")
    pic = annotate(img, dets, pipeline.classes.acting, pipeline.region, caption)
    floor = pipeline.region.cfg.floor
    if floor:
        h, w = pic.shape[:2]
        pts = np.array([(round(x * (w - 1)), round(y * (h - 1))) for x, y in floor], np.int32)
        cv2.polylines(pic, [pts], True, (255, 160, 0), 1, cv2.LINE_AA)
    crop = pipeline.looker.crop_px(pic.shape[1], pic.shape[0]) if pipeline.looker is not None else None
    if crop is not None:  # the zoomed pass's box at the door (edge.vision.zoom): dashed cyan, so it reads as a guide
        x1, y1, x2, y2 = crop
        for a in range(x1, x2, 12):
            cv2.line(pic, (a, y1), (min(a + 6, x2), y1), (255, 255, 0), 1)
            cv2.line(pic, (a, y2), (min(a + 6, x2), y2), (255, 255, 0), 1)
        for a in range(y1, y2, 12):
            cv2.line(pic, (x1, a), (x1, min(a + 6, y2)), (255, 255, 0), 1)
            cv2.line(pic, (x2, a), (x2, min(a + 6, y2)), (255, 255, 0), 1)
    return pic


# ------------------------------------------------------------------------------------------ CLI
def load_app_config(path: Path | None) -> LiftGuardConfig:
    """The ``app:`` section of a lift device YAML (or of a bare app YAML); the default config without one."""
    if path is None:
        return LiftGuardConfig()
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(doc, dict) and "app" in doc:
        if doc.get("kind") not in (None, "lift_guard"):
            raise ValueError(f"{path}: kind is {doc.get('kind')!r}, not lift_guard")
        doc = doc["app"]
    return LiftGuardConfig.model_validate(doc)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    cfg_path = Path(args.config) if args.config else None
    try:
        cfg = load_app_config(cfg_path)
        doors = parse_doors(Path(args.doors).read_text(encoding="utf-8"), args.doors) if args.doors else None
    except (OSError, ValueError) as exc:
        print(f"linli replay: {exc}")
        return 2
    if getattr(args, "classifier", None):
        from linli.liftcls import ClassifierError, parse_file, sha256_of

        from .config import ClassifierConfig

        try:
            data = Path(args.classifier).read_bytes()
            f = parse_file(data, None, None)
        except (OSError, ClassifierError) as exc:
            print(f"linli replay: --classifier: {exc}")
            return 2
        cfg = cfg.model_copy(update={"classifier": ClassifierConfig(version=f.version, sha256=sha256_of(data),
                                                                     path=Path(args.classifier))})
    fps = args.fps
    if fps is None and cfg_path is not None:
        doc = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        fps = ((doc.get("hal") or {}).get("cameras") or {}).get(cfg.camera, {}).get("fps")
    fps = float(fps or 5.0)

    def show(line: Line) -> None:
        if args.quiet and line.what == "detect":
            return
        print(f"{line.t:8.2f}s  {line.what:<13} {line.text}", flush=True)

    try:
        result = replay(Path(args.clip), cfg, doors, fast=args.fast, fps=fps,
                        video_out=Path(args.video) if args.video else None, on_line=show)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"linli replay: {exc}")
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    print(result.verdict())
    if args.expect == "block":
        return 0 if result.blocks else 1
    if args.expect == "none":
        return 0 if not result.blocks else 1
    return 0
