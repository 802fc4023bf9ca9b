"""Daily roll-ups: per Shanghai calendar day, the counts and sums the dashboards' busiest panels add up, so that a
panel over a fortnight reads a few thousand roll-up rows instead of hundreds of thousands of raw ones.

Every roll-up table is a model that also inherits :class:`Rollup`: its primary key is ``day`` (``YYYY-MM-DD`` in
Asia/Shanghai, UTC+8 without daylight saving since 1991, the day the dashboards show) plus the columns it is split
by; its other columns are additive (counts, sums). It says which raw table it is made from (``source``), and how
(:meth:`Rollup.from_raw`, a ``SELECT`` grouped by day and key over a UTC time range).

Kept at ingest, in the transaction that stores the raw row: :func:`add` is an ``INSERT … ON CONFLICT DO UPDATE``
that adds to the row of the day (PostgreSQL and SQLite alike), called only for rows ingest actually inserted (an
event or a telemetry row redelivered by the broker is a ``duplicate`` and adds nothing; a batch that rolls back
takes its additions with it). Rows are upserted in key order, so that ingest workers sharing a database lock them
in the same order.

:func:`rebuild` makes them again from the raw rows (all, or a range of days): the Alembic revisions that add them
call it, and so does ``linli rollups rebuild`` (after a restore, or to check them: ``--check`` compares). Retention:
when ``server.db.partitions`` drops a month of ``events`` or ``telemetry``, :func:`trim` deletes the roll-up days
before the oldest month kept and rebuilds that month's first day (whose first eight Shanghai hours were in the
dropped UTC month).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

#: Asia/Shanghai: UTC+8, no daylight saving since 1991
SHANGHAI_OFFSET = timedelta(hours=8)


def day_of(ts: datetime) -> str:
    """The Shanghai calendar day (``YYYY-MM-DD``) of a UTC instant (naive values are UTC)."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return (ts + SHANGHAI_OFFSET).date().isoformat()


def day_start(day: date) -> datetime:
    """The UTC instant at which the Shanghai day ``day`` begins."""
    return datetime.combine(day, time(), UTC) - SHANGHAI_OFFSET


def day_sql(dialect: str, col: Any) -> ColumnElement[Any]:
    """SQL for ``day_of(col)``: the same text, on either database."""
    if dialect == "postgresql":
        # the UTC wall time plus 8 h, as a date, as text (ISO: the engine sets DateStyle)
        return sql_cast(sql_cast(func.timezone("UTC", col) + literal_column("interval '8 hours'"), Date), String)
    return func.date(col, "+8 hours")


class Rollup:
    """Mixin of a roll-up model (see the module's docstring)."""

    #: the raw table the rows are made from
    source: ClassVar[str]
    #: the columns added up (the primary key is the others, ``day`` first)
    sums: ClassVar[tuple[str, ...]]
    #: columns that keep the largest value given (None: none yet)
    maxes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def table(cls) -> Table:
        return cast(Table, cls.__table__)  # type: ignore[attr-defined]

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(c.name for c in cls.table().primary_key.columns)

    @classmethod
    def from_raw(cls, dialect: str, start: datetime | None, end: datetime | None) -> Select[Any]:
        """The roll-up rows (columns in the table's order) of the raw rows whose time is in ``[start, end)``."""
        raise NotImplementedError


def models() -> list[type[Rollup]]:
    """Every roll-up model (after ``server.db.migrate.load_all_models``), in a stable order."""
    out: list[type[Rollup]] = []
    todo = list(Rollup.__subclasses__())
    while todo:
        c = todo.pop()
        if hasattr(c, "__table__"):
            out.append(c)
        todo += c.__subclasses__()
    return sorted(out, key=lambda m: m.table().name)


def _upsert(session: Session, table: Table, keys: Sequence[str], sums: Sequence[str], maxes: Sequence[str]) -> Any:
    name = session.get_bind().dialect.name
    ins: Any
    if name == "postgresql":
        ins = postgresql.insert(table)
    elif name == "sqlite":
        ins = sqlite.insert(table)
    else:
        raise NotImplementedError(f"database {name!r} is not supported (use SQLite or PostgreSQL)")
    if not sums and not maxes:
        return ins.on_conflict_do_nothing(index_elements=list(keys))
    new: dict[str, Any] = {c: table.c[c] + ins.excluded[c] for c in sums}
    for c in maxes:
        old, given = table.c[c], ins.excluded[c]
        # GREATEST skips NULLs; SQLite's two-argument max() does not
        new[c] = func.greatest(old, given) if name == "postgresql" else \
            func.max(func.coalesce(old, given), func.coalesce(given, old))
    return ins.on_conflict_do_update(index_elements=list(keys), set_=new)


