#!/usr/bin/env python3
"""Scale-out benchmark (#17): ingest msg/s with 1, 2 and 4 ``linli server`` workers on a 3-node NATS cluster
into PostgreSQL, against the bare cluster's rate in the same run; device→database latency; dashboard queries on a
generated year of data (``bench/pg_year.py``).

    python bench/scale.py --quick      # < 60 s
    python bench/scale.py              # bigger backlogs, more devices

How each figure is measured:

* **Rates** are drain rates of the same pre-loaded backlog: the devices (``linli.fleet``, one MQTT 3.1.1 client and
  account each, spread over the nodes) publish ``--events`` QoS 1 events while every consumer is frozen; the
  broker holds them in its replicated MQTT stream for the shared durable consumer. Then either the *bare* consumer
  (nats-py in this process: pull + ack, no parsing, no database) or *k* worker processes (started once at the
  beginning, frozen with SIGSTOP and thawed with SIGCONT, so startup is not in the figure) drain it. Rate = events
  / the time from letting the consumers go to the last one stored (acknowledged, for the bare consumer), sampled
  every 20 ms.
* **Latency**: 2 workers running, the devices publish at a steady ``--latency-rate``; each event's time from the
  device's publish to its row being visible in PostgreSQL (polled every 20 ms, so figures are ±20 ms).
* **Dashboards**: ``measure_dashboard_queries`` of ``bench/pg_year.py`` on a database filled by
  ``bench/pg_year_data.py`` in the same PostgreSQL, after the broker and workers have stopped: the whole year
  (2,000 devices, 12 months) by default; with ``--quick`` one compound of 20 devices over 40 days (still spanning
  two calendar months, so every monthly partition and month-crossing query is exercised; seconds to build).
  ``na`` with the reason where that module is missing or fails (the ingest figures still stand).

Last line: ``RESULT bare_msgs_per_s=… w1_msgs_per_s=… w2_msgs_per_s=… w4_msgs_per_s=… w2_over_w1=… w1_over_bare=…
w2_over_bare=… p99_ms=… p50_ms=… lost=… dup=… dash_p95_ms=… cores=… busy_w1=… busy_w2=… worker_cores_w1=…
worker_cores_w2=…``. ``busy_wK``: the machine's busy share of all its cores while K workers drained (near 1.0: the
machine, not the workers, is the limit — more workers cannot go faster on it); ``worker_cores_wK``: the cores' worth
of CPU the K workers used themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import nats  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from linli.contract import DeviceRef, Kind  # noqa: E402
from linli.fleet import Fleet  # noqa: E402
from linli.nats_cluster import NatsCluster  # noqa: E402
from linli.provision import SecretStore  # noqa: E402
from linli.testing import PostgresCluster, wait_for  # noqa: E402
from server.db.engine import Database  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.ingest.jetstream import MQTT_STREAM, consumer_config  # noqa: E402
from server.settings import DatabaseSettings, NatsSettings  # noqa: E402
from server.testing import WorkerProcess  # noqa: E402

TARGET_W2_OVER_W1 = 1.6
TARGET_OVER_BARE = 0.5


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (``/proc/stat``'s first line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_jiffies(pid: int) -> int:
    """User + system CPU time of one process so far, in clock ticks (``/proc/PID/stat`` fields 14 and 15)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(after_name[11]) + int(after_name[12])


def drain_rate(t0: float, points: list[tuple[float, int]], total: int) -> float:
    """msg/s: ``total`` over the time from ``t0`` (the consumers were let go) to the first sample with all done."""
    t_done = next((t for t, n in points if n >= total), None)
    if t_done is None:
        raise RuntimeError(f"only {points[-1][1]} of {total} done")
    return total / (t_done - t0)


