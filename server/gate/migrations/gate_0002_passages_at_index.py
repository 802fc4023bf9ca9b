"""gate: index on gate_passages.at (the traffic, decisions and fees panels over every site)

Revision ID: gate_0002
Revises: gate_0001
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "gate_0002"
down_revision: str | None = "gate_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_gate_passages_at", "gate_passages", ["at"])


def downgrade() -> None:
    op.drop_index("ix_gate_passages_at", "gate_passages")
