"""Proof of the scale-out (#17): 3 NATS nodes, 2 ``linli server`` worker processes sharing one JetStream consumer,
PostgreSQL, 200 simulated devices sending events. One NATS node and one worker are killed (SIGKILL) mid-run and
started again; every event the devices sent is stored exactly once, and counted once in the daily roll-ups."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from linli.contract import DeviceRef, Kind
from linli.fleet import Fleet
from linli.nats_cluster import NatsCluster, find_nats_server
from linli.provision import SecretStore
from linli.testing import PostgresCluster, wait_for
from server.db import rollups
from server.db.engine import Database
from server.db.migrate import upgrade
from server.settings import DatabaseSettings
from server.testing import WorkerProcess

pytestmark = [pytest.mark.skipif(find_nats_server() is None, reason="nats-server not installed"),
              pytest.mark.postgres]

DEVICES = 200
EVENTS = 2000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    store = SecretStore(tmp_path / "secrets")
    store.server_credentials()
    store.provision_devices([DeviceRef(f"s{i % 10}", Kind.probe, f"f{i:03d}") for i in range(DEVICES)])
    c = NatsCluster(tmp_path / "nats", store)
    c.start()
    yield c
    c.stop()


def test_kill_a_node_and_a_worker_mid_run_every_event_stored_once(
        cluster: NatsCluster, pg_cluster: PostgresCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database("scale_e2e")
    db = Database(DatabaseSettings(url=url))
    upgrade(db.engine)
    db.dispose()
    fast = {"ack_wait_s": 3, "lag_interval_s": 0.5}
    workers = [WorkerProcess(tmp_path, f"w{i}", url, cluster, nats=fast).start() for i in (1, 2)]
    fleet = Fleet(cluster.secrets.devices(), [(h, int(p)) for h, p in (a.split(":") for a in cluster.mqtt_hosts)])
    try:
        for w in workers:
            w.wait_ready(60)  # the shared durable consumer exists before any device publishes
        fleet.start(60)

        def kill_node() -> None:
            cluster.nodes[0].kill()

        def kill_worker() -> None:
            workers[1].kill()

        def restart_both() -> None:
            cluster.restart_node(0)
            workers[1].start()

        sent = fleet.run(EVENTS, rate_per_s=400, at={EVENTS // 4: kill_node, EVENTS // 2: kill_worker,
                                                     3 * EVENTS // 4: restart_both})
        assert len(set(sent)) == EVENTS
        assert fleet.wait_acked(60) == 0, "the broker did not acknowledge every event"
        moved = [d for d in fleet.devices if d.connects > 1]
        assert moved, "no device had to fail over"

        engine = create_engine(url)

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())

        wait_for(lambda: stored() >= EVENTS, 60, what="every event stored")
        with engine.connect() as conn:
            ids = {r[0] for r in conn.execute(text("SELECT id FROM events"))}
            assert conn.execute(text("SELECT count(DISTINCT id) FROM events")).scalar_one() == len(ids)
            devices = conn.execute(text("SELECT count(*) FROM devices")).scalar_one()
        assert ids == set(sent), f"missing {len(set(sent) - ids)}, unexpected {len(ids - set(sent))}"
        assert devices == DEVICES
        # the daily roll-ups the workers kept while they stored (redeliveries after the kills included) count
        # every event once: equal to what the stored rows make
        with engine.begin() as conn:
            assert conn.execute(text("SELECT sum(n) FROM event_days")).scalar_one() == EVENTS
            assert rollups.check(conn, ["event_days", "reporting_days"]) == {"event_days": 0, "reporting_days": 0}

        def online() -> int:  # the devices that moved announced themselves again on their new node
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM devices WHERE state = 'online'")).scalar_one())

        try:
            wait_for(lambda: online() == DEVICES, 30, what="every device online")
        except AssertionError as exc:  # say which devices, and what the server last stored of them
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT device, state, state_since, status_at, last_seen FROM devices "
                                         "WHERE state <> 'online'")).all()
            moved_keys = sorted(d.ref.device for d in moved)[:20]
            raise AssertionError(f"{exc}: not online {[tuple(map(str, r)) for r in rows]}; moved {moved_keys}") from exc
        engine.dispose()
        workers[1].wait_ready(60)
        totals = [w.metrics() for w in workers]
        stored_by = [m.get('linli_ingest_stored_total{channel="event"}', 0.0) for m in totals]
        assert stored_by[0] > 0, "worker 1 stored nothing"
    finally:
        fleet.close()
        for w in workers:
            w.stop()
