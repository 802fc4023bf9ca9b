#!/usr/bin/env python3
"""Part 4 of the lift guard benchmark: the lift agent as it runs on a Pi (what it measures: ``bench/lift_guard.py``).

This module imports no OpenCV, numpy or onnxruntime, and the demo clip is written by a short-lived process: the
only process mapping those libraries while the agent is measured is the agent itself, as on a device.

    python bench/parts/lift_agent.py --quick    # alone: the agent figures and a RESULT line
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from linli.contract import DeviceRef, Kind  # noqa: E402
from linli.deploy.units import AGENT_MEMORY_ENV  # noqa: E402
from linli.testing import TestBroker  # noqa: E402

FPS = 5.0
SIZE = (640, 480)


def write_demo_clip(path: Path) -> None:
    """The demo clip of the simulated car (e-bike in and out, people), written by another Python process."""
    code = ("import sys; from pathlib import Path; from edge.apps.lift_guard.scenes import load_scenes; "
            "from edge.apps.lift_guard.sim import SCENES, ensure_clip; "
            f"ensure_clip(Path(sys.argv[1]), load_scenes(SCENES).clips['demo'], {FPS!r}, {SIZE!r})")
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, check=True)


def _proc(pid: int) -> tuple[float, dict[str, float]]:
    """CPU seconds and memory figures (MB: VmRSS, VmHWM, RssAnon, RssFile) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    mem = {k: int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile") if k in status}
    return cpu, mem


OWN = "own (heap, anonymous)"


def _smaps_breakdown(pid: int, top: int = 8) -> tuple[list[tuple[str, float]], dict[str, float]]:
    """Resident MB by mapping: each shared library by file name (largest ``top``), then the process's own memory
    (heap and anonymous maps: Python objects, onnxruntime's arena, frames, thread stacks) and the rest; and the
    working set: MB of the own memory and of the library files referenced since ``_clear_refs`` (pages resident but
    not referenced are mostly library code run once at start-up: clean, shared, the first the kernel drops when
    memory runs short). The files' figure is an upper bound: a shared page counts as referenced when another
    process (the benchmark itself, anything using the same libraries) touched it."""
    per: dict[str, int] = {}
    ref = {"own": 0, "files": 0}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
            path = head[5] if len(head) > 5 else ""
            name = OWN if path in ("", "[heap]", "[stack]") else Path(path).name
        elif head and head[0] == "Rss:":
            per[name] = per.get(name, 0) + int(head[1])
        elif head and head[0] == "Referenced:":
            ref["own" if name == OWN else "files"] += int(head[1])
    own = per.pop(OWN, 0)
    libs = sorted(per.items(), key=lambda kv: -kv[1])
    return ([(OWN, own / 1024), *((k, v / 1024) for k, v in libs[:top]),
             ("other files", sum(v for _, v in libs[top:]) / 1024)], {k: v / 1024 for k, v in ref.items()})


def _clear_refs(pid: int) -> bool:
    """Start a working-set measurement (the kernel clears the pages' referenced bits); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("1")
        return True
    except OSError:
        return False


def write_classifier(path: Path) -> str:
    """A site classifier file (trained on random features: what is measured is its cost, not its answers), written by
    another Python process; its SHA-256."""
    code = ("import sys, numpy as np; from pathlib import Path; from linli import liftcls as lc; "
            "g = np.random.default_rng(0); x = g.normal(size=(40, 1280)).astype('float32'); "
            "y = ['ebike'] * 20 + ['bicycle'] * 20; "
            "f = lc.train(x, y, 'bench', 'bench-1', lc.Extractor(id=lc.EXTRACTOR_ID, sha256=lc.BACKBONE_SHA256)); "
            "data = f.encode(); Path(sys.argv[1]).write_bytes(data); print(lc.sha256_of(data))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, check=True, capture_output=True,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def agent_process(seconds: float, env: dict[str, str] | None = None, zoom: bool = True,
                  release_after_s: float = 2.0, classifier: bool = False) -> dict[str, Any]:
    """Run ``linli agent --sim`` (config/lift_guard.yaml, real broker) and measure its CPU per frame and RSS
    (``zoom=False``: the same without the zoomed pass at the door, for comparison). The agent gives back its
    start-up pages ``release_after_s`` after it started (30 s in the field; 0: never, to compare). ``classifier``:
    with a site classifier deployed (its feature extractor runs on each two-wheeler's crop)."""
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        doc = yaml.safe_load((REPO / "config" / "lift_guard.yaml").read_text(encoding="utf-8"))
        clip = tmp / "demo.mp4"
        write_demo_clip(clip)
        broker = TestBroker.start(tmp / "broker")
        try:
            ref = DeviceRef("bench", Kind.lift_guard, "lift-rss")
            secret, _ = broker.provision(ref)
            (tmp / "pw").write_text("bench-page-pw\n", encoding="utf-8")
            doc.update(site=ref.site, device=ref.device, data_dir=str(tmp / "data"), log_level="WARNING",
                       watchdog={"timeout_s": 10, "systemd": False},
                       memory={"release_startup_pages_after_s": release_after_s})
            doc["mqtt"].update(host=broker.host, port=broker.port, password_file=str(secret))
            doc["local_page"].update(port=0, password_file=str(tmp / "pw"))
            doc["hal"]["cameras"]["car"]["source"] = str(clip)
            doc["hal"]["speaker"] = {"backend": "record"}
            doc["app"].setdefault("zoom", {})["enabled"] = zoom
            if classifier:
                sha = write_classifier(tmp / "classifier.json")
                doc["app"]["classifier"] = {"version": "bench-1", "sha256": sha, "path": str(tmp / "classifier.json")}
            cfg_path = tmp / "agent.yaml"
            cfg_path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
            log_path = tmp / "agent.log"
            log = log_path.open("wb")
            proc = subprocess.Popen([sys.executable, "-m", "linli.cli", "agent", "-c", str(cfg_path), "--sim"],
                                    cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **(env or {})})
            try:
                time.sleep(5.0)  # start-up: imports, model, camera
                if proc.poll() is not None:
                    raise RuntimeError(f"the agent stopped: {log_path.read_text(errors='replace')[-2000:]}")
                c0, _ = _proc(proc.pid)
                refs = _clear_refs(proc.pid)
                t0 = time.monotonic()
                series = []
                while time.monotonic() - t0 < seconds:
                    time.sleep(min(5.0, max(0.1, seconds - (time.monotonic() - t0))))
                    c1, mem = _proc(proc.pid)
                    series.append(round(mem["VmRSS"]))
                elapsed = time.monotonic() - t0
                breakdown, working = _smaps_breakdown(proc.pid)
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()
            blocks = sum(1 for line in log_path.read_text(errors="replace").splitlines() if " block " in line)
        finally:
            broker.broker.stop()
    frames = elapsed * FPS
    return {"cpu_ms_per_frame": (c1 - c0) * 1000 / frames, "rss_mb": mem["VmRSS"], "peak_mb": mem["VmHWM"],
            "anon_mb": mem.get("RssAnon", 0.0), "file_mb": mem.get("RssFile", 0.0), "seconds": elapsed,
            "blocks": blocks, "series": series, "breakdown": breakdown, "working": working if refs else None}


def report(ag: dict[str, Any], nz: dict[str, Any] | None, cl: dict[str, Any] | None) -> None:
    """Print what the agent runs measured (as shipped, without the zoomed pass, with a site classifier)."""
    print(f"lift agent process (linli agent --sim, {ag['seconds']:.0f} s at {FPS:g} fps): CPU "
          f"{ag['cpu_ms_per_frame']:.1f} ms per camera frame (all threads), RSS {ag['rss_mb']:.0f} MB "
          f"(peak {ag['peak_mb']:.0f} MB; {ag['anon_mb']:.0f} MB its own memory, {ag['file_mb']:.0f} MB mapped "
          f"library files); it blocked {ag['blocks']} time(s) meanwhile; RSS every 5 s: {ag['series']}")
    print("  resident MB by mapping: " + ", ".join(f"{k} {v:.1f}" for k, v in ag["breakdown"]))
    if ag["working"] is not None:
        ws = ag["working"]
        print(f"  referenced during those {ag['seconds']:.0f} s (working set): {ws['own']:.0f} of the "
              f"{ag['anon_mb']:.0f} MB of its own memory; {ws['files']:.0f} of the {ag['file_mb']:.0f} MB of "
              "library files resident")
    if nz is None or cl is None:
        print("  (--quick: the runs without the zoomed pass and with a site classifier are in the full run)")
        return
    print(f"  the same without the zoomed pass at the door ({nz['seconds']:.0f} s): CPU "
          f"{nz['cpu_ms_per_frame']:.1f} ms per camera frame, RSS {nz['rss_mb']:.0f} MB")
    print(f"  with a site classifier deployed ({cl['seconds']:.0f} s): CPU {cl['cpu_ms_per_frame']:.1f} ms per camera "
          f"frame, RSS {cl['rss_mb']:.0f} MB ({cl['anon_mb']:.0f} MB its own memory), {cl['blocks']} block(s)")


def measure(quick: bool, release_after_s: float = 2.0) -> dict[str, str]:
    """The runs, printed; the figures for the RESULT line. ``quick``: the agent as shipped only, 6 s (the runs
    without the zoom and with a classifier are the full run's: three agents one after another do not fit in 60 s,
    and at the same time they would share, and so inflate, each other's resident library pages)."""
    ag = agent_process(6.0 if quick else 40.0, env=AGENT_MEMORY_ENV, release_after_s=release_after_s)
    figures = {"cpu_ms_per_frame": f"{ag['cpu_ms_per_frame']:.1f}", "rss_mb": f"{ag['rss_mb']:.0f}",
               "anon_mb": f"{ag['anon_mb']:.0f}", "peak_mb": f"{ag['peak_mb']:.0f}"}
    if quick:
        report(ag, None, None)
        return figures
    nz = agent_process(20.0, env=AGENT_MEMORY_ENV, zoom=False, release_after_s=release_after_s)
    cl = agent_process(20.0, env=AGENT_MEMORY_ENV, release_after_s=release_after_s, classifier=True)
    report(ag, nz, cl)
    return {**figures, "cpu_ms_per_frame_nozoom": f"{nz['cpu_ms_per_frame']:.1f}",
            "rss_mb_classifier": f"{cl['rss_mb']:.0f}", "cpu_ms_per_frame_classifier": f"{cl['cpu_ms_per_frame']:.1f}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="the agent as shipped for 6 s (full: 40 s, 20 s without the zoom, 20 s with a classifier)")
    ap.add_argument("--release-after", type=float, default=2.0,
                    help="seconds after start when the agent gives back its start-up pages (0: never)")
    args = ap.parse_args()
    figures = measure(args.quick, args.release_after)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
