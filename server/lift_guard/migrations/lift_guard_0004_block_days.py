"""lift_guard: daily roll-up of blocks (lift_block_days), filled from the blocks stored

Revision ID: lift_guard_0004
Revises: lift_guard_0003
Create Date: 2026-12-05 14:50:00

Blocks per Shanghai day of their start, lift and outcome, with their detect→relay latencies (count, sum in µs,
largest) (``server.lift_guard.models.LiftBlockDay``); kept by the block handlers from now on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.rollups import day_sql
from server.db.types import device_fk

revision: str = "lift_guard_0004"
down_revision: str | None = "lift_guard_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("day", "device_id", "outcome", "n", "latency_n", "latency_us", "latency_max")


def upgrade() -> None:
    op.create_table(
        "lift_block_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("latency_n", sa.Integer(), nullable=False),
        sa.Column("latency_us", sa.BigInteger(), nullable=False),
        sa.Column("latency_max", sa.Float(), nullable=True),
        device_fk("lift_block_days"),
        sa.PrimaryKeyConstraint("day", "device_id", "outcome", name=op.f("pk_lift_block_days")),
    )
    # filled with the tables as this revision knows them (not the models, which may change later)
    conn = op.get_bind()
    b = sa.table("lift_blocks", *[sa.column(c) for c in ("device_id", "started_at", "staff_release", "alarm",
                                                         "latency_ms")])
    day = day_sql(conn.dialect.name, b.c.started_at)
    outcome = sa.case((b.c.staff_release.is_(True), "staff"), (b.c.alarm.is_(True), "max_hold"), else_="other")
    conn.execute(sa.insert(sa.table("lift_block_days", *[sa.column(c) for c in COLUMNS])).from_select(
        list(COLUMNS),
        sa.select(day, b.c.device_id, outcome, sa.func.count(), sa.func.count(b.c.latency_ms),
                  sa.func.coalesce(sa.func.sum(sa.cast(sa.func.round(b.c.latency_ms * 1000), sa.BigInteger)), 0),
                  sa.func.max(b.c.latency_ms))
        .where(b.c.started_at.is_not(None)).group_by(day, b.c.device_id, outcome)))


def downgrade() -> None:
    op.drop_table("lift_block_days")
