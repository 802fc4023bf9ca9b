"""lift_guard: the site-trained second stage (labels, classifiers, the crop and classifier of each block)

Revision ID: lift_guard_0003
Revises: lift_guard_0002
Create Date: 2026-12-05 11:40:00

Written by hand after ``server/lift_guard/models.py``; the spine's migration test checks that they agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import JsonType, utc_timestamp

revision: str = "lift_guard_0003"
down_revision: str | None = "lift_guard_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lift_blocks") as b:
        b.add_column(sa.Column("classifier", sa.String(length=200), nullable=True))
        b.add_column(sa.Column("crop", sa.String(length=64), nullable=True))
    op.create_table(
        "lift_labels",
        sa.Column("block_id", sa.String(length=26), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", utc_timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["block_id"], ["lift_blocks.block_id"],
                                name=op.f("fk_lift_labels_block_id_lift_blocks"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("block_id", name=op.f("pk_lift_labels")),
    )
    op.create_table(
        "lift_classifiers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", utc_timestamp(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("metrics", JsonType, nullable=True),
        sa.Column("deployed_at", utc_timestamp(), nullable=True),
        sa.Column("deployed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lift_classifiers")),
    )
    op.create_index("ix_lift_classifiers_site", "lift_classifiers", ["site", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_lift_classifiers_site", table_name="lift_classifiers")
    op.drop_table("lift_classifiers")
    op.drop_table("lift_labels")
    with op.batch_alter_table("lift_blocks") as b:
        b.drop_column("crop")
        b.drop_column("classifier")
