"""A clustered broker tier: NATS (Debian ``nats-server``) with JetStream and its MQTT 3.1.1 listener.

Devices speak MQTT 3.1.1 to any node (agents get the list of nodes in ``mqtt.hosts`` and fail over); the server's
ingest workers read device messages from a JetStream stream replicated on the nodes (see
:mod:`server.ingest.jetstream`). Per-device permissions are those of Mosquitto's ACL (:mod:`linli.provision`),
with MQTT topics mapped to NATS subjects: ``/`` becomes ``.``, ``+`` becomes ``*``, ``#`` becomes ``>``. linli's
topic names use only ``a-z 0-9 _ -`` (``linli.contract.NAME_RE``, ``CMD_NAME_RE``, hex digests), so no topic has
a character NATS forbids in a subject (``.``, ``*``, ``>``, white space).

:func:`nats_conf` writes one node's configuration (also for an operator: ``linli broker --nats``), and
:class:`NatsCluster` runs N nodes on loopback for the tests, the demo and ``bench/scale.py``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from linli.broker import BrokerError, die_with_parent, free_port, wait_port
from linli.contract import DeviceRef, server_acl_pattern
from linli.provision import SERVER_USERNAME, Credentials, SecretStore, _write_private, ha_read_patterns

#: The NATS account every linli user is in (JetStream enabled); the system account is separate.
ACCOUNT = "LINLI"
SYSTEM_ACCOUNT = "SYS"
CLUSTER_NAME = "linli"
#: Subjects the NATS MQTT implementation uses on behalf of an MQTT client (its session, QoS 1 delivery and
#: retained messages); every MQTT user needs them.
MQTT_INTERNAL = ["$MQTT.>"]


def find_nats_server() -> str | None:
    for cand in (shutil.which("nats-server"), "/usr/bin/nats-server", "/usr/sbin/nats-server"):
        if cand and Path(cand).exists():
            return cand
    return None


def subject(topic: str) -> str:
    """An MQTT topic or filter as a NATS subject (``linli/v1/+/x/#`` → ``linli.v1.*.x.>``)."""
    out = []
    for level in topic.split("/"):
        if any(c in level for c in ". \t*>"):
            raise ValueError(f"topic level {level!r} of {topic!r} has a character NATS does not allow in a subject")
        out.append({"+": "*", "#": ">"}.get(level, level))
    return ".".join(out)


def topic(subj: str) -> str:
    """A NATS subject of a linli topic back as the MQTT topic."""
    return subj.replace(".", "/")


def device_permissions(ref: DeviceRef) -> dict[str, dict[str, list[str]]]:
    """What Mosquitto's ACL allows the device: publish under its own subtree, read its commands and config."""
    return {"publish": {"allow": [subject(t) for t in ref.acl_publish()] + MQTT_INTERNAL},
            "subscribe": {"allow": [subject(t) for t in ref.acl_subscribe()] + MQTT_INTERNAL}}


def server_permissions() -> dict[str, dict[str, list[str]]]:
    every = [subject(server_acl_pattern()), *(subject(t) for t in ha_read_patterns())]
    return {"publish": {"allow": [*every, "$JS.>", "$MQTT.>", "_INBOX.>"]},
            "subscribe": {"allow": [*every, "$JS.>", "$MQTT.>", "_INBOX.>"]}}


def _user(creds: Credentials, perms: dict) -> dict:
    return {"user": creds.username, "password": creds.password, "permissions": perms}


def accounts_block(store: SecretStore, system: Credentials) -> dict:
    """The ``accounts`` section: linli's users with their permissions, and the system account."""
    users = []
    for c in store.accounts():
        if c.username == SERVER_USERNAME:
            users.append(_user(c, server_permissions()))
    for c in store._ha():
        users.append(_user(c, {"publish": {"allow": ["homeassistant.status", *MQTT_INTERNAL]},
                               "subscribe": {"allow": [*(subject(t) for t in ha_read_patterns()), *MQTT_INTERNAL]}}))
    for ref, c in store.devices():
        users.append(_user(c, device_permissions(ref)))
    return {ACCOUNT: {"jetstream": "enabled", "users": users},
            SYSTEM_ACCOUNT: {"users": [{"user": system.username, "password": system.password}]}}


@dataclass(frozen=True)
class NodePorts:
    client: int
    cluster: int
    mqtt: int
    monitor: int


def nats_conf(name: str, host: str, ports: NodePorts, routes: Iterable[int | str], store_dir: Path,
              accounts: dict, replicas: int = 3) -> str:
    """One node's configuration (NATS accepts JSON as its config syntax).

    ``routes``: the cluster ports (on ``host``) or ``nats-route://`` URLs of every node, itself included (a node
    skips itself). ``replicas``: how many copies JetStream keeps of the MQTT sessions, retained messages and
    in-flight QoS 1 messages (3 = survives the loss of any one of three nodes)."""
    route_urls = [r if isinstance(r, str) else f"nats-route://{host}:{r}" for r in routes]
    doc = {
        "server_name": name,
        "host": host,
        "port": ports.client,
        "http": f"127.0.0.1:{ports.monitor}",  # monitoring (/jsz, /varz) on loopback only
        "max_payload": 8 * 1024 * 1024,
        "jetstream": {"store_dir": str(store_dir), "max_memory_store": 64 * 1024 * 1024,
                      "max_file_store": 4 * 1024 * 1024 * 1024},
        "cluster": {"name": CLUSTER_NAME, "host": host, "port": ports.cluster, "routes": route_urls},
        "mqtt": {"host": host, "port": ports.mqtt, "stream_replicas": replicas, "ack_wait": "30s",
                 "max_ack_pending": 1000},
        "accounts": accounts,
        "system_account": SYSTEM_ACCOUNT,
    }
    return "# generated by linli (linli/nats_cluster.py); NATS reads JSON as its config syntax\n" + \
        json.dumps(doc, indent=2) + "\n"


#: Ports of a node on a site (NATS and MQTT defaults).
SITE_PORTS = NodePorts(client=4222, cluster=6222, mqtt=1883, monitor=8222)


def system_credentials(store: SecretStore) -> Credentials:
    """The cluster's system account (made once, kept in the secrets folder as ``nats-system.json``)."""
    path = store.root / "nats-system.json"
    if path.exists():
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(doc["username"], doc["password"])
    creds = Credentials("sys", secrets.token_urlsafe(24))
    _write_private(path, json.dumps({"username": creds.username, "password": creds.password}) + "\n")
    return creds


def write_site_configs(store: SecretStore, nodes: list[tuple[str, str]], out: Path, store_dir: Path,
                       listen: str = "0.0.0.0", ports: NodePorts = SITE_PORTS) -> list[Path]:
    """One config per node (``out/<name>.conf``, 0600: it holds the accounts) for an operator to install as
    ``/etc/nats-server.conf`` on each node; run again after ``linli provision`` and reload (``kill -HUP``)."""
    accounts = accounts_block(store, system_credentials(store))
    routes = [f"nats-route://{host}:{ports.cluster}" for _, host in nodes]
    paths = []
    for name, _host in nodes:
        path = out / f"{name}.conf"
        _write_private(path, nats_conf(name, listen, ports, routes, store_dir, accounts, min(3, len(nodes))))
        paths.append(path)
    return paths


def config_main(args: object) -> int:
    """``linli nats-config --node n1=10.0.0.1 --node n2=… --node n3=…``."""
    nodes = []
    for spec in args.node:  # type: ignore[attr-defined]
        name, sep, host = spec.partition("=")
        if not sep or not name or not host:
            print(f"linli nats-config: --node {spec!r} is not NAME=HOST")
            return 2
        nodes.append((name, host))
    store = SecretStore(args.secrets)  # type: ignore[attr-defined]
    if not store.server_file.exists():
        print(f"linli nats-config: no server account in {store.root}: run `linli provision --server` first")
        return 2
    for path in write_site_configs(store, nodes, Path(args.out), Path(args.store_dir),  # type: ignore[attr-defined]
                                   args.listen):  # type: ignore[attr-defined]
        print(path)
    return 0


class NatsNode:
    def __init__(self, name: str, root: Path, host: str, ports: NodePorts) -> None:
        self.name = name
        self.root = root
        self.host = host
        self.ports = ports
        self.proc: subprocess.Popen | None = None
        self.conf_path = root / "nats.conf"
        self.log_path = root / "nats.log"

    @property
    def mqtt_port(self) -> int:
        return self.ports.mqtt

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.ports.client}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, exe: str) -> None:
        if self.running:
            return
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([exe, "-c", str(self.conf_path)], stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        logf.close()

    def wait(self, timeout: float = 20.0) -> None:
        try:
            for p in (self.ports.client, self.ports.mqtt):
                wait_port(self.host, p, timeout=timeout, proc=self.proc)
        except BrokerError as exc:
            raise BrokerError(f"{self.name}: {exc}; see {self.log_path}") from None

    def kill(self) -> None:
        """Abrupt stop (SIGKILL), as in a crash or power cut."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class NatsCluster:
    """N ``nats-server`` nodes on free loopback ports, one JetStream store each, routes between all of them."""

    name = "nats"

    def __init__(self, root: str | Path, secrets_store: SecretStore, nodes: int = 3, host: str = "127.0.0.1") -> None:
        exe = find_nats_server()
        if exe is None:
            raise BrokerError("nats-server is not installed (apt-get install nats-server)")
        self.exe = exe
        self.root = Path(root)
        self.secrets = secrets_store
        self.host = host
        self.system = Credentials("sys", secrets.token_urlsafe(18))
        self.nodes = [NatsNode(f"n{i + 1}", self.root / f"n{i + 1}", host,
                               NodePorts(free_port(host), free_port(host), free_port(host), free_port(host)))
                      for i in range(nodes)]

    # addresses
    @property
    def mqtt_hosts(self) -> list[str]:
        """``host:port`` of every node's MQTT listener (an agent's ``mqtt.hosts``)."""
        return [f"{n.host}:{n.mqtt_port}" for n in self.nodes]

    @property
    def urls(self) -> list[str]:
        """NATS client URLs of every node (the server's ``ingest.jetstream.urls``)."""
        return [n.url for n in self.nodes]

    def write_configs(self) -> None:
        accounts = accounts_block(self.secrets, self.system)
        routes = [n.ports.cluster for n in self.nodes]
        replicas = min(3, len(self.nodes))
        for n in self.nodes:
            n.root.mkdir(parents=True, exist_ok=True)
            _write_private(n.conf_path, nats_conf(n.name, self.host, n.ports, routes, n.root / "jetstream",
                                                  accounts, replicas))

    def start(self, timeout: float = 30.0) -> None:
        self.write_configs()
        for n in self.nodes:
            n.start(self.exe)
        for n in self.nodes:
            n.wait(timeout)
        self.wait_jetstream(timeout)

    def wait_jetstream(self, timeout: float = 30.0) -> None:
        """Wait until JetStream has a meta leader (streams can be made) as seen from every running node."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = True
            for n in self.nodes:
                if not n.running:
                    continue
                try:
                    doc = httpx.get(f"http://{n.host}:{n.ports.monitor}/jsz", timeout=1).json()
                except (httpx.HTTPError, ValueError):
                    ok = False
                    break
                if not (doc.get("meta_cluster") or {}).get("leader"):
                    ok = False
                    break
            if ok:
                return
            time.sleep(0.1)
        raise BrokerError(f"JetStream has no meta leader after {timeout:.0f} s; see {self.root}/n*/nats.log")

    def reload(self) -> None:
        """Rewrite the configs (after provisioning a device) and make every node re-read its own (SIGHUP)."""
        import signal

        self.write_configs()
        for n in self.nodes:
            if n.running:
                assert n.proc is not None
                n.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)

    def provision(self, ref: DeviceRef) -> tuple[Path, Credentials]:
        """Provision a device (idempotent) and make the running nodes take its account."""
        known = {c.username: c for _, c in self.secrets.devices()}
        path, creds = self.secrets.provision_device(ref)
        if known.get(creds.username) != creds and any(n.running for n in self.nodes):
            self.reload()
        return path, creds

    def node_of(self, port: int) -> int:
        """Which node listens for MQTT on ``port``."""
        return next(i for i, n in enumerate(self.nodes) if n.mqtt_port == port)

    def restart_node(self, i: int) -> None:
        n = self.nodes[i]
        n.start(self.exe)
        n.wait()
        self.wait_jetstream()

    def stop(self) -> None:
        """Stop every node; they are all told at once, so the shutdowns overlap instead of adding up."""
        for n in self.nodes:
            if n.running:
                assert n.proc is not None
                n.proc.terminate()
        for n in self.nodes:
            n.stop()

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
