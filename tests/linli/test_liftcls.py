"""The second stage's file and training (shared by device and server): every check that makes a device fall back,
and training on a toy problem."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linli.liftcls import (
    BACKBONE_SHA256,
    EXTRACTOR_ID,
    Classifier,
    ClassifierError,
    Extractor,
    NotEnoughLabels,
    crop,
    parse_file,
    sha256_of,
    split,
    train,
)

EX = Extractor(id=EXTRACTOR_ID, sha256=BACKBONE_SHA256)


def _toy(n: int = 12, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = {"ebike": 3.0, "bicycle": -3.0, "other": 0.0}
    x, y = [], []
    for c, m in centres.items():
        for _ in range(n):
            v = rng.normal(0, 1, dim)
            v[0] += m
            x.append(v)
            y.append(c)
    return np.asarray(x, np.float32), y


def test_training_separates_classes_and_reports_heldout_figures_of_the_deployed_model() -> None:
    x, y = _toy()
    f = train(x, y, "s1", "s1-v1", EX)
    assert f.classes == ["ebike", "bicycle", "other"]
    assert sum(f.trained_on.values()) == len(y) - sum(m.support for m in f.heldout)  # held-out crops not trained on
    assert all(m.support == 3 and m.recall is not None and m.recall >= 0.66 for m in f.heldout)
    data = f.encode()
    clf = Classifier(parse_file(data, sha256_of(data)), sha256_of(data))
    p = clf.probs(np.r_[3.0, np.zeros(5)].astype(np.float32))
    assert max(p, key=p.get) == "ebike" and abs(sum(p.values()) - 1) < 1e-5
    assert clf.version == f"s1-v1@{sha256_of(data)[:12]}"


def test_too_few_labels_is_a_clear_refusal() -> None:
    x, y = _toy(n=2)
    with pytest.raises(NotEnoughLabels, match="at least 3 labelled crops of each of two classes"):
        train(x, y, "s1", "v1", EX)
    x, y = _toy(n=4)
    keep = [i for i, lb in enumerate(y) if lb != "other"][:5]  # 4 ebike, 1 bicycle: one class only
    with pytest.raises(NotEnoughLabels):
        train(x[keep], [y[i] for i in keep], "s1", "v1", EX)


def test_split_holds_out_a_share_of_every_class() -> None:
    labels = ["a"] * 8 + ["b"] * 2 + ["c"]
    tr, te = split(labels, 0.25)
    assert sorted(tr + te) == list(range(11))
    held = [labels[i] for i in te]
    assert held.count("a") == 2 and held.count("b") == 1 and "c" not in held


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d[:-1] + b" ", "hashes to"),
    (lambda d: b"not json", "not a linli-lift-classifier/1 file"),
    (lambda d: json.dumps({**json.loads(d), "format": "other/2"}).encode(), "not a linli-lift-classifier/1"),
    (lambda d: json.dumps({**json.loads(d), "bias": [0.0]}).encode(), "do not fit"),
    (lambda d: json.dumps({**json.loads(d), "classes": ["ebike", "unicorn", "other"]}).encode(), "are not distinct"),
    (lambda d: json.dumps({**json.loads(d), "scale": [0.0] * 6}).encode(), "not finite"),
    (lambda d: json.dumps({**json.loads(d), "extractor": {"id": "x", "sha256": "0" * 64}}).encode(),
     "feature extractor"),
])
def test_every_broken_file_is_refused_with_the_reason(breakage, message) -> None:  # type: ignore[no-untyped-def]
    x, y = _toy()
    good = train(x, y, "s1", "v1", EX).encode()
    bad = breakage(good)
    sha = sha256_of(good) if message == "hashes to" else sha256_of(bad)
    with pytest.raises(ClassifierError, match=message):
        parse_file(bad, sha)


def test_crop_grows_the_box_and_refuses_slivers() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    c = crop(img, (50, 20, 150, 80))
    assert c is not None and c.shape[:2] == (72, 120)  # 10 % margin each side, clipped at the frame
    assert crop(img, (10, 10, 20, 90)) is None  # 12 px wide with its margin: too small to see
