"""charger tables: charger_orders (one per charging session, idempotent by order id), charger_tariffs

Revision ID: charger_0001
Revises: 0001
Create Date: 2026-11-21 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import BigIntPK, JsonType, device_fk, utc_timestamp

revision: str = "charger_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("charger",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charger_orders",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("tariff_version", sa.Integer(), nullable=False),
        sa.Column("prepaid_fen", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", utc_timestamp(), nullable=False),
        sa.Column("ended_at", utc_timestamp(), nullable=True),
        sa.Column("charged_s", sa.Integer(), nullable=True),
        sa.Column("energy_wh", sa.Double(), nullable=True),
        sa.Column("max_power_w", sa.Double(), nullable=True),
        sa.Column("tier_w", sa.Integer(), nullable=True),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("refund_fen", sa.Integer(), nullable=True),
        sa.Column("stop_reason", sa.String(length=24), nullable=True),
        sa.Column("resumed", sa.Integer(), nullable=False),
        sa.Column("settled_at", utc_timestamp(), nullable=True),
        sa.Column("settlement_event_id", sa.String(length=32), nullable=True),
        sa.Column("settlements_received", sa.Integer(), nullable=False),
        sa.Column("ack_due", sa.Boolean(), nullable=False),
        sa.Column("acks_sent", sa.Integer(), nullable=False),
        sa.Column("last_ack_at", utc_timestamp(), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=True),
        device_fk("charger_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charger_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_charger_orders_order_id")),
    )
    op.create_index("ix_charger_orders_device_started", "charger_orders", ["device_id", "started_at"])
    op.create_index("ix_charger_orders_ack_due", "charger_orders", ["ack_due"])
    op.create_index("ix_charger_orders_ended", "charger_orders", ["ended_at"])
    op.create_table(
        "charger_tariffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", JsonType, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charger_tariffs")),
        sa.UniqueConstraint("site", "version", name=op.f("uq_charger_tariffs_site_version")),
    )


def downgrade() -> None:
    op.drop_table("charger_tariffs")
    op.drop_index("ix_charger_orders_ended", table_name="charger_orders")
    op.drop_index("ix_charger_orders_ack_due", table_name="charger_orders")
    op.drop_index("ix_charger_orders_device_started", table_name="charger_orders")
    op.drop_table("charger_orders")
