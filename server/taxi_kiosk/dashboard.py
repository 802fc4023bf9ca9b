"""The taxi kiosks' dashboard panels (declared in its ``KindSpec``): calls per kiosk per day,
how orders ended, the share that got a car, and how long residents waited. Definitions as in ``stats.py``."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import load_only

from linli.contract import Kind
from linli.i18n import SHANGHAI
from server.dashboards import ChartData, DashboardRegistry, Panel, PanelQuery, Series, local_day, per_day, scoped
from server.db.models import Device

from .models import TaxiOrder
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
    out: dict[str, Figures] = defaultdict(Figures)
    for o in q.session.scalars(scoped(_in_range(q), q)):
        out[o.requested_at.astimezone(SHANGHAI).date().isoformat()].add(o)
    return out


def success_per_day(q: PanelQuery) -> ChartData:
    daily = _daily(q)
    name = "派车成功率" if q.lang == "zh" else "got a car"
    return ChartData(q.day_labels, [Series(name, [daily[d].success_rate if d in daily else None
                                                  for d in q.day_labels])], "%")


def waits_per_day(q: PanelQuery) -> ChartData:
    daily = _daily(q)

    def minutes(v: float | None) -> float | None:
        return round(v / 60.0, 1) if v is not None else None

    names = ("等司机接单", "等车到达") if q.lang == "zh" else ("wait for a driver", "wait for the car")
    return ChartData(q.day_labels, [
        Series(names[0], [minutes(daily[d].median_wait_driver_s) if d in daily else None for d in q.day_labels]),
        Series(names[1], [minutes(daily[d].median_wait_car_s) if d in daily else None for d in q.day_labels]),
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
