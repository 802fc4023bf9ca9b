"""The built-in simulated taxi fleet: a :class:`TaxiProvider` for the demo, the tests and the benchmark.

Taxis stand at crossings of a road grid (``grid_m``) around every pick-up point that asks (``taxis_per_area`` free
ones within ``spawn_radius_m``). An order is offered to the nearest free taxi (passengers 60+ first); its driver
takes ``decide_s`` to accept (``accept_prob``) or decline, and a declined order goes to the next nearest. An
accepted taxi drives along the grid to the pick-up point at ``speed_mps`` (ETA = remaining road ÷ speed), is
"arriving" within ``arriving_m``, and waits there; the passenger gets in after ``board_after_s`` — or never
(``passenger_no_show_prob``: the driver gives up after ``wait_at_pickup_s``). Some drivers cancel on the way
(``driver_cancel_prob``) or stop coming (``driver_no_show_prob``: reported as a cancellation "no_show").

Simulated time runs ``time_scale`` times faster than real time; ETAs are given in real seconds. Faults:
``error_rate`` / ``timeout_rate`` of calls fail or hang for ``hang_s``; :meth:`inject` queues exact faults for the
next calls. Tests steer it with :meth:`pause`, :meth:`resume`, :meth:`arrive`, :meth:`board` and :meth:`configure`.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from linli.contract.taxi_kiosk import CarColour, Driver, Place
from server.worker import LoopWorker

from .geo import heading, to_latlon, to_xy
from .provider import ProviderError, ProviderTimeout, RideRequest, RideState, RideStatus, TaxiProvider
from .settings import SimFleetSettings

log = logging.getLogger(__name__)

CELL_M = 1000.0
STALL_LIMIT_S = 120.0  # a driver who stopped coming is reported as a no-show after this long (simulated)
ENDED_KEEP_S = 3600.0
RESPAWN_S = 20.0  # a search with no taxi left around brings one more driver on duty this often (simulated)
SURNAMES = "张王李赵刘陈杨黄周吴徐孙朱马胡郭林何高罗"
FLEETS: tuple[tuple[CarColour, str, bool], ...] = (
    ("teal", "大众朗逸", False), ("teal", "大众途安", False), ("yellow", "荣威Ei5", True),
    ("green", "大众朗逸", False), ("white", "比亚迪秦", True), ("red", "荣威Ei5", True), ("blue", "大众途安", False),
)
Fault = Literal["error", "timeout"]


@dataclass
class Taxi:
    id: int
    driver: Driver
    x: float
    y: float
    heading: float = 0.0
    state: Literal["free", "offered", "to_pickup", "waiting", "busy"] = "free"
    ride: str | None = None
    path: list[tuple[float, float]] = field(default_factory=list)
    stalled_at: float | None = None
    busy_until: float = 0.0


@dataclass
class Ride:
    id: str
    request: RideRequest
    x: float
    y: float
    created: float
    state: RideState = "searching"
    taxi: int | None = None
    declined: set[int] = field(default_factory=set)
    decide_at: float = 0.0
    will_accept: bool = False
    path_len: float = 0.0
    remaining: float = 0.0
    cancel_at: float | None = None  #: fraction of the way at which the driver cancels
    stall_at: float | None = None  #: fraction of the way at which the driver stops coming
    passenger_shows: bool = True
    arrived_t: float | None = None
    ended_t: float | None = None
    spawned_t: float | None = None  #: when a taxi last came on duty for it
    reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in ("picked_up", "driver_cancelled", "no_driver", "passenger_no_show", "cancelled")


class SimFleet(TaxiProvider):
    name = "sim"

    def __init__(self, cfg: SimFleetSettings) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self._lock = threading.RLock()
        self.loop = LoopWorker("sim-fleet", self._tick, lambda: self.cfg.tick_s, first="wait", join_s=2.0)
        self.t = 0.0  # simulated seconds
        self.paused = False
        self.origin: tuple[float, float] | None = None
        self.taxis: dict[int, Taxi] = {}
        self.rides: dict[str, Ride] = {}
        self.by_request: dict[str, str] = {}
        self._free_cells: dict[tuple[int, int], set[int]] = {}
        self._faults: deque[Fault] = deque()
        self.calls = {"request": 0, "status": 0, "cancel": 0, "errors": 0, "timeouts": 0}
        self._next_taxi = 1

    # ------------------------------------------------------------------ lifecycle and steering
    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def _tick(self) -> None:
        self.step(self.cfg.tick_s * self.cfg.time_scale)

    def pause(self) -> None:
        with self._lock:
            self.paused = True

    def resume(self) -> None:
        with self._lock:
            self.paused = False

    def configure(self, **changes: Any) -> None:
        """Change settings while running (validated like the YAML)."""
        with self._lock:
            self.cfg = SimFleetSettings.model_validate({**self.cfg.model_dump(), **changes})

    def inject(self, *faults: Fault) -> None:
        """The next calls fail in this order ("error": a 5xx answer, "timeout": the call hangs ``hang_s``)."""
        with self._lock:
            self._faults.extend(faults)

    def ride_of(self, order_id: str) -> Ride | None:
        """The newest ride of an order (tests)."""
        with self._lock:
            rides = [r for r in self.rides.values() if r.request.order_id == order_id]
            return max(rides, key=lambda r: r.created) if rides else None

    def arrive(self, ride_id: str) -> None:
        """The ride's taxi is at the pick-up point now."""
        with self._lock:
            ride = self.rides[ride_id]
            if ride.taxi is None or ride.state not in ("assigned", "arriving"):
                raise ValueError(f"ride {ride_id} has no taxi on the way ({ride.state})")
            taxi = self.taxis[ride.taxi]
            taxi.x, taxi.y, taxi.path = ride.x, ride.y, []
            self._arrived(ride, taxi)

    def board(self, ride_id: str) -> None:
        """The passenger gets in now (the taxi is made to arrive first if it has not)."""
        with self._lock:
            ride = self.rides[ride_id]
            if ride.state in ("assigned", "arriving"):
                self.arrive(ride_id)
            if ride.state != "arriving" or ride.taxi is None:
                raise ValueError(f"ride {ride_id} cannot board ({ride.state})")
            self._picked_up(ride, self.taxis[ride.taxi])

    def place_taxis(self, place: Place, offsets: list[tuple[float, float]]) -> list[int]:
        """Replace the free taxis by taxis at these offsets (metres east, north) from ``place`` (on the grid)."""
        with self._lock:
            if self.origin is None:
                self.origin = (place.lat, place.lon)
            x0, y0 = to_xy(place.lat, place.lon, *self.origin)
            for taxi in [t for t in self.taxis.values() if t.state == "free"]:
                self._unindex(taxi)
                del self.taxis[taxi.id]
            g, ids = self.cfg.grid_m, []
            for dx, dy in offsets:
                taxi = Taxi(id=self._next_taxi, driver=self._new_driver(), x=round((x0 + dx) / g) * g,
                            y=round((y0 + dy) / g) * g)
                self._next_taxi += 1
                self.taxis[taxi.id] = taxi
                self._index(taxi)
                ids.append(taxi.id)
            return ids

    def drive(self, ride_id: str, metres: float) -> None:
        """The ride's taxi drives ``metres`` further towards the pick-up point now."""
        with self._lock:
            ride = self.rides[ride_id]
            taxi = self.taxis.get(ride.taxi) if ride.taxi is not None else None
            if taxi is None or taxi.state != "to_pickup":
                raise ValueError(f"ride {ride_id} has no taxi driving to the pick-up point ({ride.state})")
            self._drive(ride, taxi, metres / self.cfg.speed_mps)

    # ------------------------------------------------------------------ the provider interface
    def _fault(self, op: str) -> None:
        with self._lock:
            self.calls[op] += 1
            fault: Fault | None = self._faults.popleft() if self._faults else None
            if fault is None:
                roll = self.rng.random()
                if roll < self.cfg.error_rate:
                    fault = "error"
                elif roll < self.cfg.error_rate + self.cfg.timeout_rate:
                    fault = "timeout"
            hang = self.cfg.hang_s
        if fault == "error":
            self.calls["errors"] += 1
            raise ProviderError(f"simulated platform error on {op}: HTTP 503 Service Unavailable")
        if fault == "timeout":
            self.calls["timeouts"] += 1
            self.loop.sleep(hang)
            raise ProviderTimeout(f"simulated platform timeout on {op} (hung {hang:g} s)")

    def request(self, req: RideRequest) -> str:
        self._fault("request")
        with self._lock:
            known = self.by_request.get(req.request_id)
            if known is not None:
                return known
            if self.origin is None:
                self.origin = (req.place.lat, req.place.lon)
            x, y = to_xy(req.place.lat, req.place.lon, *self.origin)
            self._ensure_taxis(x, y)
            ride = Ride(id=f"sim-{len(self.rides) + 1:06d}-{self.rng.randrange(16 ** 4):04x}", request=req, x=x, y=y,
                        created=self.t)
            self.rides[ride.id] = ride
            self.by_request[req.request_id] = ride.id
            return ride.id

    def status(self, ride_id: str) -> RideStatus:
        self._fault("status")
        with self._lock:
            ride = self.rides.get(ride_id)
            if ride is None:
                raise ProviderError(f"unknown ride {ride_id}", permanent=True)
            taxi = self.taxis.get(ride.taxi) if ride.taxi is not None and ride.state in ("assigned",
                                                                                            "arriving") else None
            if taxi is None:
                driver = self.taxis[ride.taxi].driver if ride.taxi is not None and ride.state == "picked_up" else None
                return RideStatus(state=ride.state, driver=driver, reason=ride.reason)
            assert self.origin is not None
            lat, lon = to_latlon(taxi.x, taxi.y, *self.origin)
            eta = ride.remaining / self.cfg.speed_mps / self.cfg.time_scale
            return RideStatus(state=ride.state, driver=taxi.driver, car_lat=lat, car_lon=lon,
                              heading_deg=taxi.heading, eta_s=round(eta), distance_m=round(ride.remaining))

    def cancel(self, ride_id: str, reason: str) -> None:
        self._fault("cancel")
        with self._lock:
            ride = self.rides.get(ride_id)
            if ride is None or ride.ended:
                return
            if ride.taxi is not None:
                self._free(self.taxis[ride.taxi])
            self._end(ride, "cancelled", reason)

    # ------------------------------------------------------------------ the world
    def _cell(self, x: float, y: float) -> tuple[int, int]:
        return math.floor(x / CELL_M), math.floor(y / CELL_M)

    def _index(self, taxi: Taxi) -> None:
        self._free_cells.setdefault(self._cell(taxi.x, taxi.y), set()).add(taxi.id)

    def _unindex(self, taxi: Taxi) -> None:
        cell = self._free_cells.get(self._cell(taxi.x, taxi.y))
        if cell is not None:
            cell.discard(taxi.id)

    def _free_near(self, x: float, y: float, radius: float) -> list[Taxi]:
        r = math.ceil(radius / CELL_M)
        cx, cy = self._cell(x, y)
        out = []
        for i in range(cx - r, cx + r + 1):
            for j in range(cy - r, cy + r + 1):
                for tid in self._free_cells.get((i, j), ()):
                    taxi = self.taxis[tid]
                    if abs(taxi.x - x) + abs(taxi.y - y) <= radius * 1.5:
                        out.append(taxi)
        return out

    def _grid_point_near(self, x: float, y: float, radius: float) -> tuple[float, float]:
        g = self.cfg.grid_m
        while True:
            dx, dy = self.rng.uniform(-radius, radius), self.rng.uniform(-radius, radius)
            if dx * dx + dy * dy <= radius * radius:
                return round((x + dx) / g) * g, round((y + dy) / g) * g

    def _new_driver(self) -> Driver:
        colour, model, ev = self.rng.choice(FLEETS)
        digits = "".join(self.rng.choice("0123456789") for _ in range(5 if ev else 4))
        plate = f"沪A{'D' if ev else self.rng.choice('BFGTX')}{digits}"
        return Driver(surname=self.rng.choice(SURNAMES), plate=plate, car_colour=colour, car_model=model,
                      phone_tail="".join(self.rng.choice("0123456789") for _ in range(4)))

    def _ensure_taxis(self, x: float, y: float) -> None:
        """Keep ``taxis_per_area`` free taxis near a new pick-up, not counting those other waiting orders nearby
        will take first."""
        radius = self.cfg.spawn_radius_m
        waiting = sum(1 for r in self.rides.values() if r.state == "searching" and r.taxi is None
                      and abs(r.x - x) + abs(r.y - y) <= radius * 1.5)
        missing = self.cfg.taxis_per_area + waiting - len(self._free_near(x, y, radius))
        for _ in range(max(0, missing)):
            tx, ty = self._grid_point_near(x, y, self.cfg.spawn_radius_m)
            taxi = Taxi(id=self._next_taxi, driver=self._new_driver(), x=tx, y=ty)
            self._next_taxi += 1
            self.taxis[taxi.id] = taxi
            self._index(taxi)

    def _path(self, taxi: Taxi, ride: Ride) -> list[tuple[float, float]]:
        """Along the grid: to the road nearest the pick-up point, along it, then the last few metres."""
        g = self.cfg.grid_m
        gx = round(ride.x / g) * g
        pts = [(taxi.x, taxi.y), (gx, taxi.y), (gx, ride.y), (ride.x, ride.y)]
        out = [pts[0]]
        for p in pts[1:]:
            if abs(p[0] - out[-1][0]) + abs(p[1] - out[-1][1]) > 0.01:
                out.append(p)
        return out

    @staticmethod
    def _length(path: list[tuple[float, float]]) -> float:
        return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(path))

    def _free(self, taxi: Taxi) -> None:
        taxi.state, taxi.ride, taxi.path, taxi.stalled_at = "free", None, [], None
        self._index(taxi)

    def _end(self, ride: Ride, state: RideState, reason: str | None = None) -> None:
        ride.state, ride.reason, ride.ended_t = state, reason, self.t

    def step(self, dt: float) -> None:
        """Advance the world by ``dt`` simulated seconds."""
        with self._lock:
            if self.paused:
                return
            self.t += dt
            c = self.cfg
            waiting = sorted((r for r in self.rides.values() if r.state == "searching"),
                             key=lambda r: (not r.request.elderly_priority, r.created))
            for ride in waiting:
                self._match(ride)
            for ride in [r for r in self.rides.values() if r.state in ("assigned", "arriving")]:
                assert ride.taxi is not None
                taxi = self.taxis[ride.taxi]
                if taxi.state == "to_pickup":
                    self._drive(ride, taxi, dt)
                elif taxi.state == "waiting":
                    assert ride.arrived_t is not None
                    if ride.passenger_shows and self.t - ride.arrived_t >= c.board_after_s:
                        self._picked_up(ride, taxi)
                    elif not ride.passenger_shows and self.t - ride.arrived_t >= c.wait_at_pickup_s:
                        self._free(taxi)
                        self._end(ride, "passenger_no_show")
            for taxi in self.taxis.values():
                if taxi.state == "busy" and self.t >= taxi.busy_until:
                    taxi.x, taxi.y = self._grid_point_near(taxi.x, taxi.y, c.spawn_radius_m)
                    self._free(taxi)
            for rid in [r.id for r in self.rides.values() if r.ended_t is not None
                        and self.t - r.ended_t > ENDED_KEEP_S * c.time_scale]:
                ride = self.rides.pop(rid)
                self.by_request.pop(ride.request.request_id, None)

    def _match(self, ride: Ride) -> None:
        c = self.cfg
        if ride.taxi is not None:  # an offer is out: the driver decides
            if self.t < ride.decide_at:
                return
            taxi = self.taxis[ride.taxi]
            if not ride.will_accept:
                ride.declined.add(taxi.id)
                ride.taxi = None
                self._free(taxi)
                return
            taxi.state, taxi.path = "to_pickup", self._path(taxi, ride)
            ride.state = "assigned"
            ride.path_len = ride.remaining = self._length(taxi.path)
            roll = self.rng.random()
            if roll < c.driver_cancel_prob:
                ride.cancel_at = self.rng.uniform(0.2, 0.7)
            elif roll < c.driver_cancel_prob + c.driver_no_show_prob:
                ride.stall_at = self.rng.uniform(0.2, 0.6)
            ride.passenger_shows = self.rng.random() >= c.passenger_no_show_prob
            if ride.remaining <= c.arriving_m:
                ride.state = "arriving"
            return
        candidates = [t for t in self._free_near(ride.x, ride.y, c.spawn_radius_m * 2) if t.id not in ride.declined]
        if not candidates:
            # every taxi around is taken or said no: now and then another driver comes on duty nearby
            if c.taxis_per_area <= 0 or (ride.spawned_t is not None and self.t - ride.spawned_t < RESPAWN_S):
                return
            ride.spawned_t = self.t
            tx, ty = self._grid_point_near(ride.x, ride.y, c.spawn_radius_m)
            taxi = Taxi(id=self._next_taxi, driver=self._new_driver(), x=tx, y=ty)
            self._next_taxi += 1
            self.taxis[taxi.id] = taxi
            candidates = [taxi]
        taxi = min(candidates, key=lambda t: abs(t.x - ride.x) + abs(t.y - ride.y))
        self._unindex(taxi)  # (a taxi that just came on duty was never indexed: nothing to remove)
        taxi.state, taxi.ride = "offered", ride.id
        ride.taxi = taxi.id
        ride.decide_at = self.t + self.rng.uniform(*c.decide_s)
        ride.will_accept = self.rng.random() < c.accept_prob

    def _drive(self, ride: Ride, taxi: Taxi, dt: float) -> None:
        c = self.cfg
        done = 1.0 - (ride.remaining / ride.path_len if ride.path_len else 0.0)
        if ride.cancel_at is not None and done >= ride.cancel_at:
            self._free(taxi)
            self._end(ride, "driver_cancelled", "driver")
            return
        if ride.stall_at is not None and done >= ride.stall_at:
            if taxi.stalled_at is None:
                taxi.stalled_at = self.t
            elif self.t - taxi.stalled_at >= STALL_LIMIT_S:
                self._free(taxi)
                self._end(ride, "driver_cancelled", "no_show")
            return
        move = c.speed_mps * dt
        while move > 0 and len(taxi.path) > 1:
            (x0, y0), (x1, y1) = taxi.path[0], taxi.path[1]
            seg = math.hypot(x1 - x0, y1 - y0)
            if seg > 0:
                taxi.heading = heading(x1 - x0, y1 - y0)
            if move >= seg:
                move -= seg
                taxi.path.pop(0)
                taxi.x, taxi.y = x1, y1
            else:
                f = move / seg
                taxi.x, taxi.y = x0 + (x1 - x0) * f, y0 + (y1 - y0) * f
                taxi.path[0] = (taxi.x, taxi.y)
                move = 0
        ride.remaining = self._length(taxi.path)
        if ride.remaining <= 0.01:
            self._arrived(ride, taxi)
        elif ride.remaining <= c.arriving_m:
            ride.state = "arriving"

    def _arrived(self, ride: Ride, taxi: Taxi) -> None:
        taxi.state, taxi.path = "waiting", []
        ride.state, ride.remaining, ride.arrived_t = "arriving", 0.0, self.t

    def _picked_up(self, ride: Ride, taxi: Taxi) -> None:
        taxi.state, taxi.busy_until = "busy", self.t + self.cfg.trip_s
        self._end(ride, "picked_up")

    def stats(self) -> dict[str, Any]:
        with self._lock:
            states: dict[str, int] = {}
            for taxi in self.taxis.values():
                states[taxi.state] = states.get(taxi.state, 0) + 1
            return {"t": round(self.t, 1), "taxis": len(self.taxis), "taxi_states": states, "rides": len(self.rides),
                    "calls": dict(self.calls)}
