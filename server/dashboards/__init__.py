"""Dashboards: a registry of chart panels (the spine's and each device kind's), their JSON/CSV API and pages."""

from server.dashboards.queries import event_data_sum_per_day, events_per_day, local_day, per_day, scoped
from server.dashboards.registry import (
    ChartData,
    DashboardRegistry,
    Panel,
    PanelQuery,
    Series,
)

__all__ = ["ChartData", "DashboardRegistry", "Panel", "PanelQuery", "Series", "event_data_sum_per_day",
           "events_per_day", "local_day", "per_day", "scoped"]
