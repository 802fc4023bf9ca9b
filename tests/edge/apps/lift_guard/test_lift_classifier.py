"""The second stage on the device: loading a classifier file (or refusing it and falling back to the detector-only
rule, saying why), and what it changes in the guard's decisions on a replayed clip."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from edge.apps.lift_guard.classifier import ClassifierSlot, load_second_stage
from edge.apps.lift_guard.config import ClassifierConfig, LiftGuardConfig
from edge.apps.lift_guard.replay import replay
from edge.vision.second_stage import SecondStageConfig
from linli.contract import lift_guard as lc
from linli.liftcls import (
    BACKBONE_SHA256,
    EXTRACTOR_ID,
    ClassifierError,
    Extractor,
    FeatureExtractor,
    resolve_backbone,
    sha256_of,
    train,
)

FLOOR = [(0.0, 1.0), (0.0, 0.62), (0.26, 0.5), (0.74, 0.5), (1.0, 0.62), (1.0, 1.0)]
ACTING = frozenset({"ebike"})


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return FeatureExtractor(resolve_backbone())


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, extractor: FeatureExtractor) -> tuple[Path, str]:
    """A classifier trained as the server would, on a small set of tuning-generator crops."""
    from edge.apps.lift_guard.drawn import labelled_crops

    crops = labelled_crops(8, seed=7, classes=("ebike", "bicycle", "other"))
    x = np.stack([extractor.features(c) for _, c in crops])
    f = train(x, [lb for lb, _ in crops], "t-lift", "t-lift-v1", Extractor(id=EXTRACTOR_ID, sha256=BACKBONE_SHA256))
    data = f.encode()
    path = tmp_path_factory.mktemp("cls") / "t-lift-v1.json"
    path.write_bytes(data)
    return path, sha256_of(data)


class Events(list[Any]):
    def __call__(self, data: Any, blobs: Any = ()) -> None:
        self.append(data)


def _slot(tmp_path: Path) -> tuple[ClassifierSlot, Events, list[Any], threading.Event]:
    events, installed, done = Events(), [], threading.Event()

    def install(second: Any) -> None:
        installed.append(second)
        done.set()

    return ClassifierSlot(tmp_path, events, logging.getLogger("t"), install), events, installed, done


def _wait(pred: Callable[[], bool]) -> None:
    import time

    deadline = time.monotonic() + 20
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_good_file_is_loaded_and_its_version_reported_then_turned_off(tmp_path: Path,
                                                                         model_file: tuple[Path, str]) -> None:
    path, sha = model_file
    slot, events, installed, _ = _slot(tmp_path)
    slot.want(ClassifierConfig(version="t-lift-v1", sha256=sha, path=path), SecondStageConfig(), ACTING)
    _wait(lambda: bool(events))
    assert slot.version == f"t-lift-v1@{sha[:12]}" and installed[-1] is not None
    assert isinstance(events[-1], lc.ClassifierState) and events[-1].state == "loaded"
    assert events[-1].version == slot.version
    slot.want(None, SecondStageConfig(), ACTING)
    assert slot.state == "off" and installed[-1] is None and events[-1].state == "off"


@pytest.mark.parametrize("case, reason", [
    ("checksum", "hashes to"),
    ("missing", "No such file"),
    ("truncated", "not a linli-lift-classifier/1 file"),
])
def test_a_missing_broken_or_swapped_file_falls_back_to_detector_only_and_says_why(
        tmp_path: Path, model_file: tuple[Path, str], case: str, reason: str) -> None:
    path, sha = model_file
    if case == "checksum":
        cfg = ClassifierConfig(version="t-lift-v1", sha256="0" * 64, path=path)
    elif case == "missing":
        cfg = ClassifierConfig(version="t-lift-v1", sha256=sha, path=tmp_path / "gone.json")
    else:
        bad = tmp_path / "bad.json"
        bad.write_bytes(path.read_bytes()[:500])
        cfg = ClassifierConfig(version="t-lift-v1", sha256=sha256_of(bad.read_bytes()), path=bad)
    slot, events, installed, _ = _slot(tmp_path)
    slot.want(cfg, SecondStageConfig(), ACTING)
    _wait(lambda: bool(events))
    assert slot.state == "fallback" and installed == [None] and slot.version is None
    assert events[-1].state == "fallback" and reason in (events[-1].reason or "")
    assert events[-1].event_severity() == "warning"


def test_the_classifier_config_names_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of url and path"):
        ClassifierConfig(version="v1", sha256="0" * 64)
    with pytest.raises(ValidationError, match="must not be an acting class"):
        LiftGuardConfig.model_validate({"second_stage": {"bag_class": "ebike"}})


def test_with_the_classifier_the_bicycle_gets_in_and_the_ebike_is_still_blocked(
        clip_video: Callable[..., Path], model_file: tuple[Path, str], extractor: FeatureExtractor) -> None:
    path, sha = model_file
    base = LiftGuardConfig()
    # The zoomed pass at the door is off here: on this 320x240 test stream it finds the bicycle at the sill while
    # its crops are ~50 px, too small for the classifier to judge, so the bicycle is blocked before a verdict
    # (models/MODELS.md §5.1). At 640x480 the same clip is exempted with the zoom on (the next test).
    cfg = base.model_copy(update={"region": base.region.model_copy(update={"floor": FLOOR}),
                                  "zoom": base.zoom.model_copy(update={"enabled": False})})
    clip = clip_video("bicycle_then_ebike_short")
    before = replay(clip, cfg, None, fast=True, fps=10.0, detect_lines=False)
    second = load_second_stage(ClassifierConfig(version="t-lift-v1", sha256=sha, path=path), cfg.second_stage,
                               ACTING, extractor)
    after = replay(clip, cfg, None, fast=True, fps=10.0, detect_lines=False, second=second)
    assert [b["label"] for b in before.blocks] == ["bicycle", "motorcycle"]
    assert [b["label"] for b in after.blocks] == ["motorcycle"]
    with pytest.raises(ClassifierError, match="hashes to"):
        load_second_stage(ClassifierConfig(version="t-lift-v1", sha256="1" * 64, path=path), cfg.second_stage, ACTING,
                          extractor)


def test_at_640x480_the_zoomed_pass_leaves_the_classifier_time_to_exempt_the_bicycle(
        clip_video: Callable[..., Path], model_file: tuple[Path, str], extractor: FeatureExtractor) -> None:
    path, sha = model_file
    base = LiftGuardConfig()
    cfg = base.model_copy(update={"region": base.region.model_copy(update={"floor": FLOOR})})
    assert cfg.zoom.enabled
    second = load_second_stage(ClassifierConfig(version="t-lift-v1", sha256=sha, path=path), cfg.second_stage,
                               ACTING, extractor)
    after = replay(clip_video("bicycle_then_ebike_short", 10.0, (640, 480)), cfg, None, fast=True, fps=10.0,
                   detect_lines=False, second=second)
    assert [b["label"] for b in after.blocks] == ["motorcycle"]


def test_linli_replay_runs_a_site_classifier_file_on_a_clip(clip_video: Callable[..., Path], tmp_path: Path,
                                                            model_file: tuple[Path, str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    import yaml

    from edge.apps.lift_guard.replay import main
    from edge.apps.lift_guard.replay_args import add_arguments

    cfg = tmp_path / "lift.yaml"
    # zoom off on this 320x240 stream, as in the test above (models/MODELS.md §5.1)
    cfg.write_text(yaml.safe_dump({"region": {"floor": [list(p) for p in FLOOR]}, "zoom": {"enabled": False}}))
    p = argparse.ArgumentParser()
    add_arguments(p)
    clip = str(clip_video("bicycle_then_ebike_short"))
    assert main(p.parse_args([clip, "-c", str(cfg), "--fast", "--fps", "10", "--quiet", "--classifier",
                              str(model_file[0])])) == 0
    out = capsys.readouterr().out
    assert "VERDICT blocks=1 " in out
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(p.parse_args([clip, "--classifier", str(bad)])) == 2
    assert "--classifier: not a linli-lift-classifier/1 file" in capsys.readouterr().out
