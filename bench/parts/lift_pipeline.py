#!/usr/bin/env python3
"""Parts 1-3 of the lift guard benchmark: throughput, detect→relay latency and the held-out clips.

``bench/lift_guard.py`` runs this in a process of its own (``--json FILE``: the figures for its RESULT line), which
has ended before the agent process is measured: pages of the libraries both use would otherwise count as shared
and stay resident in the agent. What each part measures is written in ``bench/lift_guard.py``. Alone it prints its
own RESULT line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from edge.apps.base import AppContext  # noqa: E402
from edge.apps.lift_guard.app import LiftGuardApp  # noqa: E402
from edge.apps.lift_guard.config import LiftGuardConfig  # noqa: E402
from edge.apps.lift_guard.evidence import EvidenceStore  # noqa: E402
from edge.apps.lift_guard.guard import Guard  # noqa: E402
from edge.apps.lift_guard.pipeline import LiftPipeline  # noqa: E402
from edge.apps.lift_guard.scenes import Clip, clip_frames, load_scenes, write_clip  # noqa: E402
from edge.apps.lift_guard.sim import SCENES, LiftSim  # noqa: E402
from edge.apps.lift_guard.voice import Prompter  # noqa: E402
from edge.hal import Hal, HalConfig  # noqa: E402
from edge.runtime.clock import SYSTEM_CLOCK  # noqa: E402
from edge.runtime.watchdog import Watchdog  # noqa: E402
from edge.vision import load_detector  # noqa: E402
from linli.contract import DeviceRef, Event, EventData, Kind, sha256_hex  # noqa: E402
from linli.contract import lift_guard as lev  # noqa: E402

FPS = 5.0
SIZE = (640, 480)


def hal_config(video: Path | None) -> HalConfig:
    doc: dict[str, Any] = {
        "pin_factory": "mock",
        "inputs": {"door_open": {"pin": 5, "pull_up": True, "bounce_ms": 0}},
        "relays": {"door_hold": {"pin": 6}},
        "speaker": {"backend": "record"},
    }
    if video is not None:
        doc["cameras"] = {"car": {"source": str(video), "fps": FPS, "read_timeout_s": 3.0}}
    return HalConfig.model_validate(doc)


class Sink:
    """Stands in for the agent's outbox: keeps the events (the bench measures the device, not MQTT)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, data: EventData, blobs: Any = ()) -> Event:
        ev = Event(type=data.EVENT.type, data=data.to_data(), severity=data.event_severity(),
                   blobs=[sha256_hex(b) for b in blobs])
        with self.lock:
            self.events.append(ev)
        return ev

    def of(self, type_: str) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.type == type_]


# ------------------------------------------------------------------------------------------ 1. throughput
def throughput(cfg: LiftGuardConfig, frames: list[np.ndarray], reps: int, threads: int) -> dict[str, float]:
    """Model-only and pipeline runs interleaved in chunks of 10 frames on a one-thread detector, timed in CPU time
    of the calling thread (what the work costs, whatever else the machine is doing) and in wall time; then the
    model alone with ``threads`` threads in wall time (what a frame waits for)."""
    one = load_detector(cfg.detector.model_copy(update={"threads": 1}))
    tensors = [one.prepare(f)[0] for f in frames]
    for t in tensors[:5]:
        one.run(t)  # warm-up

    def make(motion: bool) -> tuple[LiftPipeline, Guard, Sink]:
        c = cfg.model_copy(update={"motion": cfg.motion.model_copy(update={"enabled": motion})})
        sink = Sink()
        guard = Guard(c, hal.relays["door_hold"], hal.inputs["door_open"], {}, Prompter(c.voice, hal.speaker), sink,
                      EvidenceStore(Path(tmp), 30), SYSTEM_CLOCK, logging.getLogger("bench"), one.version)
        return LiftPipeline(c, one), guard, sink

    cpu: dict[str, list[float]] = {"model": [], "pipe": [], "gated": []}
    wall: dict[str, list[float]] = {"model": [], "pipe": [], "gated": []}
    with tempfile.TemporaryDirectory() as tmp, Hal(hal_config(None)) as hal:
        LiftSim(hal.cfg, cfg).set_door(True)
        full, gated = make(False), make(True)
        seq = 0
        for _ in range(reps):
            for i in range(0, len(frames), 10):
                for t in tensors[i:i + 10]:
                    c0, w0 = time.thread_time(), time.perf_counter()
                    one.run(t)
                    cpu["model"].append((time.thread_time() - c0) * 1000)
                    wall["model"].append((time.perf_counter() - w0) * 1000)
                for (p, g, _), key in ((full, "pipe"), (gated, "gated")):
                    for f in frames[i:i + 10]:
                        seq += 1
                        c0, w0 = time.thread_time(), time.perf_counter()
                        g.on_frame(p.process(f, time.monotonic(), seq, True), f)
                        cpu[key].append((time.thread_time() - c0) * 1000)
                        wall[key].append((time.perf_counter() - w0) * 1000)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    wmed = {k: statistics.median(v) for k, v in wall.items()}
    looker = full[0].looker
    assert looker is not None
    # inferences per detected frame: 1, or 2 with the zoomed pass at the door (app.zoom)
    per_frame = (full[0].detections_run + looker.zoom_runs) / max(1, full[0].detections_run)
    det = load_detector(cfg.detector.model_copy(update={"threads": threads}))
    for t in tensors[:5]:
        det.run(t)
    runs = []
    for t in tensors * reps:
        w0 = time.perf_counter()
        det.run(t)
        runs.append((time.perf_counter() - w0) * 1000)
    return {"ratio": med["model"] * per_frame / med["pipe"], "ratio_wall": wmed["model"] * per_frame / wmed["pipe"],
            "inferences_per_frame": per_frame, "frame_cost_x": med["pipe"] / med["model"],
            "model_cpu_ms": med["model"], "pipe_cpu_ms": med["pipe"], "gated_cpu_ms": statistics.fmean(cpu["gated"]),
            "model_ms": statistics.median(runs), "model_p90_ms": float(np.percentile(runs, 90)),
            "model_ips": 1000 / statistics.median(runs), "pipeline_fps": 1000 / med["pipe"],
            "detector_runs": full[0].detections_run, "frames": len(cpu["pipe"]), "blocks": len(full[2].of(lev.BLOCK)),
            "gated_runs": gated[0].detections_run}


