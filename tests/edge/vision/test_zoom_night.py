"""The zoomed detector pass at the door sill and the infrared-night normalisation (edge.vision.zoom / .night),
with the real default detector on frames of the tuning generator."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.apps.lift_guard.replay import load_app_config
from edge.apps.lift_guard.scenes import car_interior, light, paste
from edge.vision import Detector, load_detector
from edge.vision.config import NightConfig, ZoomConfig
from edge.vision.detection import iou
from edge.vision.night import NightNormaliser, is_grey
from edge.vision.zoom import ZoomedDetector, zoom_box

FLOOR = [(0.0, 1.0), (0.0, 0.62), (0.26, 0.5), (0.74, 0.5), (1.0, 0.62), (1.0, 1.0)]  # config/lift_guard.yaml's
TWO_WHEELERS = ("motorcycle", "bicycle")


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector(load_app_config(Path("config/lift_guard.yaml")).detector)


def best(dets: list, box: tuple[int, int, int, int] | None = None) -> float:
    return max((d.score for d in dets if d.label in TWO_WHEELERS and (box is None or iou(d.box, box) >= 0.5)),
               default=0.0)


def test_the_zoom_box_is_derived_from_the_floor_polygons_far_edge() -> None:
    box = zoom_box(ZoomConfig(), FLOOR)
    assert box == pytest.approx((0.26, 0.212, 0.74, 0.692))  # the sill 0.26-0.74, 0.6 of the way down
    assert zoom_box(ZoomConfig(), None) is None  # no floor, no box: the full frame only
    assert zoom_box(ZoomConfig(margin=0.04), FLOOR) == pytest.approx((0.22, 0.164, 0.78, 0.724))
    assert zoom_box(ZoomConfig(box=(0.1, 0.2, 0.5, 0.6)), None) == (0.1, 0.2, 0.5, 0.6)
    # a door at the picture's edge: the box stays inside the frame, at least min_width wide
    edge = zoom_box(ZoomConfig(), [(0.0, 1.0), (0.0, 0.5), (0.1, 0.5), (0.6, 0.9)])
    assert edge is not None and edge[0] == 0.0 and edge[2] == pytest.approx(0.3)


def test_a_box_larger_than_max_area_is_not_zoomed(detector: Detector) -> None:
    wide = [(0.0, 1.0), (0.0, 0.3), (1.0, 0.3), (1.0, 1.0)]  # the sill spans the whole width: box = whole frame
    assert ZoomedDetector(detector, ZoomConfig(), NightConfig(), wide).box is None
    assert ZoomedDetector(detector, ZoomConfig(max_area=1.0), NightConfig(), wide).box is not None
    assert ZoomedDetector(detector, ZoomConfig(enabled=False), NightConfig(), FLOOR).box is None


def test_a_small_far_bike_at_the_door_is_found_only_by_the_zoomed_pass(detector: Detector) -> None:
    img = car_interior(640, 480, True).copy()
    truth = paste(img, "motorcycle", (0.47, 0.64, 0.17))  # 109 px wide, just inside the sill
    assert truth is not None
    assert best(detector.detect(img), truth) == 0.0  # the full frame: the model does not see it
    off = ZoomedDetector(detector, ZoomConfig(enabled=False), NightConfig(), FLOOR)
    assert best(off.detect(img), truth) == 0.0
    zoomed = ZoomedDetector(detector, ZoomConfig(), NightConfig(), FLOOR)
    found = zoomed.detect(img)
    assert best(found, truth) >= 0.5, found  # the zoomed pass's box, mapped back onto the bike in the frame
    assert zoomed.zoom_runs == 1


def test_a_far_bike_on_the_landing_keeps_its_foot_above_the_sill(detector: Detector) -> None:
    """The zoomed pass maps boxes back exactly: an object waiting on the landing is not moved onto the floor."""
    img = car_interior(640, 480, True).copy()
    truth = paste(img, "motorcycle", (0.5, 0.48, 0.2))
    assert truth is not None
    got = [d for d in ZoomedDetector(detector, ZoomConfig(), NightConfig(), FLOOR).detect(img)
           if d.label in TWO_WHEELERS and iou(d.box, truth) >= 0.5]
    assert got and all(abs(d.box[3] - truth[3]) < 0.05 * 480 for d in got)


def ir_frame() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    img = car_interior(640, 480, True).copy()
    truth = paste(img, "motorcycle", (0.5, 0.82, 0.4))
    assert truth is not None
    return light(img, "ir", 0, np.random.default_rng(3)), truth


def test_grey_infrared_frames_are_told_from_colour_frames() -> None:
    ir, _ = ir_frame()
    assert is_grey(ir, 3.0)
    assert not is_grey(car_interior(640, 480, True), 3.0)
    colour = car_interior(640, 480, True)
    out, applied = NightNormaliser(NightConfig()).normalise(colour)
    assert not applied and out is colour  # a colour frame goes to the detector untouched


def test_an_infrared_frame_is_normalised_and_the_bike_becomes_visible(detector: Detector) -> None:
    ir, truth = ir_frame()
    assert best(detector.detect(ir), truth) < 0.3  # as the camera gives it: below the evidence floor
    out, applied = NightNormaliser(NightConfig()).normalise(ir)
    assert applied and out.shape == ir.shape
    g_in, g_out = (cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in (ir, out))
    assert np.percentile(g_out, 99) - np.percentile(g_out, 1) > 2 * (np.percentile(g_in, 99) - np.percentile(g_in, 1))
    assert best(detector.detect(out), truth) >= 0.5
    off = ZoomedDetector(detector, ZoomConfig(enabled=False), NightConfig(enabled=False), FLOOR)
    on = ZoomedDetector(detector, ZoomConfig(enabled=False), NightConfig(), FLOOR)
    assert best(off.detect(ir), truth) < 0.3 and best(on.detect(ir), truth) >= 0.5
    assert on.night_frames == 1
