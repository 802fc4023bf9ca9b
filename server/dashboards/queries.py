"""Query helpers for dashboard panels: Shanghai calendar days in SQL (SQLite and PostgreSQL), site scoping, and
ready-made counts (events per day split by kind, type, device or site)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select

from linli.contract import Kind
from server.dashboards.registry import ChartData, PanelQuery, Series
from server.db.models import Device, Event, EventDay
from server.db.rollups import day_sql

Split = Literal["kind", "type", "device", "site", "severity"] | None


def local_day(q: PanelQuery, col: Any) -> ColumnElement[Any]:
    """``col`` (a UTC timestamp) as its Shanghai calendar day ``YYYY-MM-DD``. Shanghai has kept UTC+8 without
    daylight saving since 1991, so SQLite's fixed offset is exact (the roll-ups' days are the same)."""
    return day_sql(q.session.get_bind().dialect.name, col)


def day_range(q: PanelQuery, day_col: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """A roll-up's ``day`` column within the panel's Shanghai days (both included)."""
    return day_col >= q.since.isoformat(), day_col <= q.until.isoformat()


def scoped(stmt: Select[Any], q: PanelQuery) -> Select[Any]:
    """Limit a query that involves ``Device`` to the user's sites and the panel's site filter."""
    if q.user.sites is not None:
        stmt = stmt.where(Device.site.in_(sorted(q.user.sites)))
    if q.site:
        stmt = stmt.where(Device.site == q.site)
    return stmt


def _glob_filter(stmt: Select[Any], types: str | Iterable[str] | None, col: Any = Event.type) -> Select[Any]:
    if types is None:
        return stmt
    pats = [types] if isinstance(types, str) else list(types)
    conds = []
    for p in pats:
        if p.endswith("*"):
            prefix = p[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(col.like(prefix + "%", escape="\\"))
        else:
            conds.append(col == p)
    return stmt.where(or_(*conds))


def per_day(q: PanelQuery, rows: Iterable[tuple[str, str, float | int]], unit: str = "") -> ChartData:
    """(day, series name, value) rows → ChartData with every day of the range (missing days are 0)."""
    labels = q.day_labels
    index = {d: i for i, d in enumerate(labels)}
    table: dict[str, list[float | int | None]] = defaultdict(lambda: [0] * len(labels))
    for day, name, value in rows:
        if day in index:
            table[str(name)][index[day]] = value
    return ChartData(labels, [Series(n, v) for n, v in sorted(table.items())], unit)


def events_per_day(q: PanelQuery, kind: Kind | None = None, types: str | Iterable[str] | None = None,
                   severity: str | None = None, split: Split = "type", series_name: str = "events",
                   where: Iterable[Any] = ()) -> ChartData:
    """Events per Shanghai day in the range, one series per ``split`` value (or a single ``series_name``). Read
    from the daily roll-up ``event_days`` unless ``where`` adds conditions on the raw rows (or ``q.raw``)."""
    if not where and not q.raw:
        return _events_per_day_rollup(q, kind, types, severity, split, series_name)
    day = local_day(q, Event.ts)
    keys: dict[str, Any] = {"kind": Device.kind, "type": Event.type, "device": Device.device, "site": Device.site,
                            "severity": Event.severity}
    key: Any = keys.get(split or "", literal_column(f"'{series_name}'"))
    # a constant series name is not grouped by (PostgreSQL refuses a constant in GROUP BY)
    stmt = (select(day, key, func.count()).select_from(Event).join(Device, Event.device_id == Device.id)
            .where(Event.ts >= q.start, Event.ts < q.end, *where)
            .group_by(day, *([key] if (split or "") in keys else [])))
    if kind is not None:
        stmt = stmt.where(Device.kind == Kind(kind).value)
    if severity is not None:
        stmt = stmt.where(Event.severity == severity)
    stmt = _glob_filter(scoped(stmt, q), types)
    return per_day(q, q.session.execute(stmt).all())  # type: ignore[arg-type]


def _events_per_day_rollup(q: PanelQuery, kind: Kind | None, types: str | Iterable[str] | None,
                           severity: str | None, split: Split, series_name: str) -> ChartData:
    keys: dict[str, Any] = {"kind": Device.kind, "type": EventDay.type, "device": Device.device, "site": Device.site,
                            "severity": EventDay.severity}
    key: Any = keys.get(split or "", literal_column(f"'{series_name}'"))
    stmt = (select(EventDay.day, key, func.sum(EventDay.n)).select_from(EventDay)
            .join(Device, EventDay.device_id == Device.id).where(*day_range(q, EventDay.day))
            .group_by(EventDay.day, *([key] if (split or "") in keys else [])))
    if kind is not None:
        stmt = stmt.where(Device.kind == Kind(kind).value)
    if severity is not None:
        stmt = stmt.where(EventDay.severity == severity)
    stmt = _glob_filter(scoped(stmt, q), types, EventDay.type)
    return per_day(q, [(d, n, int(v)) for d, n, v in q.session.execute(stmt)])


def event_data_sum_per_day(q: PanelQuery, kind: Kind, types: str | Iterable[str], key: str,
                           split: Split = None, series_name: str = "total", unit: str = "") -> ChartData:
    """Sum of the numeric ``data[key]`` of matching events per day (e.g. kWh or fees), summed in Python so it
    works on both databases; non-numbers are skipped."""
    day = local_day(q, Event.ts)
    skey: Any = {"kind": Device.kind, "type": Event.type, "device": Device.device, "site": Device.site}.get(
        split or "", literal_column(f"'{series_name}'"))
    stmt = (select(day, skey, Event.data).select_from(Event).join(Device, Event.device_id == Device.id)
            .where(Event.ts >= q.start, Event.ts < q.end, Device.kind == Kind(kind).value))
    stmt = _glob_filter(scoped(stmt, q), types)
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for d, name, data in q.session.execute(stmt):
        v = data.get(key) if isinstance(data, dict) else None
        if isinstance(v, int | float) and not isinstance(v, bool):
            sums[(d, name)] += v
    return per_day(q, [(d, n, round(v, 3)) for (d, n), v in sums.items()], unit)