# ------------------------------------------------------------------------------------------ 2. latency
def entries_clip(n: int) -> Clip:
    moto = [0.5, 0.92, 0.6]
    segs: list[dict[str, Any]] = []
    for _ in range(n):
        segs += [{"seconds": 1.2, "door": "open"},
                 {"seconds": 1.4, "door": "open", "objects": [{"sprite": "motorcycle", "start": [0.5, 0.55, 0.2],
                                                                "end": moto}]},
                 {"seconds": 1.0, "door": "open", "objects": [{"sprite": "motorcycle", "start": moto}]},
                 {"seconds": 1.0, "door": "open", "objects": [{"sprite": "motorcycle", "start": moto,
                                                                "end": [0.5, 0.55, 0.18]}]},
                 {"seconds": 3.0, "door": "open"}]
    return Clip.model_validate({"segments": segs})


def latency(cfg: LiftGuardConfig, entries: int, tmp: Path) -> dict[str, Any]:
    clip = entries_clip(entries)
    video = Path(write_clip(tmp / "entries.mp4", clip, FPS, SIZE))
    sink = Sink()
    with Hal(hal_config(video)) as hal:
        board = LiftSim(hal.cfg, cfg)
        board.set_door(True)
        wd = Watchdog(30.0, lambda *_: hal.all_relays_safe(), systemd=False)
        ctx = AppContext(ref=DeviceRef("bench", Kind.lift_guard, "lift-bench"), hal=hal, emit=sink,
                         logger=logging.getLogger("bench.lift"), data_dir=tmp / "app", watchdog=wd,
                         clock=SYSTEM_CLOCK)
        (tmp / "app").mkdir(exist_ok=True)
        app = LiftGuardApp(ctx, cfg)
        app.start()
        deadline = time.monotonic() + clip.seconds + 8
        try:
            while time.monotonic() < deadline and len(sink.of(lev.RELEASE)) < entries:
                time.sleep(0.2)
        finally:
            app.stop()
    lat = sorted(e.data["latency_ms"] for e in sink.of(lev.BLOCK))
    seen = sorted(e.data["seen_ms"] for e in sink.of(lev.BLOCK))
    return {"latencies": lat, "seen": seen, "blocks": len(lat), "releases": len(sink.of(lev.RELEASE)),
            "faults": [e.data["fault"] for e in sink.of(lev.FAULT)]}


# ------------------------------------------------------------------------------------------ 3. held-out clips
QUICK_HELDOUT = [("small_far", 1), ("occluded", 1), ("big_near", 1), ("landing_only", 1), ("person_only", 1),
                 ("frozen", 1)]


