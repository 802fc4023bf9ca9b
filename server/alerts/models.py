"""Alerts: one per device and event type while active (repeats are counted on it), acknowledged and cleared like
ThingsBoard alarms (active → acknowledged → cleared)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base

AUDIENCES = ("guard", "manager")
STATES = ("active", "acknowledged", "cleared")
OPEN_STATES = ("active", "acknowledged")


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(48))
    audience: Mapped[str] = mapped_column(String(16), doc="guard | manager")
    type: Mapped[str] = mapped_column(String(64), doc="the event type that raised it")
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True,
                                                 doc="<device_id>:<type> while not cleared")
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), doc="active | acknowledged | cleared")
    first_event_id: Mapped[str | None] = mapped_column(String(26))
    last_event_id: Mapped[str | None] = mapped_column(String(26))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(doc="what people need to see: plate, lane, door, snapshot…")

    __table_args__ = (Index("ix_alerts_state_site", "state", "site"),
                      Index("ix_alerts_device_id", "device_id"))
