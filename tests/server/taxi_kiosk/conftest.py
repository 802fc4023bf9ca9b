"""Taxi dispatch test support: a live server (real uvicorn, real broker, SQLite or PostgreSQL) with the simulated
fleet running fast, and kiosks played by ``DeviceSim`` (their own broker accounts) speaking the wire contract."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from linli import contract
from linli.contract import DeviceRef, Kind
from linli.contract.taxi_kiosk import (
    CMD_ORDER_UPDATE,
    EVENT_ORDER_CANCEL,
    EVENT_ORDER_REQUESTED,
    EVENT_ORDER_SYNC,
    OrderUpdate,
)
from linli.provision import Credentials
from linli.testing import PostgresCluster, TestBroker, wait_for
from server.app import create_app
from server.taxi_kiosk.models import TaxiOrder, TaxiOrderStep
from server.taxi_kiosk.settings import SimFleetSettings
from server.taxi_kiosk.simfleet import SimFleet
from server.taxi_kiosk.worker import TaxiService
from server.testing import DeviceSim, LiveServer, make_settings, running

SITE = "t-taxisrv"
PLACE = {"name": "曹杨新村东门", "pickup_point": "东门候车点", "lat": 31.24035, "lon": 121.41452}
SIM = {"time_scale": 50, "decide_s": [1, 2], "accept_prob": 1.0, "driver_cancel_prob": 0.0,
       "driver_no_show_prob": 0.0, "passenger_no_show_prob": 0.0, "board_after_s": 3600, "wait_at_pickup_s": 3600,
       "taxis_per_area": 6, "seed": 7, "hang_s": 1.5, "tick_s": 0.05, "arriving_m": 200}
TAXI = {"provider": "sim", "tick_s": 0.05, "poll_interval_s": 0.1, "search_timeout_s": 3, "provider_timeout_s": 0.5,
        "retry_initial_s": 0.1, "retry_max_s": 0.3, "push_min_interval_s": 0, "max_attempts": 3, "sim": SIM}


def taxi_server_settings(data_dir: Path, db_url: str, broker: TestBroker, **taxi: Any) -> Any:
    return make_settings(data_dir, db_url, broker, kinds={"taxi_kiosk": {**TAXI, **taxi}})


@dataclass
class Taxi:
    """The running server, its dispatcher's fleet, and helpers to look at orders."""

    ls: LiveServer
    backend: str

    @property
    def service(self) -> TaxiService:
        return self.ls.server.kind_services["taxi_kiosk"]  # type: ignore[no-any-return]

    @property
    def fleet(self) -> SimFleet:
        fleet = self.service.provider
        assert isinstance(fleet, SimFleet)
        return fleet

    def order(self, order_id: str) -> TaxiOrder | None:
        with self.ls.server.db.session() as s:
            return s.get(TaxiOrder, order_id)

    def wait_state(self, order_id: str, *states: str, timeout: float = 20.0) -> TaxiOrder:
        def check() -> TaxiOrder | None:
            o = self.order(order_id)
            return o if o is not None and o.state in states else None

        try:
            return wait_for(check, timeout, what=f"order {order_id} in {states}")  # type: ignore[no-any-return]
        except AssertionError as exc:
            o = self.order(order_id)
            raise AssertionError(f"{exc} (now {o.state if o else 'not stored'}; steps {self.steps(order_id)})"
                                 ) from None

    def steps(self, order_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self.ls.server.db.session() as s:
            rows = s.scalars(select(TaxiOrderStep).where(TaxiOrderStep.order_id == order_id)
                             .order_by(TaxiOrderStep.at, TaxiOrderStep.id))
            return [(r.step, r.detail) for r in rows]


@dataclass
class Kiosk:
    """A kiosk as the server sees it: events out, ``order_update`` commands in."""

    sim: DeviceSim
    keys: list[str] = field(default_factory=list)

    @property
    def ref(self) -> DeviceRef:
        return self.sim.ref

    def request(self, order_id: str | None = None, phone: str | None = None, priority: bool = True,
                key: str | None = None) -> str:
        oid = order_id or contract.new_id()
        key = key or f"k-{uuid.uuid4().hex[:16]}"
        data = {"order_id": oid, "request_key": key, "source": "screen", "place": PLACE,
                "requested_at": datetime.now(UTC).isoformat(), "phone": phone, "elderly_priority": priority}
        self.sim.event(EVENT_ORDER_REQUESTED, data=data)
        return oid

    def cancel(self, order_id: str, reason: str = "resident") -> None:
        self.sim.event(EVENT_ORDER_CANCEL, data={"order_id": order_id, "reason": reason})

    def sync(self, order_id: str, seq: int) -> None:
        self.sim.event(EVENT_ORDER_SYNC, data={"order_id": order_id, "seq": seq})

    def updates(self, order_id: str) -> list[OrderUpdate]:
        out = [OrderUpdate.model_validate(c.args) for name, c in self.sim.commands() if name == CMD_ORDER_UPDATE]
        return [u for u in out if u.order_id == order_id]

    def wait_update(self, order_id: str, *states: str, timeout: float = 20.0) -> OrderUpdate:
        try:
            return wait_for(lambda: next((u for u in self.updates(order_id) if u.state in states), None),  # type: ignore[no-any-return]
                            timeout, what=f"order_update {states} for {order_id}")
        except AssertionError as exc:
            raise AssertionError(f"{exc} (got {[u.state.value for u in self.updates(order_id)]})") from None

    def wait_driver(self, order_id: str, timeout: float = 20.0) -> OrderUpdate:
        """The first update with a driver (``arriving`` straight away when the nearest taxi was close)."""
        return self.wait_update(order_id, "assigned", "arriving", timeout=timeout)


@pytest.fixture(scope="session")
def taxi_kiosk_pool(mqtt_broker: TestBroker) -> list[tuple[DeviceRef, Credentials]]:
    return [(ref, mqtt_broker.provision(ref)[1]) for ref in
            (DeviceRef(SITE, Kind.taxi_kiosk, f"kiosk-{i}") for i in range(1, 4))]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def taxi(request: pytest.FixtureRequest, mqtt_broker: TestBroker,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Taxi]:
    """One live server per module and database backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('taxidb') / 'linli.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"taxi_{uuid.uuid4().hex[:8]}")
    app = create_app(taxi_server_settings(tmp_path_factory.mktemp("taxisrv"), url, mqtt_broker))
    with running(app) as ls:
        yield Taxi(ls, request.param)


@pytest.fixture
def kiosk(taxi: Taxi, mqtt_broker: TestBroker, taxi_kiosk_pool: list[tuple[DeviceRef, Credentials]]
          ) -> Iterator[Kiosk]:
    """A kiosk device on the broker (the first of the pool); the fleet back to the test settings afterwards."""
    ref, creds = taxi_kiosk_pool[0]
    sim = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
    yield Kiosk(sim)
    sim.close()
    taxi.fleet.cfg = SimFleetSettings.model_validate(SIM)
    taxi.fleet.resume()
    taxi.service.dispatcher.cfg = taxi.service.cfg


@pytest.fixture
def kiosk2(mqtt_broker: TestBroker, taxi_kiosk_pool: list[tuple[DeviceRef, Credentials]]) -> Iterator[Kiosk]:
    ref, creds = taxi_kiosk_pool[1]
    sim = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
    yield Kiosk(sim)
    sim.close()
