"""Dispatch end to end on the server (SQLite and PostgreSQL): a kiosk's ``taxi.order_requested`` becomes an order,
the simulated fleet finds a car, and ``order_update`` commands tell the kiosk every step; cancellations, no driver,
provider errors and timeouts, drivers who cancel, replays and resyncs."""

from __future__ import annotations

import logging
import math

import pytest
from sqlalchemy import func, select

from linli.testing import wait_for
from server.db.models import Command
from server.taxi_kiosk.models import TaxiOrder
from tests.server.taxi_kiosk.conftest import Kiosk, Taxi


def test_order_to_pickup_with_every_step_pushed_to_the_kiosk(taxi: Taxi, kiosk: Kiosk) -> None:
    oid = kiosk.request(phone="13812345678")
    first = kiosk.wait_update(oid, "searching")
    assert first.seq == 1
    assigned = kiosk.wait_driver(oid)
    assert assigned.driver is not None and assigned.driver.plate.startswith("沪A")
    assert assigned.eta_s is not None and assigned.distance_m is not None and assigned.car is not None
    # the car's position relative to the kiosk agrees with the distance still to drive (grid: ≥ straight line)
    assert math.hypot(assigned.car.dx_m, assigned.car.dy_m) <= assigned.distance_m + 1
    ride = taxi.fleet.ride_of(oid)
    assert ride is not None and ride.request.phone == "13812345678" and ride.request.elderly_priority
    taxi.fleet.arrive(ride.id)
    arriving = kiosk.wait_update(oid, "arriving")
    assert arriving.distance_m == 0
    taxi.fleet.board(ride.id)
    done = kiosk.wait_update(oid, "picked_up")
    seqs = [u.seq for u in kiosk.updates(oid)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and done.seq == seqs[-1]
    o = taxi.wait_state(oid, "picked_up")
    assert o.stored_at >= o.requested_at and o.assigned_at and o.arrived_at and o.picked_up_at and o.ended_at
    assert o.requested_at <= o.assigned_at <= o.arrived_at <= o.picked_up_at
    assert o.attempts == 1 and o.provider == "sim" and o.driver and o.driver["plate"] == assigned.driver.plate
    steps = [s for s, _ in taxi.steps(oid)]
    assert steps == ["requested", "ride_requested", "assigned", "arriving", "picked_up"]
    with taxi.ls.server.db.session() as s:
        sent = s.scalar(select(func.count()).select_from(Command).where(Command.name == "order_update",
                                                                        Command.state == "sent"))
        assert sent and sent >= len(seqs)


def test_kiosk_cancel_cancels_the_ride_with_the_provider(taxi: Taxi, kiosk: Kiosk) -> None:
    oid = kiosk.request()
    kiosk.wait_driver(oid)
    ride = taxi.fleet.ride_of(oid)
    assert ride is not None
    kiosk.cancel(oid)
    o = taxi.wait_state(oid, "cancelled")
    assert o.note == "resident" and taxi.fleet.rides[ride.id].state == "cancelled"
    assert kiosk.wait_update(oid, "cancelled").seq > 1
    assert [d["reason"] for st, d in taxi.steps(oid) if st == "cancel_requested"] == ["resident"]


def test_provider_errors_and_timeouts_are_retried_without_a_second_car(taxi: Taxi, kiosk: Kiosk) -> None:
    taxi.fleet.inject("error", "timeout", "error")  # request: 503, then a hang longer than 0.5 s, then 503
    oid = kiosk.request()
    kiosk.wait_driver(oid, timeout=15)
    o = taxi.wait_state(oid, "assigned", "arriving")
    assert o.provider_errors == 3 and o.attempts == 1
    steps = [s for s, _ in taxi.steps(oid)]
    assert steps[:4] == ["requested", "provider_error", "provider_timeout", "provider_error"]
    assert len([r for r in taxi.fleet.rides.values() if r.request.order_id == oid]) == 1  # idempotent request
    kiosk.cancel(oid)
    taxi.wait_state(oid, "cancelled")


def test_sync_resends_the_state_and_replays_make_no_second_order(taxi: Taxi, kiosk: Kiosk) -> None:
    oid = kiosk.request(key="replayed-key-01")
    last = kiosk.wait_driver(oid)
    kiosk.request(order_id=oid, key="replayed-key-01")  # the same order again (an outbox replay)
    kiosk.request(key="replayed-key-01")  # a new id with an old key: refused
    kiosk.sync(oid, last.seq - 1)
    wait_for(lambda: [u for u in kiosk.updates(oid) if u.seq > last.seq], 5, what="resent update")
    with taxi.ls.server.db.session() as s:
        n = s.scalar(select(func.count()).select_from(TaxiOrder).where(TaxiOrder.device_id == taxi.order(oid)
                                                                         .device_id))  # type: ignore[union-attr]
        active = s.scalar(select(func.count()).select_from(TaxiOrder).where(
            TaxiOrder.state.in_(("requested", "searching", "assigned", "arriving"))))
    assert active == 1 and n is not None
    kiosk.cancel(oid)
    taxi.wait_state(oid, "cancelled")


def test_a_provider_answer_wakes_the_dispatcher_without_errors(taxi: Taxi, kiosk: Kiosk,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """Each provider call's completion wakes the dispatch loop (it used to raise in the future's callback, logged
    as an error with a traceback for every call, and the answer waited for the next tick)."""
    caplog.set_level(logging.ERROR)
    oid = kiosk.request()
    kiosk.wait_driver(oid)
    kiosk.cancel(oid)
    taxi.wait_state(oid, "cancelled")
    assert not [r for r in caplog.records if "callback" in r.getMessage()], caplog.text[-2000:]
