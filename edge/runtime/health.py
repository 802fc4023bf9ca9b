"""Heartbeat: health figures of the Pi and the agent plus the app's gauges, every ``telemetry_interval_s``.

Telemetry goes through the outbox at priority 2 (QoS 0): it is the first thing dropped when the queue is full.
The same figures feed the local page and ``/metrics``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from linli.contract import DeviceRef, Health, Scalar, Telemetry

from .outbox import PRIORITY_TELEMETRY, Outbox

SOC_TEMP_PATH = Path("/sys/class/thermal/thermal_zone0/temp")
MAX_GAUGES = 200

log = logging.getLogger(__name__)


def read_soc_temp(path: Path = SOC_TEMP_PATH) -> float | None:
    """SoC temperature in °C from the kernel's thermal zone (millidegrees), or None when not readable."""
    try:
        raw = path.read_text().strip()
        value = int(raw) / 1000.0
    except (OSError, ValueError):
        return None
    return value if -60.0 < value < 150.0 else None


def clean_gauges(gauges: Mapping[str, Any]) -> dict[str, Scalar]:
    """Keep what the contract accepts: up to 200 scalar gauges with names of at most 64 characters."""
    out: dict[str, Scalar] = {}
    for k, v in gauges.items():
        if len(out) >= MAX_GAUGES:
            break
        if not isinstance(k, str) or not k or len(k) > 64:
            continue
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        if v is None or isinstance(v, bool | int | float):
            out[k] = v
        elif isinstance(v, str):
            out[k] = v[:200]
    return out


class HealthSampler:
    """Measures the figures of :class:`linli.contract.Health`."""

    def __init__(self, data_dir: Path, outbox: Outbox, started: float | None = None,
                 temp_path: Path = SOC_TEMP_PATH) -> None:
        self.data_dir = data_dir
        self.outbox = outbox
        self.started = started if started is not None else time.monotonic()
        self.temp_path = temp_path
        self._proc = psutil.Process()
        psutil.cpu_percent(interval=None)  # prime: the next call measures since now
        self.last: Health | None = None

    def uptime_s(self) -> float:
        return max(0.0, time.monotonic() - self.started)

    def sample(self, fps: float | None = None) -> Health:
        """``fps``: the app's frame rate (vision kinds report it as the gauge ``fps``)."""
        try:
            disk = psutil.disk_usage(str(self.data_dir)).percent
        except OSError:
            disk = 0.0
        h = Health(
            cpu_pct=round(max(0.0, psutil.cpu_percent(interval=None)), 1),
            mem_pct=round(psutil.virtual_memory().percent, 1),
            rss_mb=round(self._proc.memory_info().rss / 1_048_576, 1),
            disk_pct=round(disk, 1),
            soc_temp_c=read_soc_temp(self.temp_path),
            fps=fps,
            outbox_depth=self.outbox.depth(),
            outbox_dropped=self.outbox.dropped(),
            uptime_s=round(self.uptime_s(), 1),
        )
        self.last = h
        return h


class Heartbeat:
    """A thread that enqueues one Telemetry message now and then every ``interval_s``."""

    def __init__(self, ref: DeviceRef, interval_s: float, sampler: HealthSampler, outbox: Outbox,
                 gauges: Callable[[], Mapping[str, Any]], stopping: threading.Event) -> None:
        self.ref = ref
        self.interval_s = interval_s
        self.sampler = sampler
        self.outbox = outbox
        self.gauges = gauges
        self.stopping = stopping
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> Telemetry:
        try:
            gauges = clean_gauges(self.gauges())
        except Exception:
            log.exception("app gauges failed; telemetry goes without them")
            gauges = {}
        fps = gauges.get("fps")
        fps = float(fps) if isinstance(fps, int | float) and not isinstance(fps, bool) and fps >= 0 else None
        tm = Telemetry(health=self.sampler.sample(fps), gauges=gauges)
        self.outbox.enqueue(self.ref.telemetry_topic, tm.encode(), qos=0, priority=PRIORITY_TELEMETRY)
        self.sent += 1
        return tm

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.beat()
            except Exception:
                log.exception("heartbeat failed")
            if self.stopping.wait(self.interval_s):
                return

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)
