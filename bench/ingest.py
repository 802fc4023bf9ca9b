#!/usr/bin/env python3
"""Ingest benchmark: N simulated devices publish events through Mosquitto into the server's database, compared
with a bare paho subscriber on the same broker in the same run; plus an idle agent's RSS and CPU.

    python bench/ingest.py --quick        # < 60 s
    python bench/ingest.py                # bigger run, SQLite and PostgreSQL

Devices publish from a separate process (as real devices would), each with its own broker account, QoS 1.
The baseline subscriber and the server use the same subscriptions (shared, MQTT 5), so the ratio isolates the
cost of parsing, batching and writing. Last line: ``RESULT ratio=… lost=… dup=… server_msgs_per_s=…
broker_msgs_per_s=… agent_rss_mb=…`` (plus PostgreSQL figures when a cluster could be started).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402

from linli import contract  # noqa: E402
from linli.contract import DeviceRef, Kind  # noqa: E402
from linli.testing import PostgresCluster, TestBroker, _pg_bin, wait_for  # noqa: E402


# ------------------------------------------------------------------------------------------ devices (child)
def _device_worker(host: str, port: int, jobs: list[tuple[tuple[str, str, str], str, str, list[str]]],
                   go: mp.Event, done: mp.Queue) -> None:
    """Runs in a separate process: one paho client per device, each publishing its events at QoS 1."""
    clients = []
    for (site, kind, dev), user, pw, ids in jobs:
        ref = DeviceRef(site, Kind(kind), dev)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{dev}", protocol=mqtt.MQTTv5)
        c.username_pw_set(user, pw)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.connect(host, port)
        c.loop_start()
        payloads = [contract.Event(id=i, type="bench.tick", data={"n": n}).encode() for n, i in enumerate(ids)]
        clients.append((c, ref, payloads))
    go.wait()
    t0 = time.monotonic()

    def run(c: mqtt.Client, ref: DeviceRef, payloads: list[bytes]) -> None:
        infos = [c.publish(ref.event_topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(60)

    threads = [threading.Thread(target=run, args=cl) for cl in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.put(("sent", time.time() - (time.monotonic() - t0)))  # wall-clock time of the first publish
    for c, _, _ in clients:
        c.disconnect()
        c.loop_stop()


class Fleet:
    """The devices' process: started, connected, then released with `fire()`."""

    def __init__(self, broker: TestBroker, refs: list[DeviceRef], per_device: int) -> None:
        self.ids = [[contract.new_id() for _ in range(per_device)] for _ in refs]
        jobs = []
        for ref, ids in zip(refs, self.ids, strict=True):
            _, creds = broker.provision(ref)
            jobs.append(((ref.site, ref.kind.value, ref.device), creds.username, creds.password, ids))
        ctx = mp.get_context("spawn")
        self.go = ctx.Event()
        self.done = ctx.Queue()
        self.proc = ctx.Process(target=_device_worker, args=(broker.host, broker.port, jobs, self.go, self.done))
        self.proc.start()
        time.sleep(1.0 + 0.02 * len(refs))  # let every device connect

    @property
    def total(self) -> int:
        return sum(len(x) for x in self.ids)

    def fire(self) -> float:
        t = time.time()
        self.go.set()
        return t

    def join(self) -> None:
        self.done.get(timeout=300)
        self.proc.join(60)


# ------------------------------------------------------------------------------------------ consumers
def run_baseline(broker: TestBroker, refs: list[DeviceRef], per_device: int) -> float:
    """A bare paho subscriber (server account, same shared subscriptions): messages/s end to end."""
    got = 0
    last = 0.0
    lock = threading.Lock()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=mqtt.MQTTv5)
    c.username_pw_set(broker.server.username, broker.server.password)

    def on_message(_c, _u, m) -> None:
        nonlocal got, last
        if m.topic.endswith("/event"):
            with lock:
                got += 1
                last = time.time()

    c.on_message = on_message
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(broker.host, broker.server_port)
    c.subscribe([(s, 1) for s in contract.server_subscriptions(shared=True)])
    c.loop_start()
    subscribed.wait(10)
    fleet = Fleet(broker, refs, per_device)
    t0 = fleet.fire()
    fleet.join()
    wait_for(lambda: got >= fleet.total, 120, what="baseline receiving every message")
    c.disconnect()
    c.loop_stop()
    return fleet.total / max(last - t0, 1e-6)


