"""How the second stage's verdict changes a track's class: it may exempt only when sure (crops, probability,
agreement), never on the first crop, never when the e-bike is still likely; it may promote a bag to a battery; the
class map still says what acts."""

from __future__ import annotations

from collections import deque

import pytest

from edge.vision.second_stage import SecondStage, SecondStageConfig
from edge.vision.tracker import Track

ACTING = frozenset({"ebike", "battery"})


def _stage(**cfg: object) -> SecondStage:
    return SecondStage(SecondStageConfig(**cfg), classifier=None, extractor=None, acting=ACTING)  # type: ignore[arg-type]


def _track(crops: list[dict[str, float]]) -> Track:
    t = Track(id=1, cls="ebike", label="bicycle", box=(0, 0, 10, 10), score=0.9, first_ts=0.0, last_ts=0.0,
              window=deque([0.9], maxlen=5))
    for p in crops:
        t.crops += 1
        for k, v in p.items():
            t.votes[k] = t.votes.get(k, 0.0) + v
        top = max(p, key=lambda k: p[k])
        t.agree[top] = t.agree.get(top, 0) + 1
    return t


BIKE = {"bicycle": 0.95, "ebike": 0.03, "other": 0.02}
EBIKE = {"bicycle": 0.1, "ebike": 0.88, "other": 0.02}
UNSURE = {"bicycle": 0.6, "ebike": 0.35, "other": 0.05}


def test_a_sure_bicycle_is_exempted_after_two_crops_not_one() -> None:
    s = _stage()
    assert s.refine(_track([BIKE]), "ebike") == "ebike"  # one crop: the detector rule decides
    assert s.refine(_track([BIKE, BIKE]), "ebike") == "bicycle"


@pytest.mark.parametrize("crops", [
    [UNSURE, UNSURE, UNSURE],  # mean 0.6 < 0.8
    [BIKE, EBIKE, BIKE],  # mean bicycle 0.67, ebike on top once
    [BIKE, BIKE, EBIKE, EBIKE],  # agreement 50 %
])
def test_no_exemption_while_the_ebike_is_still_likely(crops: list[dict[str, float]]) -> None:
    assert _stage().refine(_track(crops), "ebike") == "ebike"


def test_the_ebike_mass_vetoes_an_exemption_even_when_the_top_class_is_sure() -> None:
    s = _stage(min_prob=0.6)
    split = {"bicycle": 0.6, "ebike": 0.4}  # a sure-enough bicycle at 0.6, but 0.4 e-bike > 1 - 0.6
    assert s.refine(_track([split, split]), "ebike") == "ebike"


def test_a_bag_the_classifier_calls_battery_acts_and_the_map_still_decides() -> None:
    s = _stage()
    battery = {"battery": 0.9, "other": 0.1}
    assert s.refine(_track([battery, battery]), "other") == "battery"
    assert s.refine(_track([{"stroller": 0.9, "other": 0.1}] * 2), "other") == "stroller"  # harmless either way
    assert s.refine(_track([{"battery": 0.9, "ebike": 0.1}] * 2), "ebike") == "ebike"  # acting stays acting
