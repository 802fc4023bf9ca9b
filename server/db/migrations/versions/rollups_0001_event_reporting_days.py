"""rollups: daily roll-ups of events (per device, type and severity) and of reporting devices, filled from the
raw rows (own branch "rollups", on top of 0002)

Revision ID: rollups_0001
Revises: 0002
Create Date: 2026-12-05 14:30:00

``event_days`` and ``reporting_days`` (``server.db.rollups``) are kept at ingest from now on; this revision makes
them from the events and telemetry already stored (on a year of a district's events that is one grouped pass over
the table: minutes, once).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.rollups import day_sql
from server.db.types import device_fk

revision: str = "rollups_0001"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("rollups",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        device_fk("event_days"),
        sa.PrimaryKeyConstraint("day", "device_id", "type", "severity", name=op.f("pk_event_days")),
    )
    op.create_table(
        "reporting_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        device_fk("reporting_days"),
        sa.PrimaryKeyConstraint("day", "device_id", name=op.f("pk_reporting_days")),
    )
    # filled here with the tables as this revision knows them (not the models, which may change later)
    conn = op.get_bind()
    events = sa.table("events", sa.column("device_id"), sa.column("type"), sa.column("severity"), sa.column("ts"))
    telemetry = sa.table("telemetry", sa.column("device_id"), sa.column("ts"))
    day = day_sql(conn.dialect.name, events.c.ts)
    conn.execute(sa.insert(sa.table("event_days", *[sa.column(c) for c in ("day", "device_id", "type", "severity",
                                                                            "n")]))
                 .from_select(["day", "device_id", "type", "severity", "n"],
                              sa.select(day, events.c.device_id, events.c.type, events.c.severity, sa.func.count())
                              .group_by(day, events.c.device_id, events.c.type, events.c.severity)))
    tday = day_sql(conn.dialect.name, telemetry.c.ts)
    conn.execute(sa.insert(sa.table("reporting_days", sa.column("day"), sa.column("device_id")))
                 .from_select(["day", "device_id"],
                              sa.select(tday, telemetry.c.device_id).group_by(tday, telemetry.c.device_id)))


def downgrade() -> None:
    op.drop_table("reporting_days")
    op.drop_table("event_days")
