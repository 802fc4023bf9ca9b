"""``linli replay``: the real camera, pipeline and guard on a recorded clip with a door schedule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pytest

from edge.apps.lift_guard.config import LiftGuardConfig
from edge.apps.lift_guard.replay import load_app_config, parse_doors, replay
from edge.vision import load_detector
from edge.vision.zoom import zoom_box
from linli.cli import main as linli_main

FPS = 5.0
SIZE = (320, 240)


@pytest.fixture(scope="module")
def detector() -> Any:
    return load_detector(LiftGuardConfig().detector)


@pytest.fixture(scope="module")
def cfg() -> LiftGuardConfig:
    return load_app_config(Path("config/lift_guard.yaml")).model_copy(
        update={"health": LiftGuardConfig().health.model_copy(update={"frozen_s": 1.0, "black_s": 1.0})})


def test_door_schedules_from_yaml_and_csv_and_clear_errors() -> None:
    assert parse_doors("open: [[0, 2.5], [4, 6]]") == [(0.0, 2.5), (4.0, 6.0)]
    assert parse_doors("- {from: 1, to: 2}\n") == [(1.0, 2.0)]
    assert parse_doors("start,end\n4,6\n0,2.5\n") == [(0.0, 2.5), (4.0, 6.0)]
    assert parse_doors("0,1\n") == [(0.0, 1.0)]
    with pytest.raises(ValueError, match=r"interval 1 .* start < end"):
        parse_doors("3,1\n")
    with pytest.raises(ValueError, match="overlap"):
        parse_doors("open: [[0, 3], [2, 4]]")
    with pytest.raises(ValueError, match="two numbers"):
        parse_doors("open: [[0, x]]")


def test_an_ebike_clip_blocks_with_a_timeline_and_an_annotated_video(
        clip_video: Callable[..., Path], cfg: LiftGuardConfig, detector: Any, tmp_path: Path) -> None:
    clip = clip_video("bike_in_out", FPS, SIZE)
    out = tmp_path / "annotated.mp4"
    res = replay(clip, cfg, None, fast=True, fps=FPS, video_out=out, detector=detector)
    assert len(res.blocks) == 1 and res.blocks[0]["cls"] == "ebike"
    assert res.blocks[0]["latency_ms"] < 1000  # from the first frame on the car floor, in the clip's time
    assert 1.5 <= res.first_block_s <= 2.6  # the bike comes through the door at 1.5 s
    assert [r["reason"] for r in res.releases] == ["cleared"] and not res.faults
    kinds = [x.what for x in res.timeline]
    assert "detect" in kinds and kinds.count("relay") == 2 and "voice" in kinds
    assert res.relay_on_s > 2.0 and "VERDICT blocks=1" in res.verdict()
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == res.frames >= 60
    ok, frame = cap.read()
    cap.release()
    # the zoomed pass's box at the door is drawn (dashed, cyan): where the installer sees what is magnified
    x1, y1, x2, _y2 = zoom_box(cfg.zoom, cfg.region.floor) or (0, 0, 0, 0)
    h, w = frame.shape[:2]
    edge = frame[round(y1 * h) - 1:round(y1 * h) + 2, round(x1 * w) + 1:round(x2 * w) - 1].reshape(-1, 3).astype(int)
    assert ok and x2 > x1 and ((edge[:, 0] - edge[:, 2]) > 80).sum() >= 0.25 * (x2 - x1) * w


def test_the_door_schedule_decides_when_blocking_may_happen(
        clip_video: Callable[..., Path], cfg: LiftGuardConfig, detector: Any) -> None:
    clip = clip_video("bike_in_out", FPS, SIZE)
    res = replay(clip, cfg, [(0.0, 1.0)], fast=True, fps=FPS, detector=detector)  # shut before the bike comes
    assert not res.blocks and [x.text for x in res.timeline if x.what == "door"] == ["open", "closed"]
    res = replay(clip_video("person_only", FPS, SIZE), cfg, None, fast=True, fps=FPS, detector=detector)
    assert not res.blocks and any(x.what == "detect" and "person" in x.text for x in res.timeline)


def test_a_frozen_clip_is_a_fault_in_the_clips_time(
        clip_video: Callable[..., Path], cfg: LiftGuardConfig, detector: Any) -> None:
    res = replay(clip_video("frozen", FPS, SIZE), cfg, None, fast=True, fps=FPS, detector=detector)
    frozen = [f for f in res.faults if f["fault"] == "frozen"]
    # the picture freezes at 2 s (the last live frame is at 1.8 s); frozen_s 1.0
    assert frozen and frozen[0]["t"] <= 1.8 + 1.0 + 0.25, res.faults


def test_the_cli_prints_a_verdict_and_says_whether_the_clip_did_what_it_should(
        clip_video: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = clip_video("bike_in_out", FPS, SIZE)
    doors = tmp_path / "doors.yaml"
    doors.write_text("open: [[0, 20]]\n", encoding="utf-8")
    js = tmp_path / "r.json"
    rc = linli_main(["replay", str(clip), "-c", "config/lift_guard.yaml", "--doors", str(doors), "--fast",
                     "--quiet", "--expect", "block", "--json", str(js)])
    out = capsys.readouterr().out
    assert rc == 0 and "BLOCK ebike" in out and out.strip().splitlines()[-1].startswith("VERDICT blocks=1")
    assert " detect " not in out  # --quiet
    assert json.loads(js.read_text(encoding="utf-8"))["blocks"][0]["cls"] == "ebike"
    assert linli_main(["replay", str(clip), "--fast", "--quiet", "--expect", "none"]) == 1
    doors.write_text("open: [[5, 1]]\n", encoding="utf-8")
    assert linli_main(["replay", str(clip), "--doors", str(doors)]) == 2
    assert "start < end" in capsys.readouterr().out
    assert linli_main(["replay", str(tmp_path / "nope.mp4")]) == 2
