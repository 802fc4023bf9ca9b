"""The gate's dashboard panels (declared in its ``KindSpec``): entries and exits per day,
decisions per day, parking fees per day, and door alarms per day."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from linli.contract import Kind, event_types
from linli.contract.gate import DOOR_ALARMS
from server.dashboards import ChartData, DashboardRegistry, Panel, PanelQuery, events_per_day, local_day, per_day
from server.dashboards.queries import day_range
from server.db.models import Device

from .models import GatePassage, GatePassageDay

DECISION_NAMES = {"open": ("放行", "opened"), "deny": ("拒绝", "refused"), "guard": ("待保安", "guard"),
                  "pay": ("待缴费", "fee due"), "manual": ("人工放行", "manual")}


def _sites(stmt: Any, q: PanelQuery, site: Any) -> Any:
    if q.user.sites is not None:
        stmt = stmt.where(site.in_(sorted(q.user.sites)))
    if q.site:
        stmt = stmt.where(site == q.site)
    return stmt


def _passages(q: PanelQuery, split: str) -> list[tuple[str, str, int]]:
    """Passages per day and ``split`` (``direction`` or ``decision``), from the daily roll-up."""
    if q.raw:
        return _passages_raw(q, getattr(GatePassage, split))
    r = GatePassageDay
    column = getattr(r, split)
    stmt = select(r.day, column, func.sum(r.n)).where(*day_range(q, r.day))
    return [(d, k, int(n)) for d, k, n in q.session.execute(_sites(stmt, q, r.site).group_by(r.day, column))]


def _passages_raw(q: PanelQuery, column: object) -> list[tuple[str, str, int]]:
    day = local_day(q, GatePassage.at)
    stmt = (select(day, column, func.count()).select_from(GatePassage).join(Device, GatePassage.device_id == Device.id)
            .where(GatePassage.at >= q.start, GatePassage.at < q.end))
    if q.user.sites is not None:
        stmt = stmt.where(GatePassage.site.in_(sorted(q.user.sites)))
    if q.site:
        stmt = stmt.where(GatePassage.site == q.site)
    return [tuple(r) for r in q.session.execute(stmt.group_by(day, column)).all()]  # type: ignore[misc]


def traffic_per_day(q: PanelQuery) -> ChartData:
    names = {"entry": "入场" if q.lang == "zh" else "in", "exit": "出场" if q.lang == "zh" else "out"}
    rows = [(d, names.get(k, k), n) for d, k, n in _passages(q, "direction")]
    return per_day(q, rows)


def decisions_per_day(q: PanelQuery) -> ChartData:
    rows = [(d, DECISION_NAMES.get(k, (k, k))[1 if q.lang == "en" else 0], n)
            for d, k, n in _passages(q, "decision")]
    return per_day(q, rows)


def fees_per_day(q: PanelQuery) -> ChartData:
    if q.raw:
        return _fees_raw(q)
    r = GatePassageDay
    stmt = select(r.day, func.sum(r.fee_cents)).where(*day_range(q, r.day), r.fee_n > 0)
    rows = [(d, int(c or 0)) for d, c in q.session.execute(_sites(stmt, q, r.site).group_by(r.day))]
    return _fees(q, rows)


def _fees(q: PanelQuery, rows: list[tuple[str, int]]) -> ChartData:
    sums: dict[str, float] = defaultdict(float)
    for d, cents in rows:
        sums[d] += (cents or 0) / 100
    return per_day(q, [(d, "元" if q.lang == "zh" else "yuan", round(v, 2)) for d, v in sums.items()], "¥")


def _fees_raw(q: PanelQuery) -> ChartData:
    day = local_day(q, GatePassage.at)
    stmt = (select(day, func.sum(GatePassage.fee_cents)).select_from(GatePassage)
            .where(GatePassage.at >= q.start, GatePassage.at < q.end, GatePassage.direction == "exit",
                   GatePassage.opened.is_(True), GatePassage.fee_cents.is_not(None)))
    if q.user.sites is not None:
        stmt = stmt.where(GatePassage.site.in_(sorted(q.user.sites)))
    if q.site:
        stmt = stmt.where(GatePassage.site == q.site)
    return _fees(q, [(d, c) for d, c in q.session.execute(stmt.group_by(day))])


def door_alarms_per_day(q: PanelQuery) -> ChartData:
    return events_per_day(q, kind=Kind.gate, types=event_types(*DOOR_ALARMS))


def register(dashboards: DashboardRegistry) -> None:
    dashboards.add(Panel("gate.traffic", ("每日车辆进出", "Vehicles in and out per day"), traffic_per_day,
                         kind=Kind.gate, chart="bar", order=10))
    dashboards.add(Panel("gate.decisions", ("每日通行结果", "Gate decisions per day"), decisions_per_day,
                         kind=Kind.gate, chart="bar", stacked=True, order=20))
    dashboards.add(Panel("gate.fees", ("每日停车收费", "Parking fees per day"), fees_per_day, kind=Kind.gate,
                         chart="line", order=30))
    dashboards.add(Panel("gate.door_alarms", ("每日门禁报警", "Door alarms per day"), door_alarms_per_day,
                         kind=Kind.gate, chart="bar", stacked=True, order=40))
