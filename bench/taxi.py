#!/usr/bin/env python3
"""Taxi kiosk benchmark: tap → order at the server through Mosquitto, and dispatch throughput with 1,000 kiosks.

    python bench/taxi.py --quick        # < 60 s
    python bench/taxi.py                # more taps (and PostgreSQL when a cluster can be started)

1. **Tap → order.** A real kiosk agent (its touch-screen page over HTTP, its outbox, its own broker account) and the
   server (ingest into SQLite, the dispatcher, the simulated fleet with drivers who accept at once) on a private
   Mosquitto. Each tap is an HTTP POST to the kiosk page; the latency is the server's commit of the order minus the
   moment just before the tap (one clock: the same machine). Also timed: tap → the car shown on the kiosk's screen
   (the whole round trip: kiosk → server → fleet → ``order_update`` → kiosk).
2. **1,000 kiosks.** A load process publishes ``taxi.order_requested`` for 1,000 kiosks at once (QoS 1, one
   connection with the server's account: 1,000 device accounts would measure provisioning, not dispatch) and listens
   on their ``order_update`` commands; throughput = orders that reached "driver on the way" at their kiosk ÷ time.

Last line: ``RESULT p50_ms=… p99_ms=… orders_per_s=… …``.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from linli import contract  # noqa: E402
from linli.contract import DeviceRef, Kind  # noqa: E402
from linli.contract.taxi_kiosk import CMD_ORDER_UPDATE, EVENT_ORDER_REQUESTED  # noqa: E402
from linli.testing import PostgresCluster, TestBroker, _pg_bin, wait_for  # noqa: E402

SITE = "bench-taxi"
LAT0, LON0 = 31.2304, 121.4737  # People's Square
TAXI = {"provider": "sim", "tick_s": 0.2, "poll_interval_s": 1.0, "search_timeout_s": 120, "push_min_interval_s": 5,
        "workers": 16, "lease_s": 60,
        "sim": {"time_scale": 1, "decide_s": [0, 0], "accept_prob": 1.0, "driver_cancel_prob": 0,
                "driver_no_show_prob": 0, "passenger_no_show_prob": 0, "board_after_s": 3600,
                "taxis_per_area": 2, "spawn_radius_m": 1500, "tick_s": 0.1, "seed": 1}}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


# ------------------------------------------------------------------------------------------ 1. tap → order
def tap_latency(broker: TestBroker, ls: Any, work: Path, taps: int) -> dict[str, float]:
    from edge.runtime.harness import AgentFactory
    from server.taxi_kiosk.models import TaxiOrder

    factory = AgentFactory(broker, work / "agents", site=SITE, kind="taxi_kiosk", n=1)
    try:
        app = {"place": {"name": "人民广场", "pickup_point": "南门候车点", "lat": LAT0, "lon": LON0},
               "kiosk_page": {"port": 0}, "max_orders_per_hour": 1000, "loop_interval_s": 0.05,
               "timing": {"cancelled_show_s": 1}}
        hal = {"inputs": {"call_button": {"pin": 22, "pull_up": True, "bounce_ms": 5}}, "relays": {},
               "speaker": {"backend": "record"}}
        agent = factory.make(hal=hal, app=app, telemetry_interval_s=60)
        assert agent.link.wait_connected(10)
        wait_for(lambda: agent.app.kiosk.online, 5, what="kiosk online")
        to_order: list[float] = []
        to_car: list[float] = []
        with httpx.Client(base_url=agent.app.page_url, timeout=10) as page:
            for i in range(taps + 2):  # the first two warm up
                v = page.get("/screen", params={"v": -1}).json()["version"]
                t0 = time.time()
                out = page.post("/api/call", json={"key": f"bench-tap-{i:06d}"}).json()
                oid = out["order_id"]
                assert out["created"], out
                seen_car = None
                deadline = time.monotonic() + 20
                while seen_car is None and time.monotonic() < deadline:  # the kiosk's own long poll
                    got = page.get("/screen", params={"v": v}).json()
                    v = got["version"]
                    if got["screen"] in ("assigned", "arriving"):
                        seen_car = time.time()
                with ls.server.db.session() as s:
                    stored = wait_for(lambda: s.get(TaxiOrder, oid), 10, what="order stored").stored_at  # noqa: B023
                if i >= 2:
                    to_order.append((stored.timestamp() - t0) * 1000)
                    if seen_car is not None:
                        to_car.append((seen_car - t0) * 1000)
                page.post("/api/cancel", json={})
    finally:
        factory.close()
    return {"p50_ms": statistics.median(to_order), "p99_ms": pct(to_order, 99), "max_ms": max(to_order),
            "car_p50_ms": statistics.median(to_car) if to_car else float("nan"),
            "car_p99_ms": pct(to_car, 99) if to_car else float("nan"), "taps": len(to_order)}


# ------------------------------------------------------------------------------------------ 2. 1,000 kiosks
def _load(host: str, port: int, user: str, password: str, kiosks: int, go: Any, out: Any) -> None:
    """The load process: one order per kiosk, all at once; records when each kiosk hears of its driver."""
    refs = [DeviceRef(SITE, Kind.taxi_kiosk, f"k{i:04d}") for i in range(kiosks)]
    orders = {contract.new_id(): ref for ref in refs}
    got: dict[str, float] = {}
    lock = threading.Lock()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-taxi-load", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)

    def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        cmd = contract.decode(contract.Channel.cmd, m.payload)
        args = cmd.args  # type: ignore[attr-defined]
        if args.get("driver") and args["order_id"] in orders:
            with lock:
                got.setdefault(args["order_id"], time.time())

    subscribed = threading.Event()
    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(host, port, keepalive=60)
    c.loop_start()
    c.subscribe(f"{contract.TOPIC_ROOT}/{SITE}/{Kind.taxi_kiosk.value}/+/cmd/{CMD_ORDER_UPDATE}", qos=1)
    subscribed.wait(10)
    payloads = []
    for n, (oid, ref) in enumerate(orders.items()):
        # kiosks on a 40 × 25 grid, 600 m apart, around the city centre
        lat = LAT0 + (n // 40 - 12) * 600 / 110_574
        lon = LON0 + (n % 40 - 20) * 600 / 95_000
        data = {"order_id": oid, "request_key": f"load-{oid}", "source": "sim", "requested_at": None,
                "place": {"name": f"小区{n}", "pickup_point": "候车点", "lat": lat, "lon": lon}}
        payloads.append((ref.event_topic, data))
    out.put(("ready", kiosks))
    go.wait()
    t0 = time.time()
    infos = []
    for topic, data in payloads:
        data["requested_at"] = datetime.now(UTC).isoformat()
        ev = contract.Event(type=EVENT_ORDER_REQUESTED, data=data)
        infos.append(c.publish(topic, ev.encode(), qos=1))
    for info in infos:
        info.wait_for_publish(60)
    t_sent = time.time()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if len(got) >= kiosks:
                break
        time.sleep(0.05)
    with lock:
        done = dict(got)
    c.disconnect()
    c.loop_stop()
    out.put(("done", t0, t_sent, [t - t0 for t in done.values()]))


def throughput(broker: TestBroker, kiosks: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=_load, args=(broker.host, broker.server_port, broker.server.username, broker.server.password,
                                        kiosks, go, out))
    p.start()
    assert out.get(timeout=60)[0] == "ready"
    go.set()
    _, t0, t_sent, lat = out.get(timeout=300)
    p.join(30)
    n = len(lat)
    elapsed = max(lat) if lat else float("nan")
    return {"kiosks": kiosks, "dispatched": n, "elapsed_s": elapsed, "orders_per_s": n / elapsed if n else 0.0,
            "publish_s": t_sent - t0, "assign_p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
            "assign_p99_ms": 1000 * pct(lat, 99) if lat else float("nan")}


# ------------------------------------------------------------------------------------------ main
def run(db_url: str, broker: TestBroker, work: Path, taps: int, kiosks: int, label: str) -> dict[str, Any]:
    from server.app import create_app
    from server.taxi_kiosk.models import TaxiOrder
    from server.testing import make_settings, running

    settings = make_settings(work / f"srv-{label}", db_url, broker, client_id=f"bench-taxi-{label}",
                             ingest={"batch_interval_ms": 20, "batch_max": 1000}, kinds={"taxi_kiosk": TAXI})
    with running(create_app(settings)) as ls:
        tap = tap_latency(broker, ls, work / label, taps)
        load = throughput(broker, kiosks)
        with ls.server.db.session() as s:
            stored = s.scalar(select(func.count()).select_from(TaxiOrder))
            load_orders = select(TaxiOrder).where(TaxiOrder.source == "sim")
            rows = list(s.scalars(load_orders))
        fleet = ls.server.kind_services["taxi_kiosk"].provider.stats()
    first = min(o.requested_at for o in rows)
    ingest_s = (max(o.stored_at for o in rows) - first).total_seconds()
    assigned = [o.assigned_at for o in rows if o.assigned_at is not None]
    missed = [(o.state, o.note, o.attempts, o.provider_errors, o.pushed_state) for o in rows if o.assigned_at is None]
    if missed:
        print(f"[{label}] orders that found no driver: {missed[:10]}", flush=True)
    dispatch_s = (max(assigned) - first).total_seconds() if assigned else float("nan")
    return {"label": label, **tap, **load, "orders_stored": stored, "taxis": fleet["taxis"],
            "ingest_s": ingest_s, "dispatch_s": dispatch_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer taps, SQLite only (< 60 s)")
    ap.add_argument("--taps", type=int, default=None)
    ap.add_argument("--kiosks", type=int, default=1000)
    args = ap.parse_args()
    taps = args.taps or (30 if args.quick else 100)
    with tempfile.TemporaryDirectory(prefix="linli-bench-taxi-") as tmp:
        work = Path(tmp)
        broker = TestBroker.start(work / "broker")
        results = []
        cluster = None
        try:
            t = time.monotonic()
            results.append(run(f"sqlite:///{work / 'taxi.db'}", broker, work, taps, args.kiosks, "sqlite"))
            print(f"sqlite run: {time.monotonic() - t:.1f} s", flush=True)
            if not args.quick and _pg_bin() is not None:
                root = Path(tempfile.mkdtemp(prefix="linli-bench-pg-"))
                root.chmod(0o755)
                cluster = PostgresCluster(root / "pg")
                cluster.start()
                results.append(run(cluster.url, broker, work, taps, args.kiosks, "postgresql"))
        finally:
            if cluster is not None:
                cluster.stop()
            broker.broker.stop()
    for r in results:
        print(f"[{r['label']}] tap → order at the server ({r['taps']} taps, through Mosquitto): "
              f"p50 {r['p50_ms']:.1f} ms · p99 {r['p99_ms']:.1f} ms · max {r['max_ms']:.1f} ms")
        print(f"[{r['label']}] tap → car shown on the kiosk (kiosk → server → fleet → kiosk): "
              f"p50 {r['car_p50_ms']:.0f} ms · p99 {r['car_p99_ms']:.0f} ms")
        print(f"[{r['label']}] {r['kiosks']} kiosks at once: {r['dispatched']} dispatched in {r['elapsed_s']:.2f} s "
              f"= {r['orders_per_s']:.0f} orders/s (published in {r['publish_s']:.2f} s); time to driver at the "
              f"kiosk p50 {r['assign_p50_ms']:.0f} ms · p99 {r['assign_p99_ms']:.0f} ms; "
              f"{r['orders_stored']} orders stored, {r['taxis']} simulated taxis")
        print(f"[{r['label']}]   of which: all 1,000 orders stored {r['ingest_s']:.2f} s after the first tap, "
              f"the last driver found {r['dispatch_s']:.2f} s after it")
    first = results[0]
    extra = ""
    if len(results) > 1:
        pg = results[1]
        extra = (f" pg_p50_ms={pg['p50_ms']:.1f} pg_p99_ms={pg['p99_ms']:.1f} "
                 f"pg_orders_per_s={pg['orders_per_s']:.0f}")
    print(f"RESULT p50_ms={first['p50_ms']:.1f} p99_ms={first['p99_ms']:.1f} orders_per_s={first['orders_per_s']:.0f} "
          f"car_p50_ms={first['car_p50_ms']:.0f} dispatched={first['dispatched']}/{first['kiosks']}{extra}")
    return 0 if first["dispatched"] == first["kiosks"] else 1


if __name__ == "__main__":
    sys.exit(main())
