"""The dispatcher: takes the orders the kiosks sent, gets them a car through the provider, and tells the kiosks.

One loop (``tick_s``, woken at once when ingest stores a new order or a kiosk asks for its state):

1. claim the active orders (a lease per server worker, so several workers can share one database);
2. apply the answers of the provider calls that finished, and count the ones that took too long as failures;
3. for each order decide the next step — ask for a ride, check the ride, cancel it, give up (``search_timeout_s``:
   ``no_driver``, or ``unavailable`` when the platform never answered), start a new search after a driver
   cancelled (up to ``max_attempts``);
4. write it all (order, history, the ``order_update`` commands) in one transaction, then publish the commands.

Provider calls run in worker threads (``workers``) with a time limit (``provider_timeout_s``); failures are retried
with back-off (``retry_initial_s`` … ``retry_max_s``), and ``request`` is idempotent by order id + attempt, so a
retry after a timeout never orders a second car.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import func, inspect, or_, select, update

from linli import contract
from linli.contract import DeviceRef, Kind, utcnow
from linli.contract.taxi_kiosk import CMD_ORDER_UPDATE, CarPosition, Driver, OrderState, OrderUpdate, Place
from server.db.engine import Database
from server.db.models import Command, Device
from server.db.types import json_safe
from server.worker import LoopWorker

from .geo import to_xy
from .models import ACTIVE, TaxiOrder, TaxiOrderStep
from .provider import ProviderTimeout, RideRequest, RideStatus, TaxiProvider
from .settings import TaxiSettings

log = logging.getLogger(__name__)
BY = "taxi-dispatch"
#: ETA / distance changes worth telling the kiosk about (besides state changes)
ETA_STEP_S = 20
DISTANCE_STEP_M = 50

_wakers: set[Callable[[], None]] = set()
_wakers_lock = threading.Lock()


def notify_new_work() -> None:
    """Wake every dispatcher in this process (ingest calls it after committing an order or a request)."""
    with _wakers_lock:
        fns = list(_wakers)
    for fn in fns:
        fn()


class DispatchMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.ended = Counter("linli_taxi_orders_ended", "taxi orders ended, by final state", ["state"],
                             registry=registry)
        self.calls = Counter("linli_taxi_provider_calls", "taxi provider calls", ["op", "result"], registry=registry)
        self.pushes = Counter("linli_taxi_order_updates", "order_update commands sent to kiosks", registry=registry)
        self.active = Gauge("linli_taxi_orders_active", "taxi orders being dispatched by this worker",
                            registry=registry)


@dataclass
class _Call:
    op: str
    future: Future[Any]
    started: float
    final: str | None = None  #: for cancel: the state the order ends in


class Dispatcher:
    def __init__(self, db: Database, publish: Callable[[str, bytes], bool], provider: TaxiProvider,
                 cfg: TaxiSettings, worker: str, metrics: DispatchMetrics | None = None) -> None:
        self.db = db
        self.publish = publish
        self.provider = provider
        self.cfg = cfg
        self.worker = worker
        self.metrics = metrics or DispatchMetrics(None)
        self._calls: dict[str, _Call] = {}
        self._streak: dict[str, int] = {}
        self._polled: dict[str, float] = {}
        self._refs: dict[int, DeviceRef] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.loop = LoopWorker("taxi-dispatch", self.tick, lambda: self.cfg.tick_s, first="wait",
                                 error_pause_s=lambda: min(5.0, self.cfg.retry_initial_s))
        self.ticks = 0

    @property
    def errors(self) -> int:
        return self.loop.errors

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.cfg.workers, thread_name_prefix="taxi-provider")
        with _wakers_lock:
            _wakers.add(self.loop.wake)
        self.loop.start()

    def stop(self) -> None:
        with _wakers_lock:
            _wakers.discard(self.loop.wake)
        self.loop.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._release()

    def _release(self) -> None:
        """Hand our orders back at once (a clean stop), so another worker takes them without waiting the lease."""
        try:
            with self.db.session() as s:
                s.execute(update(TaxiOrder).where(TaxiOrder.worker == self.worker)
                          .values(worker=None, lease_until=None))
        except Exception:
            log.warning("could not release the taxi orders of %s", self.worker, exc_info=True)

    def wake(self) -> None:
        self.loop.wake()

    # ------------------------------------------------------------------ one round
    def tick(self) -> None:
        """One round in three short transactions, so that ingest is never kept waiting: claim (a write), read
        (no lock), then write what changed. (SQLite: a transaction that reads and then writes fails when another
        writer committed in between; PostgreSQL: row locks are held only for the last step.)"""
        self.ticks += 1
        now = utcnow()
        mono = time.monotonic()
        done = self._collect(mono)
        pushes: list[tuple[str, bytes, str]] = []
        submit: list[tuple[TaxiOrder, str, tuple[Any, ...], str | None]] = []
        new_rows: list[Any] = []
        todo = or_(TaxiOrder.state.in_(ACTIVE), TaxiOrder.resend.is_(True))
        with self.db.session() as s:
            self._claim(s, now, todo)
        with self.db.session() as s:
            orders = list(s.scalars(select(TaxiOrder).where(todo, TaxiOrder.worker == self.worker)
                                    .order_by(TaxiOrder.stored_at)))
            self._resolve_refs(s, {o.device_id for o in orders})
        self.metrics.active.set(sum(1 for o in orders if o.active))
        by_id = {o.id: o for o in orders}
        for oid, call, outcome in done:
            o = by_id.get(oid)
            if o is not None:
                self._apply(new_rows, o, call, outcome, now)
        for o in orders:
            if o.id not in self._calls:
                self._plan(new_rows, o, now, mono, submit)
            self._maybe_push(new_rows, o, now, pushes)
        for gone in set(self._streak) - set(by_id):
            self._streak.pop(gone, None)
        for gone in set(self._polled) - set(by_id):
            self._polled.pop(gone, None)
        changed = [o for o in orders if inspect(o).modified]
        if changed or new_rows:
            with self.db.session() as s:
                s.add_all(changed)  # detached rows come back: only the columns changed here are written
                s.add_all(new_rows)
        sent = [cid for topic, payload, cid in pushes if self.publish(topic, payload)]
        if sent:
            self.metrics.pushes.inc(len(sent))
            with self.db.session() as s:
                s.execute(update(Command).where(Command.id.in_(sent), Command.state == "pending")
                          .values(state="sent", sent_at=utcnow()))
        for o, op, args, final in submit:
            self._submit(o.id, op, args, final)

    def _claim(self, s: Any, now: datetime, todo: Any) -> None:
        """Take the orders nobody holds (or whose holder's lease ran out) and renew ours before they run out."""
        half = now + timedelta(seconds=self.cfg.lease_s / 2)
        s.execute(update(TaxiOrder).where(
            todo, or_(TaxiOrder.worker.is_(None), TaxiOrder.lease_until < now,
                      (TaxiOrder.worker == self.worker) & (TaxiOrder.lease_until < half)))
            .values(worker=self.worker, lease_until=now + timedelta(seconds=self.cfg.lease_s)))

    def _resolve_refs(self, s: Any, device_ids: set[int]) -> None:
        missing = device_ids - set(self._refs)
        if missing:
            for d in s.scalars(select(Device).where(Device.id.in_(sorted(missing)))):
                self._refs[d.id] = DeviceRef(d.site, Kind(d.kind), d.device)

    # ------------------------------------------------------------------ provider calls
    def _submit(self, order_id: str, op: str, args: tuple[Any, ...], final: str | None) -> None:
        assert self._pool is not None
        fn = {"request": self.provider.request, "status": self.provider.status, "cancel": self.provider.cancel}[op]
        try:
            fut = self._pool.submit(fn, *args)
        except RuntimeError:  # shutting down
            return
        self._calls[order_id] = _Call(op, fut, time.monotonic(), final)
        fut.add_done_callback(lambda _f: self.loop.wake())  # the answer is handled at once, not a tick later

    def _collect(self, mono: float) -> list[tuple[str, _Call, Any]]:
        out = []
        for oid, call in list(self._calls.items()):
            if call.future.done():
                exc = call.future.exception()
                out.append((oid, call, exc if exc is not None else call.future.result()))
            elif mono - call.started > self.cfg.provider_timeout_s:
                limit = self.cfg.provider_timeout_s
                out.append((oid, call, ProviderTimeout(f"{call.op} took longer than {limit:g} s")))
            else:
                continue
            del self._calls[oid]
        return out

    # ------------------------------------------------------------------ what happened
    def _step(self, rows: list[Any], o: TaxiOrder, now: datetime, step: str, **detail: Any) -> None:
        rows.append(TaxiOrderStep(order_id=o.id, at=now, step=step, detail=json_safe(detail)))

    def _end(self, rows: list[Any], o: TaxiOrder, now: datetime, state: str, note: str | None = None,
             **detail: Any) -> None:
        o.state, o.ended_at = state, now
        if note is not None:
            o.note = note
        if state == "picked_up":
            o.picked_up_at = now
            o.arrived_at = o.arrived_at or now  # the car was there, whether or not we saw it arrive
        self._step(rows, o, now, state, **detail)
        self.metrics.ended.labels(state).inc()
        log.info("taxi order %s %s%s", o.id, state, f" ({note})" if note else "")

    def _apply(self, rows: list[Any], o: TaxiOrder, call: _Call, outcome: Any, now: datetime) -> None:
        if isinstance(outcome, BaseException):
            timeout = isinstance(outcome, ProviderTimeout | TimeoutError)
            self.metrics.calls.labels(call.op, "timeout" if timeout else "error").inc()
            o.provider_errors += 1
            o.last_error = f"{call.op}: {outcome}"[:500]
            streak = self._streak[o.id] = self._streak.get(o.id, 0) + 1
            self._step(rows, o, now, "provider_timeout" if timeout else "provider_error", op=call.op,
                       error=str(outcome)[:300], streak=streak)
            if call.op == "cancel" and (streak >= 3 or getattr(outcome, "permanent", False)):
                self._end(rows, o, now, call.final or "cancelled", o.cancel_requested or "timeout")  # best effort
                return
            if getattr(outcome, "permanent", False) and o.active:
                self._end(rows, o, now, "unavailable", "provider_error", error=str(outcome)[:300])
                return
            delay = min(self.cfg.retry_max_s, self.cfg.retry_initial_s * 2 ** (streak - 1))
            o.next_try_at = now + timedelta(seconds=delay)
            return
        self.metrics.calls.labels(call.op, "ok").inc()
        self._streak.pop(o.id, None)
        o.next_try_at = None
        if not o.active:
            return
        if call.op == "request":
            o.ride_id = str(outcome)
            o.attempts += 1
            o.provider = self.provider.name
            if o.state == "requested":
                o.state = "searching"
            self._step(rows, o, now, "ride_requested", ride_id=o.ride_id, attempt=o.attempts)
        elif call.op == "cancel":
            self._end(rows, o, now, call.final or "cancelled", o.cancel_requested or "timeout")
        else:
            assert isinstance(outcome, RideStatus)
            self._on_status(rows, o, outcome, now)

    def _on_status(self, rows: list[Any], o: TaxiOrder, st: RideStatus, now: datetime) -> None:
        if st.state in ("assigned", "arriving"):
            if st.driver is not None:
                o.driver = st.driver.model_dump(mode="json")
            o.eta_s, o.distance_m = st.eta_s, st.distance_m
            if st.car_lat is not None and st.car_lon is not None:
                place = Place.model_validate(o.place)
                dx, dy = to_xy(st.car_lat, st.car_lon, place.lat, place.lon)
                o.car = CarPosition(dx_m=max(-50_000, min(50_000, dx)), dy_m=max(-50_000, min(50_000, dy)),
                                    heading_deg=st.heading_deg % 360).model_dump(mode="json")
            if o.assigned_at is None or o.state in ("requested", "searching"):
                o.assigned_at = o.assigned_at or now
                o.first_eta_s = st.eta_s
                self._step(rows, o, now, "assigned", plate=(st.driver.plate if st.driver else None), eta_s=st.eta_s,
                           distance_m=st.distance_m, attempt=o.attempts)
            if st.state == "arriving" and o.state != "arriving":
                o.arrived_at = o.arrived_at or now
                self._step(rows, o, now, "arriving", distance_m=st.distance_m)
            o.state = st.state
        elif st.state == "picked_up":
            self._end(rows, o, now, "picked_up")
        elif st.state == "passenger_no_show":
            self._end(rows, o, now, "no_show")
        elif st.state == "no_driver":
            self._end(rows, o, now, "no_driver")
        elif st.state in ("driver_cancelled", "cancelled"):
            note = "driver_no_show" if st.reason == "no_show" else "driver_cancelled"
            self._step(rows, o, now, note, ride_id=o.ride_id, attempt=o.attempts)
            if o.attempts >= self.cfg.max_attempts:
                self._end(rows, o, now, "no_driver", note)
                return
            o.ride_id, o.driver, o.car, o.eta_s, o.distance_m = None, None, None, None, None
            o.state, o.note, o.search_started_at = "searching", note, now

    # ------------------------------------------------------------------ what to do next
    def _plan(self, rows: list[Any], o: TaxiOrder, now: datetime, mono: float,
              submit: list[tuple[TaxiOrder, str, tuple[Any, ...], str | None]]) -> None:
        if not o.active:
            return
        if o.cancel_requested:
            if o.ride_id is None:
                self._end(rows, o, now, "cancelled", o.cancel_requested)
            elif o.next_try_at is None or now >= o.next_try_at:
                submit.append((o, "cancel", (o.ride_id, o.cancel_requested), "cancelled"))
            return
        started = o.search_started_at or o.stored_at
        if o.state in ("requested", "searching") and now - started > timedelta(seconds=self.cfg.search_timeout_s):
            if o.ride_id is None:
                self._end(rows, o, now, "unavailable" if o.provider_errors else "no_driver", "timeout",
                          errors=o.provider_errors)
            else:
                o.cancel_requested = None
                submit.append((o, "cancel", (o.ride_id, "no_driver"), "no_driver"))
            return
        if o.next_try_at is not None and now < o.next_try_at:
            return
        if o.ride_id is None:
            place = Place.model_validate(o.place)
            ref = self._refs.get(o.device_id)
            req = RideRequest(request_id=f"{o.id}-{o.attempts + 1}", order_id=o.id, place=place,
                              elderly_priority=o.elderly_priority, phone=o.phone, kiosk=ref.key if ref else "")
            if o.search_started_at is None:
                o.search_started_at = now
            submit.append((o, "request", (req,), None))
        elif mono - self._polled.get(o.id, 0.0) >= self.cfg.poll_interval_s:
            self._polled[o.id] = mono
            submit.append((o, "status", (o.ride_id,), None))

    # ------------------------------------------------------------------ telling the kiosk
    def _maybe_push(self, rows: list[Any], o: TaxiOrder, now: datetime, pushes: list[tuple[str, bytes, str]]) -> None:
        wire = "searching" if o.state == "requested" else o.state
        due = o.resend or wire != o.pushed_state
        if not due and o.state in ("assigned", "arriving"):
            quiet = o.pushed_at is None or (now - o.pushed_at).total_seconds() >= self.cfg.push_min_interval_s
            moved = (abs((o.eta_s or 0) - (o.pushed_eta_s or 0)) >= ETA_STEP_S
                     or abs((o.distance_m or 0) - (o.pushed_distance_m or 0)) >= DISTANCE_STEP_M)
            due = quiet and moved
        if not due:
            return
        ref = self._refs.get(o.device_id)
        if ref is None:
            return
        o.resend = False
        o.seq += 1
        show_car = o.state in ("assigned", "arriving")
        upd = OrderUpdate(order_id=o.id, seq=o.seq, state=OrderState(wire), at=now,
                          driver=Driver.model_validate(o.driver) if show_car and o.driver else None,
                          eta_s=o.eta_s if show_car else None, distance_m=o.distance_m if show_car else None,
                          car=CarPosition.model_validate(o.car) if show_car and o.car else None,
                          note=o.note if o.note in ("driver_cancelled", "driver_no_show", "superseded", "staff")
                          else None)
        cmd = contract.Command.make(by=BY, args=upd.model_dump(mode="json"), ttl_s=self.cfg.push_ttl_s)
        rows.append(Command(id=cmd.id, device_id=o.device_id, name=CMD_ORDER_UPDATE, args=cmd.args, by=BY,
                         created_at=cmd.issued, expires=cmd.expires, state="pending"))
        o.pushed_state, o.pushed_at, o.pushed_eta_s, o.pushed_distance_m = wire, now, o.eta_s, o.distance_m
        pushes.append((ref.cmd_topic(CMD_ORDER_UPDATE), cmd.encode(), cmd.id))

    # ------------------------------------------------------------------ views
    def active_count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(TaxiOrder).where(TaxiOrder.state.in_(ACTIVE)))
                       or 0)

