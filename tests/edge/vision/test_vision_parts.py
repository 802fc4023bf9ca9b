"""edge.vision parts on their own: labels, class map, region, motion gate, tracker + N-of-M confirmation, camera
health, drawing. Frames are generated; no model needed here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge.vision import (
    CameraHealth,
    ClassMap,
    ClassMapConfig,
    ConfirmConfig,
    Confirmer,
    Detection,
    HealthConfig,
    IouTracker,
    MotionConfig,
    MotionGate,
    Region,
    RegionConfig,
    TrackerConfig,
    annotate,
    dedupe,
    iou,
    to_jpeg,
)
from edge.vision.labels import LabelError, labels_from_metadata, read_labels


def det(label: str, score: float, box: tuple[float, float, float, float], cls: str | None = None) -> Detection:
    return Detection(label, score, box, cls)


def test_labels_files_with_and_without_ids(tmp_path: Path) -> None:
    p = tmp_path / "l.txt"
    p.write_text("0  person\n1  bicycle\n3  motorcycle\n", encoding="utf-8")
    assert read_labels(p) == ["person", "bicycle", "", "motorcycle"]  # COCO-style gaps stay gaps
    p.write_text("ebike\nbattery\n\nperson\n", encoding="utf-8")
    assert read_labels(p) == ["ebike", "battery", "person"]
    p.write_text("0 a\n0 b\n", encoding="utf-8")
    with pytest.raises(LabelError, match="line 2: id 0 is given twice"):
        read_labels(p)
    with pytest.raises(LabelError, match="cannot read"):
        read_labels(tmp_path / "missing.txt")
    assert labels_from_metadata({"names": "{0: 'ebike', 2: 'battery'}"}) == ["ebike", "", "battery"]
    assert labels_from_metadata({"names": "not python"}) is None and labels_from_metadata({}) is None


def test_class_map_maps_drops_unmapped_and_vetoes_overlapping_acting_detections() -> None:
    cfg = ClassMapConfig(map={"motorcycle": "ebike", "bicycle": "ebike", "wheelchair": "wheelchair",
                              "person": "person"}, acting=["ebike"], veto=["wheelchair"])
    cm = ClassMap(cfg)
    out = cm.apply([det("motorcycle", 0.9, (0, 0, 100, 100)), det("dog", 0.9, (0, 0, 10, 10)),
                    det("person", 0.8, (200, 0, 260, 100))])
    assert [(d.cls, d.label) for d in out] == [("ebike", "motorcycle"), ("person", "person")]
    vetoed = cm.apply([det("bicycle", 0.7, (0, 0, 100, 100)), det("wheelchair", 0.8, (5, 5, 100, 100)),
                       det("motorcycle", 0.9, (300, 300, 400, 400))])
    assert sorted(d.cls for d in vetoed) == ["ebike", "wheelchair"]
    assert [d.box[0] for d in vetoed if d.cls == "ebike"] == [300]  # the one under the wheelchair is gone
    assert cm.unknown_labels(["person", "bicycle", "motorcycle"]) == ["wheelchair"]
    with pytest.raises(ValidationError, match=r"acting class.*battery.*not the target"):
        ClassMapConfig(map={"a": "ebike"}, acting=["battery"])
    with pytest.raises(ValidationError, match="both acting and veto"):
        ClassMapConfig(map={"a": "ebike"}, acting=["ebike"], veto=["ebike"])
    with pytest.raises(ValueError, match=r"unknown class.*toaster"):
        ClassMapConfig(map={"a": "toaster"}, acting=["toaster"]).check_classes(["ebike"])


def test_dedupe_keeps_the_best_of_overlapping_boxes_of_one_class() -> None:
    a = det("bicycle", 0.7, (0, 0, 100, 100), "ebike")
    b = det("motorcycle", 0.9, (5, 0, 100, 100), "ebike")
    c = det("person", 0.8, (5, 0, 100, 100), "person")
    assert dedupe([a, b, c]) == [b, c]
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0 and iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0


def test_region_counts_objects_by_how_much_of_their_box_is_inside() -> None:
    r = Region(RegionConfig(polygon=[(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)], min_overlap=0.3))
    inside = det("x", 1, (100, 300, 200, 460))
    outside = det("x", 1, (100, 10, 200, 200))
    straddle = det("x", 1, (100, 160, 200, 260))  # 1/5 inside
    assert r.overlap(inside, 640, 480) == pytest.approx(1.0)
    assert r.filter([inside, outside, straddle], 640, 480) == [inside]
    assert Region(RegionConfig()).whole_frame
    with pytest.raises(ValidationError, match="outside the frame"):
        RegionConfig(polygon=[(0, 0), (1.5, 0), (1, 1)])


def _scene(x: int) -> np.ndarray:
    img = np.full((240, 320, 3), 120, np.uint8)
    cv2.rectangle(img, (x, 80), (x + 60, 180), (20, 30, 40), -1)
    return img


def test_motion_gate_sees_moving_objects_ignores_still_scenes_and_light_flips() -> None:
    gate = MotionGate(MotionConfig())
    assert gate.update(_scene(20)).moving  # first frame: unknown, so look
    assert not gate.update(_scene(20)).moving
    assert gate.update(_scene(60)).moving
    for _ in range(30):
        r = gate.update(_scene(60))
    assert not r.moving
    bright = np.full((240, 320, 3), 250, np.uint8)
    flip = gate.update(bright)
    assert not flip.moving and flip.lighting_change
    masked = MotionGate(MotionConfig(), mask=np.zeros((240, 320), np.uint8))
    masked.update(_scene(20))
    assert not masked.update(_scene(100)).moving  # nothing to watch


def test_tracker_keeps_identity_and_confirmation_needs_n_of_m() -> None:
    tr = IouTracker(TrackerConfig(iou=0.3, max_missed=3), window=5)
    conf = Confirmer(ConfirmConfig(threshold=0.6, n=3, m=5))
    seq = [0.7, 0.5, 0.65, 0.4, 0.8]  # above, below, above, below, above: confirmed on the 5th frame
    confirmed_at = None
    for i, s in enumerate(seq):
        tracks = tr.update([det("motorcycle", s, (10 + i, 10, 110 + i, 110), "ebike")], float(i))
        if conf.update(tracks, float(i)):
            confirmed_at = i
    assert confirmed_at == 4 and len(tr.tracks) == 1 and tr.tracks[0].id == 1 and tr.tracks[0].hits == 5
    t = tr.tracks[0]
    assert t.first_ts == 0.0 and t.best_score == 0.8 and t.age_s == 4.0
    for i in range(5, 7):  # unseen for 2 frames: still alive (max_missed 3)
        tr.update([], float(i))
    assert len(tr.tracks) == 1 and tr.tracks[0].missed == 2
    tr.update([], 7.0)
    assert tr.tracks == [] and [x.id for x in tr.ended] == [1]
    # a second object of another class in the same place is a separate track
    tr.update([det("a", 0.9, (0, 0, 50, 50), "ebike"), det("b", 0.9, (0, 0, 50, 50), "person")], 8.0)
    assert sorted(x.cls for x in tr.tracks) == ["ebike", "person"]
    never = Confirmer(ConfirmConfig(threshold=0.6, n=3, m=5))
    t2 = IouTracker(TrackerConfig(), window=5)
    for i, s in enumerate([0.7, 0.4, 0.4, 0.7, 0.4, 0.4, 0.7]):  # never 3 of any 5
        assert not never.update(t2.update([det("m", s, (0, 0, 100, 100), "ebike")], float(i)), float(i))
    assert ConfirmConfig(per_class={"battery": 0.4}).threshold_for("battery") == 0.4
    with pytest.raises(ValidationError, match="cannot be larger"):
        ConfirmConfig(n=6, m=5)


def test_camera_health_raises_and_clears_black_covered_frozen() -> None:
    cfg = HealthConfig(black_s=1.0, covered_s=1.0, frozen_s=1.0, clear_s=0.5)
    rng = np.random.default_rng(1)

    def live() -> np.ndarray:
        return np.clip(_scene(40).astype(np.int16) + rng.normal(0, 3, (240, 320, 1)), 0, 255).astype(np.uint8)

    def run(h: CameraHealth, frames: list[np.ndarray], t0: float) -> tuple[list[str], list[str], float]:
        raised, cleared, t = [], [], t0
        for f in frames:
            s = h.update(f, t)
            raised += s.raised
            cleared += s.cleared
            t += 0.2
        return raised, cleared, t

    h = CameraHealth(cfg)
    raised, _, t = run(h, [live() for _ in range(10)], 0.0)
    assert raised == [] and h.state.fault is None
    raised, _, t = run(h, [np.zeros((240, 320, 3), np.uint8)] * 3, t)
    assert raised == [] and h.state.suspect == ["black", "frozen"]  # not long enough yet: only suspect
    raised, _, t = run(h, [np.zeros((240, 320, 3), np.uint8)] * 5, t)
    assert raised == ["black"] and h.state.fault == "black"
    _, cleared, t = run(h, [live() for _ in range(5)], t)
    assert cleared == ["black"] and h.state.fault is None
    covered = cv2.GaussianBlur(np.full((240, 320, 3), 60, np.uint8), (31, 31), 0)
    raised, _, t = run(h, [covered + rng.integers(0, 2, (240, 320, 3), dtype=np.uint8) for _ in range(8)], t)
    assert raised == ["covered"]
    _, cleared, t = run(h, [live() for _ in range(5)], t)
    frame, key = live(), live()
    raised, _, t = run(h, [frame] * 4 + [key] * 5, t)  # one re-sent key frame does not end a freeze
    assert cleared == ["covered"] and raised == ["frozen"]


def test_annotate_draws_boxes_and_region_and_encodes_jpeg() -> None:
    img = _scene(40)
    r = Region(RegionConfig(polygon=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]))
    out = annotate(img, [det("motorcycle", 0.91, (40, 80, 100, 180), "ebike")], {"ebike"}, r, "caption")
    assert out.shape == img.shape and not np.array_equal(out, img) and np.array_equal(img, _scene(40))
    assert tuple(out[130, 41]) == (0, 0, 230)  # the acting box is red
    jpeg = to_jpeg(out, 80, max_width=160)
    assert jpeg[:3] == b"\xff\xd8\xff"
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)


def test_a_frozen_camera_is_reported_within_the_configured_time_of_the_freeze() -> None:
    """Timed from the capture of the picture that is then repeated, not from the first repeat (a frame late)."""
    rng = np.random.default_rng(2)
    h = CameraHealth(HealthConfig(frozen_s=5.0))
    last_live = 0.0
    raised_at = None
    frame = None
    for i in range(60):
        t = i * 0.2
        if i <= 10:
            frame = np.clip(_scene(40).astype(np.int16) + rng.normal(0, 3, (240, 320, 1)), 0, 255).astype(np.uint8)
            last_live = t
        assert frame is not None
        if h.update(frame, t).raised:
            raised_at = t
            break
    assert raised_at is not None and raised_at - last_live <= 5.0 + 1e-6, (raised_at, last_live)
    assert raised_at - last_live >= 5.0 - 0.2


def test_a_freeze_counts_from_the_picture_even_while_the_codec_settles_on_it() -> None:
    rng = np.random.default_rng(3)
    h = CameraHealth(HealthConfig(frozen_s=2.0, frozen_diff=0.08))
    live = [np.clip(_scene(40).astype(np.int16) + rng.normal(0, 3, (240, 320, 1)), 0, 255).astype(np.uint8)
            for _ in range(6)]
    settling = live[-1].copy()
    settling[::4, ::8] ^= 1  # the first repeat still differs a little (change ~0.12 > frozen_diff)
    frames = [*live, settling] + [settling] * 20
    raised_at = next(i * 0.2 for i, f in enumerate(frames) if h.update(f, i * 0.2).raised)
    assert abs(raised_at - (5 * 0.2 + 2.0)) < 1e-6  # frozen_s after the last live picture (frame 5)
