"""Detector adapters: the shipped SSD-MobileNetV2 on real photos, YOLOv5/v8 decoding on tiny ONNX models built
here with onnx.helper (no downloads), and the clear errors for a wrong, corrupt or swapped model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge.apps.lift_guard.config import DEFAULT_LABELS, DEFAULT_MODEL
from edge.apps.lift_guard.scenes import sprite
from edge.vision import DetectorConfig, ModelError, load_detector
from edge.vision.detector import file_sha256, resolve_path

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def ssd():  # type: ignore[no-untyped-def]
    return load_detector(DetectorConfig(kind="ssd", model=DEFAULT_MODEL, labels=DEFAULT_LABELS))



def test_the_session_keeps_the_lift_agents_memory_small(ssd) -> None:  # type: ignore[no-untyped-def]
    """The memory settings of models/MODELS.md §3: CPU arena on (off, glibc keeps each run's freed activations: +20
    MB), no graph-wide memory pattern (~1 MB less), weight pre-packing on (off: -3 MB but +35 % CPU), full graph
    optimisation; and the same detections as ever."""
    opts = ssd.session.get_session_options()
    assert opts.enable_cpu_mem_arena is True and opts.enable_mem_pattern is False
    import onnxruntime as ort

    with pytest.raises(RuntimeError, match="does not have configuration"):  # not set: pre-packing stays on
        opts.get_session_config_entry("session.disable_prepacking")
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL

def test_default_ssd_finds_the_motorcycle_and_the_person_in_real_photos(ssd) -> None:  # type: ignore[no-untyped-def]
    import cv2

    moto = cv2.cvtColor(skimage_data.stereo_motorcycle()[0], cv2.COLOR_RGB2BGR)
    found = ssd.detect(moto)
    best = max(found, key=lambda d: d.score)
    assert best.label == "motorcycle" and best.score > 0.9
    x1, y1, x2, y2 = best.box  # the bike fills most of this 741x500 photo
    assert x2 - x1 > 400 and y2 - y1 > 250 and 0 <= x1 < x2 <= 741 and 0 <= y1 < y2 <= 500
    person = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    assert max(ssd.detect(person), key=lambda d: d.score).label == "person"
    assert ssd.detect(np.full((480, 640, 3), 128, np.uint8)) == []  # a blank wall
    img, mask = sprite("motorcycle")
    assert mask.shape == img.shape[:2] and 0.3 < (mask > 0).mean() < 0.9  # cut out of its garage
    assert ssd.version.startswith("ssd_mobilenet_v2_coco_quant.onnx@") and ssd.input_w == 300
    assert len(ssd.label_names()) == 80


def test_model_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_detector(DetectorConfig(model=tmp_path / "none.onnx", labels=DEFAULT_LABELS))
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(resolve_path(DEFAULT_MODEL).read_bytes()[:100_000])
    with pytest.raises(ModelError, match="cannot be loaded by onnxruntime"):
        load_detector(DetectorConfig(model=bad, labels=DEFAULT_LABELS))
    with pytest.raises(ModelError, match=r"hashes to .* not to the expected"):
        load_detector(DetectorConfig(model=DEFAULT_MODEL, labels=DEFAULT_LABELS, sha256="0" * 64))
    with pytest.raises(ModelError, match=r"\[1, 20, 4\] does not fit yolov8"):
        load_detector(DetectorConfig(kind="yolov8", model=DEFAULT_MODEL, labels=DEFAULT_LABELS))
    assert file_sha256(resolve_path(DEFAULT_MODEL)) == load_detector(
        DetectorConfig(model=DEFAULT_MODEL, labels=DEFAULT_LABELS)).sha256


def yolo_model(path: Path, rows: np.ndarray, names: str | None = None) -> Path:
    """A tiny ONNX 'YOLO' whose output is ``rows`` (plus 0 × the mean of the image, so the input is used)."""
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(rows.shape))
    const = helper.make_tensor("raw", TensorProto.FLOAT, list(rows.shape), rows.astype(np.float32).ravel().tolist())
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["raw", "z"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "tiny_yolo", [inp], [out], initializer=[const, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if names:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_yolov5_decoding_objectness_letterbox_and_nms(tmp_path: Path) -> None:
    # rows: cx, cy, w, h, objectness, class scores (ebike, battery) in 64x64 input pixels
    rows = np.array([[[32, 32, 20, 10, 0.9, 0.9, 0.1],    # ebike 0.81
                      [33, 32, 20, 10, 0.8, 0.9, 0.1],    # same place, same class, lower: merged by NMS
                      [33, 32, 20, 10, 0.9, 0.1, 0.8],    # battery 0.72 in the same place: kept
                      [10, 10, 4, 4, 0.2, 0.9, 0.0]]])    # 0.18: below min_score
    labels = tmp_path / "labels.txt"
    labels.write_text("ebike\nbattery\n", encoding="utf-8")
    det = load_detector(DetectorConfig(kind="yolov5", model=yolo_model(tmp_path / "v5.onnx", rows), labels=labels,
                                       min_score=0.3))
    frame = np.zeros((64, 128, 3), np.uint8)  # 2:1 → letterboxed at scale 0.5 with 16 px bands top and bottom
    found = sorted(det.detect(frame), key=lambda d: d.label)
    assert [(d.label, round(d.score, 2)) for d in found] == [("battery", 0.72), ("ebike", 0.81)]
    x1, y1, x2, y2 = found[1].box
    assert (x1, y1, x2, y2) == pytest.approx((44, 22, 84, 42), abs=0.6)
    tensor, meta = det.prepare(frame)
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32 and meta.pad_y == 16
    assert tensor[0, 0, 0, 0] == pytest.approx(114 / 255)  # the letterbox band


def test_yolov8_layout_and_class_names_from_the_model_metadata(tmp_path: Path) -> None:
    cols = np.array([[[32.0, 50.0], [32.0, 50.0], [20.0, 8.0], [10.0, 8.0], [0.2, 0.95], [0.85, 0.01]]])  # [1, 4+2, N]
    det = load_detector(DetectorConfig(kind="yolov8", model=yolo_model(tmp_path / "v8.onnx", cols,
                                                                       "{0: 'ebike', 1: 'battery'}")))
    found = sorted(det.detect(np.zeros((64, 64, 3), np.uint8)), key=lambda d: d.score)
    assert [(d.label, d.score) for d in found] == [("battery", 0.85), ("ebike", 0.95)]
    assert found[1].box == pytest.approx((46, 46, 54, 54), abs=0.6)
    with pytest.raises(ModelError, match="does not fit yolov8"):  # three labels for a two-class head
        three = tmp_path / "three.txt"
        three.write_text("a\nb\nc\n", encoding="utf-8")
        load_detector(DetectorConfig(kind="yolov8", model=tmp_path / "v8.onnx", labels=three))
    with pytest.raises(ModelError, match="no labels file configured and no class names"):
        load_detector(DetectorConfig(kind="yolov5", model=yolo_model(tmp_path / "x.onnx", np.zeros((1, 3, 7)))))
    with pytest.raises(ModelError, match="an ssd model has 4 outputs"):
        load_detector(DetectorConfig(kind="ssd", model=tmp_path / "v8.onnx"))
