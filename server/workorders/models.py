"""Work orders (alarms → orders) and their history and photos."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.types import BigIntPK


class WorkOrder(Base):
    """One fault of one device, from the first alarm to closing. ``open_key`` (``<device_id>:<fault>``) is set
    while the order is open and unique, so the database itself keeps one open order per device and fault; it is
    cleared on close so the next occurrence opens a new order."""

    __tablename__ = "work_orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(48))
    fault: Mapped[str] = mapped_column(String(96), doc="event type, or the event's data.fault")
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    severity: Mapped[str] = mapped_column(String(16), doc="warning | alarm (raised by a worse repeat)")
    state: Mapped[str] = mapped_column(String(16), doc="received | dispatched | handled | verified | closed")
    source: Mapped[str] = mapped_column(String(16), doc="event | offline | manual")
    title: Mapped[str] = mapped_column(String(255))
    first_event_id: Mapped[str | None] = mapped_column(String(26))
    last_event_id: Mapped[str | None] = mapped_column(String(26))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[datetime] = mapped_column(doc="time of the latest occurrence")
    respond_by: Mapped[datetime] = mapped_column(doc="SLA: dispatched by then")
    fix_by: Mapped[datetime] = mapped_column(doc="SLA: handled by then")
    assignee: Mapped[str | None] = mapped_column(String(64))
    dispatched_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None] = mapped_column(doc="督办: when an SLA deadline was first missed")
    recovered_at: Mapped[datetime | None] = mapped_column(doc="offline orders: when the device came back")
    note: Mapped[str | None] = mapped_column(Text, doc="the handler's note")

    __table_args__ = (Index("ix_work_orders_state_site", "state", "site"),
                      Index("ix_work_orders_device_id", "device_id"),
                      Index("ix_work_orders_created_at", "created_at"))


class WorkOrderLog(Base):
    """The order's history: every step, repeat and note, with who and why (also the notification feed)."""

    __tablename__ = "work_order_log"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    who: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), doc="opened | repeat | dispatched | handled | verified | "
                                                        "rejected | closed | overdue | recovered | note")
    state: Mapped[str] = mapped_column(String(16), doc="the order's state after this entry")
    detail: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_work_order_log_order_id", "order_id"),)


class WorkOrderPhoto(Base):
    """A photo the handler uploaded (stored as ``<data_dir>/workorders/<sha256>.<ext>``)."""

    __tablename__ = "work_order_photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]

    __table_args__ = (Index("ix_work_order_photos_order_id", "order_id"),)
