"""The lift guards' dashboard panels (declared in its ``KindSpec``): blocks per lift per day,
staff (false-alarm) releases and longest-hold alarms per day, faults per day by kind, and detect→relay latency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from linli.contract import Kind
from server.dashboards import ChartData, DashboardRegistry, Panel, PanelQuery, Series, local_day, per_day, scoped
from server.dashboards.queries import day_range
from server.db.models import Device

from .models import LiftBlock, LiftBlockDay, LiftFault, outcome


def _blocks(q: PanelQuery):  # type: ignore[no-untyped-def]
    return (select().select_from(LiftBlock).join(Device, LiftBlock.device_id == Device.id)
            .where(LiftBlock.started_at >= q.start, LiftBlock.started_at < q.end))


def _days(q: PanelQuery, keys: tuple[Any, ...], *aggs: Any) -> Any:
    """The roll-up ``lift_block_days`` in the panel's days and sites: day, ``keys``, ``aggs`` grouped by day and
    ``keys``; groups whose blocks all moved elsewhere (a count of 0) are left out, as the raw rows would."""
    r = LiftBlockDay
    return scoped(select(r.day, *keys, *aggs).select_from(r).join(Device, r.device_id == Device.id)
                  .where(*day_range(q, r.day)).group_by(r.day, *keys).having(func.sum(r.n) > 0), q)


def blocks_per_lift(q: PanelQuery) -> ChartData:
    if not q.raw:
        rows = q.session.execute(_days(q, (Device.device,), func.sum(LiftBlockDay.n)))
        return per_day(q, [(d, dev, int(n)) for d, dev, n in rows])
    day = local_day(q, LiftBlock.started_at)
    stmt = _blocks(q).add_columns(day, Device.device, func.count()).group_by(day, Device.device)
    return per_day(q, q.session.execute(scoped(stmt, q)).all())  # type: ignore[arg-type]


def outcomes_per_day(q: PanelQuery) -> ChartData:
    names = {"staff": ("人工解除（误报）", "released by staff (false alarm)"),
             "max_hold": ("超时告警", "longest hold (alarm)"), "other": ("自动解除", "released by itself")}
    out: list[tuple[str, str, int]] = []
    if not q.raw:
        for d, key, n in q.session.execute(_days(q, (LiftBlockDay.outcome,), func.sum(LiftBlockDay.n))):
            out.append((d, names[key][1 if q.lang == "en" else 0], int(n)))
    else:
        day = local_day(q, LiftBlock.started_at)
        rows = q.session.execute(scoped(_blocks(q).add_columns(day, LiftBlock.staff_release, LiftBlock.alarm,
                                                               func.count())
                                        .group_by(day, LiftBlock.staff_release, LiftBlock.alarm), q)).all()
        for d, staff, alarm, n in rows:
            out.append((d, names[outcome(staff, alarm)][1 if q.lang == "en" else 0], int(n)))
    merged: dict[tuple[str, str], int] = {}
    for d, name, n in out:
        merged[(d, name)] = merged.get((d, name), 0) + n
    return per_day(q, [(d, name, n) for (d, name), n in merged.items()])


def faults_per_day(q: PanelQuery) -> ChartData:
    day = local_day(q, LiftFault.started_at)
    stmt = (select(day, LiftFault.fault, func.count()).select_from(LiftFault)
            .join(Device, LiftFault.device_id == Device.id)
            .where(LiftFault.started_at >= q.start, LiftFault.started_at < q.end).group_by(day, LiftFault.fault))
    return per_day(q, q.session.execute(scoped(stmt, q)).all())  # type: ignore[arg-type]


def latency_per_day(q: PanelQuery) -> ChartData:
    rows: dict[str, tuple[Any, Any]]
    if not q.raw:
        r = LiftBlockDay
        stmt = _days(q, (), func.sum(r.latency_n), func.sum(r.latency_us), func.max(r.latency_max))
        rows = {d: (us / 1000 / n if n else None, mx) for d, n, us, mx in q.session.execute(stmt)}
    else:
        day = local_day(q, LiftBlock.started_at)
        stmt = _blocks(q).add_columns(day, func.avg(LiftBlock.latency_ms), func.max(LiftBlock.latency_ms)) \
            .group_by(day)
        rows = {d: (avg, mx) for d, avg, mx in q.session.execute(scoped(stmt, q)).all()}
    names = ("平均", "最长") if q.lang == "zh" else ("mean", "longest")
    return ChartData(q.day_labels, [
        Series(names[0], [round(rows[d][0]) if d in rows and rows[d][0] is not None else None for d in q.day_labels]),
        Series(names[1], [round(rows[d][1]) if d in rows and rows[d][1] is not None else None for d in q.day_labels]),
    ], "ms")


def register(dashboards: DashboardRegistry) -> None:
    k = Kind.lift_guard
    dashboards.add(Panel("lift_guard.blocks", ("每部电梯每日阻车", "Blocks per lift per day"), blocks_per_lift,
                         kind=k, chart="bar", stacked=True, order=10))
    dashboards.add(Panel("lift_guard.outcomes", ("阻车如何解除", "How blocks ended"), outcomes_per_day, kind=k,
                         chart="bar", stacked=True, order=20))
    dashboards.add(Panel("lift_guard.faults", ("设备故障", "Device faults"), faults_per_day, kind=k, chart="bar",
                         stacked=True, order=30))
    dashboards.add(Panel("lift_guard.latency", ("识别到继电器动作时间", "Sight to relay time"), latency_per_day,
                         kind=k, chart="line", order=40))
