#!/usr/bin/env python3
"""Gate benchmark: on-device plate recognition on generated scenes, and the decision latency from a plate read to
the barrier relay on a real agent (lists in its SQLite cache, events into its outbox, the broker away — the gate
decides on its own).

    python bench/gate.py --quick        # < 60 s: 100 clean scenes + 40 degraded, 200 decisions
    python bench/gate.py                # 1000 clean + 600 degraded, 2000 decisions

Recognition: a plate (random province, letter and serial; 1/3 green new-energy, 2/3 blue) on a car rear in a
1280×720 street scene; "clean" = no tilt/blur/noise, the plate 160–260 px wide; "degraded" = tilt ±10° with
perspective, or Gaussian blur σ 1–2.5 px, or noise σ 8–20 with lighting 0.5–1.2. Exact = every character right.
``recog_ms`` = detector + reader per frame (median).

Decision latency: ``Lane.handle`` of a read (plate rules, repeat merge, decision table on the SQLite lists with
fuzzy lookup, sessions) until the relay is energised, read on the mock pin; plus the same through the LPR camera's
HTTP push (push sent → reply received). Last line: ``RESULT exact=… recog_ms=… decision_p50_ms=…
decision_p99_ms=…`` (+ degraded accuracy and push latency).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from edge.apps.gate.config import MODELS_DIR  # noqa: E402
from edge.apps.gate.lane import Observation  # noqa: E402
from edge.apps.gate.recognizer import PlateRecognizer  # noqa: E402
from edge.apps.gate.scenes import make_scene, random_plate  # noqa: E402
from edge.apps.gate.sim import LprCameraSim  # noqa: E402
from edge.hal.sim import PinBoard  # noqa: E402
from linli.broker import free_port  # noqa: E402
from linli.contract.gate import ListEntry  # noqa: E402
from linli.gate.plates import PlateColour  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def recognition(n_clean: int, n_degraded: int, seed: int = 11) -> dict[str, float]:
    rec = PlateRecognizer(MODELS_DIR)
    rng = random.Random(seed)
    rec(make_scene("沪A12345", seed=0).image)  # warm-up
    out: dict[str, float] = {}
    wrong: list[tuple[str, str | None]] = []
    for label, n in (("clean", n_clean), ("degraded", n_degraded)):
        ok, times = 0, []
        for i in range(n):
            text = random_plate(rng, "green" if i % 3 == 0 else "blue")
            kw: dict[str, float] = {"plate_px": rng.randint(160, 260)}
            if label == "degraded":
                kind = i % 3
                if kind == 0:
                    kw.update(tilt_deg=rng.uniform(-10, 10), yaw=rng.uniform(0, 0.25))
                elif kind == 1:
                    kw.update(blur=rng.uniform(1.0, 2.5))
                else:
                    kw.update(noise=rng.uniform(8, 20), light=rng.uniform(0.5, 1.2))
            scene = make_scene(text, seed=seed * 100_000 + i + (50_000 if label == "degraded" else 0), **kw)
            t0 = time.perf_counter()
            got = rec(scene.image)
            times.append((time.perf_counter() - t0) * 1000)
            read = got[0].text if got else None
            ok += read == text
            if read != text and label == "clean":
                wrong.append((text, read))
        out[f"{label}_exact"] = ok / max(1, n)
        out[f"{label}_ms"] = statistics.median(times) if times else 0.0
        print(f"recognition {label:8s}: {ok}/{n} exact ({100 * ok / max(1, n):.1f} %), "
              f"median {out[f'{label}_ms']:.1f} ms, p90 {pct(times, 90):.1f} ms per 1280x720 frame")
    if wrong:
        print("  clean misreads (truth → read):", ", ".join(f"{t}→{r}" for t, r in wrong[:12]))
    return out


def agent_config(work: Path) -> Path:
    secret = work / "secret.json"
    secret.write_text(json.dumps({"username": "dev.bench.gate-01", "password": "x"}), encoding="utf-8")
    pw = work / "page-pw"
    pw.write_text("bench-page-pw\n", encoding="utf-8")
    doc = {
        "site": "bench", "kind": "gate", "device": "gate-01",
        "mqtt": {"host": "127.0.0.1", "port": free_port(), "password_file": str(secret), "reconnect_min_s": 5,
                 "reconnect_max_s": 30},
        "local_page": {"enabled": False, "host": "127.0.0.1", "port": 0, "username": "maint",
                       "password_file": str(pw)},
        "hal": {"pin_factory": "mock", "inputs": {"loop_in": {"pin": 5, "bounce_ms": 0}},
                "relays": {"open_in": {"pin": 17}}, "speaker": {"backend": "record"}},
        "app": {"lanes": {"in": {"direction": "entry", "source": "lpr_push", "open_relay": "open_in",
                                 "loop": "loop_in", "open_pulse_s": 0.5}},
                "lpr": {"host": "127.0.0.1", "port": 0}, "repeat_window_s": 1, "capacity_temporary": 100000,
                "voice": False},
        "data_dir": str(work / "data"), "watchdog": {"timeout_s": 30, "systemd": False},
    }
    path = work / "gate.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def decisions(n: int) -> dict[str, float]:
    from edge.runtime.agent import Agent
    from edge.runtime.config import load_config

    with tempfile.TemporaryDirectory(prefix="linli-bench-gate-") as tmp:
        agent = Agent(load_config(agent_config(Path(tmp))))
        agent.start()
        try:
            now = datetime.now(UTC)
            rng = random.Random(3)
            residents = [random_plate(rng) for _ in range(5000)]
            agent.app.store.upsert_entries([ListEntry(list="resident", key=p, plate=p, valid_from=now - timedelta(1),
                                                      valid_to=now + timedelta(300), label="bench")
                                            for p in residents])
            lane = agent.app.lanes["in"]
            board = PinBoard()
            relay = agent.hal.relays["open_in"]
            energised: list[float] = []
            real_pulse = relay.pulse

            def pulse(seconds: float) -> None:  # the moment the pin goes high (read on the pin right after)
                real_pulse(seconds)
                if board.output_level(17):
                    energised.append(time.perf_counter())

            relay.pulse = pulse  # type: ignore[method-assign]
            lat: list[float] = []
            for i in range(n):
                plate = rng.choice(residents) if i % 2 else random_plate(rng)
                obs = Observation(plate, PlateColour.blue, "lpr_push", datetime.now(UTC), 0.95)
                energised.clear()
                t0 = time.perf_counter()
                out = lane.handle(obs)
                if not energised:
                    raise RuntimeError(f"relay did not energise for {plate}: {out.verdict}")
                lat.append((energised[0] - t0) * 1000)
                relay.off()
                lane._last = None  # every read is a new car
            cam = LprCameraSim(agent.app.lpr.url, "bench")
            push: list[float] = []
            for i in range(max(50, n // 4)):
                t0 = time.perf_counter()
                cam.push(rng.choice(residents), plate_id=10_000 + i)
                push.append((time.perf_counter() - t0) * 1000)
                lane._last = None
            cam.close()
        finally:
            agent.stop(flush_s=0)
    print(f"decision plate→relay ({n} reads, 5000 residents cached, broker away): p50 {pct(lat, 50):.2f} ms, "
          f"p99 {pct(lat, 99):.2f} ms, max {max(lat):.2f} ms")
    print(f"LPR HTTP push → reply ({len(push)} pushes): p50 {pct(push, 50):.2f} ms, p99 {pct(push, 99):.2f} ms")
    return {"p50": pct(lat, 50), "p99": pct(lat, 99), "push_p50": pct(push, 50), "push_p99": pct(push, 99)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="< 60 s")
    args = ap.parse_args()
    t0 = time.monotonic()
    r = recognition(100, 40) if args.quick else recognition(1000, 600)
    d = decisions(200 if args.quick else 2000)
    print(f"took {time.monotonic() - t0:.0f} s")
    print(f"RESULT exact={r['clean_exact']:.3f} recog_ms={r['clean_ms']:.1f} decision_p50_ms={d['p50']:.2f} "
          f"decision_p99_ms={d['p99']:.2f} degraded_exact={r['degraded_exact']:.3f} push_p50_ms={d['push_p50']:.2f} "
          f"push_p99_ms={d['push_p99']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
