"""At-least-once into the database: the server's persistent session makes the broker queue what devices publish
while the server is down, and manual acks mean nothing is acknowledged before it is committed."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linli import contract
from linli.testing import wait_for
from server.app import create_app
from server.ingest.registry import HandlerRegistry, IngestContext
from server.settings import Settings
from server.testing import DevicePool, DeviceSim, make_settings, running, stored

if TYPE_CHECKING:
    from linli.testing import TestBroker


class Counter:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def registry(self) -> HandlerRegistry:
        reg = HandlerRegistry()
        reg.on_event("probe", self.on_event)
        return reg

    def on_event(self, ctx: IngestContext, ev: contract.Event, _data: object) -> None:
        self.ids.append(ev.id)


def test_restart_while_device_publishes(db_url: str, mqtt_broker: TestBroker, device_pool: DevicePool,
                                        tmp_path: Path) -> None:
    _restart_case("5", db_url, mqtt_broker, device_pool, tmp_path)


def test_restart_while_device_publishes_mqtt311(mqtt_broker: TestBroker, device_pool: DevicePool,
                                                tmp_path: Path) -> None:
    _restart_case("3.1.1", f"sqlite:///{tmp_path / 'linli.db'}", mqtt_broker, device_pool, tmp_path)


def _restart_case(protocol: str, db_url: str, mqtt_broker: Any, device_pool: Any, tmp_path: Path) -> None:
    ref, creds = device_pool["p2"]
    settings = make_settings(tmp_path, db_url, mqtt_broker, client_id=f"restart-{uuid.uuid4().hex[:8]}",
                             mqtt={"protocol": protocol, "shared_subscription": True})
    counter = Counter()
    dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
    try:
        with running(create_app(settings, counter.registry()), forget=False) as ls:
            first = dev.event("probe.before")
            wait_for(lambda: stored(ls.server, first.id) == 1, what="first event")
        # the server is down; its session (client id, subscriptions) stays on the broker
        events = [dev.event("probe.while_down", data={"i": i}) for i in range(50)]
        with running(create_app(settings, counter.registry())) as ls:
            ids = [e.id for e in events]
            wait_for(lambda: stored(ls.server, *ids) == 50, 15, what="the 50 events queued by the broker")
            later = dev.event("probe.after")
            wait_for(lambda: stored(ls.server, later.id) == 1, what="live event after the backlog")
            assert stored(ls.server, first.id, *ids, later.id) == 52
            assert sorted(counter.ids) == sorted([first.id, *ids, later.id])  # each handled exactly once
    finally:
        dev.close()


def test_database_locked_retries_and_never_acks_early(mqtt_broker: TestBroker, device_pool: DevicePool,
                                                      tmp_path: Path) -> None:
    """SQLite locked by another writer: ingest retries with back-off; stopped while still locked, it has
    acknowledged nothing, so the restarted server gets the message again from the broker and stores it once."""
    db_path = tmp_path / "locked.db"
    settings: Settings = make_settings(tmp_path, f"sqlite:///{db_path}", mqtt_broker,
                                       client_id=f"locked-{uuid.uuid4().hex[:8]}",
                                       database={"sqlite_busy_timeout_ms": 20},
                                       ingest={"stop_timeout_s": 0.3})
    ref, creds = device_pool["p3"]
    dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds, birth=False)
    try:
        with running(create_app(settings), forget=False) as ls:
            warm = dev.event("probe.warm")
            wait_for(lambda: stored(ls.server, warm.id) == 1, what="warm-up event")
            blocker = sqlite3.connect(db_path, timeout=0.1)
            blocker.execute("BEGIN EXCLUSIVE")
            ev = dev.event("probe.during_lock")
            wait_for(lambda: ls.server.stats.snapshot()["db_retries"] >= 2, what="retries while locked")
            assert stored(ls.server, ev.id) == 0  # WAL: we can still read
            assert ls.server.ingest is not None and ls.server.ingest.running
        # stopped while still locked: the event was never committed, hence never acknowledged
        assert not ls.server.ingest.running
        blocker.rollback()
        blocker.close()
        with running(create_app(settings)) as ls:
            wait_for(lambda: stored(ls.server, ev.id) == 1, what="redelivered after the restart")
    finally:
        dev.close()


def test_database_lock_released_while_running(mqtt_broker: TestBroker, device_pool: DevicePool,
                                              tmp_path: Path) -> None:
    db_path = tmp_path / "locked2.db"
    settings = make_settings(tmp_path, f"sqlite:///{db_path}", mqtt_broker, client_id=f"lk-{uuid.uuid4().hex[:8]}",
                             database={"sqlite_busy_timeout_ms": 20})
    ref, creds = device_pool["p3"]
    dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds, birth=False)
    try:
        with running(create_app(settings)) as ls:
            warm = dev.event("probe.warm")
            wait_for(lambda: stored(ls.server, warm.id) == 1, what="warm-up event")
            blocker = sqlite3.connect(db_path, timeout=0.1)
            blocker.execute("BEGIN EXCLUSIVE")
            ev = dev.event("probe.during_lock")
            wait_for(lambda: ls.server.stats.snapshot()["db_retries"] >= 1, what="a retry")
            assert stored(ls.server, ev.id) == 0
            blocker.rollback()
            blocker.close()
            wait_for(lambda: stored(ls.server, ev.id) == 1, what="stored once the lock is gone")
    finally:
        dev.close()
