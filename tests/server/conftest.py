"""Server test fixtures: one live server per database backend, shared by the tests (devices get unique ids, so
tests do not see each other's data); tests that restart or break things make their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from linli import contract
from linli.contract import DeviceRef, Kind
from linli.provision import Credentials
from linli.testing import PostgresCluster, TestBroker
from server.app import create_app
from server.ingest.registry import HandlerRegistry, IngestContext
from server.testing import DeviceSim, Live, make_settings, running


@dataclass
class Recorder:
    """Per-kind handlers for the tests: counts calls, and blows up on ``test.boom`` events."""

    events: list[str] = field(default_factory=list)
    telemetry: list[str] = field(default_factory=list)

    def registry(self) -> HandlerRegistry:
        reg = HandlerRegistry()
        reg.on_event(Kind.probe, self.on_event, types="test.*")
        reg.on_telemetry(Kind.probe, self.on_telemetry)
        return reg

    def on_event(self, ctx: IngestContext, ev: contract.Event, _data: object) -> None:
        if ev.type == "test.boom":
            raise RuntimeError("handler failed on purpose")
        self.events.append(ev.id)

    def on_telemetry(self, ctx: IngestContext, tm: contract.Telemetry) -> None:
        self.telemetry.append(ctx.ref.key)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('srvdb') / 'linli.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"srv_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def live(backend_url: str, mqtt_broker: TestBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    rec = Recorder()
    settings = make_settings(tmp_path_factory.mktemp("srvdata"), backend_url, mqtt_broker)
    app = create_app(settings, rec.registry())
    with running(app) as ls:
        yield Live(ls, rec, backend_url.split(":", 1)[0].split("+")[0])


#: Devices provisioned once per session and shared by the tests (each provisioning rewrites the broker's files,
#: which gets slower with every account). Tests tell their data apart by event ids and types.
POOL = {"p1": "west", "p2": "west", "p3": "west", "e1": "east"}


@pytest.fixture(scope="session")
def device_pool(mqtt_broker: TestBroker) -> dict[str, tuple[DeviceRef, Credentials]]:
    out = {}
    for name, site in POOL.items():
        ref = DeviceRef(site, Kind.probe, f"srv-{name}")
        out[name] = (ref, mqtt_broker.provision(ref)[1])
    return out


@pytest.fixture
def device(mqtt_broker: TestBroker, device_pool: dict[str, tuple[DeviceRef, Credentials]]
           ) -> Iterator[Callable[[str], DeviceSim]]:
    """``device("p1")`` connects as pooled device p1 (closed after the test)."""
    made: list[DeviceSim] = []

    def make(name: str = "p1") -> DeviceSim:
        ref, creds = device_pool[name]
        sim = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        try:
            sim.close()
        except Exception:
            pass
