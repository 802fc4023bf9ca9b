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
- Disk full or an I/O error while writing: the message is kept in a bounded memory queue (``memory_max``) and
  written, in order, as soon as the disk takes it again; what does not fit is counted as lost. When space
  returns, the listeners of :meth:`on_storage_report` get a :class:`StorageReport` (the agent raises a fault
  event from it) and the loss is added to the persisted ``lost`` counter (telemetry gauge ``outbox_lost``).
- A damaged file found at start is moved aside; what can still be read from it is copied into the new queue and
  :attr:`Outbox.startup_loss` says how many messages were lost (``None``: an unknown number).

The queue itself does not talk MQTT: :class:`edge.runtime.link.Link` takes rows with :meth:`Outbox.take`,
records the paho message id with :meth:`Outbox.mark_sent` and reports acknowledgements with :meth:`Outbox.acked`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from linli.contract import DeviceRef, Event, sha256_hex

from .store import is_storage_failure, open_db_reporting

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class StorageReport:
    """A spell in which the outbox could not write, reported once it can again."""

    error: str          # the first error, e.g. "database or disk is full"
    since: float        # when writing first failed (wall clock)
    kept: int           # messages held in memory meanwhile and now written
    lost: int           # messages that did not fit in the memory queue


@dataclass(frozen=True, slots=True)
class StartupLoss:
    """The outbox file was damaged at start."""

    moved_to: Path      # where the damaged file now is
    salvaged: int       # messages read from it and queued again
    lost: int | None    # messages that could not be read (None: unknown how many)
    error: str


