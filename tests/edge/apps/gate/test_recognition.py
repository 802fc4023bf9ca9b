"""On-device plate recognition with the shipped ONNX models, on synthetic scenes made here (Pillow + a CJK font):
blue and green plates, tilt, blur, noise; and a lane whose plates come from a camera (a generated video file)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.apps.gate.config import MODELS_DIR
from edge.apps.gate.recognizer import ModelError, PlateRecognizer
from edge.apps.gate.scenes import make_scene, random_plate
from edge.apps.gate.sim import CarSim, lane_pins
from edge.hal.sim import PinBoard, make_scene_video
from edge.runtime.harness import AgentFactory, Recorder

from .conftest import HAL


@pytest.fixture(scope="module")
def rec() -> PlateRecognizer:
    return PlateRecognizer(MODELS_DIR)


def _read(rec: PlateRecognizer, image: np.ndarray) -> str | None:
    got = rec(image)
    return got[0].text if got else None


@pytest.mark.parametrize("text", ["沪A12345", "沪AD12345", "京N8B6Q2", "粤BF12345", "苏E05EV8"])
def test_clean_blue_and_green_plates(rec: PlateRecognizer, text: str) -> None:
    assert _read(rec, make_scene(text, seed=3, plate_px=230).image) == text


def test_degraded_scenes(rec: PlateRecognizer) -> None:
    rng = random.Random(5)
    cases = []
    for i in range(12):
        text = random_plate(rng, "green" if i % 2 else "blue")
        kw: dict[str, Any] = [{"tilt_deg": rng.choice([-6, 6]), "yaw": 0.15}, {"blur": 1.5},
                              {"noise": 12, "light": 0.6}][i % 3]
        cases.append((text, make_scene(text, seed=i, plate_px=230, **kw).image))
    right = sum(_read(rec, img) == text for text, img in cases)
    assert right >= 9, f"only {right}/12 degraded scenes read exactly"


def test_no_plate_no_read(rec: PlateRecognizer) -> None:
    rng = np.random.default_rng(1)
    street = np.clip(rng.normal(120, 20, (720, 1280, 3)), 0, 255).astype(np.uint8)
    assert rec(street) == []


def test_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"clp_det\.onnx"):
        PlateRecognizer(tmp_path)


def test_camera_lane_on_an_agent(gate_agents: AgentFactory, gate_recorder: Recorder, tmp_path: Path) -> None:
    scene = make_scene("沪AD12345", seed=2, size=(960, 540), plate_px=200)
    video = make_scene_video(str(tmp_path / "lane.mp4"), 10, fps=5, size=(960, 540),
                             painter=lambda img, i: img.__setitem__(slice(None), scene.image))
    hal = {**HAL, "cameras": {"cam": {"source": video, "fps": 3, "loop": True}}}
    app = {"lanes": {"in": {"direction": "entry", "source": "camera", "camera": "cam", "open_relay": "open_in",
                            "loop": "loop_in"}},
           "recognition": {"votes": 2, "min_confidence": 0.8, "threads": 1}, "loop_interval_s": 0.05}
    agent = gate_agents.make(hal=hal, app=app)
    car = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
    assert car.wait_open(0, 20), "the camera lane never opened"
    ev = gate_recorder.wait(lambda: gate_recorder.events(type="gate.passage"), timeout=10, what="passage")[0]
    assert ev.data["plate"] == "沪AD12345" and ev.data["source"] == "camera" and ev.data["colour"] == "green"
    assert ev.data["category"] == "temporary" and ev.blobs
    assert agent.app.model_version().startswith("clp_rec_ft+")  # the default reader
    # the same car stays in view: one passage, not one per frame
    import time

    time.sleep(1.5)
    assert len(gate_recorder.events(type="gate.passage")) == 1
