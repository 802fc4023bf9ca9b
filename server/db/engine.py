"""Engine and session factory. SQLite gets WAL, synchronous=NORMAL, busy_timeout and foreign keys on every
connection; PostgreSQL is used by URL (``postgresql+psycopg://…``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from server.settings import DatabaseSettings


def make_engine(cfg: DatabaseSettings) -> Engine:
    url = make_url(cfg.url)
    kwargs: dict[str, Any] = {"echo": cfg.echo, "pool_pre_ping": url.get_backend_name() != "sqlite"}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
    elif url.get_backend_name() == "postgresql":
        kwargs["pool_size"] = cfg.pool_size
        kwargs["max_overflow"] = cfg.pool_size
        kwargs["connect_args"] = {"options": "-c DateStyle=ISO,YMD"}  # dates as text are YYYY-MM-DD
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        busy_ms = cfg.sqlite_busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock for this transaction now (waiting up to busy_timeout).

    Needed before a SAVEPOINT whose reads lead to writes: a SAVEPOINT opens the transaction at once, its first read
    fixes the snapshot, and if another connection commits before the first write SQLite refuses the upgrade with
    SQLITE_BUSY_SNAPSHOT ("database is locked") without waiting — a work order or an ingested message would fail
    on a merely busy database. A write statement that changes nothing takes the lock first. PostgreSQL: nothing."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE devices SET id = id WHERE 0"))


class Database:
    """An engine plus its session factory."""

    def __init__(self, cfg: DatabaseSettings) -> None:
        self.cfg = cfg
        self.engine = make_engine(cfg)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
