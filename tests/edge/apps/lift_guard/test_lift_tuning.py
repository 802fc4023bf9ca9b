"""The tuning set's hard cases (scenes.py: side mount, infrared, flicker) and its judge, through the real pipeline:
a far, small e-bike and one in an infrared night picture are blocked within 1 s of standing on the car floor only
with the zoomed pass and the night normalisation; a bike waiting on the landing is never blocked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.apps.lift_guard.replay import load_app_config
from edge.apps.lift_guard.scenes import SceneFile, car_interior, light, view_points
from edge.apps.lift_guard.tuning import evaluate, ground_truth
from edge.vision import load_detector


def test_the_side_mount_puts_the_door_at_the_pictures_left_edge_and_ir_is_grey(scenes: SceneFile) -> None:
    (door_x, sill_y), = view_points("side", 640, 480, [(0.5, 0.52)])
    assert door_x < 0.2 and abs(sill_y - 0.52) < 0.02
    side = scenes.clips["side_mount"]
    _p, _frames, cross, _f = ground_truth(side, view_points("side", 640, 480, [(0.0, 1.0), (0.0, 0.62), (0.26, 0.5),
                                                                            (0.74, 0.5), (1.0, 0.62), (1.0, 1.0)]),
                                         5.0, (640, 480))
    assert cross is not None and 1.0 < cross < 2.6
    ir = light(car_interior(320, 240, True).copy(), "ir", 0, np.random.default_rng(1))
    assert np.array_equal(ir[..., 0], ir[..., 2])
    day = car_interior(320, 240, True)
    flick = [light(day.copy(), "flicker", i, np.random.default_rng(i)).mean() for i in range(6)]
    assert max(flick) - min(flick) > 0.2 * day.mean()


def test_far_small_and_infrared_bikes_block_in_time_only_with_zoom_and_night(scenes: SceneFile,
                                                                            tmp_path: Path) -> None:
    base = load_app_config(Path("config/lift_guard.yaml"))
    det = load_detector(base.detector)
    got = {o.name: o for o in evaluate(scenes, ["small_far", "ir_night", "landing_wait"], base, det, tmp_path)}
    for name in ("small_far", "ir_night"):
        o = got[name]
        assert o.passed and o.latency_from_cross_s is not None and o.latency_from_cross_s <= 1.05, o
    assert got["landing_wait"].passed and got["landing_wait"].blocks == 0
    plain = base.model_copy(update={"zoom": base.zoom.model_copy(update={"enabled": False}),
                                    "night": base.night.model_copy(update={"enabled": False})})
    before = {o.name: o for o in evaluate(scenes, ["small_far", "ir_night"], plain, det, tmp_path / "plain")}
    assert not before["small_far"].passed and not before["ir_night"].passed
