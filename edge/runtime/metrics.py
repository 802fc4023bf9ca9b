"""Counters of one agent and their Prometheus view (served as ``/metrics`` by the local page).

Every agent has its own :class:`prometheus_client.CollectorRegistry`; the figures are read at scrape time from
the same sources as the telemetry, so the two never disagree.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

#: An app gauge's unit, from its name's suffix → (metric suffix in base units, factor to the base unit).
UNIT_SUFFIXES: dict[str, tuple[str, float]] = {
    "w": ("watts", 1.0), "wh": ("joules", 3600.0), "kwh": ("joules", 3.6e6), "ms": ("seconds", 1e-3),
    "s": ("seconds", 1.0), "pct": ("ratio", 0.01), "c": ("celsius", 1.0), "mb": ("bytes", 1024.0 * 1024.0),
    "v": ("volts", 1.0), "a": ("amperes", 1.0), "fen": ("fen", 1.0),
}
_PORT = re.compile(r"^p(\d{1,3})_(.+)$")
_LANE = re.compile(r"^lane_([a-z0-9-]+)_(.+)$")
_QUANTILE = re.compile(r"^(.+)_(ms|s)_p(\d{2})$")
_NAME_OK = re.compile(r"[^a-z0-9_]")


def app_metric_name(key: str) -> tuple[str, dict[str, str], float]:
    """An app gauge's key → (metric family, labels, factor to base units): ``p3_w`` → ``linli_port_watts``
    {port="3"}, ``cycle_ms`` → ``linli_cycle_seconds`` (× 0.001), ``lane_in_loop`` → ``linli_lane_loop`` {lane="in"}."""
    labels: dict[str, str] = {}
    stem = key.lower()
    prefix = "linli_"
    if m := _PORT.match(stem):
        labels["port"], stem, prefix = m.group(1), m.group(2), "linli_port_"
    elif m := _LANE.match(stem):
        labels["lane"], stem, prefix = m.group(1), m.group(2), "linli_lane_"
    factor = 1.0
    if m := _QUANTILE.match(stem):
        unit, f = UNIT_SUFFIXES[m.group(2)]
        stem, factor = f"{m.group(1)}_p{m.group(3)}_{unit}", f
    else:
        head, _, tail = stem.rpartition("_")
        if head and tail in UNIT_SUFFIXES:
            unit, factor = UNIT_SUFFIXES[tail]
            stem = f"{head}_{unit}"
        elif stem in UNIT_SUFFIXES:  # "w" alone (a port's power)
            unit, factor = UNIT_SUFFIXES[stem]
            stem = unit
    if stem.endswith("_total"):  # a gauge must not look like a counter
        stem = stem[: -len("_total")] + "_all"
    return prefix + _NAME_OK.sub("_", stem), labels, factor


class Histogram:
    """Observations in fixed buckets (thread-safe), exposed as a Prometheus histogram by the agent's collector."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = sorted(float(b) for b in buckets)
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.bounds, value)] += 1
            self._sum += value

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` pairs ending with ``+Inf``, and the sum."""
        with self._lock:
            out, total = [], 0
            for bound, n in zip([*self.bounds, float("inf")], self._counts, strict=True):
                total += n
                out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
            return out, self._sum


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
                 app_gauges: Callable[[], Mapping[str, Any]], labels: Mapping[str, str],
                 histograms: Callable[[], Mapping[str, Histogram]] | None = None) -> None:
        self.histograms = histograms
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
        def scaled(v: Any, f: float) -> float | None:
            return None if v is None else float(v) * f

        gauges = [
            ("linli_up", "1 while the agent runs", 1),
            ("linli_mqtt_connected", "1 while connected to the broker", int(bool(s.get("mqtt_connected")))),
            ("linli_outbox_depth", "messages waiting in the outbox (incl. in flight)", s.get("outbox_depth")),
            ("linli_outbox_inflight", "messages sent and not yet acknowledged", s.get("outbox_inflight")),
            ("linli_outbox_held", "messages kept in memory because the disk did not take them", s.get("outbox_held")),
            ("linli_outbox_oldest_age_seconds", "age of the oldest queued message", s.get("outbox_oldest_age_s")),
            ("linli_cpu_ratio", "system CPU use (0-1)", scaled(s.get("cpu_pct"), 0.01)),
            ("linli_memory_ratio", "system memory use (0-1)", scaled(s.get("mem_pct"), 0.01)),
            ("linli_process_resident_memory_bytes", "agent resident memory", scaled(s.get("rss_mb"), 1024.0 * 1024)),
            ("linli_disk_ratio", "use of the data folder's file system (0-1)", scaled(s.get("disk_pct"), 0.01)),
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
        yield self._counter("linli_publish_retransmits", "outbox messages sent again after no acknowledgement came",
                            self.stats.get("publish_retransmits"))
        yield self._counter("linli_publish_rejected", "messages the broker refused (PUBACK failure)",
                            self.stats.get("publish_rejected"))
        yield self._counter("linli_messages_received", "commands and config messages received",
                            self.stats.get("messages_received"))
        yield self._counter("linli_messages_malformed", "received messages that broke the contract",
                            self.stats.get("messages_malformed"))
        yield from self._app_families()
        yield from self._histograms()

    def _app_families(self) -> Iterator[Metric]:
        """The app's gauges as metric families named for what they measure, in base units, with port / lane labels
        (``linli_port_watts{port="3"}``); a text value (a state) is a 1-valued sample labelled with it."""
        try:
            app = dict(self.app_gauges())
        except Exception:
            app = {}
        families: dict[str, GaugeMetricFamily] = {}
        label_sets: dict[str, tuple[str, ...]] = {}
        for key, value in sorted(app.items()):
            if value is None:
                continue
            name, labels, factor = app_metric_name(key)
            if isinstance(value, str):
                labels = {**labels, "state": value[:64]}
                number = 1.0
            elif isinstance(value, bool | int | float):
                number = float(value) * factor
            else:
                continue
            keys = tuple(labels)
            if name in label_sets and label_sets[name] != keys:
                continue  # the same name with other labels: keep the first kind of sample
            if name not in families:
                label_sets[name] = keys
                families[name] = GaugeMetricFamily(name, f"the app's {key.split('_', 1)[-1] if labels else key}",
                                                   labels=[*self.labels, *keys])
            families[name].add_metric([*self.labels.values(), *labels.values()], number)
        yield from families.values()

    def _histograms(self) -> Iterator[Metric]:
        hists = self.histograms() if self.histograms is not None else {}
        for name, hist in sorted(hists.items()):
            buckets, total = hist.snapshot()
            h = HistogramMetricFamily(f"linli_{name}", f"the app's {name.replace('_', ' ')}", labels=list(self.labels))
            h.add_metric(list(self.labels.values()), buckets, total)
            yield h


def make_registry(collector: AgentCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
