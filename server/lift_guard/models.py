"""The lift guard's tables (migration ``lift_guard_0001`` on the ``lift_guard`` Alembic branch).

A block's id is the ULID the device made for it, shared by its ``lift.block`` and ``lift.release`` events, so
replays never make a second row and the two events may arrive in either order. ``day`` is the Shanghai calendar
day the block started on (for "blocks per lift per day" on both databases).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base
from server.db.rollups import Rollup, day_of, day_sql


def _device_fk() -> ForeignKey:
    return ForeignKey("devices.id", ondelete="CASCADE")


class LiftBlock(Base):
    __tablename__ = "lift_blocks"
    block_id: Mapped[str] = mapped_column(String(26), primary_key=True, doc="ULID made on the device")
    device_id: Mapped[int] = mapped_column(_device_fk())
    day: Mapped[str | None] = mapped_column(String(10), doc="Shanghai day the block started, YYYY-MM-DD")
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cls: Mapped[str] = mapped_column(String(32), default="")
    label: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    best_score: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float, doc="first sight → relay energised")
    hold_s: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(16), doc="why it was released (None: still on)")
    released_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    staff_release: Mapped[bool] = mapped_column(Boolean, default=False, doc="released by staff: a false alarm")
    alarm: Mapped[bool] = mapped_column(Boolean, default=False, doc="ended by the longest hold")
    snapshot: Mapped[str | None] = mapped_column(String(64), doc="sha256 of the block's snapshot")
    end_snapshot: Mapped[str | None] = mapped_column(String(64), doc="snapshot at a longest-hold release")
    model: Mapped[str | None] = mapped_column(String(200))
    classifier: Mapped[str | None] = mapped_column(String(200), doc="second-stage classifier that ran, if any")
    crop: Mapped[str | None] = mapped_column(String(64), doc="sha256 of the blocking object's crop (for labels)")
    start_event: Mapped[str | None] = mapped_column(String(26))
    end_event: Mapped[str | None] = mapped_column(String(26))

    __table_args__ = (Index("ix_lift_blocks_device_started", "device_id", "started_at"),
                      Index("ix_lift_blocks_day", "day"), Index("ix_lift_blocks_started_at", "started_at"))



def outcome(staff_release: bool, alarm: bool) -> str:
    """How a block ended, as the outcomes panel splits them."""
    return "staff" if staff_release else "max_hold" if alarm else "other"


class LiftBlockDay(Rollup, Base):
    """Roll-up (``server.db.rollups``): blocks per Shanghai day (of their start), lift and outcome, and their
    detect→relay latencies (count, sum in µs, largest). Blocks change after they are made (the release sets the
    outcome; a release that came first places the start), so the handlers take a block's old contribution out and
    put its new one in (``contribution``)."""

    __tablename__ = "lift_block_days"
    source = "lift_blocks"
    sums = ("n", "latency_n", "latency_us")
    maxes = ("latency_max",)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    device_id: Mapped[int] = mapped_column(_device_fk(), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(8), primary_key=True, doc="staff | max_hold | other")
    n: Mapped[int] = mapped_column(Integer)
    latency_n: Mapped[int] = mapped_column(Integer, doc="blocks with a latency")
    latency_us: Mapped[int] = mapped_column(BigInteger, doc="sum of their latencies in microseconds")
    latency_max: Mapped[float | None] = mapped_column(Float, doc="the longest, ms")

    @staticmethod
    def contribution(b: LiftBlock) -> dict[str, Any] | None:
        """What block ``b`` adds to the roll-up as it is now (None: not started yet)."""
        if b.started_at is None:
            return None
        lat = b.latency_ms
        return {"day": day_of(b.started_at), "device_id": b.device_id, "outcome": outcome(b.staff_release, b.alarm),
                "n": 1, "latency_n": int(lat is not None), "latency_us": round(lat * 1000) if lat is not None else 0,
                "latency_max": lat}

    @classmethod
    def from_raw(cls, dialect: str, start: datetime | None, end: datetime | None) -> Select[Any]:
        b = LiftBlock
        day = day_sql(dialect, b.started_at)
        out = outcome_sql()
        stmt = (select(day, b.device_id, out, func.count(), func.count(b.latency_ms),
                       func.coalesce(func.sum(cast(func.round(b.latency_ms * 1000), BigInteger)), 0),
                       func.max(b.latency_ms))
                .where(b.started_at.is_not(None)).group_by(day, b.device_id, out))
        if start is not None:
            stmt = stmt.where(b.started_at >= start)
        if end is not None:
            stmt = stmt.where(b.started_at < end)
        return stmt


def outcome_sql() -> Any:
    """``outcome`` in SQL."""
    return case((LiftBlock.staff_release.is_(True), "staff"), (LiftBlock.alarm.is_(True), "max_hold"), else_="other")

class LiftFault(Base):
    __tablename__ = "lift_faults"
    id: Mapped[str] = mapped_column(String(26), primary_key=True, doc="id of the lift.fault event")
    device_id: Mapped[int] = mapped_column(_device_fk())
    fault: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    relay_released: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_lift_faults_device_started", "device_id", "started_at"),
                      Index("ix_lift_faults_open", "device_id", "fault", "cleared_at"),
                      Index("ix_lift_faults_started_at", "started_at"))


class LiftPause(Base):
    """Blocking paused: by staff (remote or on site) or by the guard after a longest hold."""

    __tablename__ = "lift_pauses"
    id: Mapped[str] = mapped_column(String(26), primary_key=True, doc="id of the lift.suppress event")
    device_id: Mapped[int] = mapped_column(_device_fk())
    at: Mapped[datetime]
    until: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    released_block: Mapped[str | None] = mapped_column(String(26))
    ended_at: Mapped[datetime | None]
    ended_why: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (Index("ix_lift_pauses_device_at", "device_id", "at"),)


class LiftLabel(Base):
    """A property manager's one-click label of a block's snapshot (what the object really was)."""

    __tablename__ = "lift_labels"
    block_id: Mapped[str] = mapped_column(String(26), ForeignKey("lift_blocks.block_id", ondelete="CASCADE"),
                                          primary_key=True)
    label: Mapped[str] = mapped_column(String(16), doc="ebike | bicycle | stroller | wheelchair | cart | battery | "
                                       "other (false alarm)")
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class LiftClassifier(Base):
    """A site's trained second-stage classifier: its held-out figures, its file, and whether it is deployed."""

    __tablename__ = "lift_classifiers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(48))
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), doc="queued | training | ready | failed")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, doc="the classifier file (JSON)")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(doc="held-out precision/recall per class, crops used")
    deployed_at: Mapped[datetime | None]
    deployed_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_lift_classifiers_site", "site", "id"),)
