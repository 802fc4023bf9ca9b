"""The tuning set judged: every clip of ``config/lift_guard_scenes.yaml`` that says what the guard must do
(``expect``) is written, replayed through the real camera, pipeline and guard (:func:`.replay.replay`, fast), and
passed or failed by the same rules as the held-out set: an e-bike must be blocked within 1 s (+50 ms) of the first
frame in which its foot point stands on the car floor; a negative must never block; a camera fault must be raised
within its configured time (+ one frame) of the view going bad.

The guard's parameters are chosen on this set only (``python -m edge.apps.lift_guard.tuning``); the held-out set
(:mod:`edge.apps.lift_guard.heldout`) is run once they are frozen.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import LiftGuardConfig
from .scenes import Clip, ClipPainter, SceneFile, load_scenes, view_points
from .sim import SCENES

_BIKES = ("motorcycle",)


@dataclass
class TuningOutcome:
    name: str
    expect: str
    passed: bool
    why: str
    blocks: int
    latency_from_cross_s: float | None = None
    max_evidence: float = 0.0


def clip_floor(clip: Clip, cfg: LiftGuardConfig, size: tuple[int, int]) -> list[tuple[float, float]] | None:
    """The floor polygon as an installer draws it for this clip's camera (the config's, seen from that mount)."""
    floor = cfg.region.floor
    if floor is None or clip.camera == "corner":
        return floor
    return view_points(clip.camera, size[0], size[1], floor)


def ground_truth(clip: Clip, floor: list[tuple[float, float]] | None, fps: float,
                 size: tuple[int, int]) -> tuple[ClipPainter, list[np.ndarray], float | None, float | None]:
    """The clip's frames, when a bike first stands on the car floor (its foot point, as the guard measures it,
    inside ``floor``), and when the first faulty segment begins."""
    painter = ClipPainter(clip, fps, size)
    frames = [painter.frame(i).copy() for i in range(painter.frames)]
    w, h = size
    pts = None if floor is None else np.array([(x * (w - 1), y * (h - 1)) for x, y in floor], np.float32)
    cross = None
    for i in range(painter.frames):
        for spr, (x1, y1, x2, y2) in painter.truth.get(i, []):
            if spr not in _BIKES:
                continue
            foot = ((x1 + x2) / 2, y2 - 0.02 * (y2 - y1))
            if pts is None or cv2.pointPolygonTest(pts, (float(foot[0]), float(foot[1])), False) >= 0:
                cross = i / fps
                break
        if cross is not None:
            break
    fault = None
    for start, _end, seg in painter.bounds:
        if seg.effect != "none":
            fault = (start - 1 if seg.effect == "frozen" else start) / fps  # frozen: the last live picture repeats
            break
    return painter, frames, cross, fault


def judge(name: str, clip: Clip, res: Any, cfg: LiftGuardConfig, cross: float | None, fault: float | None,
          fps: float) -> TuningOutcome:
    blocks = len(res.blocks)
    if clip.expect == "block":
        if not blocks:
            return TuningOutcome(name, "block", False, "missed", 0, None, res.max_evidence)
        assert cross is not None, f"{name}: no bike ever stands on the floor"
        lat = res.first_block_s - cross
        return TuningOutcome(name, "block", lat <= 1.05, f"blocked {lat:+.2f} s after crossing", blocks, lat,
                             res.max_evidence)
    if clip.expect == "none":
        return TuningOutcome(name, "none", blocks == 0, "no block" if not blocks else "false block", blocks, None,
                             res.max_evidence)
    kind = str(clip.expect)
    limit = {"frozen": cfg.health.frozen_s, "covered": cfg.health.covered_s, "black": cfg.health.black_s}[kind]
    got = [f for f in res.faults if f["fault"] == kind]
    if not got or fault is None:
        return TuningOutcome(name, kind, False, f"no {kind} fault ({res.faults})", blocks)
    late = got[0]["t"] - fault
    return TuningOutcome(name, kind, late <= limit + 1 / fps + 0.05, f"{kind} after {late:.2f} s (limit {limit:g} s)",
                         blocks)


def evaluate(scenes: SceneFile, names: Iterable[str], base: LiftGuardConfig, detector: Any,
             workdir: Path | None = None) -> list[TuningOutcome]:
    """Replay each named clip (those with an ``expect``) through the real pipeline; one outcome per clip."""
    from edge.hal.sim import make_scene_video

    from .replay import replay

    logging.getLogger("linli.replay").setLevel(logging.CRITICAL)
    size, fps = (scenes.width, scenes.height), scenes.fps
    out: list[TuningOutcome] = []
    with tempfile.TemporaryDirectory(prefix="linli-tuning-") as tmp:
        root = workdir or Path(tmp)
        for name in names:
            clip = scenes.clips[name]
            if clip.expect is None:
                continue
            floor = clip_floor(clip, base, size)
            cfg = base.model_copy(update={"region": base.region.model_copy(update={"floor": floor})})
            _p, frames, cross, fault = ground_truth(clip, floor, fps, size)
            path = root / f"{name}.mp4"
            make_scene_video(str(path), len(frames), fps=fps, size=size,
                             painter=lambda img, i, fr=frames: img.__setitem__(slice(None), fr[i]))
            doors = [(a, b) for a, b, is_open in clip.door_timeline() if is_open]
            res = replay(path, cfg, doors, fast=True, fps=fps, detector=detector, detect_lines=False)
            out.append(judge(name, clip, res, cfg, cross, fault, fps))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="judge the lift guard on the tuning clips")
    ap.add_argument("-c", "--config", type=Path, default=Path("config/lift_guard.yaml"))
    ap.add_argument("--no-zoom", action="store_true", help="without the zoomed pass at the door (app.zoom)")
    ap.add_argument("--no-night", action="store_true", help="without infrared normalisation (app.night)")
    ap.add_argument("clips", nargs="*", help="clip names (default: every clip with an expect)")
    args = ap.parse_args(argv)
    from edge.vision import load_detector

    from .replay import load_app_config

    base = load_app_config(args.config)
    base = base.model_copy(update={"health": base.health.model_copy(update={
        "black_s": 1.0, "covered_s": 1.5, "frozen_s": 1.5, "clear_s": 1.0})})  # short clips: the tests' timers
    if args.no_zoom:
        base = base.model_copy(update={"zoom": base.zoom.model_copy(update={"enabled": False})})
    if args.no_night:
        base = base.model_copy(update={"night": base.night.model_copy(update={"enabled": False})})
    scenes = load_scenes(SCENES)
    names = args.clips or [n for n, c in scenes.clips.items() if c.expect is not None]
    res = evaluate(scenes, names, base, load_detector(base.detector))
    for o in res:
        print(f"{'pass' if o.passed else 'FAIL'}  {o.name:18s} {o.expect:7s} {o.why}  (max evidence "
              f"{o.max_evidence:.2f})")
    print(f"tuning set: {sum(o.passed for o in res)}/{len(res)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
