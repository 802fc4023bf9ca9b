"""A fleet of light simulated devices for scale tests and ``bench/scale.py``: hundreds of MQTT 3.1.1 clients,
each with its own broker account, that behave on the wire as agents do — birth status on every connect, events as
QoS 1 with ids made on the device, failover across the broker nodes, and every event kept until its PUBACK (paho
keeps unacknowledged QoS 1 messages and sends them again after a reconnect, as the agent's outbox does) — without
running a full agent (hardware simulation, local page, SQLite outbox) per device.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from linli import contract
from linli.contract import DeviceRef
from linli.contract.probe import InputChanged
from linli.failover import Failover
from linli.provision import Credentials


class LightDevice:
    def __init__(self, ref: DeviceRef, creds: Credentials, hosts: list[tuple[str, int]], first: int = 0) -> None:
        self.ref = ref
        self.failover = Failover(hosts[first % len(hosts):] + hosts[:first % len(hosts)])
        self._lock = threading.Lock()
        self.unacked: dict[int, str] = {}    # mid → event id
        self.sent_at: dict[str, float] = {}  # event id → time.time() at publish
        self.acked: set[str] = set()
        self._early: set[int] = set()        # PUBACKs that came before publish() returned (and the status ones)
        self.connects = 0
        self.count = 0
        self._closing = False
        self.connected = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=ref.mqtt_username, protocol=mqtt.MQTTv311,
                        clean_session=True)
        c.username_pw_set(creds.username, creds.password)
        c.will_set(ref.status_topic, contract.offline_status(ref.kind).encode(), qos=1, retain=True)
        c.reconnect_delay_set(0.05, 0.5)
        c.max_inflight_messages_set(0)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_connect_fail = lambda *_a: self._next()
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self.client = c

    def start(self) -> None:
        self.client.connect_async(*self.failover.current, keepalive=5)
        self.client.loop_start()

    def _next(self) -> None:
        if not self._closing:
            self.failover.advance(self.client, 5)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            return
        self.connects += 1
        # announce the state again on every connect (retained messages need not be shared between the nodes)
        st = contract.Status(state="online", kind=self.ref.kind, software="fleet-sim")
        client.publish(self.ref.status_topic, st.encode(), qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, *_a: Any) -> None:
        self.connected.clear()
        self._next()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:
            eid = self.unacked.pop(mid, None)
            if eid is not None:
                self.acked.add(eid)
            else:
                self._early.add(mid)

    def event(self) -> str:
        """Publish one input event (QoS 1); its id."""
        self.count += 1
        ev = contract.Event(type=InputChanged.EVENT.type,
                            data=InputChanged(input="fleet", active=self.count % 2 == 1, count=self.count).to_data())
        sent = time.time()
        # not under self._lock: paho calls on_publish holding its own lock, which publish() takes too
        info = self.client.publish(self.ref.event_topic, ev.encode(), qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"{self.ref.key}: publish failed: {mqtt.error_string(info.rc)}")
        with self._lock:  # the PUBACK may have come already (mids wrap only after 65535 publishes)
            self.sent_at[ev.id] = sent
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.add(ev.id)
            else:
                self.unacked[info.mid] = ev.id
        return ev.id

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self.unacked)

    def close(self) -> None:
        self._closing = True
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class Fleet:
    """Many light devices spread over the broker nodes."""

    def __init__(self, devices: list[tuple[DeviceRef, Credentials]], hosts: list[tuple[str, int]]) -> None:
        self.devices = [LightDevice(ref, creds, hosts, i) for i, (ref, creds) in enumerate(devices)]

    def start(self, timeout: float = 60.0) -> None:
        for d in self.devices:
            d.start()
        deadline = time.monotonic() + timeout
        for d in self.devices:
            if not d.connected.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{d.ref.key} did not connect within {timeout:.0f} s")

    def run(self, total: int, rate_per_s: float, inflight_max: int = 50,
            at: dict[int, Callable[[], None]] | None = None) -> list[str]:
        """Publish ``total`` events round-robin over the devices at about ``rate_per_s`` (0 = as fast as the
        devices' in-flight windows allow); ``at``: {events sent so far: action} (kill a node mid-run…)."""
        at = dict(at or {})
        ids: list[str] = []
        start = time.monotonic()
        i = 0
        while len(ids) < total:
            if len(ids) in at:
                at.pop(len(ids))()
            d = self.devices[i % len(self.devices)]
            i += 1
            if d.inflight >= inflight_max:
                if i % len(self.devices) == 0:
                    time.sleep(0.002)
                continue
            ids.append(d.event())
            if rate_per_s > 0:
                ahead = start + len(ids) / rate_per_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        return ids

    def unacked(self) -> int:
        return sum(d.inflight for d in self.devices)

    def wait_acked(self, timeout: float) -> int:
        """Wait until the broker acknowledged every event (after failovers too); how many are still unacked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.unacked():
            time.sleep(0.05)
        return self.unacked()

    def sent_at(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for d in self.devices:
            out.update(d.sent_at)
        return out

    def close(self) -> None:
        for d in self.devices:
            d.close()


def utc_from(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
