"""Opening the agent's SQLite files (WAL): a damaged file is moved aside rather than stopping the device."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _connect(path: Path, schema: str, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
        problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:  # quick_check reports damage as rows, not as an exception
            raise sqlite3.DatabaseError(f"database disk image is malformed: {'; '.join(problems)[:300]}")
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def open_db(path: Path, schema: str, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from several threads under a lock."""
    return open_db_reporting(path, schema, synchronous)[0]


def open_db_reporting(path: Path, schema: str, synchronous: str = "FULL") -> tuple[sqlite3.Connection, Path | None]:
    """As :func:`open_db`; also returns where a damaged file was moved to (None when it opened cleanly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, schema, synchronous), None
    except sqlite3.DatabaseError as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.time_ns()}")
        log.error("%s is unreadable (%s): moved aside to %s, starting empty", path, exc, aside)
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{path}{suffix}")
            if src.exists():
                src.rename(f"{aside}{suffix}")
        return _connect(path, schema, synchronous), aside


def is_storage_failure(exc: BaseException) -> bool:
    """SQLite could not write: disk full (SQLITE_FULL) or an I/O error (SQLITE_IOERR and its extended codes)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
    text = str(exc).lower()
    return "disk is full" in text or "disk i/o error" in text
