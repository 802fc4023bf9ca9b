"""The clustered broker tier: three real nats-server nodes (JetStream, MQTT 3.1.1), linli's per-device permissions,
and an agent that fails over when the node it is connected to is killed, losing nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.client as mqtt
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from paho.mqtt.enums import CallbackAPIVersion

from edge.apps.probe.sim import ProbeSim
from edge.runtime.agent import Agent
from edge.runtime.config import load_config
from edge.runtime.harness import agent_config, write_config
from linli.cli import main as cli_main
from linli.contract import DeviceRef, Kind
from linli.failover import parse_hosts
from linli.nats_cluster import NatsCluster, device_permissions, find_nats_server, subject
from linli.provision import Credentials, SecretStore
from linli.testing import wait_for

pytestmark = pytest.mark.skipif(find_nats_server() is None, reason="nats-server not installed")

A = DeviceRef("north", Kind.probe, "a1")
B = DeviceRef("north", Kind.probe, "b1")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    root = tmp_path_factory.mktemp("nats")
    store = SecretStore(root / "secrets")
    store.server_credentials()
    for ref in (A, B):
        store.provision_device(ref)
    c = NatsCluster(root / "cluster", store)
    c.start()
    yield c
    c.stop()


def creds_of(c: NatsCluster, ref: DeviceRef) -> Credentials:
    return next(cr for r, cr in c.secrets.devices() if r == ref)


class Client:
    """A plain MQTT 3.1.1 client on one node, recording what it receives and the SUBACK codes."""

    def __init__(self, port: int, creds: Credentials, cid: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.granted: list[int] = []
        self._sub = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, clean_session=True)
        c.username_pw_set(creds.username, creds.password)
        c.on_message = lambda _c, _u, m: self.got.append((m.topic, bytes(m.payload)))

        def on_sub(_c: Any, _u: Any, _mid: int, rcs: list[Any], _p: Any) -> None:
            self.granted = [rc.value for rc in rcs]
            self._sub.set()

        up = threading.Event()
        c.on_subscribe = on_sub
        c.on_connect = lambda *_a: up.set()
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        assert up.wait(15), f"no CONNACK from 127.0.0.1:{port}"
        self.client = c

    def subscribe(self, topic: str) -> list[int]:
        self._sub.clear()
        self.client.subscribe(topic, 1)
        assert self._sub.wait(10)
        return self.granted

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_topics_map_to_subjects() -> None:
    assert subject("linli/v1/+/probe/#") == "linli.v1.*.probe.>"
    assert subject(A.event_topic) == "linli.v1.north.probe.a1.event"
    with pytest.raises(ValueError, match="NATS"):
        subject("linli/v1/a.b/x")
    assert parse_hosts(["10.0.0.5:1884", "b"], 1883) == [("10.0.0.5", 1884), ("b", 1883)]
    with pytest.raises(ValueError):
        parse_hosts(["host:notaport"], 1883)


def test_operator_configs_one_per_node_that_nats_server_accepts(cluster: NatsCluster, tmp_path: Path) -> None:
    out = tmp_path / "site"
    rc = cli_main(["nats-config", "--secrets", str(cluster.secrets.root), "--node", "n1=10.0.0.1",
                   "--node", "n2=10.0.0.2", "--node", "n3=10.0.0.3", "--out", str(out),
                   "--store-dir", str(tmp_path / "js")])
    assert rc == 0
    for name in ("n1", "n2", "n3"):
        path = out / f"{name}.conf"
        assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds the accounts' passwords
        doc = json.loads(path.read_text(encoding="utf-8").split("\n", 1)[1])
        assert doc["server_name"] == name and doc["mqtt"]["port"] == 1883 and doc["mqtt"]["stream_replicas"] == 3
        assert doc["cluster"]["routes"] == [f"nats-route://10.0.0.{i}:6222" for i in (1, 2, 3)]
        users = {u["user"]: u for u in doc["accounts"]["LINLI"]["users"]}
        assert users[A.mqtt_username]["permissions"] == device_permissions(A)
        res = subprocess.run([cluster.exe, "-t", "-c", str(path)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
    assert cli_main(["nats-config", "--secrets", str(tmp_path / "none"), "--node", "n1=h"]) == 2


def test_device_permissions_equal_the_mosquitto_acl(cluster: NatsCluster) -> None:
    n1, n2, n3 = (n.mqtt_port for n in cluster.nodes)
    server = Client(n1, cluster.secrets.server_credentials(), "t-server")
    a = Client(n2, creds_of(cluster, A), "t-dev-a")
    b = Client(n3, creds_of(cluster, B), "t-dev-b")
    try:
        assert server.subscribe("linli/v1/north/+/+/event") == [1]
        assert a.subscribe(A.cmd_subscription) == [1]
        assert a.subscribe(A.config_desired_topic) == [1]
        # a device reads neither another device's commands nor the tree
        assert a.subscribe(B.cmd_subscription) == [0x80]
        assert a.subscribe("linli/v1/#") == [0x80]
        assert b.subscribe(B.cmd_subscription) == [1]

        a.publish(A.event_topic, b"a-own")
        a.publish(B.event_topic, b"a-as-b")       # not its subtree: dropped by the broker
        a.publish(A.cmd_topic("reboot"), b"self")  # nor may it send itself commands
        server.publish(B.cmd_topic("pulse"), b"for-b")
        server.publish(A.cmd_topic("pulse"), b"for-a")
        wait_for(lambda: ("linli/v1/north/probe/a1/cmd/pulse", b"for-a") in a.got, 10, what="a's command")
        wait_for(lambda: ("linli/v1/north/probe/b1/cmd/pulse", b"for-b") in b.got, 10, what="b's command")
        wait_for(lambda: server.got, 10, what="a's event at the server")
        assert server.got == [(A.event_topic, b"a-own")]
        assert all(t.startswith(A.base) for t, _ in a.got) and (A.cmd_topic("reboot"), b"self") not in a.got
        assert all(t.startswith(B.base) for t, _ in b.got)
    finally:
        for c in (server, a, b):
            c.close()


async def _consume_all(c: NatsCluster, durable: str, expect: int, timeout: float = 20.0) -> list[dict]:
    """Every device event in the MQTT stream for ``durable`` (made before the run), decoded."""
    srv = c.secrets.server_credentials()
    nc = await nats.connect(servers=c.urls, user=srv.username, password=srv.password)
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable, "$MQTT_msgs")
    out: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(out) < expect and loop.time() < deadline:
        try:
            msgs = await sub.fetch(100, timeout=1)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        for m in msgs:
            if m.subject.endswith(".event"):
                out.append(json.loads(m.data))
            await m.ack()
    await nc.close()
    return out


async def _make_consumer(c: NatsCluster, durable: str, ref: DeviceRef) -> None:
    srv = c.secrets.server_credentials()
    nc = await nats.connect(servers=c.urls, user=srv.username, password=srv.password)
    js = nc.jetstream()
    for _ in range(50):
        try:
            await js.add_consumer("$MQTT_msgs", ConsumerConfig(
                durable_name=durable, filter_subject=f"$MQTT.msgs.{subject(ref.base)}.>",
                ack_policy=AckPolicy.EXPLICIT, ack_wait=5))
            break
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.2)
    await nc.close()


def test_agent_fails_over_when_its_node_dies_and_loses_nothing(cluster: NatsCluster, tmp_path: Path) -> None:
    store = cluster.secrets
    secret = store.device_file(A)
    doc = agent_config(A, "127.0.0.1", 1, secret, tmp_path / "a1",
                       mqtt={"hosts": cluster.mqtt_hosts, "protocol": "3.1.1", "keepalive": 5})
    agent = Agent(load_config(write_config(tmp_path / "a1" / "agent.yaml", doc)))
    agent.start()
    try:
        assert agent.link.wait_connected(15)
        asyncio.run(_make_consumer(cluster, "t-failover", A))
        sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
        for _ in range(5):
            sim.click()
        first = agent.link.brokers.current
        dead = cluster.node_of(first[1])
        cluster.nodes[dead].kill()
        for _ in range(5):  # produced while the agent has no broker: kept in its outbox
            sim.click()
        wait_for(lambda: agent.link.connected and agent.link.brokers.current != first, 30,
                 what="the agent on another node")
        for _ in range(5):
            sim.click()
        wait_for(lambda: agent.outbox.depth() == 0, 30, what="the outbox drained")
        cluster.restart_node(dead)
        events = asyncio.run(_consume_all(cluster, "t-failover", 30))
        probe = [e for e in events if e["type"] == "probe.input"]
        ids = [e["id"] for e in probe]
        assert len(set(ids)) == 30, f"{len(set(ids))} of 30 input events arrived"
        counts = sorted({(e["data"]["count"], e["data"]["active"]) for e in probe})
        assert counts == sorted((n, act) for n in range(1, 16) for act in (True, False))
        # it announced itself again on the new node: a subscriber on a third node sees it online
        now_on = agent.link.brokers.current[1]
        other = next(n for i, n in enumerate(cluster.nodes) if i != dead and n.mqtt_port != now_on)
        watcher = Client(other.mqtt_port, store.server_credentials(), "t-watch")
        try:
            watcher.subscribe(A.status_topic)
            wait_for(lambda: any(json.loads(p)["state"] == "online" for _, p in watcher.got), 10,
                     what="retained online status")
        finally:
            watcher.close()
    finally:
        agent.stop(flush_s=0.5)
