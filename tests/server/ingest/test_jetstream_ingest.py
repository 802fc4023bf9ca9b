"""Ingest on a NATS cluster: two server workers share one durable JetStream consumer (real nats-server ×3, real
server, SQLite): each event is stored once, the backlog is in /metrics, a worker that stops without acknowledging
leaves its messages to the other, and the server's commands still reach devices through MQTT."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from linli.contract import DeviceRef, Kind
from linli.nats_cluster import NatsCluster, find_nats_server
from linli.provision import SecretStore
from linli.testing import wait_for
from server.app import create_app
from server.db.models import Event, Telemetry
from server.ingest.jetstream import is_server_message, subject_topic
from server.testing import DeviceSim, make_nats_settings, running, stored

pytestmark = pytest.mark.skipif(find_nats_server() is None, reason="nats-server not installed")

REFS = [DeviceRef("east", Kind.probe, f"j{i}") for i in range(4)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    root = tmp_path_factory.mktemp("nats")
    store = SecretStore(root / "secrets")
    store.server_credentials()
    for ref in REFS:
        store.provision_device(ref)
    c = NatsCluster(root / "cluster", store)
    c.start()
    yield c
    c.stop()


def sim(c: NatsCluster, ref: DeviceRef, node: int) -> DeviceSim:
    creds = next(cr for r, cr in c.secrets.devices() if r == ref)
    return DeviceSim("127.0.0.1", c.nodes[node].mqtt_port, ref, creds, protocol="3.1.1")


def test_subjects_back_to_topics() -> None:
    assert subject_topic("$MQTT.msgs.linli.v1.s.probe.d.event") == "linli/v1/s/probe/d/event"
    assert is_server_message("$MQTT.msgs.linli.v1.s.probe.d.cmd.pulse")
    assert is_server_message("$MQTT.msgs.linli.v1.s.probe.d.config.desired")
    assert not is_server_message("$MQTT.msgs.linli.v1.s.probe.d.config.reported")
    assert not is_server_message("$MQTT.msgs.linli.v1.s.probe.d.cmd_result")


def test_two_workers_share_the_consumer_and_store_each_event_once(cluster: NatsCluster, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'linli.db'}"
    w1 = create_app(make_nats_settings(tmp_path / "w1", url, cluster))
    w2 = create_app(make_nats_settings(tmp_path / "w2", url, cluster, database={"migrate_on_start": False}))
    with running(w1, forget=False) as ls1:
        with running(w2, forget=False) as ls2:
            assert ls1.server.stream is not None and ls1.server.stream.wait_ready(20)
            assert ls2.server.stream is not None and ls2.server.stream.wait_ready(20)
            devs = [sim(cluster, ref, i % 3) for i, ref in enumerate(REFS)]
            ids = [d.event().id for _ in range(50) for d in devs]
            for d in devs:
                d.telemetry()
            wait_for(lambda: stored(ls1.server, *ids) == len(ids), 30, what="every event stored")
            got1, got2 = (ls.server.stats.snapshot()["stored"] for ls in (ls1, ls2))
            assert got1 > 0 and got2 > 0, f"one worker did all the work ({got1}, {got2})"
            with ls1.server.db.session() as s:
                assert s.scalar(select(func.count()).select_from(Event)) == len(ids)  # once each

            def telemetry() -> int:  # QoS 0: not in the stream; through the workers' queue group, once each
                with ls1.server.db.session() as s:
                    return int(s.scalar(select(func.count()).select_from(Telemetry)) or 0)

            wait_for(lambda: telemetry() == len(devs), 10, what="telemetry of every device")
            # the backlog is in /metrics (the consumer has nothing left once all is stored)
            wait_for(lambda: "linli_ingest_backlog 0.0" in ls1.client().get("/metrics").text, 10, what="backlog")
            assert "linli_ingest_unacknowledged" in ls2.client().get("/metrics").text
            # a command from a worker reaches its device through MQTT on whatever node the device is on
            dev = devs[1]
            resp = ls2.client().post(f"/api/v1/devices/{dev.ref.site}/{dev.ref.kind.value}/{dev.ref.device}"
                                     "/commands", json={"name": "pulse", "args": {"seconds": 0.1}})
            assert resp.status_code in (200, 202), resp.text
            wait_for(lambda: dev.commands(), 10, what="the command at the device")
            for d in devs:
                d.close()

        # w2 is gone: what is published now goes to w1 alone
        d = sim(cluster, REFS[0], 2)
        more = [d.event().id for _ in range(20)]
        wait_for(lambda: stored(ls1.server, *more) == len(more), 30, what="events after a worker left")
        d.close()
    # a stopped server's NATS connection is closed and its link thread gone (drain() used to outlive the stop)
    left = [t.name for t in threading.enumerate() if t.name == "linli-jetstream"]
    assert not left, f"{len(left)} JetStream link(s) still running after their server stopped"
