"""Test support for the server (used by tests/server, reusable by demos and end-to-end tests): settings for a test
server, the app under a real uvicorn on a free port, and a simulated device that speaks the wire contract with its
own broker account. Real services, nothing mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import uvicorn
import yaml
from argon2 import PasswordHasher
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from linli import contract
from linli.broker import die_with_parent, free_port
from linli.contract import DeviceRef, Kind
from linli.contract.probe import InputChanged
from linli.nats_cluster import NatsCluster
from linli.provision import Credentials
from linli.testing import TestBroker, wait_for
from server.app import Server
from server.db.models import Device, Event
from server.settings import Settings

PASSWORDS = {"admin": "admin-secret-1", "manager": "manager-secret-1", "maint": "maint-secret-1",
             "east": "east-secret-1"}


#: argon2 at its cheapest: test passwords need no protection, and the default cost is ~0.3 s per check here.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@cache
def user_entries() -> tuple[dict[str, Any], ...]:
    roles = {"admin": "admin", "manager": "manager", "maint": "maintenance", "east": "manager"}
    out = []
    for name, pw in PASSWORDS.items():
        entry: dict[str, Any] = {"name": name, "role": roles[name], "password_hash": FAST_HASHER.hash(pw)}
        if name == "east":
            entry["sites"] = ["east"]
        out.append(entry)
    return tuple(out)


def _test_settings(data_dir: Path, database: dict[str, Any], mqtt: dict[str, Any], client_id: str | None,
                   sections: dict[str, dict[str, Any]], **extra: dict[str, Any]) -> Settings:
    """The settings every test server shares (fast ingest retries, its own data folder, the test users), with
    ``sections`` laid over them section by section."""
    doc: dict[str, Any] = {
        "database": database,
        "mqtt": {**mqtt, "client_id": client_id or f"t-{uuid.uuid4().hex[:10]}", "credentials_file": None},
        **extra,
        "ingest": {"batch_interval_ms": 20, "retry_initial_s": 0.05, "retry_max_s": 0.3, "stop_timeout_s": 2},
        "storage": {"data_dir": str(data_dir)},
        "commands": {"publish_wait_s": 2},
        "auth": {"users": list(user_entries())},
    }
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return Settings.model_validate(doc)


def make_settings(data_dir: Path, db_url: str, broker: TestBroker, client_id: str | None = None,
                  **sections: dict[str, Any]) -> Settings:
    return _test_settings(
        data_dir, {"url": db_url, "sqlite_busy_timeout_ms": 30000},  # a loaded CI machine: wait, do not fail
        {"host": broker.host, "port": broker.server_port, "username": broker.server.username,
         "password": broker.server.password, "shared_subscription": False}, client_id, sections)


def make_nats_settings(data_dir: Path, db_url: str, cluster: NatsCluster, client_id: str | None = None,
                       **sections: dict[str, Any]) -> Settings:
    """Settings of a server worker on a NATS cluster: ingest from the shared JetStream consumer, MQTT 3.1.1 to
    every node (for commands and config) with failover."""
    server = cluster.secrets.server_credentials()
    return _test_settings(
        data_dir, {"url": db_url, "sqlite_busy_timeout_ms": 30000},
        {"hosts": cluster.mqtt_hosts, "protocol": "3.1.1", "username": server.username, "password": server.password},
        client_id, sections, nats={"urls": cluster.urls, "ack_wait_s": 3, "lag_interval_s": 0.5})


class WorkerProcess:
    """One ``linli server`` process (an ingest worker with its HTTP port) on a NATS cluster, for scale tests and
    ``bench/scale.py``. Abrupt ``kill`` (SIGKILL) as in a crash; ``start`` again makes a new process."""

    def __init__(self, root: Path, name: str, db_url: str, cluster: NatsCluster, **sections: dict[str, Any]) -> None:
        self.name = name
        self.root = root / name
        self.port = free_port()
        server = cluster.secrets.server_credentials()
        self.password = server.password
        doc: dict[str, Any] = {
            "log_level": "WARNING",
            "database": {"url": db_url, "migrate_on_start": False},
            "http": {"host": "127.0.0.1", "port": self.port},
            "mqtt": {"hosts": cluster.mqtt_hosts, "protocol": "3.1.1", "client_id": f"linli-{name}",
                     "username": server.username, "credentials_file": None},
            "nats": {"urls": cluster.urls},
            "storage": {"data_dir": str(self.root / "data")},
        }
        for key, values in sections.items():
            doc[key] = {**doc.get(key, {}), **values}
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = self.root / "server.yaml"
        self.config.write_text(yaml.safe_dump(doc), encoding="utf-8")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        env = {**os.environ, "LINLI_MQTT_PASSWORD": self.password}
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([sys.executable, "-m", "linli.cli", "server", "-c", str(self.config)], env=env,
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=die_with_parent)
        log.close()
        return self

    def ready(self) -> bool:
        """Serving, with its JetStream consumer bound."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited; see {self.root / 'server.log'}")
        try:
            return bool(httpx.get(f"{self.url}/healthz", timeout=2).json().get("nats"))
        except (httpx.HTTPError, ValueError):
            return False

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        wait_for(self.ready, timeout, what=f"worker {self.name} ready")
        return self

    def metrics(self) -> dict[str, float]:
        """Its /metrics as {series: value} (labels kept in the name)."""
        out: dict[str, float] = {}
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class LiveServer:
    """The app under uvicorn on a free loopback port (real HTTP)."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                 lifespan="on"))
        self._thread = threading.Thread(target=self._uv.run, name="uvicorn-test", daemon=True)

    @property
    def server(self) -> Server:
        return self.app.state.linli  # type: ignore[no-any-return]

    def start(self) -> LiveServer:
        self._thread.start()
        wait_for(lambda: self._uv.started or not self._thread.is_alive(), 20, what="uvicorn start")
        if not self._uv.started:
            raise RuntimeError("server failed to start (see the log above)")
        return self

    def stop(self) -> None:
        self._uv.should_exit = True
        self._thread.join(20)

    def client(self, user: str | None = "admin") -> httpx.Client:
        auth = (user, PASSWORDS[user]) if user else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=10)


@contextmanager
def running(app: FastAPI, forget: bool = True) -> Iterator[LiveServer]:
    ls = LiveServer(app).start()
    try:
        yield ls
    finally:
        ls.stop()
        if forget and ls.server.link is not None:
            ls.server.link.forget_session()


class DeviceSim:
    """A device on the broker with its own account: publishes like an agent, records what it receives."""

    def __init__(self, host: str, port: int, ref: DeviceRef, creds: Credentials, birth: bool = True,
                 protocol: str = "5") -> None:
        """``protocol``: "5", or "3.1.1" for brokers that speak only that (NATS)."""
        self.ref = ref
        self.received: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        cid = f"dev-{ref.site}-{ref.device}-{uuid.uuid4().hex[:6]}"
        if protocol == "5":
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        else:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, clean_session=True)
        c.username_pw_set(creds.username, creds.password)
        c.will_set(ref.status_topic, contract.offline_status(ref.kind).encode(), qos=1, retain=True)
        c.on_message = self._on_message
        c.max_inflight_messages_set(1000)
        self.client = c
        self._subscribed = threading.Event()
        up = threading.Event()
        c.on_subscribe = lambda *_a: self._subscribed.set()
        c.on_connect = lambda *_a: up.set()
        c.connect(host, port, keepalive=30)
        c.loop_start()
        assert up.wait(15), f"no CONNACK from {host}:{port}"
        c.subscribe([(t, 1) for t in ref.device_subscriptions()])
        assert self._subscribed.wait(5), "device subscription not acknowledged"
        if birth:  # as an agent does: retained "online" right after connecting
            self.status("online", software="sim 1.0")

    @classmethod
    def provisioned(cls, broker: TestBroker, ref: DeviceRef) -> DeviceSim:
        """Provision ``ref`` on the test broker (slow: the broker files are rewritten) and connect as it."""
        _, creds = broker.provision(ref)
        return cls(broker.host, broker.port, ref, creds)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def messages(self, prefix: str) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return [m for m in self.received if m[0].startswith(prefix)]

    def commands(self) -> list[tuple[str, contract.Command]]:
        out = []
        for topic, payload, _ in self.messages(f"{self.ref.base}/cmd/"):
            out.append((topic.rsplit("/", 1)[1], contract.decode(contract.Channel.cmd, payload)))
        return out  # type: ignore[return-value]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(5)
            assert info.is_published(), f"broker did not acknowledge {topic}"

    def status(self, state: str = "online", **kw: Any) -> contract.Status:
        st = contract.Status(state=state, kind=self.ref.kind, **kw)  # type: ignore[arg-type]
        self.publish(self.ref.status_topic, st.encode(), retain=True)
        return st

    def event(self, type: str = InputChanged.EVENT.type, **kw: Any) -> contract.Event:
        """Publish an event (default: a valid ``probe.input``; ``data`` may be a contract model or a dict)."""
        data = kw.pop("data", None)
        if data is None and type == InputChanged.EVENT.type:
            data = InputChanged(input="test", active=True, count=0)
        if isinstance(data, contract.EventData):
            data = data.to_data()
        ev = contract.Event(type=type, data=data or {}, **kw)
        self.publish(self.ref.event_topic, ev.encode())
        return ev

    def blob(self, data: bytes) -> str:
        sha = contract.sha256_hex(data)
        self.publish(self.ref.blob_topic(sha), data)
        return sha

    def telemetry(self, **kw: Any) -> contract.Telemetry:
        health = contract.Health(cpu_pct=12.5, mem_pct=40, rss_mb=80, disk_pct=33, soc_temp_c=51.0,
                                 outbox_depth=0, outbox_dropped=0, uptime_s=120)
        tm = contract.Telemetry(health=health, **kw)
        self.publish(self.ref.telemetry_topic, tm.encode(), qos=0)
        return tm

    def result(self, cmd: contract.Command, name: str, ok: bool = True, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        res = contract.CommandResult(id=cmd.id, name=name, ok=ok, result=result, error=error)
        self.publish(self.ref.cmd_result_topic, res.encode())

    def report_config(self, version: int, ok: bool = True, error: str | None = None) -> None:
        rep = contract.ConfigReported(version=version, ok=ok, applied_version=version if ok else 0, error=error)
        self.publish(self.ref.config_reported_topic, rep.encode(), retain=True)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT (as a power cut would): the broker publishes the will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


#: ``device("p1")`` (the tests' fixture): connect as a pooled device.
DeviceFactory = Callable[[str], DeviceSim]
#: pooled device name → (ref, broker credentials)
DevicePool = dict[str, tuple[DeviceRef, Credentials]]


def new_ref(site: str = "west", kind: Kind = Kind.probe) -> DeviceRef:
    return DeviceRef(site, kind, f"d{uuid.uuid4().hex[:8]}")


def known(srv: Server, ref: DeviceRef, timeout: float = 10.0) -> Device:
    """Wait until the server has registered the device; return its row."""

    def row() -> Device | None:
        with srv.db.session() as s:
            return s.execute(select(Device).where(Device.site == ref.site, Device.kind == ref.kind.value,
                                                  Device.device == ref.device)).scalar_one_or_none()

    return wait_for(row, timeout, what=f"device {ref.key} registered")  # type: ignore[no-any-return]


def stored(srv: Server, *event_ids: str) -> int:
    """How many of these event ids are in the server's database."""
    with srv.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Event).where(Event.id.in_(event_ids))) or 0)


@dataclass
class Live:
    """A running test server plus what the test fixture attached to it."""

    ls: LiveServer
    recorder: Any
    backend: str

    @property
    def server(self) -> Server:
        return self.ls.server


def jbody(resp: httpx.Response) -> Any:
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.text[:200]
    return json.loads(resp.text)
