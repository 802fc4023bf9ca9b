"""The second (held-out) clip generator: deterministic clips with ground truth, judged through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.apps.lift_guard.heldout import CASES, evaluate, heldout_set, make_clip
from edge.apps.lift_guard.replay import load_app_config
from edge.vision import load_detector

SMALL = (240, 180)


def test_clips_are_made_again_bit_for_bit_from_their_seed_and_carry_ground_truth() -> None:
    a, b = make_clip("occluded", 3, SMALL), make_clip("occluded", 3, SMALL)
    assert len(a.frames) == 40 and all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True))
    assert not np.array_equal(a.frames[20], make_clip("occluded", 4, SMALL).frames[20])
    assert a.expect == "block" and a.cross_s is not None and 1.0 <= a.cross_s <= 2.6
    assert make_clip("landing_only", 1, SMALL).expect == "none"
    frozen = make_clip("frozen", 1, SMALL)
    assert frozen.expect == "frozen" and frozen.fault_from_s == 1.8
    assert np.array_equal(frozen.frames[9], frozen.frames[30])  # the picture of 1.8 s repeats
    assert len(heldout_set((1, 2))) == 2 * len(CASES) == 26


def test_held_out_clips_are_judged_through_the_real_pipeline(tmp_path: Path) -> None:
    base = load_app_config(Path("config/lift_guard.yaml"))
    det = load_detector(base.detector)
    res = {o.name: o for o in evaluate([("big_near", 1), ("poster", 1), ("black", 1)], base, "evidence", det,
                                       tmp_path)}
    assert res["big_near-1"].passed and res["big_near-1"].blocks >= 1, res["big_near-1"]
    assert res["big_near-1"].latency_from_cross_s is not None and res["big_near-1"].latency_from_cross_s <= 1.05
    assert res["poster-1"].passed and res["poster-1"].blocks == 0  # a motorcycle advert on the wall
    assert res["black-1"].passed, res["black-1"]
