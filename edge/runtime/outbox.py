"""Store-and-forward: every message the device sends goes through a SQLite (WAL) queue first.

- A row is committed (``synchronous=FULL``) before it is handed to MQTT, and deleted only when the broker
  acknowledged it (PUBACK for QoS 1; for QoS 0 telemetry: written to the socket). A restart or power cut
  therefore loses nothing that was enqueued; rows sent but not acknowledged before a restart are sent again
  (ingest is idempotent by event id).
- Order: by priority (0 alarm, 1 event / blob / command result, 2 telemetry), then by insertion. An alarm's
  blobs are enqueued just before it with the alarm's priority, so they still go first.
- Bounded: when ``max_messages`` is reached the oldest telemetry is dropped (and counted); events and alarms
  are never dropped: they are stored anyway and counted as "over capacity".
- Rate: a token bucket (``replay_rate_per_s``) and a window of ``max_inflight`` unacknowledged messages.

The queue itself does not talk MQTT: :class:`edge.runtime.link.Link` takes rows with :meth:`Outbox.take`,
records the paho message id with :meth:`Outbox.mark_sent` and reports acknowledgements with :meth:`Outbox.acked`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from linli.contract import DeviceRef, Event, sha256_hex

from .store import open_db

PRIORITY_ALARM = 0
PRIORITY_EVENT = 1
PRIORITY_TELEMETRY = 2
PRIORITIES = (PRIORITY_ALARM, PRIORITY_EVENT, PRIORITY_TELEMETRY)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    qos      INTEGER NOT NULL,
    retain   INTEGER NOT NULL,
    created  REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutMessage:
    id: int
    priority: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created: float


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.burst
        self._t = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now

    def available(self) -> int:
        self._refill()
        return int(self._tokens)

    def take(self, n: int = 1) -> bool:
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait_time(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens are there."""
        self._refill()
        return max(0.0, (n - self._tokens) / self.rate)


