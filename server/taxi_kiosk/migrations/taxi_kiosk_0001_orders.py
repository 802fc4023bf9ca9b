"""taxi_kiosk: taxi orders and their history

Revision ID: taxi_kiosk_0001
Revises: 0001
Create Date: 2026-11-21 13:40:00

On the ``taxi_kiosk`` branch (migrations run to ``heads``), so it never conflicts with other kinds' tables.
Written to match ``server/taxi_kiosk/models.py``; tests/server/taxi_kiosk checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import BigIntPK, JsonType, device_fk, utc_timestamp

revision: str = "taxi_kiosk_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("taxi_kiosk",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxi_orders",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=32), nullable=True),
        sa.Column("place", JsonType, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("elderly_priority", sa.Boolean(), nullable=False),
        sa.Column("requested_at", utc_timestamp(), nullable=False),
        sa.Column("received_at", utc_timestamp(), nullable=False),
        sa.Column("stored_at", utc_timestamp(), nullable=False),
        sa.Column("search_started_at", utc_timestamp(), nullable=True),
        sa.Column("assigned_at", utc_timestamp(), nullable=True),
        sa.Column("arrived_at", utc_timestamp(), nullable=True),
        sa.Column("picked_up_at", utc_timestamp(), nullable=True),
        sa.Column("ended_at", utc_timestamp(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("ride_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_errors", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_try_at", utc_timestamp(), nullable=True),
        sa.Column("driver", JsonType, nullable=True),
        sa.Column("first_eta_s", sa.Integer(), nullable=True),
        sa.Column("eta_s", sa.Integer(), nullable=True),
        sa.Column("distance_m", sa.Integer(), nullable=True),
        sa.Column("car", JsonType, nullable=True),
        sa.Column("cancel_requested", sa.String(length=16), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("pushed_state", sa.String(length=16), nullable=True),
        sa.Column("pushed_at", utc_timestamp(), nullable=True),
        sa.Column("pushed_eta_s", sa.Integer(), nullable=True),
        sa.Column("pushed_distance_m", sa.Integer(), nullable=True),
        sa.Column("resend", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("lease_until", utc_timestamp(), nullable=True),
        device_fk("taxi_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxi_orders")),
        sa.UniqueConstraint("device_id", "request_key", name=op.f("uq_taxi_orders_device_id_request_key")),
    )
    op.create_index("ix_taxi_orders_state", "taxi_orders", ["state"])
    op.create_index("ix_taxi_orders_device_requested", "taxi_orders", ["device_id", "requested_at"])
    op.create_index("ix_taxi_orders_requested_at", "taxi_orders", ["requested_at"])

    op.create_table(
        "taxi_order_steps",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=False),
        sa.Column("at", utc_timestamp(), nullable=False),
        sa.Column("step", sa.String(length=24), nullable=False),
        sa.Column("detail", JsonType, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["taxi_orders.id"], name=op.f("fk_taxi_order_steps_order_id_taxi_orders"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxi_order_steps")),
    )
    op.create_index("ix_taxi_order_steps_order_at", "taxi_order_steps", ["order_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_taxi_order_steps_order_at", table_name="taxi_order_steps")
    op.drop_table("taxi_order_steps")
    op.drop_index("ix_taxi_orders_requested_at", table_name="taxi_orders")
    op.drop_index("ix_taxi_orders_device_requested", table_name="taxi_orders")
    op.drop_index("ix_taxi_orders_state", table_name="taxi_orders")
    op.drop_table("taxi_orders")