_Row = tuple[str, bytes, int, int, bool, float]  # topic, payload, qos, priority, retain, created


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
                 max_inflight: int = 20, clock: Callable[[], float] = time.time, memory_max: int = 1000,
                 retry_s: float = 1.0, ack_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.ack_timeout_s = ack_timeout_s
        self.max_messages = max_messages
        self.max_inflight = max_inflight
        self.memory_max = memory_max
        self.retry_s = retry_s
        self.bucket = TokenBucket(replay_rate_per_s)
        self._clock = clock
        self._lock = threading.RLock()
        self._db, aside = open_db_reporting(self.path, _SCHEMA)
        # messages that could not be written (disk full, I/O error), oldest first, and that spell's figures
        self._pending: deque[_Row] = deque()
        self._failing: tuple[str, float] | None = None
        self._spell_lost = 0
        self._last_try = 0.0
        self._storage_listeners: list[Callable[[StorageReport], None]] = []
        self.startup_loss: StartupLoss | None = None
        if aside is not None:
            self.startup_loss = self._salvage(aside)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        # row id → (paho mid, qos, monotonic time sent) while sent and not yet acknowledged; mid → row id
        self._inflight: dict[int, tuple[int, int, float]] = {}
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
            batch: list[_Row] = [(t, p.encode() if isinstance(p, str) else bytes(p), q, pr, r, now)
                                 for t, p, q, pr, r in rows]
            report = None
            if self._pending:  # at most every retry_s: a full disk must not cost a failing write per message
                report = self._retry_locked()
            if self._pending:  # still failing: keep these after the others, in order
                out = self._hold(batch)
            else:
                try:
                    out = self._write(batch)
                except sqlite3.Error as exc:
                    if not is_storage_failure(exc):
                        raise
                    self._failed(exc)
                    out = self._hold(batch)
        if report is not None:
            self._report(report)
        self._notify()
        return out

    def _write(self, batch: list[_Row]) -> list[int | None]:
        """One transaction; rolls back and raises on failure."""
        out: list[int | None] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            dropped = 0
            over = 0
            excess = self._count + len(batch) - self.max_messages
            if excess > 0:
                dropped += self._drop_oldest_telemetry(excess)
                excess -= dropped
            for topic, data, qos, prio, retain, created in batch:
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
                    (prio, topic, data, qos, int(retain), created))
                out.append(int(cur.lastrowid or 0))
            self._bump("dropped", dropped)
            self._bump("over_capacity", over)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._count += sum(1 for x in out if x is not None) - (dropped - out.count(None))
        return out

    # ------------------------------------------------------------------ when the disk does not take a write
    def _failed(self, exc: BaseException) -> None:
        if self._failing is None:
            self._failing = (str(exc), self._clock())
            log.error("outbox %s: cannot write (%s); keeping up to %d messages in memory until it can",
                      self.path, exc, self.memory_max)

    def _hold(self, batch: list[_Row]) -> list[int | None]:
        """Keep rows in memory (0 = held); when the memory queue is full, drop held telemetry first, then count
        what does not fit as lost (None)."""
        out: list[int | None] = []
        for row in batch:
            if len(self._pending) >= self.memory_max:
                tele = next((r for r in self._pending if r[3] == PRIORITY_TELEMETRY), None)
                if tele is not None:
                    self._pending.remove(tele)
                    self._spell_lost += 1
                elif row[3] != PRIORITY_TELEMETRY:
                    self._pending.popleft()  # the oldest goes: the newest says most about now
                    self._spell_lost += 1
                else:
                    self._spell_lost += 1
                    out.append(None)
                    continue
            self._pending.append(row)
            out.append(0)
        return out

    def _retry_locked(self, force: bool = False) -> StorageReport | None:
        if not self._pending and self._failing is None:
            return None
        now = time.monotonic()
        if not force and now - self._last_try < self.retry_s:
            return None
        self._last_try = now
        rows = list(self._pending)
        try:
            self._write(rows)
        except sqlite3.Error as exc:
            if not is_storage_failure(exc):
                log.error("outbox %s: writing held messages failed: %s", self.path, exc)
            return None
        self._pending.clear()
        assert self._failing is not None
        error, since = self._failing
        report = StorageReport(error=error, since=since, kept=len(rows), lost=self._spell_lost)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._bump("lost", report.lost)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
        self._failing = None
        self._spell_lost = 0
        log.warning("outbox %s: writing again; %d messages kept in memory were written, %d lost",
                    self.path, report.kept, report.lost)
        return report

    def retry_pending(self) -> None:
        """Try again to write held messages (the sender calls this; at most every ``retry_s``)."""
        with self._lock:
            if self._closed:
                return
            report = self._retry_locked()
        if report is not None:
            self._report(report)
            self._notify()

    def on_storage_report(self, fn: Callable[[StorageReport], None]) -> None:
        """``fn(report)`` is called (outside the lock) when writing works again after a failure."""
        self._storage_listeners.append(fn)

    def _report(self, report: StorageReport) -> None:
        for fn in self._storage_listeners:
            try:
                fn(report)
            except Exception:
                log.exception("outbox storage listener failed")

    @property
    def failing(self) -> str | None:
        """The write error while the outbox cannot write (None when it can)."""
        f = self._failing
        return f[0] if f is not None else None

    def held(self) -> int:
        """Messages kept in memory because they could not be written."""
        return len(self._pending)

    def lost(self) -> int:
        """Messages lost because they could not be written (persisted) plus those of the current spell."""
        with self._lock:
            return (self._counter("lost") if not self._closed else 0) + self._spell_lost

    # ------------------------------------------------------------------ a damaged file at start
    def _salvage(self, aside: Path) -> StartupLoss:
        """Copy what can still be read from the damaged file into the new queue."""
        rows: list[_Row] = []
        total: int | None = None
        error = "unreadable"
        try:
            old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            return StartupLoss(aside, 0, None, str(exc))
        try:
            try:
                total = int(old.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            except sqlite3.Error as exc:
                error = str(exc)
            try:
                for r in old.execute("SELECT topic, payload, qos, priority, retain, created FROM outbox ORDER BY id"):
                    rows.append((str(r[0]), bytes(r[1]), int(r[2]), int(r[3]), bool(r[4]), float(r[5])))
            except sqlite3.Error as exc:
                error = str(exc)
        finally:
            old.close()
        lost = None if total is None else max(0, total - len(rows))
        self._count = 0
        try:
            self._write(rows)
            self._bump("lost", lost or 0)
        except sqlite3.Error as exc:
            if not is_storage_failure(exc):
                raise
            self._failed(exc)
            self._hold(rows)
        log.error("outbox %s was damaged (%s): %d messages recovered, %s lost", self.path, error, len(rows),
                  "an unknown number" if lost is None else lost)
        return StartupLoss(aside, len(rows), lost, error)

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
        self.retry_pending()
        with self._lock:
            if self._closed:
                return []
            busy = list(self._inflight)
            extra = f" WHERE id NOT IN ({','.join('?' * len(busy))})" if busy else ""
            cur = self._db.execute(
                f"SELECT id, priority, topic, payload, qos, retain, created FROM outbox{extra} "
                "ORDER BY priority, id LIMIT ?", (*busy, limit))
            return [OutMessage(r[0], r[1], r[2], bytes(r[3]), r[4], bool(r[5]), r[6]) for r in cur]

    def mark_sent(self, row_id: int, mid: int, qos: int, now: float | None = None) -> None:
        """The row was handed to MQTT as message ``mid``; it stays until :meth:`acked` names that mid."""
        with self._lock:
            old = self._by_mid.pop(mid, None)
            if old is not None:
                self._inflight.pop(old, None)
            prev = self._inflight.pop(row_id, None)
            if prev is not None:
                self._by_mid.pop(prev[0], None)
            self._inflight[row_id] = (mid, qos, time.monotonic() if now is None else now)
            self._by_mid[mid] = row_id

    def expire_inflight(self, max_age_s: float, since: float, now: float | None = None) -> int:
        """Release rows waiting longer than ``max_age_s`` for their acknowledgement, counting from when they were
        sent or from ``since`` (the current connection's start), whichever is later: they are sent again as new
        messages (the server keeps one copy per event id). This closes every way an acknowledgement can go missing
        (a message the client library dropped, a reused message id, a lost PUBACK) instead of leaving the row in
        flight, and the window shut, until the agent restarts. Returns how many rows were released."""
        now = time.monotonic() if now is None else now
        with self._lock:
            stale = [row for row, (_mid, _qos, sent) in self._inflight.items() if now - max(sent, since) > max_age_s]
            for row in stale:
                mid = self._inflight.pop(row)[0]
                self._by_mid.pop(mid, None)
        return len(stale)

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
        """The broker refused the message for good (a PUBACK failure reason): delete it and count it.

        The row goes even when the count cannot be written (disk full): a refused message is never sent again,
        and a failed count leaves no transaction open (the outbox keeps accepting)."""
        with self._lock:
            if self._closed or mid not in self._by_mid:
                return 0
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._bump("rejected", 1)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except sqlite3.Error as exc:
                log.error("outbox %s: could not count a refused message: %s", self.path, exc)
            return self.acked([mid])

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after SQLITE_FULL)

    def connection_lost(self) -> None:
        """QoS 0 messages not yet written are lost with the connection: take them again later.
        QoS 1 messages stay in flight: paho re-sends them itself (same mid) after reconnecting."""
        self._release_qos0()

    def connected(self) -> None:
        """A new connection is up. A QoS 0 row still in flight was handed to the old one (its publish raced the
        disconnect, so :meth:`connection_lost` came before :meth:`mark_sent`): paho drops unwritten QoS 0 packets
        when it reconnects and never acknowledges them, so the row is released to be sent again — else it would
        stay in flight, and in :meth:`depth`, until the agent restarts."""
        self._release_qos0()

    def _release_qos0(self) -> None:
        with self._lock:
            for row, (mid, qos, _sent) in list(self._inflight.items()):
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
        """Messages waiting (including those sent and not yet acknowledged, and those held in memory)."""
        return self._count + len(self._pending)

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
