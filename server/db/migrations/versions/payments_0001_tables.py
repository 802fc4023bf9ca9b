"""payments tables: pay_orders (residents' payments for charging and parking), resident_keys (QR code key)

Revision ID: payments_0001
Revises: 0001
Create Date: 2026-12-05 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import BigIntPK, device_fk, utc_timestamp

revision: str = "payments_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("payments",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pay_orders",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("view_key", sa.String(length=48), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("lane", sa.String(length=64), nullable=True),
        sa.Column("gate_session_id", sa.String(length=64), nullable=True),
        sa.Column("option", sa.String(length=16), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("prepay_id", sa.String(length=64), nullable=True),
        sa.Column("pay_url", sa.Text(), nullable=True),
        sa.Column("trade_no", sa.String(length=64), nullable=True),
        sa.Column("paid_at", utc_timestamp(), nullable=True),
        sa.Column("notified_at", utc_timestamp(), nullable=True),
        sa.Column("notifications", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.String(length=26), nullable=True),
        sa.Column("dispatched_at", utc_timestamp(), nullable=True),
        sa.Column("failure", sa.String(length=32), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        sa.Column("refund_state", sa.String(length=8), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.Column("refund_reason", sa.String(length=24), nullable=True),
        sa.Column("refund_no", sa.String(length=40), nullable=True),
        sa.Column("refunded_at", utc_timestamp(), nullable=True),
        sa.Column("refund_error", sa.Text(), nullable=True),
        sa.Column("created_at", utc_timestamp(), nullable=False),
        sa.Column("updated_at", utc_timestamp(), nullable=False),
        device_fk("pay_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_orders")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_pay_orders_out_trade_no")),
        sa.UniqueConstraint("view_key", name=op.f("uq_pay_orders_view_key")),
    )
    op.create_index("ix_pay_orders_state", "pay_orders", ["state"])
    op.create_index("ix_pay_orders_refund_state", "pay_orders", ["refund_state"])
    op.create_index("ix_pay_orders_device_port", "pay_orders", ["device_id", "port"])
    op.create_table(
        "resident_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_resident_keys")),
    )


def downgrade() -> None:
    op.drop_table("resident_keys")
    op.drop_index("ix_pay_orders_device_port", table_name="pay_orders")
    op.drop_index("ix_pay_orders_refund_state", table_name="pay_orders")
    op.drop_index("ix_pay_orders_state", table_name="pay_orders")
    op.drop_table("pay_orders")
