"""The charger's tables: one order per charging session (idempotent by order id), and versioned tariffs per site."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.types import BigIntPK


class ChargerOrder(Base):
    """A charging session: created by ``charger.session_started`` or its settlement, billed once by order id."""

    __tablename__ = "charger_orders"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    port: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    user: Mapped[str] = mapped_column(String(64), default="")
    mode: Mapped[str] = mapped_column(String(16))
    tariff_version: Mapped[int] = mapped_column(Integer)
    prepaid_fen: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), doc="running | settled")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    charged_s: Mapped[int | None] = mapped_column(Integer)
    energy_wh: Mapped[float | None]
    max_power_w: Mapped[float | None]
    tier_w: Mapped[int | None] = mapped_column(Integer)
    amount_fen: Mapped[int | None] = mapped_column(Integer)
    refund_fen: Mapped[int | None] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(String(24))
    resumed: Mapped[int] = mapped_column(Integer, default=0)
    settled_at: Mapped[datetime | None] = mapped_column(doc="when the server first stored the bill")
    settlement_event_id: Mapped[str | None] = mapped_column(String(32))
    settlements_received: Mapped[int] = mapped_column(Integer, default=0, doc="resends included")
    ack_due: Mapped[bool] = mapped_column(Boolean, default=False, doc="a settle_ack must be sent to the device")
    acks_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_ack_at: Mapped[datetime | None]
    requested_by: Mapped[str | None] = mapped_column(Text, doc="user who started it remotely")

    __table_args__ = (
        Index("ix_charger_orders_device_started", "device_id", "started_at"),
        Index("ix_charger_orders_ack_due", "ack_due"),
        Index("ix_charger_orders_ended", "ended_at"),
    )


class ChargerTariff(Base):
    """A site's tariff versions (the body is the device's ``app.tariff`` section)."""

    __tablename__ = "charger_tariffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(48))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("site", "version"),)