class Outbox:
    """The persistent queue of one agent. Thread-safe."""

    def __init__(self, path: str | Path, max_messages: int = 50_000, replay_rate_per_s: float = 50.0,
                 max_inflight: int = 20, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_inflight = max_inflight
        self.bucket = TokenBucket(replay_rate_per_s)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = open_db(self.path, _SCHEMA)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        # row id → (paho mid, qos) while sent and not yet acknowledged; mid → row id
        self._inflight: dict[int, tuple[int, int]] = {}
        self._by_mid: dict[int, int] = {}
        self._listeners: list[Callable[[], None]] = []
        self._closed = False

    # ------------------------------------------------------------------ helpers
    def add_listener(self, fn: Callable[[], None]) -> None:
        """``fn()`` is called (outside the lock) after each enqueue, e.g. to wake the sender."""
        self._listeners.append(fn)

    def _notify(self) -> None:
        for fn in self._listeners:
            fn()

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, name: str, n: int) -> None:
        if n:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, n))

    # ------------------------------------------------------------------ enqueue
    def enqueue(self, topic: str, payload: bytes | str, qos: int = 1, priority: int = PRIORITY_EVENT,
                retain: bool = False) -> int | None:
        """Store one message; returns its row id, or None when it was telemetry dropped because the queue is full."""
        ids = self._insert([(topic, payload, qos, priority, retain)])
        return ids[0]

    def enqueue_event(self, ref: DeviceRef, event: Event, blobs: Sequence[bytes] = ()) -> int:
        """Store an event and its blobs (each to ``ref.blob_topic(sha)``, before the event) in one transaction.

        The event's ``blobs`` list must name the digests of ``blobs`` (in any order).
        """
        digests = [sha256_hex(b) for b in blobs]
        if sorted(digests) != sorted(event.blobs):
            raise ValueError("enqueue_event: the event's blob digests do not match the blobs given")
        prio = PRIORITY_ALARM if event.severity == "alarm" else PRIORITY_EVENT
        rows = [(ref.blob_topic(d), b, 1, prio, False) for d, b in zip(digests, blobs, strict=True)]
        rows.append((ref.event_topic, event.encode(), 1, prio, False))
        ids = self._insert(rows)
        last = ids[-1]
        assert last is not None  # events are never dropped
        return last

    def _insert(self, rows: list[tuple[str, bytes | str, int, int, bool]]) -> list[int | None]:
        for _topic, _payload, qos, prio, _retain in rows:
            if qos not in (0, 1):
                raise ValueError(f"qos must be 0 or 1, got {qos!r}")
            if prio not in PRIORITIES:
                raise ValueError(f"priority must be one of {PRIORITIES}, got {prio!r}")
        with self._lock:
            if self._closed:
                raise RuntimeError("outbox is closed")
            now = self._clock()
            out: list[int | None] = []
            self._db.execute("BEGIN IMMEDIATE")
            try:
                dropped = 0
                over = 0
                excess = self._count + len(rows) - self.max_messages
                if excess > 0:
                    dropped += self._drop_oldest_telemetry(excess)
                    excess -= dropped
                for topic, payload, qos, prio, retain in rows:
                    data = payload.encode() if isinstance(payload, str) else bytes(payload)
                    if excess > 0:
                        if prio == PRIORITY_TELEMETRY:
                            dropped += 1
                            excess -= 1
                            out.append(None)
                            continue
                        over += 1
                        excess -= 1
                    cur = self._db.execute(
                        "INSERT INTO outbox(priority, topic, payload, qos, retain, created) VALUES (?,?,?,?,?,?)",
                        (prio, topic, data, qos, int(retain), now))
                    out.append(int(cur.lastrowid or 0))
                self._bump("dropped", dropped)
                self._bump("over_capacity", over)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count += sum(1 for x in out if x is not None) - (dropped - out.count(None))
        self._notify()
        return out

    def _drop_oldest_telemetry(self, n: int) -> int:
        busy = list(self._inflight)
        marks = ",".join("?" * len(busy))
        extra = f" AND id NOT IN ({marks})" if busy else ""
        victims = [r[0] for r in self._db.execute(
            f"SELECT id FROM outbox WHERE priority=?{extra} ORDER BY id LIMIT ?",
            (PRIORITY_TELEMETRY, *busy, n))]
        if victims:
            self._db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(victims))})", victims)
        return len(victims)

    # ------------------------------------------------------------------ sending
    def take(self, limit: int) -> list[OutMessage]:
        """Up to ``limit`` rows to send next (not in flight), alarms first, then in insertion order."""
        if limit <= 0:
            return []
        with self._lock:
            if self._closed:
                return []
            busy = list(self._inflight)
            extra = f" WHERE id NOT IN ({','.join('?' * len(busy))})" if busy else ""
            cur = self._db.execute(
                f"SELECT id, priority, topic, payload, qos, retain, created FROM outbox{extra} "
                "ORDER BY priority, id LIMIT ?", (*busy, limit))
            return [OutMessage(r[0], r[1], r[2], bytes(r[3]), r[4], bool(r[5]), r[6]) for r in cur]

    def mark_sent(self, row_id: int, mid: int, qos: int) -> None:
        """The row was handed to MQTT as message ``mid``; it stays until :meth:`acked` names that mid."""
        with self._lock:
            old = self._by_mid.pop(mid, None)
            if old is not None:
                self._inflight.pop(old, None)
            self._inflight[row_id] = (mid, qos)
            self._by_mid[mid] = row_id

    def unmark(self, row_id: int) -> None:
        """The row was not sent after all (no connection): it will be taken again."""
        with self._lock:
            entry = self._inflight.pop(row_id, None)
            if entry is not None:
                self._by_mid.pop(entry[0], None)

    def acked(self, mids: Iterable[int]) -> int:
        """Delete the rows behind these acknowledged message ids (unknown mids are ignored). Returns how many."""
        with self._lock:
            rows = []
            for mid in mids:
                row = self._by_mid.pop(mid, None)
                if row is not None:
                    self._inflight.pop(row, None)
                    rows.append(row)
            if not rows or self._closed:
                return 0
            cur = self._db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(rows))})", rows)
            n = max(cur.rowcount, 0)
            self._count -= n
            return n

    def rejected(self, mid: int) -> int:
        """The broker refused the message for good (a PUBACK failure reason): delete it and count it."""
        with self._lock:
            if self._closed or mid not in self._by_mid:
                return 0
            self._db.execute("BEGIN IMMEDIATE")
            self._bump("rejected", 1)
            self._db.execute("COMMIT")
        return self.acked([mid])

    def connection_lost(self) -> None:
        """QoS 0 messages not yet written are lost with the connection: take them again later.
        QoS 1 messages stay in flight: paho re-sends them itself (same mid) after reconnecting."""
        with self._lock:
            for row, (mid, qos) in list(self._inflight.items()):
                if qos == 0:
                    del self._inflight[row]
                    self._by_mid.pop(mid, None)

    def forget_inflight(self) -> None:
        """Forget every in-flight mark (a new MQTT client): all unacknowledged rows will be sent again."""
        with self._lock:
            self._inflight.clear()
            self._by_mid.clear()

    # ------------------------------------------------------------------ figures
    def depth(self) -> int:
        """Messages waiting (including those sent and not yet acknowledged)."""
        return self._count

    def inflight(self) -> int:
        return len(self._inflight)

    def dropped(self) -> int:
        """Telemetry messages dropped because the queue was full (persisted)."""
        with self._lock:
            return self._counter("dropped") if not self._closed else 0

    def over_capacity(self) -> int:
        """Events/alarms stored although the queue was full (persisted)."""
        with self._lock:
            return self._counter("over_capacity") if not self._closed else 0

    def rejected_count(self) -> int:
        with self._lock:
            return self._counter("rejected") if not self._closed else 0

    def oldest_age_s(self) -> float | None:
        with self._lock:
            if self._closed:
                return None
            row = self._db.execute("SELECT MIN(created) FROM outbox").fetchone()
            return None if row[0] is None else max(0.0, self._clock() - float(row[0]))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
