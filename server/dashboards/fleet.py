"""The spine's panels: the fleet overview (every kind) and, for each kind, its events, alarms and reporting rate.
Kind engineers add their own panels beside these (see ``registry.py``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, select, true, union_all
from sqlalchemy.orm import Session

from linli.contract import Kind, utcnow
from server.auth import User
from server.dashboards.queries import day_range, events_per_day, local_day, per_day, scoped
from server.dashboards.registry import ChartData, DashboardRegistry, Panel, PanelQuery, Series
from server.db.models import Device, ReportingDay, Telemetry
from server.db.types import UtcDateTime
from server.workorders.flow import OPEN_STATES
from server.workorders.models import WorkOrder
from server.workorders.service import overdue_clause, visible_orders


def devices_by_site_kind(q: PanelQuery) -> ChartData:
    stmt = scoped(select(Device.site, Device.kind, func.count()).group_by(Device.site, Device.kind), q)
    rows = q.session.execute(stmt).all()
    sites = sorted({r[0] for r in rows})
    kinds = sorted({r[1] for r in rows})
    table = {(s, k): n for s, k, n in rows}
    return ChartData(sites, [Series(k, [table.get((s, k), 0) for s in sites]) for k in kinds])


def reporting_rate(q: PanelQuery, kind: Kind | None = None) -> ChartData:
    """Per day: the share (%) of registered devices that sent telemetry that day, per kind — the online rate
    measured from heartbeats, day by day. Read from the daily roll-up ``reporting_days`` (one row per device and
    day it reported), so the cost does not grow with the telemetry rate or the months kept."""
    if q.raw:
        return _reporting_rate_raw(q, kind)
    stmt = (select(ReportingDay.day, Device.kind, func.count()).select_from(ReportingDay)
            .join(Device, ReportingDay.device_id == Device.id).where(*day_range(q, ReportingDay.day))
            .group_by(ReportingDay.day, Device.kind))
    if kind is not None:
        stmt = stmt.where(Device.kind == kind.value)
    reporting = {(d, k): n for d, k, n in q.session.execute(scoped(stmt, q))}
    return _rates(q, kind, reporting)


def _reporting_rate_raw(q: PanelQuery, kind: Kind | None) -> ChartData:
    """The same from the telemetry rows: "did this device report that day", one probe of the ``(device_id, ts)``
    index per device and day."""
    days = union_all(*[select(literal(i).label("i"), literal(PanelQuery(q.session, q.user, d, d).start,
                                                                   UtcDateTime()).label("lo"),
                              literal(PanelQuery(q.session, q.user, d, d).end, UtcDateTime()).label("hi"))
                       for i, d in enumerate(q.days)]).subquery("days")
    # a correlated probe with LIMIT 1 (not EXISTS, which the planner may turn into a join over every row)
    sent = (select(literal(1)).where(Telemetry.device_id == Device.id, Telemetry.ts >= days.c.lo,
                                     Telemetry.ts < days.c.hi).limit(1).correlate(Device, days).scalar_subquery())
    stmt = select(days.c.i, Device.kind, func.count()).select_from(Device).join(days, true()) \
        .where(sent.is_not(None)).group_by(days.c.i, Device.kind)
    if kind is not None:
        stmt = stmt.where(Device.kind == kind.value)
    return _rates(q, kind, {(q.day_labels[i], k): n for i, k, n in q.session.execute(scoped(stmt, q))})


def _rates(q: PanelQuery, kind: Kind | None, reporting: dict[tuple[str, str], int]) -> ChartData:
    """Reporting devices per (day, kind) → the share of the devices registered by the end of that day."""
    reg = select(Device.kind, Device.first_seen)
    if kind is not None:
        reg = reg.where(Device.kind == kind.value)
    registered = q.session.execute(scoped(reg, q)).all()
    kinds = sorted({k for k, _ in registered})
    series = []
    for k in kinds:
        values: list[float | int | None] = []
        for day, label in zip(q.days, q.day_labels, strict=True):
            end = PanelQuery(q.session, q.user, day, day).end
            total = sum(1 for kk, first in registered if kk == k and first < end)
            # no device registered yet that day: a gap, not a misleading 0 %
            values.append(round(100.0 * reporting.get((label, k), 0) / total, 1) if total else None)
        series.append(Series(k, values))
    return ChartData(q.day_labels, series, "%")


def work_orders_per_day(q: PanelQuery) -> ChartData:
    rows: list[tuple[str, str, int]] = []
    for col, name in ((WorkOrder.created_at, "opened"), (WorkOrder.closed_at, "closed")):
        day = local_day(q, col)
        stmt = visible_orders(select(day, func.count()).where(col >= q.start, col < q.end).group_by(day), q.user)
        if q.site:
            stmt = stmt.where(WorkOrder.site == q.site)
        rows += [(d, name, n) for d, n in q.session.execute(stmt)]
    return per_day(q, rows)


def faults(q: PanelQuery) -> ChartData:
    """Work orders opened in the range by fault (top 12), split open / closed."""
    stmt = visible_orders(select(WorkOrder.fault, WorkOrder.state, func.count())
                          .where(WorkOrder.created_at >= q.start, WorkOrder.created_at < q.end)
                          .group_by(WorkOrder.fault, WorkOrder.state), q.user)
    if q.site:
        stmt = stmt.where(WorkOrder.site == q.site)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fault, state, n in q.session.execute(stmt):
        counts[fault][1 if state == "closed" else 0] += n
    top = sorted(counts.items(), key=lambda kv: -sum(kv[1]))[:12]
    return ChartData([f for f, _ in top], [Series("open", [c[0] for _, c in top]),
                                           Series("closed", [c[1] for _, c in top])])


def _kind_panels(kind: Kind) -> list[Panel]:
    k = kind.value
    return [
        Panel(f"{k}.events", ("每日事件（按类型）", "Events per day by type"),
              lambda q: events_per_day(q, kind=kind, split="type"), kind=kind, chart="bar", stacked=True, order=900),
        Panel(f"{k}.alarms", ("每日告警（按设备）", "Alarms per day by device"),
              lambda q: events_per_day(q, kind=kind, severity="alarm", split="device"), kind=kind, chart="bar",
              stacked=True, order=910),
        Panel(f"{k}.reporting", ("每日在线率（有心跳的设备占比）", "Daily online rate (devices reporting)"),
              lambda q: reporting_rate(q, kind), kind=kind, chart="line", order=920),
    ]


def register(dashboards: DashboardRegistry) -> None:
    dashboards.add(Panel("fleet.devices", ("各小区设备（按类型）", "Devices by site and kind"), devices_by_site_kind,
                         chart="bar", stacked=True, ranged=False, order=10))
    dashboards.add(Panel("fleet.events", ("每日事件（按类型）", "Events per day by kind"),
                         lambda q: events_per_day(q, split="kind"), chart="bar", stacked=True, order=20))
    dashboards.add(Panel("fleet.alarms", ("每日告警（按类型）", "Alarms per day by kind"),
                         lambda q: events_per_day(q, severity="alarm", split="kind"), chart="line", order=30))
    dashboards.add(Panel("fleet.reporting", ("每日在线率（有心跳的设备占比）", "Daily online rate (devices reporting)"),
                         reporting_rate, chart="line", order=40,
                         description=("当天发送过遥测的设备占已登记设备的百分比",
                                      "share of registered devices that sent telemetry that day")))
    dashboards.add(Panel("fleet.workorders", ("每日工单 新开/结案", "Work orders opened / closed per day"),
                         work_orders_per_day, chart="bar", order=50))
    dashboards.add(Panel("fleet.faults", ("故障类型（区间内新开工单）", "Faults (orders opened in range)"), faults,
                         chart="bar", stacked=True, order=60))
    for kind in Kind:
        for p in _kind_panels(kind):
            dashboards.add(p)


# ------------------------------------------------------------------------------------------ summary (cards, SSE)
@dataclass
class KindSiteRow:
    site: str
    kind: str
    devices: int
    online: int
    last_seen: datetime | None
    open_orders: int

    @property
    def online_rate(self) -> float:
        return round(100.0 * self.online / self.devices, 1) if self.devices else 0.0


def fleet_rows(s: Session, user: User, site: str | None = None) -> list[KindSiteRow]:
    q = PanelQuery(s, user, utcnow().date(), utcnow().date(), site)
    online = func.sum(case((Device.state == "online", 1), else_=0))
    stmt = scoped(select(Device.site, Device.kind, func.count(), online, func.max(Device.last_seen))
                  .group_by(Device.site, Device.kind), q)
    orders = visible_orders(select(WorkOrder.site, Device.kind, func.count())
                            .join(Device, WorkOrder.device_id == Device.id)
                            .where(WorkOrder.state.in_(OPEN_STATES)).group_by(WorkOrder.site, Device.kind), user)
    open_by = {(st, k): n for st, k, n in s.execute(orders)}
    return [KindSiteRow(st, k, n, int(on or 0), last, open_by.get((st, k), 0))
            for st, k, n, on, last in s.execute(stmt.order_by(Device.site, Device.kind))]


def summary(s: Session, user: User, kind: str | None = None) -> dict[str, Any]:
    """Headline figures for the cards and the live stream: the whole fleet, or one kind's devices and orders."""
    rows = [r for r in fleet_rows(s, user) if kind is None or r.kind == kind]
    now = utcnow()

    def orders(stmt: Any) -> int:
        if kind is not None:
            stmt = stmt.join(Device, WorkOrder.device_id == Device.id).where(Device.kind == kind)
        return int(s.scalar(visible_orders(stmt, user)) or 0)

    base = select(func.count()).select_from(WorkOrder)
    devices = sum(r.devices for r in rows)
    online = sum(r.online for r in rows)
    return {"devices": devices, "online": online, "offline": devices - online,
            "online_rate": round(100.0 * online / devices, 1) if devices else 0.0,
            "open_orders": orders(base.where(WorkOrder.state.in_(OPEN_STATES))),
            "overdue_orders": orders(base.where(overdue_clause(now)))}
