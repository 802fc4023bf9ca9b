"""security: the site of each audit entry (so users limited to sites see only theirs)

Revision ID: security_0001
Revises: 0001
Create Date: 2026-12-05 08:30:00

On its own ``security`` branch (migrations run to ``heads``). Existing rows keep ``site`` NULL: they are shown
to users who see every site only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "security_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("security",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("site", sa.String(length=48), nullable=True))
        batch.create_index("ix_audit_log_site_at", ["site", "at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_site_at")
        batch.drop_column("site")
