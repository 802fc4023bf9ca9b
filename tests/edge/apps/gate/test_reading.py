"""Never trust one read: several looks per frame, the frames of one vehicle voting character by character, layout
checked against the plate colour, doubt made "unsure" (never a guess); colour that knows yellow-green and IR;
double-row plates read as one; and a camera lane that hands an unsure read to the guard instead of opening."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.apps.gate.camerasource import GAP_FRAMES, UNSURE_AFTER, CameraSource
from edge.apps.gate.config import MODELS_DIR
from edge.apps.gate.reading import (
    FrameReader,
    Look,
    Thresholds,
    VehicleVote,
    count,
    is_night,
    plate_colour,
)
from edge.apps.gate.recognizer import PlateRecognizer
from edge.apps.gate.scenes import make_scene, render_plate
from edge.runtime.harness import AgentFactory, Recorder
from linli.gate.plates import PlateColour

from .conftest import HAL, gate_app

T = Thresholds()


@pytest.fixture(scope="module")
def reader() -> FrameReader:
    return FrameReader(PlateRecognizer(MODELS_DIR, threads=1))


def _look(reader_: FrameReader, text: str, conf: float = 0.98, colour: PlateColour = PlateColour.unknown,
          confs: tuple[float, ...] | None = None) -> Look:
    return reader_.judge(text, confs or (conf,) * len(text), colour)


def test_colour_knows_yellow_green_and_ir() -> None:
    assert plate_colour(render_plate("沪A12345")) is PlateColour.blue
    assert plate_colour(render_plate("沪AD12345")) is PlateColour.green
    assert plate_colour(render_plate("沪A12345D")) is PlateColour.yellow_green
    assert plate_colour(render_plate("沪A1234挂", double=True)) is PlateColour.yellow
    grey = cv2.cvtColor(cv2.cvtColor(make_scene("沪A12345", seed=1).image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert is_night(grey) and not is_night(make_scene("沪A12345", seed=1).image)


def test_layout_must_fit_the_colour(reader: FrameReader) -> None:
    # a green new-energy plate read with a letter dropped looks like an ordinary 7-character plate: refused
    assert not _look(reader, "沪A12345", colour=PlateColour.green).fits
    assert _look(reader, "沪AD12345", colour=PlateColour.green).fits
    assert not _look(reader, "沪AD12345", colour=PlateColour.blue).fits
    assert _look(reader, "沪A12345D", colour=PlateColour.yellow_green).fits
    assert not _look(reader, "沪A1234学", colour=PlateColour.blue).fits  # 学 plates are yellow
    assert _look(reader, "沪A1234学", colour=PlateColour.yellow).fits
    assert not _look(reader, "沪A1234警", colour=PlateColour.yellow).fits  # 警 plates are white
    assert _look(reader, "沪A1234警", colour=PlateColour.white).fits
    assert _look(reader, "ABC", colour=PlateColour.blue).kind is None


def test_votes_that_disagree_make_unsure_not_a_guess(reader: FrameReader) -> None:
    same = [(0, _look(reader, "沪A12345")), (1, _look(reader, "沪A12345"))]
    assert count(same, T, 2).text == "沪A12345"
    assert count(same[:1], T, 2).status == "unsure"  # one frame is not enough
    split = [(0, _look(reader, "沪A12345")), (1, _look(reader, "浙A12345")), (2, _look(reader, "沪A12345"))]
    b = count(split, T, 2)
    assert b.status == "unsure" and b.reason == "province uncertain" and set(b.candidates) == {"沪A12345", "浙A12345"}
    layouts = [(0, _look(reader, "沪AD12345")), (1, _look(reader, "沪A12345")), (2, _look(reader, "沪AD12345"))]
    assert count(layouts, T, 2).status == "unsure"
    weak = [(n, _look(reader, "沪A12345", confs=(0.55, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99))) for n in range(3)]
    assert count(weak, T, 2).status == "unsure"  # the province read weakly every time
    assert count([], T, 2).status == "none"


def test_without_colour_the_vote_is_stricter(reader: FrameReader) -> None:
    """IR night: no colour checks the layout, so one dissenting layout or a split character is enough doubt."""
    night = [(0, _look(reader, "沪AD12345")), (1, _look(reader, "沪AD12345")), (2, _look(reader, "沪AD12345")),
             (3, _look(reader, "沪AD12345")), (4, _look(reader, "沪A12345"))]
    assert not night[0][1].checked and count(night, T, 2).status == "unsure"
    day = [(n, _look(reader, t, colour=PlateColour.green)) for n, t in enumerate(
        ["沪AD12345"] * 4 + ["沪A12345"])]
    assert day[0][1].checked and count(day, T, 2).text == "沪AD12345"  # the 7-character read does not fit green
    grey = cv2.cvtColor(cv2.cvtColor(make_scene("沪AD12345", seed=4).image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    fr = reader.read(grey)
    assert fr.night and fr.colour is PlateColour.unknown


def test_a_vehicle_is_read_over_its_frames(reader: FrameReader) -> None:
    vote = VehicleVote()
    for k in range(3):
        vote.add(reader.read(make_scene("沪AD12345", seed=k, plate_px=200 + 10 * k).image))
    b = vote.verdict()
    assert (b.status, b.text) == ("read", "沪AD12345") and vote.colour() is PlateColour.green


def test_double_row_plate_is_read_as_one(reader: FrameReader) -> None:
    vote = VehicleVote()
    for k in range(3):
        vote.add(reader.read(make_scene("苏E1234挂", seed=k, plate_px=200 + 10 * k, double=True).image))
    assert vote.reads[0].double
    b = vote.verdict()
    assert (b.status, b.text) == ("read", "苏E1234挂")


def test_no_plate_no_read(reader: FrameReader) -> None:
    img = make_scene("沪A12345", seed=3).image
    img[:] = np.clip(img.astype(np.int16) * 0 + 120, 0, 255).astype(np.uint8)
    vote = VehicleVote()
    for _ in range(3):
        vote.add(reader.read(img))
    assert vote.verdict().status == "none"


def test_a_camera_lane_asks_the_guard_when_frames_disagree(gate_agents: AgentFactory, gate_recorder: Recorder,
                                                           reader: FrameReader) -> None:
    agent = gate_agents.make(hal=HAL, app=gate_app())
    lane = agent.app.lanes["in"]
    src = CameraSource(lane, None, reader.recognizer, 0.7, 2, agent.app.ctx.emit,  # type: ignore[arg-type]
                       agent.app._now, lambda: None)
    # the same car, read as 沪A… in one frame and 浙A… in the next (as a worn province character can be)
    scenes = [make_scene(t, seed=2, size=(960, 540), plate_px=200).image for t in ("沪A12345", "浙A12345")]
    handed = [src.process(scenes[i % 2]) for i in range(UNSURE_AFTER)]
    assert handed[:-1] == [None] * (UNSURE_AFTER - 1) and handed[-1] is not None
    assert src.process(scenes[0]) is None  # once per vehicle
    ev = gate_recorder.wait(lambda: gate_recorder.events(type="gate.passage"), timeout=10, what="passage")[0]
    assert ev.data["decision"] == "guard" and ev.data["plate"] == "" and not ev.data["opened"]
    assert "unsure" in ev.data["problem"] and "沪A12345" in ev.data["problem"] and "浙A12345" in ev.data["problem"]
    assert lane.barrier.state() != "open" and lane.pending is not None and src.unsure == 1
    # the vehicle leaves; the next one reads cleanly and is decided on its own
    blank = np.full_like(scenes[0], 120)
    for _ in range(GAP_FRAMES):
        src.process(blank)
    got = [src.process(make_scene("沪B99999", seed=k, size=(960, 540), plate_px=200).image) for k in range(2)]
    assert got[0] is None and got[1] is not None and got[1].raw == "沪B99999" and got[1].colour is PlateColour.blue
