#!/usr/bin/env python3
"""Login spray benchmark: W threads (in a separate process, as an attacker would be) guess passwords for random
(unknown) user names over HTTP Basic against a real server (uvicorn, argon2 at its production cost), while one
signed-in client keeps calling the API.

    python bench/login_spray.py --quick            # < 60 s
    python bench/login_spray.py --many-addresses   # lock-outs set out of the way (as if from a botnet)

Prints the guesses' answers, guesses per second, the signed-in client's latency (median, p95, worst), and the
server's resident memory (sampled every 20 ms; the server runs in this process). Last line: ``RESULT
guesses_per_s=… rss_base_mb=… rss_peak_mb=… api_idle_ms=… api_p50_ms=… api_p95_ms=… api_max_ms=…
api_errors=… codes=…``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import psutil  # noqa: E402

from linli.testing import TestBroker  # noqa: E402
from server.app import create_app  # noqa: E402
from server.auth import hash_password  # noqa: E402
from server.settings import AuthSettings  # noqa: E402
from server.testing import make_settings, running  # noqa: E402

PASSWORD = "bench-password-1"


def attacker(url: str, workers: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """The child process: ``workers`` threads guessing until ``seconds`` are up; puts the answers' counts."""
    codes: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def guess() -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            while time.monotonic() < deadline:
                try:
                    code = c.get("/api/v1/me", auth=(f"u{uuid.uuid4().hex[:8]}", "guess")).status_code
                except httpx.HTTPError:
                    code = 0
                with lock:
                    codes[code] += 1

    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(guess) for _ in range(workers)]:
            f.result()
    out.put(dict(codes))


Result = tuple[Counter[int], list[float], Counter[int], float, int, int, float]


def spray(broker: TestBroker, tmp: Path, auth: dict[str, object], workers: int, seconds: float) -> Result:
    """Run the server and the spray; returns guesses' codes, API latencies (ms), API codes, seconds, RSS base and
    peak (bytes)."""
    proc = psutil.Process()
    settings = make_settings(tmp, f"sqlite:///{tmp}/bench.db", broker, auth=auth)
    with running(create_app(settings)) as live:
        ops = httpx.Client(base_url=live.url, auth=("ops", PASSWORD), timeout=120)
        assert ops.get("/api/v1/me").status_code == 200
        idle = []
        for _ in range(30):  # the signed-in client's latency before the spray
            t0 = time.perf_counter()
            ops.get("/api/v1/me")
            idle.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
        base = proc.memory_info().rss
        peak = [base]
        stop = threading.Event()
        codes: Counter[int] = Counter()
        lat: list[float] = []
        api_codes: Counter[int] = Counter()

        def sample() -> None:
            while not stop.wait(0.02):
                peak[0] = max(peak[0], proc.memory_info().rss)

        def signed_in() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    api_codes[ops.get("/api/v1/me").status_code] += 1
                except httpx.HTTPError:
                    api_codes[0] += 1
                lat.append((time.perf_counter() - t0) * 1000)
                stop.wait(0.05)

        threads = [threading.Thread(target=sample), threading.Thread(target=signed_in)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(target=attacker, args=(live.url, workers, seconds, out))
        child.start()
        codes.update(out.get(timeout=seconds + 600))
        child.join(30)
        stop.set()
        elapsed = time.perf_counter() - t0
        for t in threads:
            t.join()
        ops.close()
    return codes, lat, api_codes, elapsed, base, peak[0], statistics.median(idle)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--many-addresses", action="store_true",
                    help="per-address and per-account lock-outs out of the way (a spray from many addresses)")
    args = ap.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    auth: dict[str, object] = {"users": [{"name": "ops", "role": "admin", "password_hash": hash_password(PASSWORD)}]}
    if args.many_addresses:
        for key, value in (("login_max_failures", 100), ("login_max_failures_per_address", 10_000)):
            if key in AuthSettings.model_fields:  # (older servers have no such settings)
                auth[key] = value
    with tempfile.TemporaryDirectory() as tmp:
        broker = TestBroker.start(Path(tmp) / "broker")
        try:
            codes, lat, api_codes, elapsed, base, peak, idle_ms = spray(broker, Path(tmp), auth, args.workers, seconds)
        finally:
            broker.broker.stop()
    total = sum(codes.values())
    lat.sort()
    p50 = statistics.median(lat) if lat else 0.0
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else 0.0
    worst = lat[-1] if lat else 0.0
    errors = sum(n for c, n in api_codes.items() if c != 200)
    mb = 2**20
    print(f"{args.workers} guessing threads for {elapsed:.1f} s: {total} guesses ({total / elapsed:.1f}/s), "
          f"answers {dict(sorted(codes.items()))}")
    print(f"signed-in client: {idle_ms:.0f} ms median before; during: {len(lat)} calls, median {p50:.0f} ms, "
          f"p95 {p95:.0f} ms, worst {worst:.0f} ms, non-200: {errors}")
    print(f"server RSS: {base / mb:.0f} MB before, {peak / mb:.0f} MB peak (+{(peak - base) / mb:.0f} MB)")
    code_s = ",".join(f"{c}:{n}" for c, n in sorted(codes.items()))
    print(f"RESULT guesses_per_s={total / elapsed:.1f} rss_base_mb={base / mb:.0f} rss_peak_mb={peak / mb:.0f} "
          f"api_idle_ms={idle_ms:.0f} api_p50_ms={p50:.0f} api_p95_ms={p95:.0f} api_max_ms={worst:.0f} "
          f"api_errors={errors} codes={code_s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
