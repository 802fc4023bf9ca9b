"""The server's tables (SQLAlchemy 2 typed models). Every datetime is a UTC instant (see ``UtcDateTime``).

A device kind adds its own tables in ``server/<kind>/models.py`` on the same ``Base``; the Alembic env imports
them (``server.db.migrate.load_all_models``) so that autogenerate sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.db.rollups import Rollup, day_sql
from server.db.types import BigIntPK, JsonType, UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(), dict[str, Any]: JsonType, list[Any]: JsonType,
    }


def _device_fk() -> ForeignKey:
    return ForeignKey("devices.id", ondelete="CASCADE")


class Device(Base):
    """The device registry: one row per site/kind/device, created on the first valid message."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(24))
    device: Mapped[str] = mapped_column(String(48))
    state: Mapped[str] = mapped_column(String(16), default="unknown", doc="online | offline | stopping | unknown")
    state_since: Mapped[datetime | None] = mapped_column(doc="when the server saw the state change")
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime | None] = mapped_column(doc="last message from the device itself")
    status_at: Mapped[datetime | None] = mapped_column(doc="ts of the last status payload")
    boot_time: Mapped[datetime | None]
    software: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(Text)
    config_version: Mapped[str | None] = mapped_column(Text)
    hostname: Mapped[str | None] = mapped_column(Text)
    health: Mapped[dict[str, Any] | None] = mapped_column(doc="latest telemetry health")
    gauges: Mapped[dict[str, Any] | None] = mapped_column(doc="latest telemetry gauges")
    health_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("site", "kind", "device"),
        Index("ix_devices_site_kind_state", "site", "kind", "state"),
    )

    @property
    def key(self) -> str:
        return f"{self.site}/{self.kind}/{self.device}"


class Event(Base):
    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(26), primary_key=True, doc="ULID made on the device")
    device_id: Mapped[int] = mapped_column(_device_fk())
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    blobs: Mapped[list[Any]]

    __table_args__ = (
        Index("ix_events_ts", "ts"),
        Index("ix_events_device_ts", "device_id", "ts"),
        Index("ix_events_type_ts", "type", "ts"),
        Index("ix_events_severity_ts", "severity", "ts"),
    )


class Blob(Base):
    """A snapshot, stored as ``<snapshots>/<sha[:2]>/<sha>.jpg``; the row stays after the file is purged."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[int] = mapped_column(_device_fk())
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64), default="image/jpeg")
    received_at: Mapped[datetime]
    purged_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_blobs_received_at", "received_at"),)


class Telemetry(Base):
    __tablename__ = "telemetry"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(_device_fk())
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    health: Mapped[dict[str, Any]]
    gauges: Mapped[dict[str, Any]]

    __table_args__ = (UniqueConstraint("device_id", "ts"),)


class EventDay(Rollup, Base):
    """Roll-up: events per Shanghai day, device, type and severity (the events and alarms panels)."""

    __tablename__ = "event_days"
    source = "events"
    sums = ("n",)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    device_id: Mapped[int] = mapped_column(_device_fk(), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)

    @classmethod
    def from_raw(cls, dialect: str, start: datetime | None, end: datetime | None) -> Select[Any]:
        day = day_sql(dialect, Event.ts)
        stmt = select(day, Event.device_id, Event.type, Event.severity, func.count()) \
            .group_by(day, Event.device_id, Event.type, Event.severity)
        if start is not None:
            stmt = stmt.where(Event.ts >= start)
        if end is not None:
            stmt = stmt.where(Event.ts < end)
        return stmt


class ReportingDay(Rollup, Base):
    """Roll-up: the Shanghai days on which a device sent telemetry (the daily reporting rate)."""

    __tablename__ = "reporting_days"
    source = "telemetry"
    sums = ()
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    device_id: Mapped[int] = mapped_column(_device_fk(), primary_key=True)

    @classmethod
    def from_raw(cls, dialect: str, start: datetime | None, end: datetime | None) -> Select[Any]:
        day = day_sql(dialect, Telemetry.ts)
        stmt = select(day, Telemetry.device_id).group_by(day, Telemetry.device_id)
        if start is not None:
            stmt = stmt.where(Telemetry.ts >= start)
        if end is not None:
            stmt = stmt.where(Telemetry.ts < end)
        return stmt


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    device_id: Mapped[int] = mapped_column(_device_fk())
    name: Mapped[str] = mapped_column(String(48))
    args: Mapped[dict[str, Any]]
    by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), doc="pending | sent | ok | error | expired")
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_commands_device_created", "device_id", "created_at"),
        Index("ix_commands_state_expires", "state", "expires"),
    )


class DeviceConfig(Base):
    """Desired (set through the API, published retained) and reported (from the device) config overrides."""

    __tablename__ = "device_config"
    device_id: Mapped[int] = mapped_column(_device_fk(), primary_key=True)
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    desired_overrides: Mapped[dict[str, Any] | None]
    desired_by: Mapped[str | None] = mapped_column(String(64))
    desired_at: Mapped[datetime | None]
    reported_version: Mapped[int | None] = mapped_column(Integer)
    reported_applied_version: Mapped[int | None] = mapped_column(Integer)
    reported_ok: Mapped[bool | None] = mapped_column(Boolean)
    reported_error: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None]


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    who: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    result: Mapped[str] = mapped_column(String(16), doc="ok | error | denied")
    detail: Mapped[dict[str, Any]]
    site: Mapped[str | None] = mapped_column(String(48), doc="the site it concerns; NULL: none (accounts, system)")

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_site_at", "site", "at"))


class JobLease(Base):
    """Which server process runs a background job (``server.leases``): held until ``expires_at`` unless renewed."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True, doc="the LoopWorker's name")
    holder: Mapped[str] = mapped_column(String(128), doc="host:pid:token of the server process")
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(doc="when this holder took it")
    last_run_at: Mapped[datetime | None] = mapped_column(doc="start of the job's last run (by any holder)")
    runs: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
