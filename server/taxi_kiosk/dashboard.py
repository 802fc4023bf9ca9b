"""The taxi kiosks' dashboard panels (declared in its ``KindSpec``): calls per kiosk per day,
how orders ended, the share that got a car, and how long residents waited. Definitions as in ``stats.py``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Float, and_, case, func, or_, select
from sqlalchemy.orm import load_only

from linli.contract import Kind
from linli.i18n import SHANGHAI
from server.dashboards import ChartData, DashboardRegistry, Panel, PanelQuery, Series, local_day, per_day, scoped
from server.db.models import Device

from .models import ACTIVE, TaxiOrder
from .stats import Figures


def _in_range(q: PanelQuery):  # type: ignore[no-untyped-def]
    # only the columns the figures read (a fortnight of a district's orders is tens of thousands of rows)
    return (select(TaxiOrder).join(Device, TaxiOrder.device_id == Device.id)
            .options(load_only(TaxiOrder.requested_at, TaxiOrder.assigned_at, TaxiOrder.arrived_at,
                               TaxiOrder.state, TaxiOrder.cancel_requested))
            .where(TaxiOrder.requested_at >= q.start, TaxiOrder.requested_at < q.end))


def calls_per_day(q: PanelQuery) -> ChartData:
    day = local_day(q, TaxiOrder.requested_at)
    stmt = (select(day, Device.device, func.count()).select_from(TaxiOrder)
            .join(Device, TaxiOrder.device_id == Device.id)
            .where(TaxiOrder.requested_at >= q.start, TaxiOrder.requested_at < q.end).group_by(day, Device.device))
    return per_day(q, q.session.execute(scoped(stmt, q)).all())  # type: ignore[arg-type]


def outcomes_per_day(q: PanelQuery) -> ChartData:
    day = local_day(q, TaxiOrder.requested_at)
    stmt = (select(day, TaxiOrder.state, func.count()).select_from(TaxiOrder)
            .join(Device, TaxiOrder.device_id == Device.id)
            .where(TaxiOrder.requested_at >= q.start, TaxiOrder.requested_at < q.end).group_by(day, TaxiOrder.state))
    return per_day(q, q.session.execute(scoped(stmt, q)).all())  # type: ignore[arg-type]


def _daily(q: PanelQuery) -> dict[str, Figures]:
    """Every order of the range as ``stats.Figures`` per day (the definitions, row by row: ``q.raw``)."""
    out: dict[str, Figures] = defaultdict(Figures)
    for o in q.session.scalars(scoped(_in_range(q), q)):
        out[o.requested_at.astimezone(SHANGHAI).date().isoformat()].add(o)
    return out


def _success_rates(q: PanelQuery) -> dict[str, float | None]:
    """``Figures.success_rate`` per day, counted in the database (a district's fortnight is tens of thousands of
    orders: the rows are not brought over). Orders change state after they are made (dispatch, the kiosk, the
    API), so this reads the orders, not a roll-up kept at ingest."""
    if q.raw:
        return {d: f.success_rate for d, f in _daily(q).items()}
    o = TaxiOrder
    day = local_day(q, o.requested_at)
    early = and_(o.state == "cancelled", o.assigned_at.is_(None),
                 or_(o.cancel_requested.in_(("resident", "staff")), o.cancel_requested.is_(None)))
    waiting = and_(o.state.in_(ACTIVE), o.assigned_at.is_(None))
    stmt = (select(day, func.count(), func.count(o.assigned_at), func.count(case((early, 1))),
                   func.count(case((waiting, 1))))
            .select_from(o).join(Device, o.device_id == Device.id)
            .where(o.requested_at >= q.start, o.requested_at < q.end).group_by(day))
    out: dict[str, float | None] = {}
    for d, calls, assigned, cancelled_early, active_unassigned in q.session.execute(scoped(stmt, q)):
        f = Figures(calls=calls, assigned=assigned, cancelled_early=cancelled_early,
                    active_unassigned=active_unassigned)
        out[d] = f.success_rate
    return out


def _median_waits(q: PanelQuery) -> dict[str, tuple[float | None, float | None]]:
    """Per day, the median seconds from the tap to a driver and to the car (``Figures``' medians). PostgreSQL
    takes the medians itself (``percentile_cont``); SQLite (one compound) gets the three times of each order."""
    if q.raw:
        return {d: (f.median_wait_driver_s, f.median_wait_car_s) for d, f in _daily(q).items()}
    o = TaxiOrder
    day = local_day(q, o.requested_at)
    base = (select().select_from(o).join(Device, o.device_id == Device.id)
            .where(o.requested_at >= q.start, o.requested_at < q.end,
                   or_(o.assigned_at.is_not(None), o.arrived_at.is_not(None))))
    out: dict[str, tuple[float | None, float | None]] = {}
    if q.session.get_bind().dialect.name == "postgresql":
        def median(col: Any) -> Any:
            secs = func.extract("epoch", col - o.requested_at).cast(Float)
            return func.percentile_cont(0.5).within_group(secs).filter(col.is_not(None))

        stmt = base.add_columns(day, median(o.assigned_at), median(o.arrived_at)).group_by(day)
        for d, driver, car in q.session.execute(scoped(stmt, q)):
            out[d] = (round(driver, 1) if driver is not None else None, round(car, 1) if car is not None else None)
        return out
    daily: dict[str, Figures] = defaultdict(Figures)
    stmt = base.add_columns(o.requested_at, o.assigned_at, o.arrived_at)
    for req, assigned, arrived in q.session.execute(scoped(stmt, q)):
        f = daily[req.astimezone(SHANGHAI).date().isoformat()]
        if assigned is not None:
            f.wait_driver_s.append((assigned - req).total_seconds())
        if arrived is not None:
            f.wait_car_s.append((arrived - req).total_seconds())
    return {d: (f.median_wait_driver_s, f.median_wait_car_s) for d, f in daily.items()}


def success_per_day(q: PanelQuery) -> ChartData:
    rates = _success_rates(q)
    name = "派车成功率" if q.lang == "zh" else "got a car"
    return ChartData(q.day_labels, [Series(name, [rates.get(d) for d in q.day_labels])], "%")


def waits_per_day(q: PanelQuery) -> ChartData:
    waits = _median_waits(q)

    def minutes(v: float | None) -> float | None:
        return round(v / 60.0, 1) if v is not None else None

    names = ("等司机接单", "等车到达") if q.lang == "zh" else ("wait for a driver", "wait for the car")
    return ChartData(q.day_labels, [
        Series(names[0], [minutes(waits[d][0]) if d in waits else None for d in q.day_labels]),
        Series(names[1], [minutes(waits[d][1]) if d in waits else None for d in q.day_labels]),
    ], "min")


def register(dashboards: DashboardRegistry) -> None:
    k = Kind.taxi_kiosk
    dashboards.add(Panel("taxi_kiosk.calls", ("每个叫车屏每日叫车次数", "Calls per kiosk per day"), calls_per_day,
                         kind=k, chart="bar", stacked=True, order=10))
    dashboards.add(Panel("taxi_kiosk.outcomes", ("每日订单结果", "How orders ended, per day"), outcomes_per_day,
                         kind=k, chart="bar", stacked=True, order=20))
    dashboards.add(Panel("taxi_kiosk.success", ("每日派车成功率", "Share of calls that got a car, per day"),
                         success_per_day, kind=k, chart="line", order=30,
                         description=("有司机接单的订单 ÷ 已有结果的订单（不计乘客在派车前自己取消的）",
                                      "Orders a driver accepted ÷ orders decided (leaving out early cancels)")))
    dashboards.add(Panel("taxi_kiosk.waits", ("每日候车时间（中位数，分钟）", "Median waits per day (minutes)"),
                         waits_per_day, kind=k, chart="line", order=40))
