"""gate: daily roll-up of passages (gate_passage_days), filled from the passages stored

Revision ID: gate_0003
Revises: gate_0002
Create Date: 2026-12-05 14:40:00

Passages per Shanghai day, site, lane device, direction and decision, with the fees of the exits that opened with
one (``server.gate.models.GatePassageDay``); kept by the passage handler from now on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.rollups import day_sql
from server.db.types import device_fk

revision: str = "gate_0003"
down_revision: str | None = "gate_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("day", "site", "device_id", "direction", "decision", "n", "fee_n", "fee_cents")


def upgrade() -> None:
    op.create_table(
        "gate_passage_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("fee_n", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        device_fk("gate_passage_days"),
        sa.PrimaryKeyConstraint("day", "site", "device_id", "direction", "decision",
                                name=op.f("pk_gate_passage_days")),
    )
    # filled with the tables as this revision knows them (not the models, which may change later)
    conn = op.get_bind()
    p = sa.table("gate_passages", *[sa.column(c) for c in ("site", "device_id", "direction", "decision", "at",
                                                           "opened", "fee_cents")])
    day = day_sql(conn.dialect.name, p.c.at)
    paid = sa.and_(p.c.direction == "exit", p.c.opened.is_(True), p.c.fee_cents.is_not(None))
    conn.execute(sa.insert(sa.table("gate_passage_days", *[sa.column(c) for c in COLUMNS])).from_select(
        list(COLUMNS),
        sa.select(day, p.c.site, p.c.device_id, p.c.direction, p.c.decision, sa.func.count(),
                  sa.func.count(sa.case((paid, 1))), sa.func.coalesce(sa.func.sum(sa.case((paid, p.c.fee_cents))), 0))
        .group_by(day, p.c.site, p.c.device_id, p.c.direction, p.c.decision)))


def downgrade() -> None:
    op.drop_table("gate_passage_days")
