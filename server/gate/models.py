"""The gate's tables (migration ``gate_0001`` on the ``gate`` Alembic branch).

Lists are one versioned table per site: every change (add, edit, delete = tombstone) takes the site's next version,
so the delta a gate needs is "every row of its site with a version above the one it has" — no change log to
compact, and a gate that was away for a month catches up with one query.
"""

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
    UniqueConstraint,
    and_,
    case,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.rollups import Rollup, day_sql
from server.db.types import BigIntPK


class GateSite(Base):
    """A compound's gate settings and list version."""

    __tablename__ = "gate_sites"
    site: Mapped[str] = mapped_column(String(48), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0, doc="the latest list version of this site")
    settings: Mapped[dict[str, Any]] = mapped_column(doc="linli.contract.gate.GateSettings (without qr_keys)")
    settings_version: Mapped[int] = mapped_column(Integer, default=0)
    qr_kid: Mapped[str] = mapped_column(String(16))
    qr_key: Mapped[str] = mapped_column(String(64), doc="HMAC key of the door QR codes (secret)")
    updated_at: Mapped[datetime]


class GateListEntry(Base):
    __tablename__ = "gate_list_entries"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(48))
    list: Mapped[str] = mapped_column(String(16), doc="resident | visitor | blacklist | card")
    key: Mapped[str] = mapped_column(String(32), doc="plate, visitor pass id or card number")
    plate: Mapped[str | None] = mapped_column(String(8))
    valid_from: Mapped[datetime | None]
    valid_to: Mapped[datetime | None]
    label: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("site", "list", "key"),
        Index("ix_gate_list_entries_site_version", "site", "version"),
        Index("ix_gate_list_entries_plate", "plate"),
    )


class GateDeviceSync(Base):
    """What each gate has of its site's lists, and the last sync command sent to it."""

    __tablename__ = "gate_device_sync"
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    reported_version: Mapped[int | None] = mapped_column(Integer)
    reported_at: Mapped[datetime | None]
    sent_version: Mapped[int | None] = mapped_column(Integer)
    sent_base: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None]
    cmd_id: Mapped[str | None] = mapped_column(String(26))


class GatePassage(Base):
    __tablename__ = "gate_passages"
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(48))
    lane: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(doc="when the vehicle was read (device or camera time)")
    plate: Mapped[str] = mapped_column(String(8))
    colour: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(48))
    category: Mapped[str] = mapped_column(String(16))
    match: Mapped[str] = mapped_column(String(8))
    opened: Mapped[bool] = mapped_column(Boolean)
    session_id: Mapped[str | None] = mapped_column(String(64))
    fee_cents: Mapped[int | None] = mapped_column(Integer)
    offline_replay: Mapped[bool] = mapped_column(Boolean, default=False)
    by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))
    blob: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_gate_passages_site_at", "site", "at"),
        Index("ix_gate_passages_at", "at"),
        Index("ix_gate_passages_plate_at", "plate", "at"),
    )


class GatePassageDay(Rollup, Base):
    """Roll-up (``server.db.rollups``): passages per Shanghai day, site, lane device, direction and decision, and the
    parking fees of the paid exits among them (the traffic, decisions and fees panels). Kept by ``on_passage``."""

    __tablename__ = "gate_passage_days"
    source = "gate_passages"
    sums = ("n", "fee_n", "fee_cents")
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    site: Mapped[str] = mapped_column(String(48), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    fee_n: Mapped[int] = mapped_column(Integer, doc="exits that opened with a fee")
    fee_cents: Mapped[int] = mapped_column(BigInteger, doc="their fees")

    @staticmethod
    def fee_counted(direction: str, opened: bool, fee_cents: int | None) -> bool:
        return direction == "exit" and opened and fee_cents is not None

    @classmethod
    def from_raw(cls, dialect: str, start: datetime | None, end: datetime | None) -> Select[Any]:
        p = GatePassage
        day = day_sql(dialect, p.at)
        paid = and_(p.direction == "exit", p.opened.is_(True), p.fee_cents.is_not(None))
        stmt = (select(day, p.site, p.device_id, p.direction, p.decision, func.count(),
                       func.count(case((paid, 1))), func.coalesce(func.sum(case((paid, p.fee_cents))), 0))
                .group_by(day, p.site, p.device_id, p.direction, p.decision))
        if start is not None:
            stmt = stmt.where(p.at >= start)
        if end is not None:
            stmt = stmt.where(p.at < end)
        return stmt


class GateSession(Base):
    """A stay in the car park (every vehicle that entered; ``category`` says whether it is charged)."""

    __tablename__ = "gate_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="ULID made on the gate")
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(48))
    plate: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(16))
    entry_at: Mapped[datetime | None]
    exit_at: Mapped[datetime | None]
    fee_cents: Mapped[int | None] = mapped_column(Integer)
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(8), doc="open | closed")

    __table_args__ = (Index("ix_gate_sessions_site_state", "site", "state"),
                      Index("ix_gate_sessions_plate", "plate"))


class GatePayment(Base):
    __tablename__ = "gate_payments"
    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(48))
    session_id: Mapped[str | None] = mapped_column(String(64))
    plate: Mapped[str | None] = mapped_column(String(8))
    amount_cents: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), doc="applied | late | unmatched | recorded")
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))


class GateDoorEvent(Base):
    __tablename__ = "gate_door_events"
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(48))
    door: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(16))
    credential: Mapped[str | None] = mapped_column(String(64))
    granted: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(48))
    label: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_gate_door_events_site_at", "site", "at"),)
