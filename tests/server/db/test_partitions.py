"""PostgreSQL at scale: events and telemetry in monthly partitions (server.db.partitions, migration 0002) —
conversion of an existing database, idempotency by event id, partitions ahead, retention by dropping months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import func, select, text

from linli.testing import PostgresCluster
from server.db import Database, upgrade
from server.db.migrate import alembic_config
from server.db.models import Device, Event, Telemetry
from server.db.partitions import (
    add_months,
    month_of,
    months,
    partition_name,
    ulid_floor,
    ulid_time,
    upkeep,
)
from server.ingest.store import EVENTS, TELEMETRY, insert_ignore
from server.settings import DatabaseSettings

pytestmark = pytest.mark.postgres
_n = 0


@pytest.fixture
def pg(pg_cluster: PostgresCluster) -> Database:
    global _n
    _n += 1
    db = Database(DatabaseSettings(url=pg_cluster.create_database(f"part{_n}")))
    yield db
    db.dispose()


def _ulid(when: datetime, tail: str = "0000000000000001") -> str:
    return ulid_floor(when)[:10] + tail


def _device(s: object) -> int:
    dev = Device(site="west", kind="probe", device="p1", state="online", first_seen=datetime.now(UTC))
    s.add(dev)  # type: ignore[attr-defined]
    s.flush()  # type: ignore[attr-defined]
    return dev.id


def _event(dev: int, when: datetime, tail: str = "0000000000000001", ts: datetime | None = None) -> dict:
    return {"id": _ulid(when, tail), "device_id": dev, "type": "probe.input", "severity": "info",
            "ts": ts or when, "received_at": when, "data": {}, "blobs": []}


def _partition_of(db: Database, table: str, where: str) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(f"SELECT tableoid::regclass::text FROM {table} WHERE {where}")).scalars())


def test_ulid_bounds_sort_like_time() -> None:
    a = datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=UTC)
    b = datetime(2026, 2, 1, tzinfo=UTC)
    assert ulid_floor(a) < ulid_floor(b) and ulid_time(ulid_floor(b)) == b
    assert ulid_time(_ulid(a, "ZZZZZZZZZZZZZZZZ")) == a


def test_migration_converts_an_existing_database_keeping_rows(pg: Database) -> None:
    """A database at 0001 with rows in three months becomes partitioned; every row is kept, in its month."""
    with pg.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(days=62), now - timedelta(days=31), now]
    with pg.session() as s:
        dev = _device(s)
        s.execute(insert_ignore(s, EVENTS), [_event(dev, t, f"{i:016d}") for i, t in enumerate(times)])
        s.execute(insert_ignore(s, TELEMETRY), [{"device_id": dev, "ts": t, "received_at": t, "health": {},
                                                 "gauges": {}} for t in times])
    upgrade(pg.engine)
    with pg.engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT relname, relkind FROM pg_class WHERE relname IN "
                                       "('events', 'telemetry')")).all())
        assert kinds == {"events": "p", "telemetry": "p"}
        ev_months = months(conn, "events")
    assert month_of(times[0]) in ev_months and add_months(month_of(now), 3) in ev_months
    with pg.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 3
        assert s.scalar(select(func.count()).select_from(Telemetry)) == 3
        # the telemetry id sequence goes on where it was
        s.execute(insert_ignore(s, TELEMETRY).values(device_id=dev, ts=now + timedelta(seconds=1), received_at=now,
                                                     health={}, gauges={}))
        assert s.scalar(select(func.max(Telemetry.id))) == 4
    assert _partition_of(pg, "events", f"id = '{_ulid(times[0], f'{0:016d}')}'") == [
        partition_name("events", month_of(times[0]))]
    assert _partition_of(pg, "telemetry", f"ts = '{times[1].isoformat()}'") == [
        partition_name("telemetry", month_of(times[1]))]
    with pg.engine.begin() as conn:  # and back again, rows kept
        command.downgrade(alembic_config(conn), "0001")
    with pg.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 3
        assert s.scalar(select(func.count()).select_from(Telemetry)) == 4


def test_a_duplicate_event_id_is_stored_once_even_with_another_ts(pg: Database) -> None:
    """The primary key stays on the id alone (events are partitioned by the id's month): the same id sent again —
    as it was, or rebuilt with another timestamp, even one in another month — is not stored twice."""
    upgrade(pg.engine)
    now = datetime.now(UTC).replace(microsecond=0)
    with pg.session() as s:
        dev = _device(s)
        first = _event(dev, now)
        ins = insert_ignore(s, EVENTS).returning(EVENTS.c.id)
        assert len(s.execute(ins, [first]).all()) == 1
        assert s.execute(ins, [first]).all() == []
        assert s.execute(ins, [{**first, "ts": now - timedelta(days=45)}]).all() == []
        assert s.execute(ins, [{**first, "ts": now + timedelta(days=400)}]).all() == []
        assert s.scalar(select(func.count()).select_from(Event)) == 1
        # telemetry: idempotent by device and time, as before
        row = {"device_id": dev, "ts": now, "received_at": now, "health": {}, "gauges": {}}
        assert len(s.execute(insert_ignore(s, TELEMETRY).returning(TELEMETRY.c.id), [row, row]).all()) == 1


def test_upkeep_creates_months_ahead_drops_old_ones_and_moves_stray_rows(pg: Database) -> None:
    upgrade(pg.engine)
    now = datetime.now(UTC).replace(microsecond=0)
    far = now + timedelta(days=200)  # a device clock 200 days ahead: beyond the partitions, into the default
    with pg.session() as s:
        dev = _device(s)
        s.execute(insert_ignore(s, EVENTS), [_event(dev, far), _event(dev, now - timedelta(days=20), "0" * 15 + "2")])
        # a clock 100 days behind: older than the first month, into the default too
        s.execute(insert_ignore(s, TELEMETRY), [{"device_id": dev, "ts": t, "received_at": t, "health": {},
                                                 "gauges": {}} for t in (far, now - timedelta(days=20),
                                                                         now - timedelta(days=100))])
    assert set(_partition_of(pg, "events", "true")) == {"events_default", partition_name(
        "events", month_of(now - timedelta(days=20)))}
    later = now + timedelta(days=150)  # the job runs five months on: months ahead appear, the stray rows move in
    res = upkeep(pg.engine, {"events": 400, "telemetry": 90}, 3, now=later)
    assert res is not None
    assert partition_name("events", add_months(month_of(later), 3)) in res.created
    assert _partition_of(pg, "events", f"id = '{_ulid(far)}'") == [partition_name("events", month_of(far))]
    assert _partition_of(pg, "telemetry", f"ts = '{far.isoformat()}'") == [partition_name("telemetry",
                                                                                            month_of(far))]
    # telemetry kept 90 days: the month of the 20-days-old row (170 days before `later`) is dropped, whole; the
    # stray row 250 days before `later` is deleted from the default partition
    assert partition_name("telemetry", month_of(now - timedelta(days=20))) in res.dropped
    assert res.purged == 1
    assert not any(n.startswith("events_") for n in res.dropped)  # events kept 400 days
    with pg.session() as s:
        assert s.scalar(select(func.count()).select_from(Telemetry)) == 1
        assert s.scalar(select(func.count()).select_from(Event)) == 2
    assert res.ahead_days["events"] > 90 and res.default_rows == {"events": 0, "telemetry": 0}
    again = upkeep(pg.engine, {"events": 400, "telemetry": 90}, 3, now=later)
    assert again is not None and again.created == [] and again.dropped == []  # idempotent


def test_upkeep_does_nothing_on_sqlite(tmp_path: object) -> None:
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path}/x.db"))
    try:
        upgrade(db.engine)
        assert upkeep(db.engine, {"events": 400, "telemetry": 90}, 3) is None
    finally:
        db.dispose()
