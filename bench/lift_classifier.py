#!/usr/bin/env python3
"""The lift guard's second stage (site-trained crop classifier): what it learns, and what it changes.

    python bench/lift_classifier.py --quick     # < 60 s on an idle 2-core machine
    python bench/lift_classifier.py             # more crops, the whole held-out set

1. **Train** as the server does (``linli.liftcls.train``) on crops of the *tuning* generator
   (:func:`edge.apps.lift_guard.drawn.labelled_crops`: the left Middlebury motorcycle as e-bike, drawn bicycle /
   stroller / wheelchair / cart / battery, a person or an empty patch of car as ``other``); per-class precision and
   recall on the held-out quarter of those crops (what the server shows before deploying).
2. **Decisions on tuning-generator clips** (``bicycle_in_out``, ``bike_in_out``), detector only and with the
   classifier: does the bicycle still block, does the e-bike.
3. **The held-out set** (:mod:`edge.apps.lift_guard.heldout`, never tuned on; the classifier never saw its
   interiors, camera views, the *right* motorcycle view, IR or flicker): pass count and e-bike entries blocked (at
   all, and within 1 s of crossing the sill), detector only and with the classifier. The classifier must not lower
   e-bike recall.

Last line: ``RESULT cls_macro_recall=… bicycle_blocks_before=… bicycle_blocks_after=… ebike_blocks_after=…
heldout_pass_before=N/M heldout_pass_after=N/M heldout_ebike_before=a/b heldout_ebike_after=a/b``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from edge.apps.lift_guard.config import LiftGuardConfig  # noqa: E402
from edge.apps.lift_guard.drawn import labelled_crops  # noqa: E402
from edge.apps.lift_guard.heldout import evaluate, heldout_set  # noqa: E402
from edge.apps.lift_guard.replay import replay  # noqa: E402
from edge.apps.lift_guard.scenes import load_scenes, write_clip  # noqa: E402
from edge.apps.lift_guard.sim import SCENES  # noqa: E402
from edge.vision import load_detector  # noqa: E402
from edge.vision.second_stage import SecondStage  # noqa: E402
from linli.liftcls import (  # noqa: E402
    BACKBONE_SHA256,
    EXTRACTOR_ID,
    Classifier,
    Extractor,
    FeatureExtractor,
    resolve_backbone,
    sha256_of,
    train,
)

QUICK_HELDOUT = [("big_near", 1), ("occluded", 1), ("small_far", 2), ("landing_only", 1), ("person_only", 2),
                 ("poster", 1)]
BLOCK_CASES = ("small_far", "occluded", "ir_night", "flicker", "side_camera", "big_near")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer crops and 6 held-out clips (< 60 s)")
    ap.add_argument("--per-class", type=int, default=None, help="training crops per class (default 12 / 24)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    per_class = args.per_class or (12 if args.quick else 24)
    t0 = time.time()
    ex = FeatureExtractor(resolve_backbone())
    crops = labelled_crops(per_class, seed=1)
    x = np.stack([ex.features(c) for _, c in crops])
    y = [lb for lb, _ in crops]
    t1 = time.time()
    f = train(x, y, "bench", "bench-1", Extractor(id=EXTRACTOR_ID, sha256=BACKBONE_SHA256))
    t2 = time.time()
    data = f.encode()
    print(f"1. trained on {sum(f.trained_on.values())} crops ({per_class} a class, held out a quarter) in "
          f"{t2 - t1:.2f} s (+{t1 - t0:.1f} s to cut crops and compute features); file {len(data)} bytes")
    print(f"   {'class':<11} {'held-out':>8} {'precision':>9} {'recall':>7}")
    for m in f.heldout:
        print(f"   {m.cls:<11} {m.support:>8} {m.precision if m.precision is not None else '-':>9} "
              f"{m.recall if m.recall is not None else '-':>7}")
    recalls = [m.recall for m in f.heldout if m.recall is not None]
    macro = sum(recalls) / len(recalls) if recalls else 0.0
    cfg = LiftGuardConfig()
    det = load_detector(cfg.detector)
    second = SecondStage(cfg.second_stage, Classifier(f, sha256_of(data)), ex, frozenset(cfg.classes.acting))
    scenes = load_scenes(SCENES)
    tune: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="linli-cls-bench-") as tmp:
        for name in ("bicycle_in_out", "bike_in_out"):
            clip = Path(write_clip(Path(tmp) / f"{name}.mp4", scenes.clips[name], 5.0, (640, 480)))
            before = replay(clip, cfg, None, fast=True, detector=det, detect_lines=False)
            after = replay(clip, cfg, None, fast=True, detector=det, detect_lines=False, second=second)
            tune[name] = (len(before.blocks), len(after.blocks))
    print("2. tuning-generator clips: blocks detector only → with the classifier")
    for name, (b, a) in tune.items():
        print(f"   {name:<16} {b} → {a}")
    items = QUICK_HELDOUT if args.quick else heldout_set((1, 2))
    res = {}
    verdicts: list[str | None] = []
    for label, sec in (("before", None), ("after", second)):
        out = evaluate(items, cfg, "evidence", det, second=sec)
        if sec is not None:
            verdicts = [v for o in out if o.expect == "block" for v in o.verdicts]
        ebike = [o for o in out if o.expect == "block"]
        res[label] = (sum(o.passed for o in out), len(out), sum(o.blocks > 0 for o in ebike),
                      sum(o.passed for o in ebike), len(ebike))
    print("3. held-out clips (never tuned on): pass, e-bike entries blocked at all / within 1 s")
    for label, (p, n, anyb, ok, ne) in res.items():
        print(f"   {label:<7} pass {p}/{n}   e-bike blocked {anyb}/{ne}, within 1 s {ok}/{ne}")
    from collections import Counter

    print(f"   the classifier's verdict when a held-out e-bike was blocked: "
          f"{dict(Counter(v or 'none yet' for v in verdicts))}")
    b, a = res["before"], res["after"]
    print(f"RESULT cls_macro_recall={macro:.2f} bicycle_blocks_before={tune['bicycle_in_out'][0]} "
          f"bicycle_blocks_after={tune['bicycle_in_out'][1]} ebike_blocks_after={tune['bike_in_out'][1]} "
          f"heldout_pass_before={b[0]}/{b[1]} heldout_pass_after={a[0]}/{a[1]} "
          f"heldout_ebike_before={b[2]}/{b[4]} heldout_ebike_after={a[2]}/{a[4]} seconds={time.time() - t0:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
