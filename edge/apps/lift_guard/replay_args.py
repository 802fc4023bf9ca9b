"""The arguments of ``linli replay`` (kept apart from :mod:`edge.apps.lift_guard.replay` so that building the
``linli`` parser does not import OpenCV and onnxruntime)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clip", help="recorded video of the car camera (any format OpenCV/FFmpeg reads)")
    p.add_argument("-c", "--config", help="the lift's device YAML (its app: section is used); default settings "
                   "without it")
    p.add_argument("--doors", help="door-open schedule: YAML 'open: [[start, end], …]' or CSV 'start,end' in "
                   "seconds; default: open for the whole clip")
    p.add_argument("--fast", action="store_true", help="as fast as possible (default: real time, as recorded)")
    p.add_argument("--fps", type=float, default=None, help="frames per second the guard looks at (default: the "
                   "config's camera fps, else 5)")
    p.add_argument("--video", help="write an annotated video here (boxes, floor, evidence, door, relay)")
    p.add_argument("--json", help="write the whole result (timeline, blocks, faults) as JSON here")
    p.add_argument("--quiet", action="store_true", help="no per-frame detection lines, only changes and the verdict")
    p.add_argument("--classifier", help="a site classifier file (from the server's classifier page) to run as the "
                   "second stage; default: the config's, else the detector-only rule")
    p.add_argument("--expect", choices=["block", "none"], help="exit status 1 unless the clip blocked (block) or "
                   "did not (none)")
