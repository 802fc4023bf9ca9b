"""Releases, roll-outs and each device's progress in a roll-out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.types import JsonType


class Release(Base):
    __tablename__ = "releases"
    version: Mapped[str] = mapped_column(String(48), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    uploaded_by: Mapped[str] = mapped_column(String(64))


class Rollout(Base):
    """One release going out to a group of devices in stages. ``state``: running | paused | halted | done."""

    __tablename__ = "rollouts"
    __table_args__ = (Index("ix_rollouts_state", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("releases.version"))
    site: Mapped[str | None] = mapped_column(String(48))
    kind: Mapped[str | None] = mapped_column(String(32))
    stages: Mapped[list[Any]] = mapped_column(JsonType, doc="cumulative: device counts (int) or shares (0-1]")
    max_parallel: Mapped[int] = mapped_column(Integer)
    max_failures: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class RolloutDevice(Base):
    """A device in a roll-out. ``state``: waiting | sent | downloading | verified | installed | healthy | current |
    failed | rolled_back | timeout."""

    __tablename__ = "rollout_devices"
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    command_id: Mapped[str | None] = mapped_column(String(26))
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
