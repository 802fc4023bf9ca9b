"""One onnxruntime arena for the detector and a site classifier's feature extractor (linli/ort_arena.py).

Run in a fresh process: the arena is registered once per process, and memory is measured from /proc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

PROBE = r"""
import json, numpy as np, onnxruntime as ort
from edge.apps.lift_guard.config import LiftGuardConfig
from edge.vision import load_detector
from linli.liftcls import FeatureExtractor, resolve_backbone

def own_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1])

rng = np.random.default_rng(7)
frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
det = load_detector(LiftGuardConfig().detector)
for _ in range(3):
    det.detect(frame)
a = own_kb()
fx = FeatureExtractor(resolve_backbone())
crop = frame[100:300, 200:400]
feats = [fx.features(crop) for _ in range(3)]
b = own_kb()
x = np.ascontiguousarray(rng.integers(0, 255, (1, det.input_h, det.input_w, 3), dtype=np.uint8))
own = ort.InferenceSession(str(det.path), providers=["CPUExecutionProvider"])  # an arena of its own
same = all(np.array_equal(p, q) for p, q in zip(det.session.run(None, {det.input_name: x}),
                                                 own.run(None, {det.input_name: x})))
print(json.dumps({"extractor_kb": b - a, "same": same, "shared": det.session.get_session_options()
                  .get_session_config_entry("session.use_env_allocators"),
                  "stable": bool(np.array_equal(feats[0], feats[2]))}))
"""


def test_classifier_shares_the_detectors_arena_and_results_do_not_change() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "MALLOC_ARENA_MAX": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["shared"] == "1"
    assert r["same"] and r["stable"]
    # with an arena of its own the extractor's session took ~27 MB after its first runs; shared, ~6 MB
    assert r["extractor_kb"] < 14 * 1024, r
