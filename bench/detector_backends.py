#!/usr/bin/env python3
"""The lift guard's default detector in onnxruntime and in OpenCV's DNN module (``cv2.dnn.readNetFromONNX``):
same detections?  CPU per inference?  Memory of a process that loads only what the detector needs?

    python bench/detector_backends.py --quick      # < 60 s
    python bench/detector_backends.py              # every second frame of four clips, 40 timed runs

1. **Detections.** Frames of the simulated lift clips (640x480) are prepared once by the real adapter
   (:class:`edge.vision.ssd.SsdDetector`: resize, colour order) and the same tensor goes through both back-ends;
   both outputs are decoded by the adapter. Reported: frames whose labels (score >= the config's ``min_score``)
   differ, and over the others the largest difference of a box corner (frame pixels) and of a score.
2. **Cost, each back-end in a process of its own** (numpy and OpenCV imported as the lift agent does, one thread,
   the lift agent unit's memory settings): resident memory after the import of the back-end, after loading the
   model and after the timed runs, and the median CPU time of one inference.

This decided against OpenCV DNN as the lift agent's back-end (models/MODELS.md §3.1a): it runs the model, but
with more memory, about twice the CPU and scores up to ~0.08 apart from onnxruntime's.

Last line: ``RESULT label_mismatch=N/M max_box_px=… max_score=… ort_ms=… cv2_ms=… ort_rss_mb=… cv2_rss_mb=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from edge.apps.lift_guard.config import LiftGuardConfig  # noqa: E402
from edge.apps.lift_guard.scenes import clip_frames, load_scenes  # noqa: E402
from edge.apps.lift_guard.sim import SCENES  # noqa: E402
from edge.vision import load_detector  # noqa: E402
from linli.deploy.units import AGENT_MEMORY_ENV  # noqa: E402

#: Run in a child process: ``python -c CHILD backend model runs`` prints one JSON line.
CHILD = r"""
import json, sys, time
import numpy as np, cv2
def rss():
    with open('/proc/self/status') as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith('VmRSS')) / 1024
backend, model, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.random.default_rng(1).integers(0, 255, (1, 300, 300, 3), dtype=np.uint8)
base = rss()
if backend == 'onnxruntime':
    import onnxruntime as ort
    imported = rss()
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    o.add_session_config_entry('session.intra_op.allow_spinning', '0')
    s = ort.InferenceSession(model, sess_options=o, providers=['CPUExecutionProvider'])
    name = s.get_inputs()[0].name
    def run():
        return s.run(None, {name: x})
else:
    cv2.setNumThreads(1)
    imported = rss()
    net = cv2.dnn.readNetFromONNX(model)
    names = list(net.getUnconnectedOutLayersNames())
    def run():
        net.setInput(x)
        return net.forward(names)
loaded = rss()
run()
cpu = []
for _ in range(runs):
    t = time.thread_time(); run(); cpu.append(time.thread_time() - t)
cpu.sort()
print(json.dumps({'base': base, 'imported': imported, 'loaded': loaded, 'end': rss(),
                  'cpu_ms': cpu[len(cpu) // 2] * 1000}))
"""


def compare(frames: list[np.ndarray]) -> dict[str, float]:
    cfg = LiftGuardConfig().detector
    det = load_detector(cfg.model_copy(update={"min_score": 0.01}))
    net = cv2.dnn.readNetFromONNX(str(det.path))
    names = list(net.getUnconnectedOutLayersNames())
    mismatch = dets = 0
    box = score = 0.0
    for f in frames:
        x, meta = det.prepare(f)
        net.setInput(x)
        a = [d for d in det.decode(det.run(x), meta) if d.score >= cfg.min_score]
        b = [d for d in det.decode(list(net.forward(names)), meta) if d.score >= cfg.min_score]
        dets += len(a)
        if [d.label for d in a] != [d.label for d in b]:
            mismatch += 1
            print(f"  labels differ: onnxruntime {[(d.label, d.score) for d in a]}, "
                  f"opencv {[(d.label, d.score) for d in b]}")
            continue
        for p, q in zip(a, b, strict=True):
            box = max(box, *(abs(u - v) for u, v in zip(p.box, q.box, strict=True)))
            score = max(score, abs(p.score - q.score))
    return {"frames": len(frames), "detections": dets, "mismatch": mismatch, "box": box, "score": score}


def cost(backend: str, runs: int) -> dict[str, float]:
    model = str(load_detector(LiftGuardConfig().detector).path)
    out = subprocess.run([sys.executable, "-c", CHILD, backend, model, str(runs)], check=True, capture_output=True,
                         text=True, env={**os.environ, **AGENT_MEMORY_ENV})
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run, under 60 s")
    args = ap.parse_args()
    scenes = load_scenes(SCENES)
    names = ["bike_in_out", "person_only"] if args.quick else ["demo", "bike_in_out", "person_only", "flapping"]
    step = 6 if args.quick else 2
    frames = [f for n in names for f in clip_frames(scenes.clips[n], 5.0, (640, 480))][::step]
    print(f"OpenCV {cv2.__version__}; detections on {len(frames)} frames of {', '.join(names)}:")
    c = compare(frames)
    print(f"  {c['detections']} detections (onnxruntime); labels differ on {c['mismatch']} of {c['frames']} frames; "
          f"elsewhere largest difference: box {c['box']:.1f} px, score {c['score']:.3f}")
    runs = 10 if args.quick else 40
    res = {b: cost(b, runs) for b in ("onnxruntime", "opencv")}
    for b, r in res.items():
        print(f"  {b:12s} process: numpy+cv2 {r['base']:.0f} MB, import +{r['imported'] - r['base']:.1f}, model "
              f"+{r['loaded'] - r['imported']:.1f}, after {runs} runs {r['end']:.0f} MB; CPU "
              f"{r['cpu_ms']:.1f} ms per inference (one thread, median)")
    o, v = res["onnxruntime"], res["opencv"]
    print(f"RESULT label_mismatch={c['mismatch']}/{c['frames']} max_box_px={c['box']:.1f} "
          f"max_score={c['score']:.3f} ort_ms={o['cpu_ms']:.1f} cv2_ms={v['cpu_ms']:.1f} "
          f"ort_rss_mb={o['end']:.0f} cv2_rss_mb={v['end']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
