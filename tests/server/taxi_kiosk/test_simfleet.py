"""The simulated fleet on its own (stepped by hand, seeded): nearest taxi first, declines go to the next, elderly
first when taxis are scarce, ETA from the road distance, arrival, boarding, no-shows, idempotent requests, faults."""

from __future__ import annotations

import math
import time

import pytest

from linli.contract.taxi_kiosk import Place
from server.taxi_kiosk.geo import heading, to_latlon, to_xy
from server.taxi_kiosk.provider import ProviderError, ProviderTimeout, RideRequest
from server.taxi_kiosk.settings import SimFleetSettings
from server.taxi_kiosk.simfleet import SimFleet

PLACE = Place(name="东门", pickup_point="东门候车点", lat=31.24035, lon=121.41452)


def fleet(**over: object) -> SimFleet:
    base = {"taxis_per_area": 5, "decide_s": (2, 2), "accept_prob": 1.0, "driver_cancel_prob": 0.0,
            "driver_no_show_prob": 0.0, "passenger_no_show_prob": 0.0, "seed": 3, "board_after_s": 30}
    return SimFleet(SimFleetSettings.model_validate({**base, **over}))


def request(f: SimFleet, n: int = 1, priority: bool = True, place: Place = PLACE) -> str:
    return f.request(RideRequest(request_id=f"o{n}-1", order_id=f"o{n}", place=place, elderly_priority=priority))


def test_geo_round_trip_and_heading() -> None:
    x, y = to_xy(31.25, 121.42, PLACE.lat, PLACE.lon)
    lat, lon = to_latlon(x, y, PLACE.lat, PLACE.lon)
    assert math.isclose(lat, 31.25, abs_tol=1e-9) and math.isclose(lon, 121.42, abs_tol=1e-9)
    assert 1000 < y < 1200 and 500 < x < 600
    assert heading(0, 1) == 0 and heading(1, 0) == 90 and heading(0, -1) == 180 and heading(-1, 0) == 270


def test_nearest_taxi_accepts_drives_the_grid_arrives_and_the_passenger_boards() -> None:
    f = fleet()
    rid = request(f)
    assert request(f) == rid  # the same request id again: the same ride (idempotent)
    ride = f.rides[rid]
    nearest = min(f.taxis.values(), key=lambda t: abs(t.x - ride.x) + abs(t.y - ride.y))
    f.step(1.0)
    assert f.status(rid).state == "searching" and ride.taxi == nearest.id  # offered, thinking
    f.step(2.5)  # the driver decides after 2 s
    st = f.status(rid)
    assert st.state in ("assigned", "arriving") and st.driver is not None
    assert st.distance_m == pytest.approx(abs(nearest.x - ride.x) + abs(nearest.y - ride.y), abs=1.0)
    assert st.eta_s == pytest.approx(st.distance_m / f.cfg.speed_mps, abs=1.0)
    d0 = st.distance_m
    f.step(10.0)
    assert f.status(rid).distance_m == pytest.approx(max(0.0, d0 - 80.0), abs=1.0)  # 8 m/s for 10 s
    for _ in range(1000):
        f.step(1.0)
        if f.status(rid).distance_m == 0:
            break
    assert f.status(rid).state == "arriving"
    f.step(31.0)
    assert f.status(rid).state == "picked_up"


def test_declined_order_goes_to_the_next_taxi_and_no_taxi_means_searching() -> None:
    f = fleet(accept_prob=0.0)
    rid = request(f)
    for _ in range(12):
        f.step(2.5)
    assert f.status(rid).state == "searching" and len(f.rides[rid].declined) >= 5  # all five said no (and more)
    empty = fleet(taxis_per_area=0)
    rid2 = request(empty)
    empty.step(10)
    assert empty.status(rid2).state == "searching"


def test_elderly_are_served_first_when_taxis_are_scarce() -> None:
    f = fleet(taxis_per_area=0)
    young = request(f, 1, priority=False)
    old = request(f, 2, priority=True)
    f.place_taxis(PLACE, [(400, 0)])  # one taxi comes free for the two of them
    f.step(3)
    assert f.rides[old].taxi is not None and f.rides[young].taxi is None


def test_new_orders_find_spare_taxis_even_when_others_wait_nearby() -> None:
    f = fleet(taxis_per_area=2)
    rides = [request(f, n) for n in range(6)]  # six calls from the same gate before any driver decides
    for _ in range(4):
        f.step(2.5)
    assert all(f.status(r).state in ("assigned", "arriving") for r in rides)


def test_driver_cancel_passenger_no_show_and_our_cancel() -> None:
    f = fleet(driver_cancel_prob=1.0)
    rid = request(f)
    for _ in range(600):
        f.step(1)
    assert f.status(rid).state == "driver_cancelled" and f.status(rid).reason == "driver"
    g = fleet(passenger_no_show_prob=1.0, wait_at_pickup_s=60)
    rid = request(g)
    for _ in range(900):
        g.step(1)
    assert g.status(rid).state == "passenger_no_show"
    h = fleet()
    rid = request(h)
    h.step(3)
    h.cancel(rid, "resident")
    assert h.status(rid).state == "cancelled" and all(t.state == "free" for t in h.taxis.values())
    h.cancel(rid, "again")  # a no-op
    with pytest.raises(ProviderError, match="unknown ride"):
        h.status("sim-nope")


def test_faults_fail_calls_in_order_and_then_calls_work() -> None:
    f = fleet(hang_s=0.2)
    f.inject("error", "timeout")
    with pytest.raises(ProviderError, match="503"):
        request(f)
    t0 = time.monotonic()
    with pytest.raises(ProviderTimeout):
        request(f)
    assert time.monotonic() - t0 >= 0.2
    assert request(f) and f.calls["errors"] == 1 and f.calls["timeouts"] == 1
    g = fleet(error_rate=1.0)
    with pytest.raises(ProviderError):
        request(g)
