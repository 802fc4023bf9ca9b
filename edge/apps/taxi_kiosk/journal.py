"""The kiosk's order journal: SQLite (WAL, synchronous=FULL) under the app's data folder.

Every change of an order is written before the screen shows it, so a reboot (or a power cut) in the middle of an
order brings the screen back to the same place. The journal keeps the last ``keep`` orders and their history.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.runtime.store import open_db
from linli.contract.taxi_kiosk import ACTIVE_STATES

#: Kiosk-side state of an order made here that the server has not answered yet.
REQUESTED = "requested"
ACTIVE = frozenset({REQUESTED, *(s.value for s in ACTIVE_STATES)})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id          TEXT PRIMARY KEY,
    request_key TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    state       TEXT NOT NULL,
    seq         INTEGER NOT NULL DEFAULT 0,
    info        TEXT NOT NULL DEFAULT '{}',
    phone       TEXT,
    note        TEXT,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    last_news   REAL,
    ended       REAL,
    dismissed   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created);
CREATE TABLE IF NOT EXISTS history (
    order_id TEXT NOT NULL,
    ts       REAL NOT NULL,
    state    TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS history_order ON history (order_id, ts);
"""

_COLS = ("id", "request_key", "source", "state", "seq", "info", "phone", "note", "created", "updated", "last_news",
         "ended", "dismissed")


@dataclass
class KioskOrder:
    """One order as the kiosk knows it. ``info`` is the last :class:`OrderUpdate` applied (driver, ETA, car)."""

    id: str
    request_key: str
    source: str
    state: str
    created: float
    updated: float
    seq: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    phone: str | None = None
    note: str | None = None
    last_news: float | None = None  #: when the server last said something about it (None: never)
    ended: float | None = None
    dismissed: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def row(self) -> tuple[Any, ...]:
        d = asdict(self)
        d["info"] = json.dumps(self.info, ensure_ascii=False)
        d["dismissed"] = int(self.dismissed)
        return tuple(d[c] for c in _COLS)

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> KioskOrder:
        d = dict(zip(_COLS, row, strict=True))
        d["info"] = json.loads(d["info"] or "{}")
        d["dismissed"] = bool(d["dismissed"])
        return cls(**d)


class Journal:
    """Thread-safe; each write is its own transaction."""

    def __init__(self, path: Path, keep: int = 5000) -> None:
        self.path = path
        self.keep = keep
        self._lock = threading.Lock()
        self._db = open_db(path, _SCHEMA, synchronous="FULL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> KioskOrder | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLS)} FROM orders {sql}", args).fetchone()
        return KioskOrder.of(row) if row else None

    def get(self, order_id: str) -> KioskOrder | None:
        return self._one("WHERE id=?", (order_id,))

    def by_key(self, request_key: str) -> KioskOrder | None:
        return self._one("WHERE request_key=?", (request_key,))

    def latest(self) -> KioskOrder | None:
        return self._one("ORDER BY created DESC, id DESC LIMIT 1")

    def active(self) -> KioskOrder | None:
        marks = ",".join("?" * len(ACTIVE))
        return self._one(f"WHERE state IN ({marks}) ORDER BY created DESC, id DESC LIMIT 1", tuple(sorted(ACTIVE)))

    def save(self, order: KioskOrder, history: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Insert or replace the order, and (with ``history``) add a history line, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(f"INSERT OR REPLACE INTO orders ({', '.join(_COLS)}) VALUES "
                                 f"({', '.join('?' * len(_COLS))})", order.row())
                if history is not None:
                    self._db.execute("INSERT INTO history (order_id, ts, state, detail) VALUES (?,?,?,?)",
                                     (order.id, time.time(), history,
                                      json.dumps(detail or {}, ensure_ascii=False)))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def prune(self) -> int:
        """Forget all but the newest ``keep`` orders (ended ones only). Returns how many went."""
        with self._lock:
            old = [r[0] for r in self._db.execute(
                "SELECT id FROM orders WHERE ended IS NOT NULL ORDER BY created DESC LIMIT -1 OFFSET ?",
                (self.keep,))]
            if not old:
                return 0
            marks = ",".join("?" * len(old))
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"DELETE FROM history WHERE order_id IN ({marks})", old)
            self._db.execute(f"DELETE FROM orders WHERE id IN ({marks})", old)
            self._db.execute("COMMIT")
        return len(old)

    def recent(self, n: int = 10) -> list[KioskOrder]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLS)} FROM orders ORDER BY created DESC, id DESC LIMIT ?",
                                    (n,)).fetchall()
        return [KioskOrder.of(r) for r in rows]

    def count_since(self, ts: float) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM orders WHERE created >= ?", (ts,)).fetchone()[0])

    def outcomes_since(self, ts: float) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM orders WHERE created >= ? GROUP BY state", (ts,))
            return {state: int(n) for state, n in rows}

    def history(self, order_id: str) -> list[tuple[float, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT ts, state, detail FROM history WHERE order_id=? ORDER BY ts, rowid",
                                    (order_id,)).fetchall()
        return [(ts, state, json.loads(detail)) for ts, state, detail in rows]
