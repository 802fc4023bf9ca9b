"""What the hard tuning scenes (bench/plates_hard.py) taught the reading path: a plate's colour under dusk and
overexposure, a second, full-size look for plates too small for the scaled frame — which an unchanged, empty
picture does not pay for frame after frame —, and weak looks that no longer blur the vote."""

from __future__ import annotations

import numpy as np
import pytest

from edge.apps.gate.config import MODELS_DIR
from edge.apps.gate.reading import FrameReader, Look, Thresholds, count, plate_colour
from edge.apps.gate.recognizer import PlateRecognizer
from edge.apps.gate.scenes import make_scene, render_plate
from linli.gate.plates import PlateColour, try_parse


def _band(img: np.ndarray) -> np.ndarray:
    h = img.shape[0]
    return img[round(h * 0.12): round(h * 0.88)].astype(np.float32)


def _lit(img: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    return np.clip(img * gain + offset, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("text", "colour"), [("沪A12345", PlateColour.blue), ("沪AD12345", PlateColour.green),
                                              ("沪A1234学", PlateColour.yellow)])
def test_a_plate_at_dusk_keeps_its_colour(text: str, colour: PlateColour) -> None:
    plate = _band(render_plate(text, scale=0.4))
    for gain in (1.0, 0.3, 0.2, 0.15):  # at a fifth of the light a fixed brightness gate called them all black
        assert plate_colour(_lit(plate, gain)) is colour, gain


def test_an_overexposed_new_energy_plate_is_green_not_white() -> None:
    green = _band(render_plate("沪AD12345", scale=0.4))
    assert plate_colour(_lit(green, 1.4, 30)) is PlateColour.green  # its gradient: whitish on top, green below
    # washed out further, its faint colour is still green: unknown (the layout is not checked), never white
    washed = np.full((40, 150, 3), (225, 250, 215), np.float32)
    washed[:, ::7] = 30  # strokes
    assert plate_colour(washed.astype(np.uint8)) is PlateColour.unknown


def test_white_and_black_plates_stay_white_and_black() -> None:
    white = np.full((40, 150, 3), 235, np.float32)
    white[10:30, 10:140:9] = 20
    assert plate_colour(white.astype(np.uint8)) is PlateColour.white
    assert plate_colour(_lit(white, 1.5, 20)) is PlateColour.white
    black = np.full((40, 150, 3), 25, np.float32)
    black[10:30, 10:140:9] = 235
    assert plate_colour(black.astype(np.uint8)) is PlateColour.black


@pytest.fixture(scope="module")
def recognizer() -> PlateRecognizer:
    return PlateRecognizer(MODELS_DIR, threads=1)


def test_a_small_plate_is_found_by_the_second_look(recognizer: PlateRecognizer) -> None:
    # a 40 px plate in a 1280 x 720 frame: 25 px after scaling to 800, below the detector's smallest anchor
    frames = [make_scene("沪A12345", seed=s, plate_px=40).image for s in range(3)]
    recognizer.det_fallback_side = 0
    try:
        assert not any(recognizer.detect(f) for f in frames)
        assert not any(FrameReader(recognizer).read(f).seen for f in frames)
    finally:
        recognizer.det_fallback_side = 1280
    reader = FrameReader(recognizer)
    reads = [reader.read(f) for f in frames]
    assert all(r.seen for r in reads)
    for r, f in zip(reads, frames, strict=True):
        assert r.corners is not None
        centre = r.corners.mean(axis=0)  # found where the plate is, in frame pixels
        assert 0.3 * f.shape[1] < centre[0] < 0.7 * f.shape[1] and 0.5 * f.shape[0] < centre[1] < 0.8 * f.shape[0]
    assert reader.second_looks == 3
    # a plate the scaled frame shows needs no second look
    big = FrameReader(recognizer)
    assert big.read(make_scene("沪A12345", seed=1).image).seen and big.second_looks == 0


def test_an_unchanged_empty_picture_gets_one_second_look(recognizer: PlateRecognizer) -> None:
    rng = np.random.default_rng(3)
    empty = np.clip(rng.normal(110, 4, (720, 1280, 3)), 0, 255).astype(np.uint8)
    reader = FrameReader(recognizer)
    for _ in range(4):  # sensor noise is no change
        noisy = np.clip(empty.astype(np.int16) + rng.integers(-6, 7, empty.shape), 0, 255).astype(np.uint8)
        assert not reader.read(noisy).seen
    assert reader.second_looks == 1
    moved = empty.copy()
    moved[300:500, 400:900] = 40  # something came into view: looked at again
    assert not reader.read(moved).seen
    assert reader.second_looks == 2
    # a frame no larger than the first look's size is never looked at twice
    small = FrameReader(recognizer)
    small.read(empty[:450, :800].copy())
    assert small.second_looks == 0


def _judged(text: str, confs: tuple[float, ...], colour: PlateColour = PlateColour.blue) -> Look:
    plate, _ = try_parse(text)
    assert plate is not None
    return Look(text, confs, plate.kind, True, colour is not PlateColour.unknown)


def test_weak_looks_do_not_blur_a_sure_read() -> None:
    """A look with a character under the reading confidence (0.7) does not vote: on the hard tuning scenes such
    looks (a blurred band, a cut through the frame) outvoted the sure ones at one position and made 11 of 360 plates
    unsure. The guard still sees what they read."""
    sure = (0.97,) * 7
    weak = (0.97, 0.97, 0.97, 0.62, 0.97, 0.97, 0.97)
    looks = [(n, lk) for n in range(3) for lk in (_judged("沪A12345", sure), _judged("沪A18345", weak),
                                                  _judged("沪A13345", weak))]
    b = count(looks, Thresholds(), 2)
    assert (b.status, b.text) == ("read", "沪A12345")
    assert count(looks, Thresholds(min_char=0.5), 2).status == "unsure"  # as before: the weak looks outvoted it
    only_weak = [(n, _judged("沪A18345", weak)) for n in range(3)]
    b = count(only_weak, Thresholds(), 2)
    assert b.status == "unsure" and b.candidates == ("沪A18345",) and b.text is None  # shown, never opened on
