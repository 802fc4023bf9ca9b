"""Monthly partitions of ``events`` and ``telemetry`` on PostgreSQL (SQLite keeps plain tables).

Both tables are declaratively range-partitioned, one partition per calendar month (UTC), plus a default partition
that catches rows whose device clock is far off (a 1970 or 2099 timestamp must not fail a whole ingest batch):

- ``telemetry`` by ``ts``; its keys are ``(id, ts)`` and ``(device_id, ts)`` (idempotency by device and time).
- ``events`` by ``id``: the event id is a ULID made on the device, whose first 10 characters are its creation time
  in milliseconds (Crockford base32, which sorts like the time it encodes), so a month of ids is one id range.
  This keeps the primary key on ``id`` alone: a partitioned table's unique index must contain the partition key,
  and partitioning by ``ts`` would have made it ``(id, ts)`` — a replay carrying the same id with another ``ts``
  would then be stored twice. Queries filter by ``ts`` and use each partition's ``ts`` indexes.

``PartitionKeeper`` (a :class:`~server.worker.LoopWorker`, leased when several server processes share the
database) creates the coming months' partitions ahead of time and drops whole partitions older than the configured
retention (``retention.events_days``, ``retention.telemetry_days``), and the daily roll-ups made from them with
them (``server.db.rollups.trim``). The Alembic revision ``0002`` converts an
existing database (data kept) with :func:`convert_table`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, text

from linli.contract import utcnow
from server.db import rollups

log = logging.getLogger(__name__)

KeyKind = Literal["ulid", "ts"]
#: partitioned table → the partition key (a ULID text or a timestamp)
TABLES: dict[str, tuple[str, KeyKind]] = {"events": ("id", "ulid"), "telemetry": ("ts", "ts")}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<y>\d{4})m(?P<m>\d{2})$")


def is_partition(name: str | None) -> bool:
    """A monthly or default partition of a partitioned table (Alembic's comparisons skip them)."""
    return bool(name) and any(name == f"{t}_default" or (m is not None and m["table"] == t)
                              for t in TABLES for m in [_NAME.match(name or "")])


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic ``include_name``: the partitions are managed here, not by autogenerate."""
    return not (type_ == "table" and is_partition(name))


def month_of(when: datetime | date) -> date:
    return date(when.year, when.month, 1)


def add_months(month: date, n: int) -> date:
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(y, m + 1, 1)


def ulid_floor(when: datetime) -> str:
    """The smallest ULID made at ``when`` (its 48-bit millisecond time, then zero randomness)."""
    ms = int(when.astimezone(UTC).timestamp() * 1000)
    if not 0 <= ms < 2 ** 48:
        raise ValueError(f"{when} cannot be a ULID time")
    chars = []
    for _ in range(10):
        ms, r = divmod(ms, 32)
        chars.append(_CROCKFORD[r])
    return "".join(reversed(chars)) + "0" * 16


def ulid_time(ulid: str) -> datetime:
    """The creation time a ULID encodes."""
    ms = 0
    for ch in ulid[:10].upper():
        ms = ms * 32 + _CROCKFORD.index(ch)
    return datetime.fromtimestamp(ms / 1000, UTC)


def _start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}m{month.month:02d}"


def _bound(table: str, month: date) -> str:
    kind = TABLES[table][1]
    return f"'{ulid_floor(_start(month))}'" if kind == "ulid" else f"'{_start(month).isoformat()}'"


def is_partitioned(conn: Connection, table: str) -> bool:
    return conn.dialect.name == "postgresql" and conn.execute(
        text("SELECT relkind FROM pg_class WHERE relname = :t AND relnamespace = current_schema()::regnamespace"),
        {"t": table}).scalar() == "p"


def months(conn: Connection, table: str) -> list[date]:
    """The months that have a partition, oldest first."""
    rows = conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                             "WHERE i.inhparent = CAST(:t AS regclass)"), {"t": table}).scalars()
    out = []
    for name in rows:
        m = _NAME.match(name)
        if m and m["table"] == table:
            out.append(date(int(m["y"]), int(m["m"]), 1))
    return sorted(out)


def create_month(conn: Connection, table: str, month: date) -> bool:
    """Create the partition of ``month`` unless it exists. Rows already in the default partition for that month
    (a device whose clock ran ahead) are moved into it. True when it was created."""
    if month in months(conn, table):
        return False
    key = TABLES[table][0]
    name, lo, hi = partition_name(table, month), _bound(table, month), _bound(table, add_months(month, 1))
    default = f"{table}_default"
    moving = conn.execute(text(f"SELECT count(*) FROM {default} WHERE {key} >= {lo} AND {key} < {hi}")).scalar()
    if moving:
        conn.execute(text(f"CREATE TEMP TABLE _linli_moving ON COMMIT DROP AS SELECT * FROM {default} "
                          f"WHERE {key} >= {lo} AND {key} < {hi}"))
        conn.execute(text(f"DELETE FROM {default} WHERE {key} >= {lo} AND {key} < {hi}"))
    conn.execute(text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})"))
    if moving:
        conn.execute(text(f"INSERT INTO {table} SELECT * FROM _linli_moving"))
        conn.execute(text("DROP TABLE _linli_moving"))
        log.warning("%s: moved %d row(s) from %s into the new partition %s", table, moving, default, name)
    return True


def ensure_months(conn: Connection, table: str, first: date, last: date) -> list[str]:
    """Partitions for every month from ``first`` to ``last`` (both included); the names created."""
    made = []
    month = month_of(first)
    while month <= last:
        if create_month(conn, table, month):
            made.append(partition_name(table, month))
        month = add_months(month, 1)
    return made


def drop_before(conn: Connection, table: str, cutoff: datetime) -> list[str]:
    """Drop every monthly partition whose whole month ends on or before ``cutoff``; the names dropped."""
    dropped = []
    for month in months(conn, table):
        if _start(add_months(month, 1)) <= cutoff:
            name = partition_name(table, month)
            conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped


def purge_default(conn: Connection, table: str, cutoff: datetime) -> int:
    """Delete the rows of the default partition older than ``cutoff`` (a device clock that ran behind): the
    retention applies to them too."""
    key, kind = TABLES[table]
    bound = ulid_floor(cutoff) if kind == "ulid" else cutoff.isoformat()
    return int(conn.execute(text(f"DELETE FROM {table}_default WHERE {key} < :b"), {"b": bound}).rowcount or 0)


# ------------------------------------------------------------------------------------------------ conversion
@dataclass(frozen=True)
class TableShape:
    """What a partitioned table is made of (the migration converts with it, and converts back)."""

    name: str
    columns: str          # column definitions
    keys: tuple[str, ...]  # constraints: primary key and unique ones (each containing the partition key)
    indexes: tuple[tuple[str, str], ...]  # (name, column list)


def convert_table(conn: Connection, shape: TableShape, ahead: int = 3) -> int:
    """Turn the plain table ``shape.name`` into a partitioned one, keeping its rows: a new partitioned table with
    partitions for every month its rows need (plus ``ahead`` months), the rows copied, the old table dropped and
    the new one renamed. Returns the rows copied."""
    table, new = shape.name, f"{shape.name}_partitioned"
    key = TABLES[table][0]
    conn.execute(text(f"CREATE TABLE {new} ({shape.columns}) PARTITION BY RANGE ({key})"))
    conn.execute(text(f"CREATE TABLE {table}_default PARTITION OF {new} DEFAULT"))
    # the months the rows need: from the oldest to the newest row (ids: their ULID time), within sane limits
    lo, hi = conn.execute(text(f"SELECT min({key}), max({key}) FROM {table}")).one()
    now = utcnow()
    first, last = add_months(month_of(now), -1), month_of(now)  # last month too: devices replay their backlog
    if lo is not None:
        lo_t, hi_t = (ulid_time(lo), ulid_time(hi)) if TABLES[table][1] == "ulid" else (lo, hi)
        first = max(min(month_of(lo_t), first), month_of(now - timedelta(days=3650)))
        last = min(max(month_of(hi_t), last), add_months(month_of(now), 120))
    _attach_months(conn, table, new, first, add_months(last, ahead))
    conn.execute(text(f"INSERT INTO {new} SELECT * FROM {table}"))
    n = int(conn.execute(text(f"SELECT count(*) FROM {new}")).scalar() or 0)
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
    if seq:  # keep the id sequence (telemetry): it outlives the old table and continues where it was
        conn.execute(text(f"ALTER SEQUENCE {seq} OWNED BY NONE"))
    conn.execute(text(f"DROP TABLE {table}"))
    conn.execute(text(f"ALTER TABLE {new} RENAME TO {table}"))
    _finish(conn, table, seq, shape.keys, shape.indexes)
    return n


def _finish(conn: Connection, table: str, seq: str | None, keys: tuple[str, ...],
            indexes: tuple[tuple[str, str], ...]) -> None:
    """Keys, indexes and the id sequence, added once the old table (which had the same names) is gone."""
    if seq:
        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{seq}')"))
        conn.execute(text(f"ALTER SEQUENCE {seq} OWNED BY {table}.id"))
    for k in keys:
        conn.execute(text(f"ALTER TABLE {table} ADD {k}"))
    for name, cols in indexes:
        conn.execute(text(f"CREATE INDEX {name} ON {table} ({cols})"))


def _attach_months(conn: Connection, table: str, parent: str, first: date, last: date) -> None:
    month = first
    while month <= last:
        conn.execute(text(f"CREATE TABLE {partition_name(table, month)} PARTITION OF {parent} "
                          f"FOR VALUES FROM ({_bound(table, month)}) TO ({_bound(table, add_months(month, 1))})"))
        month = add_months(month, 1)


def unconvert_table(conn: Connection, shape: TableShape, plain_keys: tuple[str, ...]) -> None:
    """The reverse of :func:`convert_table` (the migration's downgrade): one plain table, rows kept."""
    table, old = shape.name, f"{shape.name}_plain"
    conn.execute(text(f"CREATE TABLE {old} ({shape.columns})"))
    conn.execute(text(f"INSERT INTO {old} SELECT * FROM {table}"))
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
    if seq:
        conn.execute(text(f"ALTER SEQUENCE {seq} OWNED BY NONE"))
    conn.execute(text(f"DROP TABLE {table} CASCADE"))
    conn.execute(text(f"ALTER TABLE {old} RENAME TO {table}"))
    _finish(conn, table, seq, plain_keys, shape.indexes)


# ------------------------------------------------------------------------------------------------ upkeep
@dataclass
class Upkeep:
    """One round's outcome, and what ``/metrics`` shows between rounds."""

    created: list[str]
    dropped: list[str]
    purged: int                        # rows older than the retention deleted from the default partitions
    ahead_days: dict[str, float]       # how far the newest partition reaches past now
    oldest_days: dict[str, float]      # age of the start of the oldest partition
    default_rows: dict[str, int]       # rows in the default partition (device clocks far off)
    rollup_rows_dropped: int = 0       # daily roll-up rows deleted with the months dropped (server.db.rollups)


def upkeep(engine: Engine, retention_days: dict[str, int], ahead_months: int, now: datetime | None = None
           ) -> Upkeep | None:
    """Create partitions up to ``ahead_months`` past this month, drop those older than each table's retention.
    None on a database without partitioned tables (SQLite)."""
    now = now or utcnow()
    out = Upkeep([], [], 0, {}, {}, {})
    with engine.begin() as conn:
        if not all(is_partitioned(conn, t) for t in TABLES):
            return None
        for table in TABLES:
            out.created += ensure_months(conn, table, month_of(now), add_months(month_of(now), ahead_months))
            cutoff = now - timedelta(days=retention_days[table])
            dropped = drop_before(conn, table, cutoff)
            out.dropped += dropped
            out.purged += purge_default(conn, table, cutoff)
            if dropped:  # the daily roll-ups made from this table go with its months
                kept = months(conn, table)
                out.rollup_rows_dropped += rollups.trim(conn, table, kept[0] if kept else None)
    for name in out.created:
        log.info("partition %s created", name)
    for name in out.dropped:
        log.info("partition %s dropped (older than the retention)", name)
    if out.rollup_rows_dropped:
        log.info("%d daily roll-up row(s) dropped with those months", out.rollup_rows_dropped)
    out_stats = coverage(engine, now)
    if out_stats is not None:
        out.ahead_days, out.oldest_days, out.default_rows = out_stats
    return out


def coverage(engine: Engine, now: datetime | None = None
             ) -> tuple[dict[str, float], dict[str, float], dict[str, int]] | None:
    """Per table: days the partitions reach past ``now``, age in days of the oldest partition, rows in the default
    partition. None where the tables are not partitioned."""
    now = now or utcnow()
    ahead: dict[str, float] = {}
    oldest: dict[str, float] = {}
    default: dict[str, int] = {}
    with engine.connect() as conn:
        for table in TABLES:
            if not is_partitioned(conn, table):
                return None
            ms = months(conn, table)
            ahead[table] = round((_start(add_months(ms[-1], 1)) - now).total_seconds() / 86400, 2) if ms else 0.0
            oldest[table] = round((now - _start(ms[0])).total_seconds() / 86400, 2) if ms else 0.0
            default[table] = int(conn.execute(text(f"SELECT count(*) FROM {table}_default")).scalar() or 0)
    return ahead, oldest, default
