"""Helpers to run real agents against a real broker: used by the tests, the demo and the benchmarks.

- :func:`agent_config` writes a device YAML for a provisioned device (probe hardware by default);
- :class:`Recorder` is an MQTT client with the *server's* account that records what devices publish and can
  send commands and desired config, as the server would.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from linli.contract import (
    Channel,
    Command,
    ConfigDesired,
    DeviceRef,
    Payload,
    decode,
    parse_topic,
)
from linli.provision import Credentials

DEFAULT_PAGE_PASSWORD = "maint-test-pw"


def agent_config(ref: DeviceRef, host: str, port: int, secret_file: Path, workdir: Path, *,
                 page_port: int = 0, page_password: str = DEFAULT_PAGE_PASSWORD, button_pin: int = 27,
                 relay_pin: int = 17, app: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    """A device config dict (probe hardware unless ``hal``/``app`` are given) with fast test timings."""
    workdir.mkdir(parents=True, exist_ok=True)
    pw_file = workdir / "page-password"
    pw_file.write_text(page_password + "\n", encoding="utf-8")
    pw_file.chmod(0o600)
    doc: dict[str, Any] = {
        "site": ref.site, "kind": ref.kind.value, "device": ref.device,
        "mqtt": {"host": host, "port": port, "password_file": str(secret_file), "keepalive": 5,
                 "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "outbox": {"max_messages": 10_000, "replay_rate_per_s": 1000, "max_inflight": 20, "ack_timeout_s": 3},
        "telemetry_interval_s": 30,
        "local_page": {"host": "127.0.0.1", "port": page_port, "username": "maint", "password_file": str(pw_file)},
        "hal": {"pin_factory": "mock",
                "inputs": {"button": {"pin": button_pin, "pull_up": True, "bounce_ms": 5}},
                "relays": {"output": {"pin": relay_pin, "active_high": True}}},
        "app": app if app is not None else {"loop_interval_s": 0.05},
        "data_dir": str(workdir / "data"),
        "log_level": "INFO",
        "watchdog": {"timeout_s": 1.0, "systemd": False},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return doc


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    t: float

    @property
    def channel(self) -> Channel:
        return parse_topic(self.topic).channel

    def decoded(self) -> Payload:
        return decode(self.channel, self.payload)


class Recorder:
    """Subscribes (with the server's account) to a device's or a site's subtree and records every message."""

    _n = 0

    def __init__(self, host: str, port: int, creds: Credentials, topics: list[str]) -> None:
        """A persistent session (as the server keeps): QoS 1 messages published while the recorder is
        reconnecting after a broker restart are queued for it by the broker, not lost."""
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        Recorder._n += 1
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{os.getpid()}-{Recorder._n}",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        self.client.username_pw_set(creds.username, creds.password)
        self.topics = topics

        def on_connect(c: mqtt.Client, u: object, f: Any, rc: Any, p: object) -> None:
            if not rc.is_failure and not f.session_present:
                c.subscribe([(t, 1) for t in topics])

        def on_subscribe(c: mqtt.Client, u: object, mid: int, rcs: Any, p: object) -> None:
            self._subscribed.set()

        def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.messages.append(Received(m.topic, bytes(m.payload), bool(m.retain), time.monotonic()))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        self.client.connect(host, port, keepalive=10, clean_start=False, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError(f"recorder could not subscribe to {topics}")

    def close(self) -> None:
        props = Properties(PacketTypes.DISCONNECT)
        props.SessionExpiryInterval = 0  # end the session with the connection
        self.client.disconnect(properties=props)
        self.client.loop_stop()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def all(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def on(self, channel: Channel, ref: DeviceRef | None = None) -> list[Received]:
        out = []
        for m in self.all():
            try:
                p = parse_topic(m.topic)
            except ValueError:
                continue
            if p.channel is channel and (ref is None or p.ref == ref):
                out.append(m)
        return out

    def payloads(self, channel: Channel, ref: DeviceRef | None = None) -> list[Any]:
        """Decoded payloads (empty ones, which clear a retained message, are left out)."""
        return [m.decoded() for m in self.on(channel, ref) if m.payload]

    def events(self, ref: DeviceRef | None = None, type: str | None = None) -> list[Any]:
        evs = self.payloads(Channel.event, ref)
        return [e for e in evs if type is None or e.type == type]

    def wait(self, pred: Callable[[], Any], timeout: float = 10.0, what: str = "messages") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            val = pred()
            if val:
                return val
            if time.monotonic() > deadline:
                seen = [(m.topic.rsplit("/", 2)[-2:], m.payload[:120]) for m in self.all()[-10:]]
                raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}; last seen: {seen}")
            time.sleep(0.02)

    # ------------------------------------------------------------------ sending (as the server)
    def command(self, ref: DeviceRef, name: str, args: dict[str, Any] | None = None, by: str = "tester",
                ttl_s: float = 60.0, cmd: Command | None = None) -> Command:
        cmd = cmd or Command.make(by=by, args=args or {}, ttl_s=ttl_s)
        self.client.publish(ref.cmd_topic(name), cmd.encode(), qos=1).wait_for_publish(5)
        return cmd

    def raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def desired(self, ref: DeviceRef, version: int, overrides: dict[str, Any], by: str = "tester") -> ConfigDesired:
        d = ConfigDesired(version=version, overrides=overrides, by=by)
        self.client.publish(ref.config_desired_topic, d.encode(), qos=1, retain=True).wait_for_publish(5)
        return d

    def results(self, ref: DeviceRef | None = None) -> list[Any]:
        return self.payloads(Channel.cmd_result, ref)


def clear_retained(host: str, port: int, creds: Credentials, refs: list[DeviceRef]) -> None:
    """Remove the retained status / desired / reported config of these devices (as the server may)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    c.username_pw_set(creds.username, creds.password)
    c.connect(host, port, keepalive=10)
    c.loop_start()
    try:
        infos = [c.publish(t, b"", qos=1, retain=True) for r in refs
                 for t in (r.status_topic, r.config_desired_topic, r.config_reported_topic)]
        for info in infos:
            info.wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


class DevicePool:
    """Devices provisioned once per broker and handed out round-robin, their retained topics cleared.

    Provisioning rewrites the broker's password files for every account (argon2 hashes included), which
    gets slower with each device; tests reuse a few devices instead of provisioning one each.
    """

    _pools: ClassVar[dict[tuple[int, str, str], DevicePool]] = {}

    def __init__(self, broker: Any, site: str, kind: str, size: int) -> None:
        self.broker = broker
        self.devices: list[tuple[DeviceRef, Path]] = []
        for i in range(size):
            ref = DeviceRef(site, kind, f"{kind.replace('_', '-')}-{i + 1:02d}")  # type: ignore[arg-type]
            secret, _ = broker.provision(ref)
            self.devices.append((ref, secret))
        self._next = 0

    @classmethod
    def of(cls, broker: Any, site: str = "t-site", kind: str = "probe", size: int = 4) -> DevicePool:
        key = (id(broker), site, kind)
        if key not in cls._pools:
            cls._pools[key] = cls(broker, site, kind, size)
        return cls._pools[key]

    def take(self, n: int = 1) -> list[tuple[DeviceRef, Path]]:
        """The next ``n`` devices (at most the pool size), with their retained topics cleared."""
        if n > len(self.devices):
            raise ValueError(f"the pool has only {len(self.devices)} devices")
        out = [self.devices[(self._next + i) % len(self.devices)] for i in range(n)]
        self._next = (self._next + n) % len(self.devices)
        clear_retained(self.broker.host, self.broker.server_port, self.broker.server, [r for r, _ in out])
        return out


class AgentFactory:
    """Builds agents for pooled devices on a test broker; :meth:`close` stops every one of them.

    The ``n`` devices a test may use are taken (and their retained topics cleared) when the factory is made, so
    a recorder subscribed afterwards sees nothing left over from an earlier test.
    """

    def __init__(self, broker: Any, workdir: Path, site: str = "t-site", kind: str = "probe", n: int = 2) -> None:
        self.broker = broker
        self.workdir = workdir
        self.site = site
        self.agents: list[Any] = []
        self._free = DevicePool.of(broker, site, kind).take(n)
        self._secrets = dict(self._free)
        self._used = [r for r, _ in self._free]

    def new_ref(self) -> DeviceRef:
        if not self._free:
            raise RuntimeError("this test used all its pooled devices: make the factory with a larger n")
        return self._free.pop(0)[0]

    def config(self, ref: DeviceRef | None = None, **over: Any) -> tuple[DeviceRef, Path]:
        ref = ref or self.new_ref()
        secret = self._secrets.get(ref)
        if secret is None:
            secret, _ = self.broker.provision(ref)
        d = self.workdir / ref.device
        doc = agent_config(ref, self.broker.host, self.broker.port, secret, d, **over)
        return ref, write_config(d / "agent.yaml", doc)

    def make(self, ref: DeviceRef | None = None, start: bool = True, **over: Any) -> Any:
        from edge.runtime.agent import Agent
        from edge.runtime.config import load_config

        ref, path = self.config(ref, **over)
        agent = Agent(load_config(path))
        self.agents.append(agent)
        if start:
            agent.start()
        return agent

    def close(self) -> None:
        """Stop every agent and clear the devices' retained topics (the broker is shared by other tests)."""
        for a in self.agents:
            try:
                a.stop(flush_s=0.5)
            except Exception:  # pragma: no cover - best effort in teardown
                pass
        self.agents.clear()
        clear_retained(self.broker.host, self.broker.server_port, self.broker.server, self._used)