def add(session: Session, model: type[Rollup], rows: Iterable[dict[str, Any]]) -> int:
    """Add ``rows`` (key columns and additive values) to the roll-up, merging rows of the same key first; the
    number of roll-up rows written. Call it in the transaction that inserted the raw rows, for those rows only."""
    keys, sums, maxes = model.keys(), model.sums, model.maxes
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[c] for c in keys)
        cur = merged.get(k)
        if cur is None:
            merged[k] = {**{c: r[c] for c in keys}, **{c: r.get(c, 0) for c in sums},
                         **{c: r.get(c) for c in maxes}}
            continue
        for c in sums:
            cur[c] += r.get(c, 0)
        for c in maxes:
            given = r.get(c)
            if given is not None and (cur[c] is None or given > cur[c]):
                cur[c] = given
    if not merged:
        return 0
    ordered = [merged[k] for k in sorted(merged, key=lambda k: tuple(str(v) for v in k))]
    session.execute(_upsert(session, model.table(), keys, sums, maxes), ordered)
    return len(ordered)


def _scoped(conn: Connection, names: Iterable[str] | None, since: date | None,
            until: date | None) -> Iterator[tuple[Table, list[Any], Any]]:
    """Each roll-up's table (all, or those in ``names``), the condition on its ``day`` column
    for the Shanghai days ``since`` … ``until`` (both included; open-ended when None) and the select that makes
    those days from the raw rows."""
    wanted = set(names) if names is not None else None
    start = day_start(since) if since is not None else None
    end = day_start(until + timedelta(days=1)) if until is not None else None
    for m in models():
        t = m.table()
        if wanted is not None and t.name not in wanted:
            continue
        days = [t.c.day >= since.isoformat()] if since is not None else []
        if until is not None:
            days.append(t.c.day <= until.isoformat())
        yield t, days, m.from_raw(conn.dialect.name, start, end)


def rebuild(conn: Connection, names: Iterable[str] | None = None, since: date | None = None,
            until: date | None = None) -> dict[str, int]:
    """Make the roll-ups (all, or those whose table is in ``names``) again from the raw rows, for the Shanghai days
    ``since`` … ``until`` (both included; open-ended when None). Returns the roll-up rows written per table."""
    out: dict[str, int] = {}
    for t, days, fresh in _scoped(conn, names, since, until):
        conn.execute(delete(t).where(*days))
        res = conn.execute(insert(t).from_select([c.name for c in t.columns], fresh)
                           .execution_options(preserve_rowcount=True))
        out[t.name] = int(res.rowcount or 0)
    return out


def check(conn: Connection, names: Iterable[str] | None = None, since: date | None = None,
          until: date | None = None) -> dict[str, int]:
    """Rows that differ between each roll-up and what :func:`rebuild` would make from the raw rows (0: equal)."""
    out: dict[str, int] = {}
    for t, days, fresh in _scoped(conn, names, since, until):
        stored = select(*t.columns).where(*days)
        a = stored.except_(fresh).subquery()
        b = fresh.except_(stored).subquery()
        out[t.name] = int(conn.scalar(select(func.count()).select_from(a)) or 0) + \
            int(conn.scalar(select(func.count()).select_from(b)) or 0)
    return out


def trim(conn: Connection, source: str, first_kept: date | None) -> int:
    """After the months of ``source`` before ``first_kept`` (a UTC month start) were dropped: delete the roll-up
    days before it and rebuild its first day from the rows kept. None: every month was dropped. Rows deleted."""
    n = 0
    for m in models():
        if m.source != source:
            continue
        t = m.table()
        if first_kept is None:
            n += int(conn.execute(delete(t)).rowcount or 0)
            continue
        n += int(conn.execute(delete(t).where(t.c.day < first_kept.isoformat())).rowcount or 0)
        rebuild(conn, [t.name], first_kept, first_kept)
    return n
