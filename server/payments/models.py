"""Payment tables: one row per resident payment (a charge or a parking fee), idempotent by the merchant's order
number, and the key that signs the residents' QR codes (made once, kept here so printed codes stay valid)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.types import BigIntPK


class PayOrder(Base):
    """A resident's payment and what it bought.

    ``state``: created (waiting for the payment) → paid → starting (start sent to the pile) → running → done,
    or created → closed (never paid). ``refund_state``: none | due | done; refunds happen whatever the state
    (a start that failed: everything; a finished charge: the unused prepay)."""

    __tablename__ = "pay_orders"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    view_key: Mapped[str] = mapped_column(String(48), unique=True, doc="the resident's page of this order")
    purpose: Mapped[str] = mapped_column(String(16), doc="charge | parking")
    provider: Mapped[str] = mapped_column(String(16))
    site: Mapped[str] = mapped_column(String(48))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    port: Mapped[int | None] = mapped_column(Integer)
    lane: Mapped[str | None] = mapped_column(String(64))
    gate_session_id: Mapped[str | None] = mapped_column(String(64))
    option: Mapped[str] = mapped_column(String(16), doc="full | duration | amount | parking")
    minutes: Mapped[int] = mapped_column(Integer, default=0)
    amount_fen: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    pay_url: Mapped[str | None] = mapped_column(Text)
    trade_no: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None] = mapped_column(doc="first genuine notification")
    notifications: Mapped[int] = mapped_column(Integer, default=0, doc="genuine notifications, repeats included")
    command_id: Mapped[str | None] = mapped_column(String(26), doc="start / session_paid command")
    dispatched_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(String(32), doc="why it did not go through (a message key)")
    failure_detail: Mapped[str | None] = mapped_column(Text)
    refund_state: Mapped[str] = mapped_column(String(8), default="none")
    refund_fen: Mapped[int] = mapped_column(Integer, default=0)
    refund_reason: Mapped[str | None] = mapped_column(String(24))
    refund_no: Mapped[str | None] = mapped_column(String(40))
    refunded_at: Mapped[datetime | None]
    refund_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_pay_orders_state", "state"),
        Index("ix_pay_orders_refund_state", "refund_state"),
        Index("ix_pay_orders_device_port", "device_id", "port"),
    )


class ResidentKey(Base):
    """The HMAC key of the residents' QR codes (one row, made on first use)."""

    __tablename__ = "resident_keys"
    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
