#!/usr/bin/env python3
"""Lift guard benchmark: model-only inferences/s against full-pipeline frames/s on the same frames, and
detect→relay latency on a scripted clip played by a real camera at 5 fps.

    python bench/lift_guard.py --quick      # < 60 s
    python bench/lift_guard.py              # more frames, 20 e-bike entries

1. **Throughput.** The frames of the simulated lift clips (640x480, an e-bike pushed in and out, a person, an empty
   car) are decoded once into memory. *Model only*: ``session.run`` on tensors prepared beforehand (nothing but
   onnxruntime). *Pipeline*: every frame through camera health, motion gate, the detector (resize, colour,
   inference, decoding), class map, region, tracking, N-of-M confirmation and the guard (relay on mock pins,
   snapshot JPEG on each block) — with the motion gate off, so the detector runs on every frame and the ratio
   shows the pipeline's own cost. The two runs alternate every 10 frames on a one-thread detector and are timed in
   CPU time of the calling thread (medians per frame), so other processes on a shared machine do not skew the
   ratio; wall-clock figures are printed beside them. ``model_ms`` is the model alone with ``--threads`` threads,
   wall clock: what a frame waits for. The gated figure (motion gate on) is printed too. The pipeline runs with
   the shipped car's region, floor, zoomed pass at the door and night normalisation (``config/lift_guard.yaml``):
   the zoomed pass is a second inference on each detected frame, so the ratio is the model CPU of the inferences
   the pipeline ran over the pipeline's CPU (its own overhead), and the frame's cost in model inferences is printed
   beside it (``inferences_per_frame`` in the RESULT line).
2. **Latency.** The real app (camera thread reading an mp4 at 5 fps in real time, the real detector, guard, relay on
   a mock pin) watches a clip in which an e-bike is pushed in and out again and again; each block's
   ``latency_ms`` is the time from the capture of the first frame in which the bike stood on the car floor to the
   relay being energised (accumulated evidence included); the time from the first frame it was seen in at all is
   printed too.

3. **Held-out clips** (:mod:`edge.apps.lift_guard.heldout`, a second generator the guard was never tuned on):
   each clip replayed through the real pipeline (``linli replay``'s code, fast); pass = blocked within 1 s of the
   bike standing on the car floor / never blocked / the camera fault within its configured time. ``--quick`` runs
   6 of them with the current rule; the full run all 26 (13 cases x seeds 1, 2) as shipped, without the zoomed pass
   and the night normalisation (``heldout_plain``), and with the rule before that (3 of 5 frames >= 0.6, no
   floor; ``heldout_old``). ``--skip-heldout`` leaves them out: while parameters are being chosen on the tuning
   set (``python -m edge.apps.lift_guard.tuning``) the held-out clips must not be looked at.
4. **The lift agent as it runs on a Pi** (``linli agent --sim`` in its own process, real MQTT broker, local page,
   camera at 5 fps on the demo clip, door cycling, the memory settings of its systemd unit
   ``linli.deploy.units.AGENT_MEMORY_ENV``): CPU per camera frame (``cpu_ms_per_frame``: user + system CPU of all
   the process's threads, from /proc, over the measured seconds, divided by the frames of those seconds at 5 fps) and
   its resident memory (``rss_mb``: VmRSS at the end, after the start-up and ``--quick``'s 6 s or the full run's 40 s
   of work; peak printed beside it, and by mapping: each shared library, and the process's own heap and anonymous
   memory), and its working set (pages referenced during the measurement). The agent gives back the library pages
   only its start-up used (``edge/runtime/memory.py``) 2 s after it started here, 30 s in the field.

   Parts 1-3 run first in a process of their own (``bench/parts/lift_pipeline.py``), which has ended before the agent
   is measured; part 4 (``bench/parts/lift_agent.py``) loads no OpenCV, numpy or onnxruntime itself. A page of a
   library mapped by two processes is shared, and stays resident in both: the agent is measured alone, as on a
   device.

   The full run then runs the agent without the zoomed pass (``cpu_ms_per_frame_nozoom``: what the second inference
   costs) and with a site classifier deployed (``rss_mb_classifier``); ``--quick`` leaves those two runs out (three
   agents one after another do not fit in 60 s, and run side by side they would inflate each other's RSS).

Last line: ``RESULT pipeline_ratio=… p50_ms=… p99_ms=… model_ms=… heldout_pass=N/M inferences_per_frame=…
cpu_ms_per_frame=… cpu_ms_per_frame_nozoom=… rss_mb=…``
(plus pipeline_fps, model_ips, blocks, and the agent's own memory ``anon_mb`` and peak ``peak_mb``).
"""


from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "parts"))

import lift_agent

PARTS = Path(__file__).resolve().parent / "parts"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="--entries N, --threads N, --skip-heldout: see bench/parts/lift_pipeline.py")
    ap.add_argument("--quick", action="store_true", help="small run, under 60 s")
    args, rest = ap.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pipeline.json"
        cmd = [sys.executable, str(PARTS / "lift_pipeline.py"), "--json", str(out), *rest] + ["--quick"] * args.quick
        subprocess.run(cmd, check=True)
        figures: dict[str, str] = json.loads(out.read_text(encoding="utf-8"))
    figures.update(lift_agent.measure(args.quick))
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
