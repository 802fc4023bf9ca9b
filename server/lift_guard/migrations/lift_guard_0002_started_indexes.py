"""lift_guard: indexes on lift_blocks.started_at and lift_faults.started_at (the dashboards over every lift)

Revision ID: lift_guard_0002
Revises: lift_guard_0001
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "lift_guard_0002"
down_revision: str | None = "lift_guard_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_lift_blocks_started_at", "lift_blocks", ["started_at"])
    op.create_index("ix_lift_faults_started_at", "lift_faults", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_lift_faults_started_at", "lift_faults")
    op.drop_index("ix_lift_blocks_started_at", "lift_blocks")