def run_server(broker: TestBroker, refs: list[DeviceRef], per_device: int, db_url: str, work: Path,
               label: str) -> dict[str, float]:
    from server.app import create_app
    from server.testing import make_settings, running

    settings = make_settings(work / f"srv-{label}", db_url, broker, client_id=f"bench-{label}",
                             mqtt={"shared_subscription": True},
                             ingest={"batch_interval_ms": 50, "batch_max": 1000})
    app = create_app(settings)
    with running(app) as ls:
        db = ls.server.db
        from server.db.models import Event

        fleet = Fleet(broker, refs, per_device)
        t0 = fleet.fire()
        engine = create_engine(db_url)

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(Event)
                                        .where(Event.type == "bench.tick")).scalar_one())

        wait_for(lambda: stored() >= fleet.total, 300, interval=0.05, what=f"{label}: every event stored")
        t1 = time.time()
        fleet.join()
        time.sleep(0.5)
        with engine.connect() as conn:
            rows = conn.execute(select(Event.id).where(Event.type == "bench.tick")).scalars().all()
        engine.dispose()
        expected = {i for ids in fleet.ids for i in ids}
        lost = len(expected - set(rows))
        dup = len(rows) - len(set(rows))
        del db
    return {"msgs_per_s": fleet.total / max(t1 - t0, 1e-6), "lost": lost, "dup": dup, "total": fleet.total}


def idle_agent(broker: TestBroker, work: Path, seconds: float) -> tuple[float, float]:
    """A real `linli agent` process (probe kind, mock pins) left idle: its RSS (MB) and CPU (%)."""
    from edge.runtime.harness import agent_config, write_config

    ref = DeviceRef("bench", Kind.probe, "idle-agent")
    secret, _ = broker.provision(ref)
    doc = agent_config(ref, broker.host, broker.port, secret, work / "agent", app={})
    doc["telemetry_interval_s"] = 10
    cfg = write_config(work / "agent" / "agent.yaml", doc)
    p = subprocess.Popen([sys.executable, "-m", "linli.cli", "agent", "-c", str(cfg)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        ps = psutil.Process(p.pid)
        time.sleep(3.0)  # started and connected
        ps.cpu_percent(None)
        time.sleep(seconds)
        cpu = ps.cpu_percent(None)
        rss = ps.memory_info().rss / 2**20
    finally:
        p.terminate()
        p.wait(20)
    return rss, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run, under 60 s")
    ap.add_argument("--devices", type=int, default=None)
    ap.add_argument("--events", type=int, default=None, help="events per device")
    ap.add_argument("--postgres", choices=["auto", "yes", "no"], default="auto")
    args = ap.parse_args()
    n_dev = args.devices or (10 if args.quick else 50)
    per = args.events or (300 if args.quick else 1000)
    with_pg = args.postgres == "yes" or (args.postgres == "auto" and not args.quick and _pg_bin() is not None)

    work = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    broker = TestBroker.start(work)
    cluster = None
    try:
        base = [DeviceRef("bench", Kind.probe, f"dev-{i:03d}") for i in range(n_dev)]
        print(f"{n_dev} devices x {per} events = {n_dev * per} QoS1 events per run", flush=True)
        broker_rate = run_baseline(broker, base, per)
        print(f"bare paho subscriber:   {broker_rate:8.0f} msg/s", flush=True)
        sq = run_server(broker, base, per, f"sqlite:///{work / 'bench.db'}", work, "sqlite")
        print(f"server -> SQLite:       {sq['msgs_per_s']:8.0f} msg/s  lost={sq['lost']} dup={sq['dup']}", flush=True)
        extra = ""
        if with_pg:
            pgroot = Path(tempfile.mkdtemp(prefix="linli-bench-pg-"))
            pgroot.chmod(0o755)
            cluster = PostgresCluster(pgroot / "pg")
            cluster.start()
            pg = run_server(broker, base, per, cluster.url, work, "pg")
            print(f"server -> PostgreSQL:   {pg['msgs_per_s']:8.0f} msg/s  lost={pg['lost']} dup={pg['dup']}",
                  flush=True)
            extra = (f" pg_msgs_per_s={pg['msgs_per_s']:.0f} pg_ratio={pg['msgs_per_s'] / broker_rate:.2f}"
                     f" pg_lost={pg['lost']} pg_dup={pg['dup']}")
        rss, cpu = idle_agent(broker, work, 5.0 if args.quick else 20.0)
        print(f"idle agent:             RSS {rss:.1f} MB, CPU {cpu:.1f} %", flush=True)
        ratio = sq["msgs_per_s"] / broker_rate
        print(f"RESULT ratio={ratio:.2f} lost={sq['lost']} dup={sq['dup']} server_msgs_per_s={sq['msgs_per_s']:.0f} "
              f"broker_msgs_per_s={broker_rate:.0f} agent_rss_mb={rss:.1f} agent_cpu_pct={cpu:.1f} "
              f"events={sq['total']}{extra}", flush=True)
    finally:
        broker.broker.stop()
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
