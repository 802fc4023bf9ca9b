"""The shipped plate readers: the files are the ones models/PLATES.md describes (sha256), take the input and give
the output the recogniser expects, the fine-tuned default reads tuning-generator plates of every kind exactly, and
the training renderer never draws with the held-out benchmark's fonts."""

from __future__ import annotations

import hashlib
import importlib.util
import random
import sys
import typing
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from bench.plates_heldout import CJK_FONTS, LATIN_FONTS
from edge.apps.gate.config import MODELS_DIR, RecognitionConfig
from edge.apps.gate.reading import FrameReader, VehicleVote
from edge.apps.gate.recognizer import (
    DEFAULT_READER,
    READER_FILES,
    READERS,
    REC_H,
    REC_W,
    SHIPPED_SHA256,
    ModelError,
    PlateRecognizer,
)
from edge.apps.gate.scenes import make_scene

PLATES_MD = MODELS_DIR.parent / "PLATES.md"


@pytest.mark.parametrize("name", sorted(SHIPPED_SHA256))
def test_shipped_files_are_the_documented_ones(name: str) -> None:
    got = hashlib.sha256((MODELS_DIR / name).read_bytes()).hexdigest()
    assert got == SHIPPED_SHA256[name], f"{name} changed: update SHIPPED_SHA256 and models/PLATES.md"
    assert f"`{got}`" in PLATES_MD.read_text(encoding="utf-8"), f"models/PLATES.md does not list {name}'s sha256"


def test_config_offers_exactly_the_readers(tmp_path: Path) -> None:
    field = RecognitionConfig.model_fields["reader"]
    assert typing.get_args(field.annotation) == READERS
    assert field.default == DEFAULT_READER == RecognitionConfig().reader
    assert set(READER_FILES.values()) <= set(SHIPPED_SHA256)
    with pytest.raises(ModelError, match="unknown plate reader 'clp'"):
        PlateRecognizer(tmp_path, reader="clp")


@pytest.mark.parametrize("name", sorted(READER_FILES.values()))
def test_reader_shape_and_dictionary(name: str) -> None:
    chars = (MODELS_DIR / "clp_dict.txt").read_text(encoding="utf-8").split()
    assert len(chars) == len(set(chars)) == 72
    sess = ort.InferenceSession(str(MODELS_DIR / name), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "x" and inp.shape[1:3] == [3, REC_H]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, REC_H, REC_W)).astype(np.float32)
    out = sess.run(None, {"x": x})[0]
    assert out.shape == (2, REC_W // 4, len(chars) + 1)  # blank + the dictionary, one step per 4 px
    np.testing.assert_allclose(out.sum(axis=2), 1.0, atol=1e-4)  # softmax


@pytest.fixture(scope="module")
def reader() -> FrameReader:
    return FrameReader(PlateRecognizer(MODELS_DIR, threads=1))


@pytest.mark.parametrize(("text", "double"), [("京A12345", False), ("川A5D281", False), ("粤BD12345", False),
                                              ("鲁F12345D", False), ("新A1234挂", True), ("藏A8C9J7", False)])
def test_default_reader_reads_tuning_plates_exactly(reader: FrameReader, text: str, double: bool) -> None:
    assert reader.recognizer.version.startswith("clp_rec_ft+")
    vote = VehicleVote(reader.t)
    for j in range(3):  # an approach, as the lane sees it
        vote.add(reader.read(make_scene(text, seed=11 + j, plate_px=200 + 15 * j, double=double).image))
    got = vote.verdict()
    assert (got.status, got.text) == ("read", text), got


def test_training_renderer_never_uses_the_held_out_fonts() -> None:
    pytest.importorskip("PIL")
    path = MODELS_DIR.parent / "tools" / "plate_train_data.py"
    spec = importlib.util.spec_from_file_location("plate_train_data", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["plate_train_data"] = mod
    spec.loader.exec_module(mod)
    cjk, latin = mod.fonts()
    used = " ".join(f.path.lower() for f in (*cjk, *latin))
    for font in (*CJK_FONTS, *LATIN_FONTS):
        assert font.lower() not in used
    for word in ("wqy", "ukai", "dejavu", "liberation"):
        assert word not in used
    crops = mod.scene_crops(random.Random(3), kind="blue")
    assert len(crops) == 1 and crops[0][0].ndim == 3 and len(crops[0][1]) == 7