def heldout(cfg: LiftGuardConfig, quick: bool) -> dict[str, Any]:
    from edge.apps.lift_guard.heldout import evaluate, heldout_set
    from edge.apps.lift_guard.replay import load_app_config

    base = load_app_config(REPO / "config" / "lift_guard.yaml").model_copy(update={"detector": cfg.detector})
    det = load_detector(cfg.detector)
    items = QUICK_HELDOUT if quick else heldout_set((1, 2))
    plain = base.model_copy(update={"zoom": base.zoom.model_copy(update={"enabled": False}),
                                    "night": base.night.model_copy(update={"enabled": False})})
    # "evidence": as shipped; "plain": the same rule without the zoomed pass and the night normalisation (the
    # generation before them); "n_of_m": the generation before that (3 of 5 frames >= 0.6, no floor, no families)
    runs = [("evidence", "evidence", base)] if quick else [
        ("evidence", "evidence", base), ("plain", "evidence", plain), ("n_of_m", "n_of_m", plain)]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, rule, conf in runs:
            res = evaluate(items, conf, rule, det, Path(tmp))  # type: ignore[arg-type]
            out[key] = res
            fails = [f"{o.name} ({o.why})" for o in res if not o.passed]
            bikes = [o for o in res if o.expect == "block"]
            print(f"held-out, {key}: {sum(o.passed for o in res)}/{len(res)} pass; e-bikes blocked within 1 s "
                  f"{sum(o.passed for o in bikes)}/{len(bikes)}, at all "
                  f"{sum(o.blocks > 0 for o in bikes)}/{len(bikes)}; "
                  f"false blocks {sum(o.expect == 'none' and o.blocks > 0 for o in res)}"
                  + (f"; failed: {', '.join(fails)}" if fails else ""))
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return sorted(values)[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run, under 60 s")
    ap.add_argument("--entries", type=int, default=0, help="e-bike entries in the latency clip")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    ap.add_argument("--skip-heldout", action="store_true",
                    help="leave the held-out clips out (while tuning: they must not be looked at before freezing)")
    ap.add_argument("--json", type=Path, help="write the figures here instead of a RESULT line (bench/lift_guard.py)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {load:.1f}"
          + ("  (busy: wall-clock figures are slowed by other processes)" if load > cores else ""))
    from edge.apps.lift_guard.replay import load_app_config

    shipped = load_app_config(REPO / "config" / "lift_guard.yaml")
    # the shipped car's region, floor, zoomed pass and night normalisation; the default model and classes
    cfg = LiftGuardConfig().model_copy(update={k: getattr(shipped, k) for k in ("region", "zoom", "night")})
    cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"threads": args.threads}),
                                 "voice": cfg.voice.model_copy(update={"enabled": False})})
    scenes = load_scenes(SCENES)
    names = ["bike_in_out", "person_only"] if args.quick else ["demo", "bike_in_out", "person_only", "flapping"]
    frames = [f for n in names for f in clip_frames(scenes.clips[n], FPS, SIZE)]
    reps = 1 if args.quick else 3
    t = throughput(cfg, frames, reps, args.threads)
    print(f"throughput on {t['frames']} frames of {SIZE[0]}x{SIZE[1]} (one-thread detector, CPU time per frame):")
    print(f"  model only        {t['model_cpu_ms']:6.2f} ms")
    print(f"  full pipeline     {t['pipe_cpu_ms']:6.2f} ms   = {t['frame_cost_x']:.2f}x the model: "
          f"{t['inferences_per_frame']:.2f} inferences per detected frame (zoomed pass at the door); ratio "
          f"{t['ratio']:.2f} (model CPU of those inferences / pipeline CPU; wall-clock ratio {t['ratio_wall']:.2f}; "
          f"detector on {t['detector_runs']} of {t['frames']} frames, {t['blocks']} blocks)")
    print(f"  with motion gate  {t['gated_cpu_ms']:6.2f} ms   (mean; detector on {t['gated_runs']} frames)")
    print(f"model alone with {args.threads} threads (wall): median {t['model_ms']:.2f} ms, "
          f"p90 {t['model_p90_ms']:.2f} ms = {t['model_ips']:.1f} inferences/s")
    entries = args.entries or (3 if args.quick else 20)
    with tempfile.TemporaryDirectory() as tmp:
        lat = latency(cfg, entries, Path(tmp))
    ls = lat["latencies"]
    print(f"detect→relay at {FPS:g} fps over {entries} e-bike entries: {lat['blocks']} blocks, {lat['releases']} "
          f"releases, faults {lat['faults'] or 'none'}")
    if ls:
        print(f"  first frame on the car floor → relay, ms: min {min(ls):.0f}  p50 {pct(ls, 50):.0f}  "
              f"p99 {pct(ls, 99):.0f}  max {max(ls):.0f}")
        sn = lat["seen"]
        print(f"  first sight (any score) → relay, ms: p50 {pct(sn, 50):.0f}  p99 {pct(sn, 99):.0f}")
    ho = {"evidence": []} if args.skip_heldout else heldout(cfg, args.quick)
    new = ho["evidence"]
    old = ho.get("n_of_m")
    plain = ho.get("plain")
    figures: dict[str, Any] = {
        "pipeline_ratio": f"{t['ratio']:.2f}", "p50_ms": f"{pct(ls, 50):.0f}", "p99_ms": f"{pct(ls, 99):.0f}",
        "model_ms": f"{t['model_ms']:.2f}", "pipeline_fps_cpu": f"{t['pipeline_fps']:.1f}",
        "model_ips": f"{t['model_ips']:.1f}", "blocks": f"{lat['blocks']}/{entries}",
        "heldout_pass": f"{sum(o.passed for o in new)}/{len(new)}"}
    if old and plain:
        figures["heldout_plain"] = f"{sum(o.passed for o in plain)}/{len(plain)}"
        figures["heldout_old"] = f"{sum(o.passed for o in old)}/{len(old)}"
    figures["inferences_per_frame"] = f"{t['inferences_per_frame']:.2f}"
    if args.json:
        args.json.write_text(json.dumps(figures), encoding="utf-8")
    else:
        print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
