"""The charger's tables: one order per charging session (idempotent by order id), and versioned tariffs per site."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.rollups import Rollup, day_of, day_sql
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


class ChargerDay(Rollup, Base):
    """Roll-up (``server.db.rollups``): settled sessions per Shanghai day of their end, pile and stop reason, with
    their energy (mWh) and bills (fen) (the energy, revenue and stop-reason panels). An order is billed once, when
    its first settlement is stored (``ingest.on_settlement``), and added here then. A missing stop reason is ``""``."""

    __tablename__ = "charger_days"
    source = "charger_orders"
    sums = ("n", "energy_mwh", "amount_fen")
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    stop_reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    energy_mwh: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    @staticmethod
    def contribution(o: ChargerOrder) -> dict[str, Any] | None:
        if o.state != "settled" or o.ended_at is None:
            return None
        return {"day": day_of(o.ended_at), "device_id": o.device_id, "stop_reason": o.stop_reason or "", "n": 1,
                "energy_mwh": round(o.energy_wh * 1000) if o.energy_wh is not None else 0,
                "amount_fen": o.amount_fen or 0}

    @classmethod
    def from_raw(cls, dialect: str, start: datetime | None, end: datetime | None) -> Select[Any]:
        o = ChargerOrder
        day = day_sql(dialect, o.ended_at)
        reason = func.coalesce(o.stop_reason, "")
        stmt = (select(day, o.device_id, reason, func.count(),
                       func.coalesce(func.sum(cast(func.round(o.energy_wh * 1000), BigInteger)), 0),
                       func.coalesce(func.sum(o.amount_fen), 0))
                .where(o.state == "settled", o.ended_at.is_not(None)).group_by(day, o.device_id, reason))
        if start is not None:
            stmt = stmt.where(o.ended_at >= start)
        if end is not None:
            stmt = stmt.where(o.ended_at < end)
        return stmt
