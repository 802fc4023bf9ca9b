"""The gate's own SQLite file: cached lists (versioned, synced from the server), parking sessions, and the LPR
camera plate ids already handled (offline replays come back with duplicates).

Everything a decision needs is here, so the gate keeps deciding with the server and the broker away.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.runtime.store import open_db
from linli.contract import new_id
from linli.contract.gate import GateSettings, ListEntry, ListsSyncArgs
from linli.gate.plates import fuzzy_candidates

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    list TEXT NOT NULL, key TEXT NOT NULL, plate TEXT, valid_from REAL, valid_to REAL, label TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (list, key)
);
CREATE INDEX IF NOT EXISTS lists_plate ON lists (plate);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, plate TEXT NOT NULL, category TEXT NOT NULL, entry_at REAL NOT NULL, entry_lane TEXT,
    exit_at REAL, exit_lane TEXT, fee_cents INTEGER, paid_cents INTEGER NOT NULL DEFAULT 0, paid_via TEXT,
    state TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (plate, state);
CREATE TABLE IF NOT EXISTS seen_pushes (source TEXT NOT NULL, plate_id TEXT NOT NULL, reply TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (source, plate_id));
CREATE TABLE IF NOT EXISTS payments (payment_id TEXT PRIMARY KEY, session_id TEXT, amount_cents INTEGER NOT NULL,
    at REAL NOT NULL);
"""


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class Match:
    list: str
    key: str
    plate: str
    label: str
    valid_from: datetime | None
    valid_to: datetime | None

    def valid_at(self, now: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= now) and (self.valid_to is None or now < self.valid_to)


@dataclass
class Session:
    id: str
    plate: str
    category: str
    entry_at: datetime
    entry_lane: str | None
    exit_at: datetime | None
    fee_cents: int | None
    paid_cents: int
    paid_via: str | None
    state: str


class SyncResult(dict[str, Any]):
    pass


