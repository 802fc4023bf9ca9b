"""lift_guard: blocks, faults and pauses of the lift guards

Revision ID: lift_guard_0001
Revises: 0001
Create Date: 2026-11-21 13:37:01

On the ``lift_guard`` branch (migrations run to ``heads``), so it never conflicts with other kinds' tables.
Generated with ``alembic revision --autogenerate`` (only the lift_guard part kept) and reviewed; the spine's
migration test checks that it and ``server/lift_guard/models.py`` agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import device_fk, utc_timestamp

revision: str = "lift_guard_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("lift_guard",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lift_blocks",
        sa.Column("block_id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("started_at", utc_timestamp(), nullable=True),
        sa.Column("ended_at", utc_timestamp(), nullable=True),
        sa.Column("cls", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("hold_s", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("staff_release", sa.Boolean(), nullable=False),
        sa.Column("alarm", sa.Boolean(), nullable=False),
        sa.Column("snapshot", sa.String(length=64), nullable=True),
        sa.Column("end_snapshot", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("start_event", sa.String(length=26), nullable=True),
        sa.Column("end_event", sa.String(length=26), nullable=True),
        device_fk("lift_blocks"),
        sa.PrimaryKeyConstraint("block_id", name=op.f("pk_lift_blocks")),
    )
    op.create_index("ix_lift_blocks_day", "lift_blocks", ["day"], unique=False)
    op.create_index("ix_lift_blocks_device_started", "lift_blocks", ["device_id", "started_at"], unique=False)

    op.create_table(
        "lift_faults",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("fault", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("relay_released", sa.Boolean(), nullable=False),
        sa.Column("started_at", utc_timestamp(), nullable=False),
        sa.Column("cleared_at", utc_timestamp(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        device_fk("lift_faults"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lift_faults")),
    )
    op.create_index("ix_lift_faults_device_started", "lift_faults", ["device_id", "started_at"], unique=False)
    op.create_index("ix_lift_faults_open", "lift_faults", ["device_id", "fault", "cleared_at"], unique=False)

    op.create_table(
        "lift_pauses",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("at", utc_timestamp(), nullable=False),
        sa.Column("until", utc_timestamp(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("released_block", sa.String(length=26), nullable=True),
        sa.Column("ended_at", utc_timestamp(), nullable=True),
        sa.Column("ended_why", sa.String(length=16), nullable=True),
        device_fk("lift_pauses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lift_pauses")),
    )
    op.create_index("ix_lift_pauses_device_at", "lift_pauses", ["device_id", "at"], unique=False)


def downgrade() -> None:
    for table, indexes in (("lift_pauses", ["ix_lift_pauses_device_at"]),
                           ("lift_faults", ["ix_lift_faults_open", "ix_lift_faults_device_started"]),
                           ("lift_blocks", ["ix_lift_blocks_device_started", "ix_lift_blocks_day"])):
        for ix in indexes:
            op.drop_index(ix, table_name=table)
        op.drop_table(table)
