"""Migrations and the database layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from linli.cli import main as linli_main
from server.db import Database, upgrade
from server.db.migrate import alembic_config, current_revision, head_revisions
from server.db.models import AuditLog, Base
from server.db.partitions import include_name
from server.settings import DatabaseSettings

TABLES = {"devices", "events", "blobs", "telemetry", "commands", "device_config", "audit_log", "alembic_version"}


def test_migrations_create_the_schema(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url))
    try:
        assert current_revision(db.engine) is None
        heads = ",".join(head_revisions())
        assert upgrade(db.engine) == heads
        assert set(inspect(db.engine).get_table_names()) >= TABLES  # the spine's tables (kinds add their own)
        uniques = {tuple(u["column_names"]) for u in inspect(db.engine).get_unique_constraints("devices")}
        assert ("site", "kind", "device") in uniques
        with db.engine.connect() as conn:  # the migration and the models agree
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                                        "include_name": include_name}), Base.metadata)
        assert diff == []
        assert upgrade(db.engine) == heads  # idempotent
        with db.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        assert upgrade(db.engine) == heads
    finally:
        db.dispose()


def test_datetimes_are_utc_both_ways(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url))
    try:
        upgrade(db.engine)
        shanghai = timezone(timedelta(hours=8))
        local = datetime(2026, 11, 21, 20, 15, 3, 250000, tzinfo=shanghai)
        with db.session() as s:
            s.add(AuditLog(at=local, who="t", action="x", target="y", result="ok", detail={"k": "值"}))
        with db.session() as s:
            row = s.scalars(select(AuditLog)).one()
            assert row.at == local and row.at.utcoffset() == timedelta(0) and row.at.hour == 12
            assert row.detail == {"k": "值"}
            # comparisons take aware values in any zone
            assert s.scalars(select(AuditLog).where(AuditLog.at >= datetime(2026, 11, 21, 12, 15, 3, tzinfo=UTC))
                             ).one() is row
            assert s.scalars(select(AuditLog).where(AuditLog.at > local)).first() is None
    finally:
        db.dispose()


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'sub' / 'x.db'}", sqlite_busy_timeout_ms=1234))
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 1234
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        db.dispose()


def test_migrate_only_command(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LINLI_DATABASE_URL", db_url)
    example = Path(__file__).resolve().parents[3] / "config" / "server.yaml"
    assert linli_main(["server", "-c", str(example), "--migrate-only"]) == 0
    heads = ",".join(head_revisions())
    assert f"is at revision {heads}" in capsys.readouterr().out
    db = Database(DatabaseSettings(url=db_url))
    try:
        assert current_revision(db.engine) == heads
    finally:
        db.dispose()


def test_every_migration_has_its_own_revision_id() -> None:
    """Two files with one revision id make Alembic keep one of them silently (a fresh database then misses a table,
    as happened when two branches each added ``lift_guard_0002``)."""
    import re

    from server.db.migrate import version_locations

    seen: dict[str, Path] = {}
    for folder in version_locations():
        for path in sorted(folder.glob("*.py")):
            m = re.search(r'^revision: str = "([^"]+)"', path.read_text(encoding="utf-8"), re.M)
            if m is None:
                continue
            assert m.group(1) not in seen, f"{path} and {seen[m.group(1)]} both declare revision {m.group(1)}"
            seen[m.group(1)] = path
    assert len(seen) >= 10


def test_a_savepoint_that_reads_then_writes_waits_for_a_busy_sqlite(tmp_path: Path) -> None:
    """A SAVEPOINT opens SQLite's transaction at once; if another connection commits between its first read and its
    first write, SQLite refuses the write ("database is locked") without waiting. ``write_lock`` takes the lock
    first, so the other writer waits instead (a manual work order failed with HTTP 500 this way under CI load)."""
    import sqlite3
    import threading
    import time

    from server.db.engine import write_lock

    path = tmp_path / "busy.db"
    db = Database(DatabaseSettings(url=f"sqlite:///{path}", sqlite_busy_timeout_ms=10_000))
    upgrade(db.engine)
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE probe_rows (x INTEGER)")

    def other_writer() -> None:
        with sqlite3.connect(path, timeout=10) as c:
            c.execute("INSERT INTO probe_rows VALUES (2)")

    with db.session() as s:
        write_lock(s)
        with s.begin_nested():
            assert s.execute(text("SELECT count(*) FROM probe_rows")).scalar_one() == 0
            t = threading.Thread(target=other_writer)
            t.start()
            time.sleep(0.3)  # without the lock, the other connection commits here
            s.execute(text("INSERT INTO probe_rows VALUES (1)"))
    t.join(10)
    with sqlite3.connect(path) as c:
        assert sorted(r[0] for r in c.execute("SELECT x FROM probe_rows")) == [1, 2]
    db.dispose()
