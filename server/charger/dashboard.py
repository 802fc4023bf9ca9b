"""The charging piles' dashboard panels (declared in its ``KindSpec``): energy and revenue
per pile per day, sessions by stop reason, and safety cut-offs per day. Bills count on the day they ended."""

from __future__ import annotations

from sqlalchemy import func, select

from linli.contract import Kind
from linli.contract.charger import Fault
from server.dashboards import (
    ChartData,
    DashboardRegistry,
    Panel,
    PanelQuery,
    events_per_day,
    local_day,
    per_day,
    scoped,
)
from server.dashboards.queries import day_range
from server.db.models import Device

from .models import ChargerDay, ChargerOrder


def _billed(q: PanelQuery, value: object, split: object, unit: str = "", scale: float = 1.0,
            stored_per_unit: int = 1) -> ChartData:
    """From the roll-up ``charger_days``: ``value`` per day and ``split`` (energy is stored in mWh: 1,000 per Wh).
    A missing stop reason (stored as ``""``) is named as the raw rows name it."""
    r = ChargerDay
    stmt = (select(r.day, split, value).select_from(r).join(Device, r.device_id == Device.id)
            .where(*day_range(q, r.day)).group_by(r.day, split))
    rows = [(d, str(None if split is r.stop_reason and n == "" else n),
             round(float(v or 0) / stored_per_unit * scale, 3)) for d, n, v in q.session.execute(scoped(stmt, q))]
    return per_day(q, rows, unit)


def _settled(q: PanelQuery, value: object, split: object, unit: str = "", scale: float = 1.0) -> ChartData:
    day = local_day(q, ChargerOrder.ended_at)
    stmt = (select(day, split, value).select_from(ChargerOrder).join(Device, ChargerOrder.device_id == Device.id)
            .where(ChargerOrder.state == "settled", ChargerOrder.ended_at >= q.start, ChargerOrder.ended_at < q.end)
            .group_by(day, split))
    rows = [(d, str(n), round(float(v or 0) * scale, 3)) for d, n, v in q.session.execute(scoped(stmt, q))]
    return per_day(q, rows, unit)


def energy_per_day(q: PanelQuery) -> ChartData:
    if not q.raw:
        return _billed(q, func.sum(ChargerDay.energy_mwh), Device.device, "kWh", 0.001, stored_per_unit=1000)
    return _settled(q, func.sum(ChargerOrder.energy_wh), Device.device, "kWh", 0.001)


def revenue_per_day(q: PanelQuery) -> ChartData:
    unit = "元" if q.lang == "zh" else "yuan"
    if not q.raw:
        return _billed(q, func.sum(ChargerDay.amount_fen), Device.device, unit, 0.01)
    return _settled(q, func.sum(ChargerOrder.amount_fen), Device.device, unit, 0.01)


def reasons_per_day(q: PanelQuery) -> ChartData:
    if not q.raw:
        return _billed(q, func.sum(ChargerDay.n), ChargerDay.stop_reason)
    return _settled(q, func.count(), ChargerOrder.stop_reason)


def cutoffs_per_day(q: PanelQuery) -> ChartData:
    return events_per_day(q, Kind.charger, Fault.EVENT.type, severity="alarm", split="device")


def register(dashboards: DashboardRegistry) -> None:
    dashboards.add(Panel("charger.energy", ("每日充电电量（按桩）", "Energy charged per pile per day"), energy_per_day,
                         kind=Kind.charger, stacked=True, order=10))
    dashboards.add(Panel("charger.revenue", ("每日充电收入（按桩）", "Charging revenue per pile per day"),
                         revenue_per_day, kind=Kind.charger, stacked=True, order=11))
    dashboards.add(Panel("charger.reasons", ("每日充电结束原因", "How charging sessions ended, per day"),
                         reasons_per_day, kind=Kind.charger, stacked=True, order=12))
    dashboards.add(Panel("charger.cutoffs", ("每日安全断电与故障报警", "Safety cut-offs and fault alarms per day"),
                         cutoffs_per_day, kind=Kind.charger, stacked=True, order=13))