class Bench:
    def __init__(self, root: Path, devices: int, quick: bool) -> None:
        self.root = root
        self.quick = quick
        self.pg = PostgresCluster(root / "pg")
        self.url = ""
        self.store = SecretStore(root / "secrets")
        self.server = self.store.server_credentials()
        self.store.provision_devices([DeviceRef(f"b{i % 20}", Kind.probe, f"d{i:04d}") for i in range(devices)])
        self.cluster = NatsCluster(root / "nats", self.store)
        self.nats_cfg = NatsSettings(urls=["nats://127.0.0.1:1"])
        self.workers: list[WorkerProcess] = []
        self.fleet: Fleet | None = None
        self.engine: Any = None

    # ------------------------------------------------------------------------------------------ set-up
    def start(self) -> None:
        def database() -> None:
            self.url = self.pg.start()
            db = Database(DatabaseSettings(url=self.url))
            upgrade(db.engine)
            db.dispose()

        pg = threading.Thread(target=database)  # PostgreSQL starts while the broker does
        pg.start()
        self.cluster.start()
        self.nats_cfg = NatsSettings(urls=self.cluster.urls)
        pg.join()
        if not self.url:
            raise RuntimeError("PostgreSQL did not start")
        self.engine = create_engine(self.url)
        # the workers boot while the devices connect
        self.workers = [WorkerProcess(self.root, f"w{i}", self.url, self.cluster).start() for i in range(1, 5)]
        hosts = [(h, int(p)) for h, p in (a.split(":") for a in self.cluster.mqtt_hosts)]
        self.fleet = Fleet(self.store.devices(), hosts)
        self.fleet.start(60)
        asyncio.run(self._make_consumer())
        for w in self.workers:
            w.wait_ready(90)
        self.freeze(self.workers)

    async def _make_consumer(self) -> None:
        nc = await nats.connect(servers=self.cluster.urls, user=self.server.username, password=self.server.password)
        js = nc.jetstream()
        deadline = time.monotonic() + 30
        while True:
            try:
                await js.add_consumer(MQTT_STREAM, consumer_config(self.nats_cfg))
                break
            except nats.js.errors.NotFoundError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        await nc.close()

    def stop(self) -> None:
        """Stop the workers, the devices and the broker (idempotent); PostgreSQL is stopped by the caller. Every
        figure is taken by then, so the workers are killed rather than asked to finish (a graceful stop takes each
        of them seconds and proves nothing here: tests/e2e/test_scale_nats.py covers stopping and restarting)."""
        for w in self.workers:
            w.kill()
        if self.fleet is not None:
            self.fleet.close()
            self.fleet = None
        self.cluster.stop()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def freeze(ws: list[WorkerProcess]) -> None:
        for w in ws:
            assert w.proc is not None
            w.proc.send_signal(signal.SIGSTOP)
        time.sleep(1.2)  # their outstanding pull requests (1 s) expire: nothing is delivered to a frozen worker

    @staticmethod
    def thaw(ws: list[WorkerProcess]) -> None:
        for w in ws:
            assert w.proc is not None
            w.proc.send_signal(signal.SIGCONT)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())

    def backlog(self, n: int) -> list[str]:
        assert self.fleet is not None
        ids = self.fleet.run(n, rate_per_s=0)
        left = self.fleet.wait_acked(120)
        if left:
            raise RuntimeError(f"{left} events not acknowledged by the broker")
        return ids

    @staticmethod
    def sample(done: Callable[[], int], total: int, timeout: float) -> list[tuple[float, int]]:
        points = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = done()
            points.append((time.monotonic(), n))
            if n >= total:
                break
            time.sleep(0.02)
        return points

    # ------------------------------------------------------------------------------------------ phases
    def bare(self, n: int) -> float:
        self.backlog(n)
        acked = [0]
        ready = threading.Event()

        async def drain() -> None:
            nc = await nats.connect(servers=self.cluster.urls, user=self.server.username,
                                    password=self.server.password)
            sub = await nc.jetstream().pull_subscribe_bind(self.nats_cfg.durable, MQTT_STREAM)
            ready.set()
            while acked[0] < n:
                try:
                    msgs = await sub.fetch(500, timeout=1)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                for m in msgs:
                    await nc.publish(m.reply, b"")
                    if m.subject.endswith(".event"):
                        acked[0] += 1
            await nc.flush()
            await nc.close()

        t = threading.Thread(target=lambda: asyncio.run(drain()), daemon=True)
        t.start()
        ready.wait(30)
        t0 = time.monotonic()
        points = self.sample(lambda: acked[0], n, 120)
        t.join(30)
        return drain_rate(t0, points, n)

    def workers_rate(self, k: int, n: int) -> tuple[float, int, dict[str, float]]:
        """Drain rate of ``k`` workers, events missing, and where the CPU went meanwhile: ``busy`` = the machine's
        busy share of all its cores, ``workers_cores`` = cores' worth of CPU the workers themselves used."""
        ids = self.backlog(n)
        base = self.count()
        ws = self.workers[:k]
        m0, w0 = machine_jiffies(), sum(process_jiffies(w.proc.pid) for w in ws if w.proc is not None)
        self.thaw(ws)
        t0 = time.monotonic()
        points = self.sample(lambda: self.count() - base, n, 180)
        wait_for(lambda: self.count() - base >= n, 60, what=f"{n} events stored by {k} worker(s)")
        m1, w1 = machine_jiffies(), sum(process_jiffies(w.proc.pid) for w in ws if w.proc is not None)
        wall = time.monotonic() - t0
        self.freeze(ws)
        cpu = {"busy": (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
               "workers_cores": (w1 - w0) / os.sysconf("SC_CLK_TCK") / max(wall, 1e-3)}
        with self.engine.connect() as conn:
            stored = int(conn.execute(text("SELECT count(*) FROM events WHERE id = ANY(:ids)"),
                                      {"ids": ids}).scalar_one())
        return drain_rate(t0, points, n), n - stored, cpu

    def latency(self, n: int, rate: float) -> list[float]:
        assert self.fleet is not None
        ws = self.workers[:2]
        self.thaw(ws)
        seen: dict[str, float] = {}
        stop = threading.Event()
        t0 = time.time()

        def poll() -> None:
            from datetime import UTC, datetime
            since = datetime.fromtimestamp(t0 - 1, UTC)
            with self.engine.connect() as conn:
                while not stop.is_set():
                    rows = conn.execute(text("SELECT id FROM events WHERE received_at >= :s"), {"s": since})
                    now = time.time()
                    for (eid,) in rows:
                        seen.setdefault(eid, now)
                    conn.commit()
                    time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        ids = self.fleet.run(n, rate_per_s=rate)
        self.fleet.wait_acked(60)
        wait_for(lambda: all(i in seen for i in ids), 60, what="latency events stored")
        stop.set()
        poller.join(5)  # the last phase: the workers stay running until stop() kills them
        sent = self.fleet.sent_at()
        return sorted((seen[i] - sent[i]) * 1000 for i in ids)

    def duplicates(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) - count(DISTINCT id) FROM events")).scalar_one())


#: ``--quick`` dashboard data: one compound (20 devices), 40 days (at least two calendar months).
QUICK_DASH_SITES = 1
QUICK_DASH_DAYS = 40
#: ``--quick``: each dashboard query timed 3 times (its "p95" is then the slowest of the 3).
QUICK_DASH_REPEAT = 3


def dashboards(pg: PostgresCluster, quick: bool) -> tuple[str, str]:
    """p95 of the slowest dashboard query on generated data (bench/pg_year.py), or "na" and why."""
    try:
        year = importlib.import_module("bench.pg_year")
        data = importlib.import_module("bench.pg_year_data")
    except ImportError:
        return "na", "bench/pg_year.py (the PostgreSQL-at-scale work) is not in this tree"
    url = pg.create_database("dash")
    t0 = time.perf_counter()
    built = (data.generate(url, quick=True, sites=QUICK_DASH_SITES, days=QUICK_DASH_DAYS) if quick
             else data.generate(url))
    res = year.measure_dashboard_queries(url, quick=quick, repeat=QUICK_DASH_REPEAT if quick else None)
    print(f"dashboards: generated {json.dumps(built)} in {time.perf_counter() - t0:.1f} s; slowest "
          f"{res['slowest']} p95 {res['p95_max_ms']} ms")
    return str(res["p95_max_ms"]), res["slowest"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="< 60 s: smaller backlogs and fleet")
    p.add_argument("--devices", type=int, default=None, help="simulated devices (default 40, 200 without --quick)")
    p.add_argument("--events", type=int, default=None, help="backlog per phase (default 2000, 10000)")
    p.add_argument("--latency-rate", type=float, default=200.0, help="events/s in the latency phase")
    p.add_argument("--dashboards", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the dashboard queries on generated data (default: on; --quick: a small "
                        "month-spanning set, otherwise the whole year)")
    args = p.parse_args(argv)
    devices = args.devices or (40 if args.quick else 200)
    n = args.events or (2000 if args.quick else 10_000)
    t_start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="linli-scale-"))
    root.chmod(0o755)  # the postgres user must reach its data folder
    b = Bench(root, devices, args.quick)
    try:
        b.start()
        print(f"set-up: PostgreSQL, 3 NATS nodes, {devices} devices, 4 worker processes in "
              f"{time.perf_counter() - t_start:.1f} s ({os.cpu_count()} cores)")
        bare = b.bare(n)
        print(f"bare cluster (pull + ack, no database): {bare:8.0f} msg/s")
        rates: dict[int, float] = {}
        cpus: dict[int, dict[str, float]] = {}
        lost = 0
        for k in (1, 2, 4):
            rates[k], missing, cpus[k] = b.workers_rate(k, n)
            lost += missing
            print(f"{k} worker(s) → PostgreSQL:            {rates[k]:8.0f} msg/s  ({rates[k] / bare:.2f} of bare); "
                  f"machine {100 * cpus[k]['busy']:.0f} % busy on {os.cpu_count()} cores, the workers used "
                  f"{cpus[k]['workers_cores']:.2f} core(s), broker + database + this bench the rest")
        lat = b.latency(int(args.latency_rate * (2 if args.quick else 10)), args.latency_rate)
        p50, p99 = statistics.median(lat), lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"device → database at {args.latency_rate:.0f} msg/s, 2 workers: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
              f"({len(lat)} events)")
        dup = b.duplicates()
        b.stop()  # the broker and workers; PostgreSQL stays for the dashboards
        dash_p95, dash_note = ("na", "not measured (--no-dashboards)")
        if args.dashboards:
            try:
                dash_p95, dash_note = dashboards(b.pg, args.quick)
            except Exception as exc:  # the ingest figures above still stand
                dash_p95, dash_note = "na", f"bench/pg_year.py failed: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        b.stop()
        b.pg.stop()
    if dash_p95 == "na":
        print(f"dashboards: {dash_note}")
    w2w1 = rates[2] / rates[1]
    print(f"2 workers / 1 worker = {w2w1:.2f} (target ≥ {TARGET_W2_OVER_W1}); 1 worker / bare = "
          f"{rates[1] / bare:.2f}, 2 workers / bare = {rates[2] / bare:.2f} (target ≥ {TARGET_OVER_BARE}); "
          f"total {time.perf_counter() - t_start:.0f} s")
    print(f"RESULT bare_msgs_per_s={bare:.0f} w1_msgs_per_s={rates[1]:.0f} w2_msgs_per_s={rates[2]:.0f} "
          f"w4_msgs_per_s={rates[4]:.0f} w2_over_w1={w2w1:.2f} w1_over_bare={rates[1] / bare:.2f} "
          f"w2_over_bare={rates[2] / bare:.2f} p50_ms={p50:.0f} p99_ms={p99:.0f} lost={lost} dup={dup} "
          f"dash_p95_ms={dash_p95} cores={os.cpu_count()} busy_w1={cpus[1]['busy']:.2f} "
          f"busy_w2={cpus[2]['busy']:.2f} worker_cores_w1={cpus[1]['workers_cores']:.2f} "
          f"worker_cores_w2={cpus[2]['workers_cores']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
