"""Nothing lost across restarts, end to end with a real Mosquitto run from the configuration linli generates.

A device account publishes events continuously (as an agent's outbox does: each event is sent again until the
broker acknowledges it). Meanwhile the broker restarts, the server restarts, or both (in both orders). Then every
event the broker acknowledged must be stored exactly once: zero lost, zero duplicates.

The server runs with the default subscription scheme (``MqttSettings().shared_subscription``): on Mosquitto 2.0
a shared subscription is not restored with a persistent session after a broker restart, so the events queued for
it (or sent while it re-subscribes) were lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from linli import contract
from linli.contract import DeviceRef, Kind
from linli.provision import Credentials
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.db.models import Event
from server.ingest.registry import HandlerRegistry, IngestContext
from server.settings import MqttSettings
from server.testing import LiveServer, make_settings

REF = DeviceRef("dura", Kind.probe, "pub1")


class Sender:
    """A device account that publishes an event every ``period`` s and re-sends each one until PUBACK."""

    def __init__(self, broker: TestBroker, creds: Credentials, period: float = 0.02) -> None:
        self.broker = broker
        self.period = period
        self.acked: list[str] = []
        self._stop = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=REF.mqtt_username, protocol=mqtt.MQTTv5)
        c.username_pw_set(creds.username, creds.password)
        c.reconnect_delay_set(0.05, 0.2)
        self.client = c
        c.connect_async(broker.host, broker.port, keepalive=10)
        c.loop_start()
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ev = contract.Event(type="probe.tick", data={"n": len(self.acked)})
            payload = ev.encode()
            while not self._stop.is_set():  # the outbox's rule: keep it until the broker acknowledged it
                info = self.client.publish(REF.event_topic, payload, qos=1)
                try:
                    info.wait_for_publish(1.0)
                    published = info.is_published()
                except (RuntimeError, ValueError):  # not connected: try again
                    published = False
                if published:
                    self.acked.append(ev.id)
                    break
                time.sleep(0.05)
            self._stop.wait(self.period)

    def wait_count(self, n: int, timeout: float = 20.0) -> None:
        start = len(self.acked)
        wait_for(lambda: len(self.acked) >= start + n, timeout, what=f"{n} more events acknowledged")

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()
        return list(self.acked)


class Handled:
    """Counts handler calls per event id across server restarts."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def registry(self) -> HandlerRegistry:
        reg = HandlerRegistry()
        reg.on_event(Kind.probe, self.on_event)
        return reg

    def on_event(self, ctx: IngestContext, ev: contract.Event, _data: object) -> None:
        with self._lock:
            self.calls[ev.id] = self.calls.get(ev.id, 0) + 1


@pytest.fixture(scope="module")
def site_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBroker, Credentials]]:
    """A broker of our own (it is restarted), with the device account provisioned."""
    tb = TestBroker.start(tmp_path_factory.mktemp("durabroker"))
    _, creds = tb.provision(REF)
    yield tb, creds
    tb.broker.stop()


class Site:
    def __init__(self, tb: TestBroker, creds: Credentials, tmp: Path) -> None:
        self.tb = tb
        self.handled = Handled()
        self.settings = make_settings(
            tmp, f"sqlite:///{tmp / 'dura.db'}", tb, client_id=f"dura-{tmp.name[-12:]}",
            mqtt={"shared_subscription": MqttSettings().shared_subscription, "startup_wait_s": 10})
        self.server: LiveServer | None = None
        self.start_server()  # first start: the server's session (and subscription) exists from now on
        self.sender = Sender(tb, creds)

    def start_server(self) -> None:
        self.server = LiveServer(create_app(self.settings, self.handled.registry())).start()

    def stop_server(self) -> None:
        assert self.server is not None
        self.server.stop()

    def restart_broker_stop(self) -> None:
        self.tb.broker.stop()  # SIGTERM: Mosquitto saves its persistence file, as `systemctl restart` does

    def restart_broker_start(self) -> None:
        self.tb.broker.start()  # same port, same persistence file

    def finish(self) -> tuple[int, int, int]:
        sent = self.sender.stop()
        assert self.server is not None
        srv = self.server.server

        def stored_rows() -> int:
            with srv.db.session() as s:
                return int(s.scalar(select(func.count()).select_from(Event)) or 0)

        try:
            wait_for(lambda: stored_rows() >= len(set(sent)), 30, what=f"{len(set(sent))} events stored")
        except AssertionError:
            pass
        time.sleep(0.3)  # late duplicates, if any, would show now
        with srv.db.session() as s:
            ids = set(s.scalars(select(Event.id)))
        rows = stored_rows()
        self.server.stop()
        lost = set(sent) - ids
        dup_calls = sum(n - 1 for n in self.handled.calls.values() if n > 1)
        print(f"sent {len(set(sent))} stored {rows} lost {len(lost)} duplicate handler calls {dup_calls}")
        return len(set(sent)), rows, dup_calls


def _scenario(site_broker: tuple[TestBroker, Credentials], tmp_path: Path, steps: list[str]) -> None:
    tb, creds = site_broker
    if not tb.broker.running:
        tb.broker.start()
    site = Site(tb, creds, tmp_path)
    try:
        site.sender.wait_count(20)
        for step in steps:
            getattr(site, step)()
            site.sender.wait_count(15) if tb.broker.running else time.sleep(0.5)
        site.sender.wait_count(20)
        sent, stored, dups = site.finish()
    finally:
        if not tb.broker.running:
            tb.broker.start()
    assert (sent, dups) == (stored, 0), f"sent {sent}, stored {stored}, duplicate handler calls {dups}"


def test_broker_restart_loses_nothing(site_broker: tuple[TestBroker, Credentials], tmp_path: Path) -> None:
    _scenario(site_broker, tmp_path, ["restart_broker_stop", "restart_broker_start"])


def test_server_restart_loses_nothing(site_broker: tuple[TestBroker, Credentials], tmp_path: Path) -> None:
    _scenario(site_broker, tmp_path, ["stop_server", "start_server"])


def test_server_then_broker_restart_loses_nothing(site_broker: tuple[TestBroker, Credentials],
                                                  tmp_path: Path) -> None:
    _scenario(site_broker, tmp_path,
              ["stop_server", "restart_broker_stop", "restart_broker_start", "start_server"])


def test_broker_then_server_restart_loses_nothing(site_broker: tuple[TestBroker, Credentials],
                                                  tmp_path: Path) -> None:
    _scenario(site_broker, tmp_path,
              ["restart_broker_stop", "stop_server", "restart_broker_start", "start_server"])