class GateStore:
    def __init__(self, path: Path, default_settings: GateSettings) -> None:
        self._db = open_db(path, _SCHEMA, synchronous="FULL")
        self._lock = threading.RLock()
        self._default = default_settings
        self._settings = self._load_settings()
        self._migrate_seen()

    def _migrate_seen(self) -> None:
        """Plate ids used to be kept as SQLite integers (at most 2^63 - 1); they are text now (up to 2^64 - 1, or
        what text the camera sends). Rows of the old table move over once."""
        with self._lock:
            old = self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='seen_reads'").fetchone()
            if old is None:
                return
            self._db.execute("INSERT OR IGNORE INTO seen_pushes(source, plate_id, reply, at) "
                             "SELECT source, CAST(plate_id AS TEXT), reply, at FROM seen_reads")
            self._db.execute("DROP TABLE seen_reads")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ meta
    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", (name, value))

    @property
    def version(self) -> int:
        with self._lock:
            return int(self._meta("version") or 0)

    def _load_settings(self) -> GateSettings:
        raw = self._meta("settings")
        return GateSettings.model_validate_json(raw) if raw else self._default

    @property
    def settings(self) -> GateSettings:
        return self._settings

    def set_default_settings(self, settings: GateSettings) -> None:
        """The file config's settings, used until the server sent its own."""
        with self._lock:
            self._default = settings
            self._settings = self._load_settings()

    # ------------------------------------------------------------------ lists
    def apply_sync(self, args: ListsSyncArgs) -> dict[str, Any]:
        """Apply a delta atomically when it starts at our version (or resets); else say which version we have."""
        with self._lock:
            have = self.version
            if not args.reset and args.base_version != have:
                return {"applied": False, "version": have,
                        "reason": f"delta starts at version {args.base_version}, this gate has {have}"}
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if args.reset:
                    self._db.execute("DELETE FROM lists")
                    self._db.execute("DELETE FROM meta WHERE name='settings'")
                for lst, key in args.deletes:
                    self._db.execute("DELETE FROM lists WHERE list=? AND key=?", (lst, key))
                self._db.executemany(
                    "INSERT OR REPLACE INTO lists(list, key, plate, valid_from, valid_to, label) VALUES (?,?,?,?,?,?)",
                    [(e.list, e.key, e.plate, _ts(e.valid_from), _ts(e.valid_to), e.label) for e in args.upserts])
                if args.settings is not None:
                    self._set_meta("settings", args.settings.model_dump_json())
                self._set_meta("version", str(args.version))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._settings = self._load_settings()
            return {"applied": True, "version": args.version}

    def _row(self, r: sqlite3.Row | tuple[Any, ...]) -> Match:
        return Match(r[0], r[1], r[2] or "", r[5] or "", _dt(r[3]), _dt(r[4]))

    def lookup(self, plate: str) -> list[Match]:
        """Every list entry naming exactly this plate."""
        with self._lock:
            rows = self._db.execute("SELECT list, key, plate, valid_from, valid_to, label FROM lists WHERE plate=?",
                                    (plate,)).fetchall()
        return [self._row(r) for r in rows]

    def lookup_fuzzy(self, plate: str) -> list[Match]:
        """Entries whose plate ``plate`` is a one-step misread of (linli.gate.plates rule)."""
        cands = sorted(fuzzy_candidates(plate))
        if not cands:
            return []
        with self._lock:
            rows = self._db.execute(
                f"SELECT list, key, plate, valid_from, valid_to, label FROM lists WHERE plate IN "
                f"({','.join('?' * len(cands))})", cands).fetchall()
        return [self._row(r) for r in rows]

    def card(self, number: str) -> Match | None:
        with self._lock:
            r = self._db.execute("SELECT list, key, plate, valid_from, valid_to, label FROM lists "
                                 "WHERE list='card' AND key=?", (number,)).fetchone()
        return None if r is None else self._row(r)

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT list, count(*) FROM lists GROUP BY list").fetchall()
        return {str(k): int(n) for k, n in rows}

    def upsert_entries(self, entries: list[ListEntry]) -> None:
        """Local entries (tests, commissioning) without changing the synced version."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO lists(list, key, plate, valid_from, valid_to, label) VALUES (?,?,?,?,?,?)",
                [(e.list, e.key, e.plate, _ts(e.valid_from), _ts(e.valid_to), e.label) for e in entries])

    # ------------------------------------------------------------------ sessions
    def _session(self, r: tuple[Any, ...]) -> Session:
        return Session(r[0], r[1], r[2], _dt(r[3]), r[4], _dt(r[5]), r[6], int(r[7] or 0), r[8],  # type: ignore[arg-type]
                       r[9])

    _COLS = "id, plate, category, entry_at, entry_lane, exit_at, fee_cents, paid_cents, paid_via, state"

    def open_session(self, plate: str) -> Session | None:
        """The latest open session of a plate."""
        with self._lock:
            r = self._db.execute(f"SELECT {self._COLS} FROM sessions WHERE plate=? AND state='open' "
                                 "ORDER BY entry_at DESC LIMIT 1", (plate,)).fetchone()
        return None if r is None else self._session(r)

    def session(self, session_id: str) -> Session | None:
        with self._lock:
            r = self._db.execute(f"SELECT {self._COLS} FROM sessions WHERE id=?", (session_id,)).fetchone()
        return None if r is None else self._session(r)

    def start_session(self, plate: str, category: str, at: datetime, lane: str) -> Session:
        """A vehicle entered. An older open session of the same plate (it left unseen) is closed first."""
        sid = new_id()
        with self._lock:
            self._db.execute("UPDATE sessions SET state='abandoned' WHERE plate=? AND state='open'", (plate,))
            self._db.execute("INSERT INTO sessions(id, plate, category, entry_at, entry_lane) VALUES (?,?,?,?,?)",
                             (sid, plate, category, at.timestamp(), lane))
        s = self.session(sid)
        assert s is not None
        return s

    def close_session(self, session_id: str, at: datetime, lane: str, fee_cents: int) -> None:
        with self._lock:
            self._db.execute("UPDATE sessions SET state='closed', exit_at=?, exit_lane=?, fee_cents=? WHERE id=?",
                             (at.timestamp(), lane, fee_cents, session_id))

    def add_payment(self, session_id: str, amount_cents: int, via: str, payment_id: str | None,
                    at: datetime) -> bool:
        """Record money for a session; False when this payment id was applied before (duplicate callback)."""
        with self._lock:
            if payment_id is not None:
                try:
                    self._db.execute("INSERT INTO payments(payment_id, session_id, amount_cents, at) VALUES (?,?,?,?)",
                                     (payment_id, session_id, amount_cents, at.timestamp()))
                except sqlite3.IntegrityError:
                    return False
            self._db.execute("UPDATE sessions SET paid_cents=paid_cents+?, paid_via=? WHERE id=?",
                             (amount_cents, via, session_id))
            return True

    def inside(self) -> dict[str, int]:
        """Open sessions by category (vehicles inside)."""
        with self._lock:
            rows = self._db.execute("SELECT category, count(*) FROM sessions WHERE state='open' GROUP BY category"
                                    ).fetchall()
        return {str(k): int(n) for k, n in rows}

    # ------------------------------------------------------------------ LPR camera plate ids
    def seen_reply(self, source: str, plate_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute("SELECT reply FROM seen_pushes WHERE source=? AND plate_id=?",
                                 (source, plate_id)).fetchone()
        return None if r is None else json.loads(r[0])

    def remember_reply(self, source: str, plate_id: str, reply: dict[str, Any], at: datetime,
                       keep: int = 20000) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO seen_pushes(source, plate_id, reply, at) VALUES (?,?,?,?)",
                             (source, plate_id, json.dumps(reply, ensure_ascii=False), at.timestamp()))
            self._db.execute("DELETE FROM seen_pushes WHERE rowid IN (SELECT rowid FROM seen_pushes ORDER BY at DESC "
                             "LIMIT -1 OFFSET ?)", (keep,))
