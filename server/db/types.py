"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, ForeignKeyConstraint, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import conv
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant. PostgreSQL: ``timestamptz``. SQLite stores naive UTC text, which is read back
    with ``tzinfo=UTC``. Naive values given to it are taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL.
JsonType = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit autoincrement key (INTEGER on SQLite so that it is the rowid alias).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def json_safe(value: Any) -> Any:
    """PostgreSQL's jsonb refuses NUL characters in strings; replace them (U+FFFD) everywhere in a JSON value."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------------ for migrations
# Migrations are written once and must not change when the models' Python types do: they use plain SQLAlchemy
# column types, built by these helpers (JSON and 64-bit keys: ``JsonType`` and ``BigIntPK`` above).
def utc_timestamp() -> DateTime:
    """The column type ``UtcDateTime`` is stored as (``timestamptz`` on PostgreSQL)."""
    return DateTime(timezone=True)


def device_fk(table: str, ondelete: str = "CASCADE") -> ForeignKeyConstraint:
    """``<table>.device_id`` → ``devices.id``, named by the metadata's naming convention."""
    return ForeignKeyConstraint(["device_id"], ["devices.id"], name=conv(f"fk_{table}_device_id_devices"),
                                ondelete=ondelete)
