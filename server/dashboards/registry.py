"""The dashboard framework: panels (one chart each) registered by the spine and by every device kind.

A device kind adds its panels in ``server/<kind>/dashboard.py``::

    from server.dashboards import ChartData, DashboardRegistry, Panel, PanelQuery, events_per_day

    def blocks_per_day(q: PanelQuery) -> ChartData:
        return events_per_day(q, kind=Kind.lift_guard, types="lift_guard.block*", split="device")

    def register(dashboards: DashboardRegistry) -> None:
        dashboards.add(Panel("lift_guard.blocks", ("每部电梯每日阻车", "Blocks per lift per day"), blocks_per_day,
                             kind=Kind.lift_guard, chart="bar", stacked=True))

A panel's ``query`` gets a ``PanelQuery`` (a database session, the user, the Shanghai date range, an optional
site) and returns ``ChartData`` (labels + named series). It must keep to the user's sites: build queries with
``scoped(stmt, q)`` (which joins nothing, it filters ``Device``) or the helpers in ``server.dashboards.queries``.
The server then gives every panel a page slot, a date-range picker, JSON at ``/api/v1/dashboards/panels/{id}``,
CSV export at ``…?format=csv``, and live refresh.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from linli.contract import Kind
from linli.i18n import SHANGHAI, Lang
from server.auth import User

log = logging.getLogger(__name__)
ChartType = Literal["bar", "line", "doughnut", "table"]


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | int | None]


@dataclass
class ChartData:
    labels: list[str]
    series: list[Series] = field(default_factory=list)
    unit: str = ""

    def to_csv(self, label_header: str = "label") -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([label_header, *[s.name for s in self.series]])
        for i, label in enumerate(self.labels):
            w.writerow([label, *["" if s.values[i] is None else s.values[i] for s in self.series]])
        return buf.getvalue()

    def as_json(self) -> dict[str, object]:
        return {"labels": self.labels, "series": [{"name": s.name, "values": s.values} for s in self.series],
                "unit": self.unit}


@dataclass(frozen=True)
class PanelQuery:
    session: Session
    user: User
    since: date          # Shanghai calendar days, both included
    until: date
    site: str | None = None
    lang: Lang = "zh"
    #: add up the raw rows instead of reading the daily roll-ups (``server.db.rollups``): the same figures, slower;
    #: for the test that compares the two and the benchmark's "before"
    raw: bool = False

    @property
    def start(self) -> datetime:
        """UTC instant of ``since`` 00:00 in Shanghai."""
        return datetime.combine(self.since, time(), SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """UTC instant of the day after ``until`` 00:00 in Shanghai (exclusive)."""
        return datetime.combine(self.until + timedelta(days=1), time(), SHANGHAI).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=i) for i in range((self.until - self.since).days + 1)]

    @property
    def day_labels(self) -> list[str]:
        return [d.isoformat() for d in self.days]


@dataclass(frozen=True)
class Panel:
    id: str
    title: tuple[str, str]                        # (zh, en)
    query: Callable[[PanelQuery], ChartData]
    kind: Kind | None = None                      # None: the fleet overview
    chart: ChartType = "bar"
    stacked: bool = False
    ranged: bool = True                           # False: a snapshot of now (the date range does not apply)
    order: int = 100
    description: tuple[str, str] | None = None

    def label(self, lang: Lang) -> str:
        return self.title[1] if lang == "en" else self.title[0]

    def describe(self, lang: Lang) -> str:
        if self.description is None:
            return ""
        return self.description[1] if lang == "en" else self.description[0]


class DashboardRegistry:
    def __init__(self) -> None:
        self._panels: dict[str, Panel] = {}
        self.loaded: list[str] = []

    def add(self, panel: Panel) -> None:
        if panel.id in self._panels:
            raise ValueError(f"dashboard panel {panel.id!r} registered twice")
        self._panels[panel.id] = panel

    def get(self, panel_id: str) -> Panel | None:
        return self._panels.get(panel_id)

    def panels(self, kind: Kind | None = None) -> list[Panel]:
        return sorted((p for p in self._panels.values() if p.kind == kind), key=lambda p: (p.order, p.id))

    def all(self) -> list[Panel]:
        return sorted(self._panels.values(), key=lambda p: (p.kind.value if p.kind else "", p.order, p.id))

