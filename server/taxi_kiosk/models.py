"""Taxi orders and their history (migration ``taxi_kiosk_0001`` on the ``taxi_kiosk`` Alembic branch).

An order's id is the ULID the kiosk made, so a replayed ``taxi.order_requested`` can never make a second order.
Times: ``requested_at`` is the tap on the kiosk, ``stored_at`` when the server committed the order (the
tap → order latency), then ``assigned_at`` (driver found), ``arrived_at`` (car close), ``picked_up_at``, ``ended_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.types import BigIntPK

#: Server-side states. ``requested`` = stored, not yet sent to the provider; the others are those of the wire
#: contract (``linli.contract.taxi_kiosk.OrderState``).
ACTIVE = ("requested", "searching", "assigned", "arriving")
ENDED = ("picked_up", "cancelled", "no_driver", "unavailable", "no_show")


class TaxiOrder(Base):
    __tablename__ = "taxi_orders"
    id: Mapped[str] = mapped_column(String(26), primary_key=True, doc="ULID made on the kiosk")
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    request_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(32))
    place: Mapped[dict[str, Any]] = mapped_column(doc="name, pickup_point, lat, lon")
    phone: Mapped[str | None] = mapped_column(String(16), doc="optional call-back number (personal data)")
    elderly_priority: Mapped[bool] = mapped_column(Boolean, default=True)
    requested_at: Mapped[datetime]
    received_at: Mapped[datetime]
    stored_at: Mapped[datetime]
    search_started_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    picked_up_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    provider: Mapped[str | None] = mapped_column(String(32))
    ride_id: Mapped[str | None] = mapped_column(String(64), doc="the provider's id of the current ride")
    attempts: Mapped[int] = mapped_column(Integer, default=0, doc="rides requested for this order")
    provider_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_try_at: Mapped[datetime | None] = mapped_column(doc="no provider call before this (back-off)")
    driver: Mapped[dict[str, Any] | None]
    first_eta_s: Mapped[int | None] = mapped_column(Integer, doc="ETA when the driver accepted")
    eta_s: Mapped[int | None] = mapped_column(Integer)
    distance_m: Mapped[int | None] = mapped_column(Integer)
    car: Mapped[dict[str, Any] | None] = mapped_column(doc="dx_m, dy_m, heading_deg from the pick-up point")
    cancel_requested: Mapped[str | None] = mapped_column(String(16), doc="resident | no_answer | staff | superseded")
    seq: Mapped[int] = mapped_column(Integer, default=0, doc="last order_update sequence number sent")
    pushed_state: Mapped[str | None] = mapped_column(String(16))
    pushed_at: Mapped[datetime | None]
    pushed_eta_s: Mapped[int | None] = mapped_column(Integer)
    pushed_distance_m: Mapped[int | None] = mapped_column(Integer)
    resend: Mapped[bool] = mapped_column(Boolean, default=False, doc="the kiosk asked for the state again")
    worker: Mapped[str | None] = mapped_column(String(64), doc="the server worker dispatching it")
    lease_until: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("device_id", "request_key"),
        Index("ix_taxi_orders_state", "state"),
        Index("ix_taxi_orders_device_requested", "device_id", "requested_at"),
        Index("ix_taxi_orders_requested_at", "requested_at"),
    )

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class TaxiOrderStep(Base):
    """One step of an order's history: states, provider errors, pushes the kiosk asked for, cancellations."""

    __tablename__ = "taxi_order_steps"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(26), ForeignKey("taxi_orders.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    step: Mapped[str] = mapped_column(String(24))
    detail: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_taxi_order_steps_order_at", "order_id", "at"),)
