"""Lift guard server test support: one live server per module and backend (real uvicorn, real broker, SQLite then
PostgreSQL) with every kind's ingest handlers, and lift guards played by ``DeviceSim`` with their own accounts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from linli.contract import DeviceRef, Kind
from linli.provision import Credentials
from linli.testing import PostgresCluster, TestBroker, wait_for
from server.app import create_app
from server.db.models import Event
from server.lift_guard.models import LiftBlock
from server.testing import DeviceSim, LiveServer, make_settings, running

SITE = "t-liftsrv"


@dataclass
class LiftServer:
    ls: LiveServer
    backend: str
    data_dir: Path

    def block(self, block_id: str) -> LiftBlock | None:
        with self.ls.server.db.session() as s:
            return s.get(LiftBlock, block_id)

    def stored(self, event_id: str, timeout: float = 10.0) -> None:
        def there() -> bool:
            with self.ls.server.db.session() as s:
                return s.scalar(select(Event.id).where(Event.id == event_id)) is not None

        wait_for(there, timeout, what=f"event {event_id} stored")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def lift_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of its own (a server sharing one with another test server might store an event first, without
    the lift handlers)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('liftdb') / 'linli.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"lift_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def lift_server(lift_db_url: str, mqtt_broker: TestBroker, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiftServer]:
    data = tmp_path_factory.mktemp("liftsrv")
    settings = make_settings(data, lift_db_url, mqtt_broker)
    with running(create_app(settings)) as ls:
        yield LiftServer(ls, lift_db_url.split(":", 1)[0].split("+")[0], data)


@pytest.fixture(scope="session")
def lift_accounts(mqtt_broker: TestBroker) -> dict[str, tuple[DeviceRef, Credentials]]:
    out = {}
    for name, site in (("l1", SITE), ("l2", SITE), ("e1", "east")):
        ref = DeviceRef(site, Kind.lift_guard, f"lift-{name}")
        out[name] = (ref, mqtt_broker.provision(ref)[1])
    return out


@pytest.fixture
def lift_device(mqtt_broker: TestBroker, lift_accounts: dict[str, tuple[DeviceRef, Credentials]]
                ) -> Iterator[object]:
    made: list[DeviceSim] = []

    def make(name: str = "l1") -> DeviceSim:
        ref, creds = lift_accounts[name]
        sim = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()
