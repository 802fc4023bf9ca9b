"""Dispatch edge cases (SQLite; the main paths run on both databases in test_taxi_dispatch.py): nobody accepts,
the platform is down or not configured, drivers who cancel are replaced, a newer order supersedes an older one,
bad events are ignored."""

from __future__ import annotations

import pytest

from linli.contract.taxi_kiosk import OrderState
from linli.testing import wait_for
from server.taxi_kiosk.provider import NoProvider
from tests.server.taxi_kiosk.conftest import Kiosk, Taxi

pytestmark = pytest.mark.parametrize("taxi", ["sqlite"], indirect=True)


def test_no_driver_within_the_time_limit(taxi: Taxi, kiosk: Kiosk) -> None:
    taxi.fleet.configure(accept_prob=0.0)  # every driver declines
    oid = kiosk.request()
    kiosk.wait_update(oid, "searching")
    o = taxi.wait_state(oid, "no_driver", timeout=8)
    assert o.assigned_at is None and o.ride_id is not None
    assert taxi.fleet.rides[o.ride_id].state == "cancelled"  # the platform is told to stop looking
    assert kiosk.wait_update(oid, "no_driver").driver is None


def test_platform_down_for_the_whole_search_ends_unavailable(taxi: Taxi, kiosk: Kiosk) -> None:
    taxi.fleet.configure(error_rate=1.0)
    oid = kiosk.request()
    o = taxi.wait_state(oid, "unavailable", timeout=8)
    assert o.provider_errors >= 3 and o.ride_id is None and o.last_error and "503" in o.last_error
    assert kiosk.wait_update(oid, "unavailable")


def test_no_provider_configured_tells_the_kiosk_at_once(taxi: Taxi, kiosk: Kiosk) -> None:
    d = taxi.service.dispatcher
    fleet, d.provider = d.provider, NoProvider()
    try:
        oid = kiosk.request()
        o = taxi.wait_state(oid, "unavailable", timeout=3)
        assert o.note == "provider_error" and "no taxi provider" in (o.last_error or "")
        kiosk.wait_update(oid, "unavailable")
    finally:
        d.provider = fleet


def test_driver_who_cancels_is_replaced_then_gives_up_after_max_attempts(taxi: Taxi, kiosk: Kiosk) -> None:
    taxi.fleet.configure(driver_cancel_prob=1.0, speed_mps=4)
    taxi.service.dispatcher.cfg = taxi.service.cfg.model_copy(update={"max_attempts": 2})
    oid = kiosk.request()
    o = taxi.wait_state(oid, "no_driver", timeout=15)
    assert o.attempts == 2 and o.note == "driver_cancelled"
    assert [s for s, _ in taxi.steps(oid)].count("driver_cancelled") == 2
    states = [(u.state, u.note) for u in kiosk.updates(oid)]
    assert (OrderState.searching, "driver_cancelled") in states  # "the driver cancelled, finding another"


def test_new_order_supersedes_one_still_running_and_bad_events_are_ignored(taxi: Taxi, kiosk: Kiosk,
                                                                          kiosk2: Kiosk) -> None:
    old = kiosk.request()
    kiosk.wait_driver(old)
    new = kiosk.request()
    o = taxi.wait_state(old, "cancelled")
    assert o.note == "superseded"
    kiosk.wait_driver(new)
    kiosk.sim.event("taxi.order_requested", data={"order_id": "not-a-ulid"})  # kept as an event, no order
    kiosk2.cancel(new)  # another kiosk cannot cancel it
    kiosk.cancel("01ARZ3NDEKTSV4RRFFQ69G5FAV")  # unknown order
    kiosk.sync(new, 0)
    wait_for(lambda: len([u for u in kiosk.updates(new) if u.driver is not None]) >= 2, 5,
             what="resync after the bad events")
    assert taxi.order(new).state in ("assigned", "arriving")  # type: ignore[union-attr]
    kiosk.cancel(new)
    taxi.wait_state(new, "cancelled")
