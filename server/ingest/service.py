"""``Ingest``: MQTT messages → database, at least once.

The paho network thread only queues messages. One writer thread takes them in batches (up to ``batch_max``
messages or ``batch_interval_ms`` after the first), parses them against the contract, writes the batch in one
transaction and only then acknowledges its QoS1 messages. A database error never stops ingest: transient ones
(connection lost, database locked) retry the batch with back-off and nothing is acknowledged until it is stored;
any other error stores the batch again with one SAVEPOINT per message, so that the one bad message is rejected
(``handler_error`` / ``store_error``) and the rest are stored (and, should even that fail, message by message).

A payload never gets that far unless it passes ``contract.decode`` (size, nesting depth, NaN/Infinity, numbers out
of range, UTF-8, the channel's model) and, for events, the model its kind declares for its type. Rejected messages
are counted by reason and by kind and event type, kept in ``stats.last_rejects``, logged one line each
(rate-limited) and acknowledged: a poison message is never redelivered and never holds up the ones around it.
``health()`` says whether ingest makes progress (``/healthz``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

from linli import contract
from linli.contract import DeviceRef
from server.db.engine import Database
from server.ingest.jetstream import JetStreamLink
from server.ingest.link import MqttLink
from server.ingest.registry import HandlerRegistry
from server.ingest.stats import IngestStats, LogLimiter
from server.ingest.store import (
    DeviceCache,
    Incoming,
    Outcome,
    Parsed,
    Rejected,
    StoreEnv,
    is_transient,
    parse,
    store_batch,
)
from server.settings import IngestSettings
from server.storage import SnapshotStore

log = logging.getLogger(__name__)


class Ingest:
    #: After ``stop``'s timeout the writer is told to give up; this long more is waited for it to do so (a handler
    #: that never returns keeps it, a daemon thread, from ever finishing).
    abort_grace_s = 5.0

    def __init__(self, cfg: IngestSettings, db: Database, snapshots: SnapshotStore, stats: IngestStats,
                 registry: HandlerRegistry) -> None:
        self.cfg = cfg
        self.db = db
        self.stats = stats
        self.env = StoreEnv(registry=registry, snapshots=snapshots, devices=DeviceCache())
        self.link: MqttLink | JetStreamLink | None = None
        self._q: queue.Queue[Incoming] = queue.Queue()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_limit = LogLimiter()
        self._in_hand = 0  # messages taken off the queue and not yet acknowledged
        self._progress_mono = time.monotonic()  # last acknowledgement, or last time there was nothing to do

    # ------------------------------------------------------------------------------------------ lifecycle
    def attach(self, link: MqttLink | JetStreamLink) -> None:
        self.link = link
        link.sink = self.submit

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._abort.clear()
        self._thread = threading.Thread(target=self._run, name="linli-ingest-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, store (and acknowledge) what is queued, then stop the writer. If the database
        does not let that finish within ``timeout``, the rest stays unacknowledged for the broker to redeliver."""
        if self.link is not None:
            self.link.pause()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abort.set()
                self._thread.join(self.abort_grace_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --------------------------------------------------------------------------------------------- intake
    def submit(self, msg: Incoming) -> None:
        """Called by the network thread for every message."""
        self.stats.on_received()
        if msg.qos == 0 and self._q.qsize() >= self.cfg.queue_max:
            self._reject(msg, Rejected("overload", f"ingest queue is {self._q.qsize()} deep"))
            return
        self._q.put(msg)

    def _next_batch(self) -> list[Incoming]:
        try:
            first = self._q.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.cfg.batch_interval_ms / 1000
        while len(batch) < self.cfg.batch_max:
            left = deadline - time.monotonic()
            try:
                batch.append(self._q.get(timeout=left) if left > 0 else self._q.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while not self._abort.is_set():
            if self._stop.is_set() and self._q.empty():
                break
            try:
                batch = self._next_batch()
                self.stats.set_queue(self._q.qsize())
                if not batch:
                    self._progress_mono = time.monotonic()  # idle is not stuck
                    continue
                self._in_hand = len(batch)
                try:
                    self.process(batch)
                finally:
                    self._in_hand = 0
            except Exception:  # never let the writer die
                log.exception("ingest writer: unexpected error; continuing")
                time.sleep(0.1)

    # ----------------------------------------------------------------------------------------- processing
    def process(self, batch: list[Incoming]) -> None:
        """Parse, store and acknowledge one batch (also callable directly, without MQTT)."""
        good: list[Parsed] = []
        for msg in batch:
            try:
                good.append(parse(msg))
            except Rejected as rej:
                self._reject(msg, rej)
                self._ack(msg)
            except Exception as exc:  # whatever a payload does to the parser, it only costs that message
                self._reject(msg, Rejected("malformed", f"unparseable: {_one_line(exc)}"))
                self._ack(msg)
        if good:
            self._store(good)

    def _store(self, items: list[Parsed], isolate: bool = False) -> None:
        """Store ``items`` in one transaction; transient database errors retry it. Any other error stores them again
        with each message in a SAVEPOINT of its own (``isolate``), so the one that fails is rejected alone; should
        even that fail, each message is stored in a transaction of its own."""
        delay = self.cfg.retry_initial_s
        while not self._abort.is_set():
            new_devices: dict[DeviceRef, int] = {}
            now = datetime.now(UTC)
            try:
                with self.db.session() as session:
                    outcomes = store_batch(session, items, self.env, now, new_devices, isolate)
            except Exception as exc:
                if is_transient(exc):
                    self.stats.on_retry()
                    log.warning("ingest: database error, retrying %d message(s) in %.1f s: %s", len(items), delay,
                                _one_line(exc))
                    self._abort.wait(delay)
                    delay = min(delay * 2, self.cfg.retry_max_s)
                    continue
                self.env.devices.clear()
                if not isolate:
                    log.warning("ingest: batch of %d failed (%s); storing it again, one savepoint per message",
                                len(items), _one_line(exc))
                    self._store(items, isolate=True)
                    return
                if len(items) == 1:
                    self._reject(items[0].msg, _about(Rejected("store_error", _one_line(exc)), items[0]))
                    self._ack(items[0].msg)
                    return
                log.warning("ingest: batch of %d failed (%s); storing one by one", len(items), _one_line(exc))
                for it in items:
                    self._store([it], isolate=True)
                return
            self.env.devices.ids.update(new_devices)
            self._done(items, outcomes)
            return

    def _done(self, items: list[Parsed], outcomes: list[Outcome]) -> None:
        mono = time.monotonic()
        lags = []
        stored: dict[str, int] = {}
        duplicate: dict[str, int] = {}
        for it, out in zip(items, outcomes, strict=True):
            if isinstance(out, Rejected):
                self._reject(it.msg, _about(out, it))
            elif out == "duplicate":
                duplicate[it.channel.value] = duplicate.get(it.channel.value, 0) + 1
            else:
                stored[it.channel.value] = stored.get(it.channel.value, 0) + 1
            if it.msg.arrived_mono:
                lags.append(mono - it.msg.arrived_mono)
            self._ack(it.msg)
        for channel, n in stored.items():  # counted once per channel and batch: the metric's labels() is not cheap
            self.stats.on_stored(channel, n)
        for channel, n in duplicate.items():
            self.stats.on_duplicate(channel, n)
        self.stats.on_batch(len(items), lags)

    def health(self) -> dict[str, Any]:
        """Is ingest making progress? Unhealthy when the writer is gone, or messages wait and none has been stored
        or rejected for ``stall_s`` (a database that stays away, a message that stalls the writer)."""
        waiting = self._q.qsize() + self._in_hand
        idle_s = time.monotonic() - self._progress_mono
        stalled = bool(waiting) and idle_s > self.cfg.stall_s
        return {"running": self.running, "waiting": waiting, "stalled": stalled,
                "since_progress_s": round(idle_s, 1), "ok": self.running and not stalled}

    def _ack(self, msg: Incoming) -> None:
        self._progress_mono = time.monotonic()
        if self.link is not None:
            self.link.ack(msg.mid, msg.qos, msg.generation)

    def _reject(self, msg: Incoming, rej: Rejected) -> None:
        self.stats.on_reject(msg.topic, rej.reason, rej.detail, len(msg.payload), rej.kind, rej.type)
        ok, held = self._log_limit.allow()
        if ok:
            more = f" (+{held} more rejects not logged)" if held else ""
            log.warning("ingest rejected %s (%d bytes) from %s: %s%s", rej.reason, len(msg.payload), msg.topic[:200],
                        rej.detail[:300], more)


def _about(rej: Rejected, it: Parsed) -> Rejected:
    """``rej`` with the kind and event type of the message it is about."""
    rej.kind = rej.kind or it.ref.kind.value
    if not rej.type and isinstance(it.payload, contract.Event):
        rej.type = it.payload.type
    return rej


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def subscriptions(shared: bool) -> list[str]:
    return contract.server_subscriptions(shared=shared)
