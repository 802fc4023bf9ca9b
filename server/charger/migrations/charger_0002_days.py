"""charger: daily roll-up of settled sessions (charger_days), filled from the orders stored

Revision ID: charger_0002
Revises: charger_0001
Create Date: 2026-12-05 15:00:00

Settled sessions per Shanghai day of their end, pile and stop reason, with their energy (mWh) and bills (fen)
(``server.charger.models.ChargerDay``); kept by the settlement handler from now on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.rollups import day_sql
from server.db.types import device_fk

revision: str = "charger_0002"
down_revision: str | None = "charger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("day", "device_id", "stop_reason", "n", "energy_mwh", "amount_fen")


def upgrade() -> None:
    op.create_table(
        "charger_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("stop_reason", sa.String(length=24), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("energy_mwh", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        device_fk("charger_days"),
        sa.PrimaryKeyConstraint("day", "device_id", "stop_reason", name=op.f("pk_charger_days")),
    )
    # filled with the tables as this revision knows them (not the models, which may change later)
    conn = op.get_bind()
    o = sa.table("charger_orders", *[sa.column(c) for c in ("device_id", "state", "ended_at", "stop_reason",
                                                            "energy_wh", "amount_fen")])
    day = day_sql(conn.dialect.name, o.c.ended_at)
    reason = sa.func.coalesce(o.c.stop_reason, "")
    conn.execute(sa.insert(sa.table("charger_days", *[sa.column(c) for c in COLUMNS])).from_select(
        list(COLUMNS),
        sa.select(day, o.c.device_id, reason, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(sa.cast(sa.func.round(o.c.energy_wh * 1000), sa.BigInteger)), 0),
                  sa.func.coalesce(sa.func.sum(o.c.amount_fen), 0))
        .where(o.c.state == "settled", o.c.ended_at.is_not(None)).group_by(day, o.c.device_id, reason)))


def downgrade() -> None:
    op.drop_table("charger_days")
