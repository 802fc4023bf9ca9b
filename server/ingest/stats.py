"""Ingest counters: Prometheus metrics in the app's own registry, plus a bounded list of the latest rejects."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from linli.contract import utcnow

#: Every reject reason ingest uses (so each counter exists from the start, at zero).
REJECT_REASONS = (
    "unknown_topic",    # not a linli topic, bad site/kind/device, or a channel the server does not take
    "oversized",        # over contract.MAX_JSON_BYTES / MAX_BLOB_BYTES
    "malformed",        # not UTF-8 JSON / not a JSON object
    "too_deep",         # arrays/objects nested deeper than contract.MAX_JSON_DEPTH (refused before parsing)
    "non_finite",       # NaN / Infinity
    "number_range",     # an integer beyond 64 bits or a number that overflows
    "handler_error",    # a kind's handler failed on this message (rolled back alone; the others were stored)
    "schema",           # JSON that does not validate against the channel's model (incl. schema version)
    "kind_mismatch",    # status names another kind than its topic
    "blob_empty",
    "blob_hash",        # blob bytes do not hash to the digest in the topic
    "unknown_command",  # cmd_result for a command this server does not know
    "wrong_device",     # cmd_result from a device the command was not sent to
    "store_error",      # the database refused this one message (others in its batch were stored)
    "overload",         # QoS0 message dropped because the ingest queue was full
)


@dataclass(frozen=True)
class RejectRecord:
    at: datetime
    topic: str
    reason: str
    detail: str
    size: int
    kind: str = ""
    type: str = ""


#: Label value for a kind or event type that could not be read from the message.
UNKNOWN = "-"


class IngestStats:
    def __init__(self, registry: CollectorRegistry, rejects_kept: int = 200) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self.received = 0
        self.stored = 0
        self.duplicate = 0
        self.rejected: dict[str, int] = dict.fromkeys(REJECT_REASONS, 0)
        #: (kind, event type, reason) → count, for event messages (type ``-``: not readable) and, with type
        #: ``-``, for the other channels' messages of a known kind.
        self.rejected_by: dict[tuple[str, str, str], int] = {}
        self.batches = 0
        self.batch_last = 0
        self.batch_max = 0
        self.batch_msgs = 0
        self.lag_last_s = 0.0
        self.lag_max_s = 0.0
        self.db_retries = 0
        self.last_commit: datetime | None = None
        self.last_rejects: deque[RejectRecord] = deque(maxlen=rejects_kept)
        self.queue_depth = 0
        self.connected = False

        self.m_received = Counter("linli_ingest_received", "MQTT messages received by ingest", registry=registry)
        self.m_stored = Counter("linli_ingest_stored", "messages written to the database", ["channel"],
                                registry=registry)
        self.m_duplicate = Counter("linli_ingest_duplicate", "messages already stored (replays)", ["channel"],
                                   registry=registry)
        self.m_rejected = Counter("linli_ingest_rejected", "messages rejected, by reason", ["reason"],
                                  registry=registry)
        for r in REJECT_REASONS:
            self.m_rejected.labels(r)
        self.m_rejected_by = Counter("linli_ingest_rejected_by_type", "messages rejected, by device kind, event "
                                     "type and reason", ["kind", "type", "reason"], registry=registry)
        self.m_batch = Histogram("linli_ingest_batch_size", "messages per database transaction",
                                 buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000), registry=registry)
        self.m_lag = Histogram("linli_ingest_lag_seconds", "arrival at the server to commit",
                               buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                               registry=registry)
        self.m_retries = Counter("linli_ingest_db_retries", "batches retried after a database error",
                                 registry=registry)
        self.m_queue = Gauge("linli_ingest_queue_depth", "messages waiting for the writer", registry=registry)
        self.m_connected = Gauge("linli_ingest_connected", "1 while connected to the broker", registry=registry)
        #: NATS/JetStream only (the shared consumer, as seen by this worker): is ingest falling behind?
        self.backlog: dict[str, int] | None = None
        self.m_backlog = Gauge("linli_ingest_backlog", "device messages stored by the broker and not yet delivered "
                               "to any ingest worker (JetStream consumer num_pending)", registry=registry)
        self.m_unacked = Gauge("linli_ingest_unacknowledged", "device messages delivered to the ingest workers and "
                               "not yet stored and acknowledged (JetStream num_ack_pending)", registry=registry)
        self.m_redelivered = Gauge("linli_ingest_redelivered", "messages delivered again because their worker did "
                                   "not acknowledge them in time (JetStream num_redelivered)", registry=registry)

    def on_received(self) -> None:
        with self._lock:
            self.received += 1
        self.m_received.inc()

    def on_reject(self, topic: str, reason: str, detail: str, size: int, kind: str = UNKNOWN,
                  type: str = UNKNOWN) -> None:
        key = (kind or UNKNOWN, (type or UNKNOWN)[:64], reason)
        with self._lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            self.rejected_by[key] = self.rejected_by.get(key, 0) + 1
            self.last_rejects.append(RejectRecord(utcnow(), topic[:300], reason, detail[:500], size, key[0], key[1]))
        self.m_rejected.labels(reason).inc()
        self.m_rejected_by.labels(*key).inc()

    def rejects_of(self, kind: str, type: str = UNKNOWN) -> dict[str, int]:
        """Rejects of one kind's event type (``-``: messages whose type could not be read), by reason."""
        with self._lock:
            return {r: n for (k, t, r), n in self.rejected_by.items() if k == kind and t == type}

    def on_stored(self, channel: str, n: int = 1) -> None:
        with self._lock:
            self.stored += n
        self.m_stored.labels(channel).inc(n)

    def on_duplicate(self, channel: str, n: int = 1) -> None:
        with self._lock:
            self.duplicate += n
        self.m_duplicate.labels(channel).inc(n)

    def on_batch(self, size: int, lags: list[float]) -> None:
        with self._lock:
            self.batches += 1
            self.batch_last = size
            self.batch_max = max(self.batch_max, size)
            self.batch_msgs += size
            if lags:
                self.lag_last_s = max(lags)
                self.lag_max_s = max(self.lag_max_s, self.lag_last_s)
            self.last_commit = utcnow()
        self.m_batch.observe(size)
        for lag in lags:
            self.m_lag.observe(lag)

    def on_retry(self) -> None:
        with self._lock:
            self.db_retries += 1
        self.m_retries.inc()

    def set_queue(self, depth: int) -> None:
        self.queue_depth = depth
        self.m_queue.set(depth)

    def set_backlog(self, pending: int, unacked: int, redelivered: int) -> None:
        self.backlog = {"pending": pending, "unacknowledged": unacked, "redelivered": redelivered}
        self.m_backlog.set(pending)
        self.m_unacked.set(unacked)
        self.m_redelivered.set(redelivered)

    def set_connected(self, up: bool) -> None:
        self.connected = up
        self.m_connected.set(1 if up else 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "connected": self.connected,
                "received": self.received,
                "stored": self.stored,
                "duplicate": self.duplicate,
                "rejected": {k: v for k, v in self.rejected.items() if v},
                "rejected_total": sum(self.rejected.values()),
                "rejected_by": [{"kind": k, "type": t, "reason": r, "count": n}
                                for (k, t, r), n in sorted(self.rejected_by.items())],
                "batches": self.batches,
                "batch_size": {"last": self.batch_last, "max": self.batch_max,
                               "mean": round(self.batch_msgs / self.batches, 2) if self.batches else 0.0},
                "lag_s": {"last": round(self.lag_last_s, 4), "max": round(self.lag_max_s, 4)},
                "queue_depth": self.queue_depth,
                "backlog": self.backlog,
                "db_retries": self.db_retries,
                "last_commit": self.last_commit,
                "last_rejects": [asdict(r) for r in reversed(self.last_rejects)],
            }


class LogLimiter:
    """At most ``burst`` log lines per ``window_s``; says how many it held back."""

    def __init__(self, burst: int = 20, window_s: float = 10.0) -> None:
        self.burst = burst
        self.window_s = window_s
        self._start = time.monotonic()
        self._count = 0
        self._held = 0
        self._lock = threading.Lock()

    def allow(self) -> tuple[bool, int]:
        """(may log now, lines held back since the last allowed one)."""
        with self._lock:
            now = time.monotonic()
            if now - self._start >= self.window_s:
                self._start, self._count = now, 0
            if self._count < self.burst:
                self._count += 1
                held, self._held = self._held, 0
                return True, held
            self._held += 1
            return False, 0
