"""The session journal (SQLite, WAL, synchronous FULL): what survives a power cut.

Opened through the runtime's :func:`edge.runtime.store.open_db`: a file a power cut left unreadable is moved
aside (``charger.sqlite.corrupt-<time>``, kept for the technician) and the pile starts with an empty journal
instead of not starting at all; the relays are off after a restart anyway and the MCU keeps its counters.

- ``sessions``: one row per order id. Open sessions are rewritten on every state change and every
  ``journal_interval_s`` while they run, so after a restart the agent knows each port's order, its tariff, the
  energy counted so far and the MCU counter it was counted from.
- ``settlements``: the bill of each finished session, ``pending`` until the server's ``settle_ack``.
The order id is the primary key of both, so a session is never opened twice nor billed twice.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from edge.runtime.store import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  order_id TEXT PRIMARY KEY,
  port INTEGER NOT NULL,
  open INTEGER NOT NULL,
  body TEXT NOT NULL,
  updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_sessions_open ON sessions(open, port);
CREATE TABLE IF NOT EXISTS settlements (
  order_id TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_sent REAL,
  acked REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_db(path, SCHEMA, synchronous="FULL")
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ sessions
    def save_session(self, body: dict[str, Any], open_: bool, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions(order_id, port, open, body, updated) VALUES(?,?,?,?,?) "
                "ON CONFLICT(order_id) DO UPDATE SET open=excluded.open, body=excluded.body, updated=excluded.updated",
                (body["order_id"], body["port"], int(open_), json.dumps(body), now))

    def has_order(self, order_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM sessions WHERE order_id=?", (order_id,)).fetchone() is not None

    def session(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM sessions WHERE order_id=?", (order_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def open_sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM sessions WHERE open=1 ORDER BY port").fetchall()
        return [json.loads(r[0]) for r in rows]

    def finish(self, body: dict[str, Any], bill: dict[str, Any], now: float) -> bool:
        """Close the session and queue its settlement in one transaction. False if it was already settled."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if cur.execute("SELECT 1 FROM settlements WHERE order_id=?", (body["order_id"],)).fetchone():
                    cur.execute("UPDATE sessions SET open=0 WHERE order_id=?", (body["order_id"],))
                    cur.execute("COMMIT")
                    return False
                cur.execute(
                    "INSERT INTO sessions(order_id, port, open, body, updated) VALUES(?,?,0,?,?) "
                    "ON CONFLICT(order_id) DO UPDATE SET open=0, body=excluded.body, updated=excluded.updated",
                    (body["order_id"], body["port"], json.dumps(body), now))
                cur.execute("INSERT INTO settlements(order_id, body, state) VALUES(?,?, 'pending')",
                            (body["order_id"], json.dumps(bill)))
                cur.execute("COMMIT")
                return True
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ settlements
    def settlements_due(self, now: float, resend_s: float) -> list[tuple[str, dict[str, Any], int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT order_id, body, attempts FROM settlements WHERE state='pending' "
                "AND (last_sent IS NULL OR last_sent <= ?) ORDER BY rowid", (now - resend_s,)).fetchall()
        return [(r[0], json.loads(r[1]), int(r[2])) for r in rows]

    def mark_sent(self, order_id: str, now: float) -> None:
        with self._lock:
            self._db.execute("UPDATE settlements SET attempts=attempts+1, last_sent=? WHERE order_id=?",
                             (now, order_id))

    def ack(self, order_ids: list[str], now: float) -> list[str]:
        """Mark these settled; returns those that were pending (others were unknown or already acknowledged)."""
        done = []
        with self._lock:
            for oid in order_ids:
                cur = self._db.execute("UPDATE settlements SET state='acked', acked=? "
                                       "WHERE order_id=? AND state='pending'", (now, oid))
                if cur.rowcount:
                    done.append(oid)
        return done

    def settlement(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body, state, attempts FROM settlements WHERE order_id=?",
                                   (order_id,)).fetchone()
        return None if row is None else {"bill": json.loads(row[0]), "state": row[1], "attempts": row[2]}

    def pending_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM settlements WHERE state='pending'").fetchone()[0])

    def recent_bills(self, n: int = 10) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT body, state FROM settlements ORDER BY rowid DESC LIMIT ?",
                                    (n,)).fetchall()
        return [{**json.loads(r[0]), "ack_state": r[1]} for r in rows]

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET "
                             "value=excluded.value", (key, json.dumps(value)))

    def close(self) -> None:
        with self._lock:
            self._db.close()
