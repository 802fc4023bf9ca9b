"""Counters of one agent and their Prometheus view (served as ``/metrics`` by the local page).

Every agent has its own :class:`prometheus_client.CollectorRegistry`; the figures are read at scrape time from
the same sources as the telemetry, so the two never disagree.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class Stats:
    """Thread-safe counters (since the process started)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: Counter[tuple[str, str]] = Counter()

    def inc(self, name: str, label: str = "", n: int = 1) -> None:
        with self._lock:
            self._c[(name, label)] += n

    def get(self, name: str, label: str | None = None) -> int:
        with self._lock:
            if label is not None:
                return self._c[(name, label)]
            return sum(v for (n, _), v in self._c.items() if n == name)

    def labelled(self, name: str) -> dict[str, int]:
        with self._lock:
            return {lab: v for (n, lab), v in self._c.items() if n == name}


class AgentCollector(Collector):
    """Builds the metric families from ``snapshot()`` (a dict of current figures) and the counters."""

    def __init__(self, stats: Stats, snapshot: Callable[[], Mapping[str, Any]],
                 app_gauges: Callable[[], Mapping[str, Any]], labels: Mapping[str, str]) -> None:
        self.stats = stats
        self.snapshot = snapshot
        self.app_gauges = app_gauges
        self.labels = dict(labels)

    def _gauge(self, name: str, doc: str, value: float | None) -> Metric | None:
        if value is None:
            return None
        g = GaugeMetricFamily(name, doc, labels=list(self.labels))
        g.add_metric(list(self.labels.values()), float(value))
        return g

    def _counter(self, name: str, doc: str, by: dict[str, int] | int, label: str | None = None) -> Metric:
        keys = list(self.labels) + ([label] if label else [])
        c = CounterMetricFamily(name, doc, labels=keys)
        if isinstance(by, int):
            c.add_metric(list(self.labels.values()), by)
        else:
            for lab, v in sorted(by.items()):
                c.add_metric([*self.labels.values(), lab], v)
        return c

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()
        gauges = [
            ("linli_up", "1 while the agent runs", 1),
            ("linli_mqtt_connected", "1 while connected to the broker", int(bool(s.get("mqtt_connected")))),
            ("linli_outbox_depth", "messages waiting in the outbox (incl. in flight)", s.get("outbox_depth")),
            ("linli_outbox_inflight", "messages sent and not yet acknowledged", s.get("outbox_inflight")),
            ("linli_outbox_held", "messages kept in memory because the disk did not take them", s.get("outbox_held")),
            ("linli_outbox_oldest_age_seconds", "age of the oldest queued message", s.get("outbox_oldest_age_s")),
            ("linli_cpu_percent", "system CPU use", s.get("cpu_pct")),
            ("linli_memory_percent", "system memory use", s.get("mem_pct")),
            ("linli_process_rss_megabytes", "agent resident memory", s.get("rss_mb")),
            ("linli_disk_percent", "use of the data folder's file system", s.get("disk_pct")),
            ("linli_soc_temperature_celsius", "SoC temperature", s.get("soc_temp_c")),
            ("linli_uptime_seconds", "seconds since the agent started", s.get("uptime_s")),
            ("linli_watchdog_tripped", "1 while a watched loop is stuck", int(bool(s.get("watchdog_tripped")))),
        ]
        for name, doc, value in gauges:
            m = self._gauge(name, doc, value)
            if m is not None:
                yield m
        yield self._counter("linli_outbox_dropped", "telemetry dropped because the outbox was full (persisted)",
                            int(s.get("outbox_dropped") or 0))
        yield self._counter("linli_outbox_lost", "messages lost because the disk did not take them (persisted)",
                            int(s.get("outbox_lost") or 0))
        yield self._counter("linli_outbox_over_capacity", "events stored although the outbox was full (persisted)",
                            int(s.get("outbox_over_capacity") or 0))
        yield self._counter("linli_events", "events emitted", self.stats.labelled("events"), "severity")
        yield self._counter("linli_commands", "commands handled", self.stats.labelled("commands"), "outcome")
        yield self._counter("linli_mqtt_connects", "successful MQTT connections", self.stats.get("mqtt_connects"))
        yield self._counter("linli_mqtt_disconnects", "lost MQTT connections", self.stats.get("mqtt_disconnects"))
        yield self._counter("linli_publish_acks", "outbox messages acknowledged by the broker",
                            self.stats.get("publish_acks"))
        yield self._counter("linli_publish_rejected", "messages the broker refused (PUBACK failure)",
                            self.stats.get("publish_rejected"))
        yield self._counter("linli_messages_received", "commands and config messages received",
                            self.stats.get("messages_received"))
        yield self._counter("linli_messages_malformed", "received messages that broke the contract",
                            self.stats.get("messages_malformed"))
        try:
            app = self.app_gauges()
        except Exception:
            app = {}
        g = GaugeMetricFamily("linli_app_gauge", "the app's own gauges", labels=[*self.labels, "gauge"])
        for k, v in sorted(app.items()):
            if isinstance(v, bool | int | float) and v is not None:
                g.add_metric([*self.labels.values(), k], float(v))
        yield g


def make_registry(collector: AgentCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
