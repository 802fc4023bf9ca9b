"""gate: lists (versioned), sites, list sync state, passages, parking sessions, payments, door events

Revision ID: gate_0001
Revises: 0001
Create Date: 2026-11-21 13:28:24

On the ``gate`` branch (migrations run to ``heads``). Generated with ``alembic revision --autogenerate`` against a
database at the other heads and reviewed (the JSON variant tidied; indexes without batch blocks).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import JsonType, device_fk

revision: str = "gate_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("gate",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("gate_list_entries",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
    sa.Column("site", sa.String(length=48), nullable=False),
    sa.Column("list", sa.String(length=16), nullable=False),
    sa.Column("key", sa.String(length=32), nullable=False),
    sa.Column("plate", sa.String(length=8), nullable=True),
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
    sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
    sa.Column("label", sa.String(length=64), nullable=False),
    sa.Column("note", sa.String(length=200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_list_entries")),
    sa.UniqueConstraint("site", "list", "key", name=op.f("uq_gate_list_entries_site_list_key"))
    )
    op.create_index("ix_gate_list_entries_plate", "gate_list_entries", ["plate"], unique=False)
    op.create_index("ix_gate_list_entries_site_version", "gate_list_entries", ["site", "version"], unique=False)

    op.create_table("gate_sites",
    sa.Column("site", sa.String(length=48), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("settings", JsonType, nullable=False),
    sa.Column("settings_version", sa.Integer(), nullable=False),
    sa.Column("qr_kid", sa.String(length=16), nullable=False),
    sa.Column("qr_key", sa.String(length=64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site", name=op.f("pk_gate_sites"))
    )
    op.create_table("gate_device_sync",
    sa.Column("device_id", sa.Integer(), nullable=False),
    sa.Column("reported_version", sa.Integer(), nullable=True),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_version", sa.Integer(), nullable=True),
    sa.Column("sent_base", sa.Integer(), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cmd_id", sa.String(length=26), nullable=True),
    device_fk("gate_device_sync"),
    sa.PrimaryKeyConstraint("device_id", name=op.f("pk_gate_device_sync"))
    )
    op.create_table("gate_door_events",
    sa.Column("event_id", sa.String(length=26), nullable=False),
    sa.Column("device_id", sa.Integer(), nullable=False),
    sa.Column("site", sa.String(length=48), nullable=False),
    sa.Column("door", sa.String(length=64), nullable=False),
    sa.Column("type", sa.String(length=32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("method", sa.String(length=16), nullable=False),
    sa.Column("credential", sa.String(length=64), nullable=True),
    sa.Column("granted", sa.Boolean(), nullable=True),
    sa.Column("reason", sa.String(length=48), nullable=False),
    sa.Column("label", sa.String(length=64), nullable=True),
    device_fk("gate_door_events"),
    sa.PrimaryKeyConstraint("event_id", name=op.f("pk_gate_door_events"))
    )
    op.create_index("ix_gate_door_events_site_at", "gate_door_events", ["site", "at"], unique=False)

    op.create_table("gate_passages",
    sa.Column("event_id", sa.String(length=26), nullable=False),
    sa.Column("device_id", sa.Integer(), nullable=False),
    sa.Column("site", sa.String(length=48), nullable=False),
    sa.Column("lane", sa.String(length=64), nullable=False),
    sa.Column("direction", sa.String(length=8), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("plate", sa.String(length=8), nullable=False),
    sa.Column("colour", sa.String(length=16), nullable=False),
    sa.Column("source", sa.String(length=16), nullable=False),
    sa.Column("decision", sa.String(length=8), nullable=False),
    sa.Column("reason", sa.String(length=48), nullable=False),
    sa.Column("category", sa.String(length=16), nullable=False),
    sa.Column("match", sa.String(length=8), nullable=False),
    sa.Column("opened", sa.Boolean(), nullable=False),
    sa.Column("session_id", sa.String(length=64), nullable=True),
    sa.Column("fee_cents", sa.Integer(), nullable=True),
    sa.Column("offline_replay", sa.Boolean(), nullable=False),
    sa.Column("by", sa.String(length=64), nullable=True),
    sa.Column("note", sa.String(length=200), nullable=True),
    sa.Column("blob", sa.String(length=64), nullable=True),
    sa.Column("data", JsonType, nullable=False),
    device_fk("gate_passages"),
    sa.PrimaryKeyConstraint("event_id", name=op.f("pk_gate_passages"))
    )
    op.create_index("ix_gate_passages_plate_at", "gate_passages", ["plate", "at"], unique=False)
    op.create_index("ix_gate_passages_site_at", "gate_passages", ["site", "at"], unique=False)

    op.create_table("gate_payments",
    sa.Column("payment_id", sa.String(length=64), nullable=False),
    sa.Column("site", sa.String(length=48), nullable=False),
    sa.Column("session_id", sa.String(length=64), nullable=True),
    sa.Column("plate", sa.String(length=8), nullable=True),
    sa.Column("amount_cents", sa.Integer(), nullable=False),
    sa.Column("method", sa.String(length=16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("device_id", sa.Integer(), nullable=True),
    device_fk("gate_payments", "SET NULL"),
    sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_gate_payments"))
    )
    op.create_table("gate_sessions",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("device_id", sa.Integer(), nullable=False),
    sa.Column("site", sa.String(length=48), nullable=False),
    sa.Column("plate", sa.String(length=8), nullable=False),
    sa.Column("category", sa.String(length=16), nullable=False),
    sa.Column("entry_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("exit_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("fee_cents", sa.Integer(), nullable=True),
    sa.Column("paid_cents", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(length=8), nullable=False),
    device_fk("gate_sessions"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_sessions"))
    )
    op.create_index("ix_gate_sessions_plate", "gate_sessions", ["plate"], unique=False)
    op.create_index("ix_gate_sessions_site_state", "gate_sessions", ["site", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_gate_sessions_site_state", table_name="gate_sessions")
    op.drop_index("ix_gate_sessions_plate", table_name="gate_sessions")

    op.drop_table("gate_sessions")
    op.drop_table("gate_payments")
    op.drop_index("ix_gate_passages_site_at", table_name="gate_passages")
    op.drop_index("ix_gate_passages_plate_at", table_name="gate_passages")

    op.drop_table("gate_passages")
    op.drop_index("ix_gate_door_events_site_at", table_name="gate_door_events")

    op.drop_table("gate_door_events")
    op.drop_table("gate_device_sync")
    op.drop_table("gate_sites")
    op.drop_index("ix_gate_list_entries_site_version", table_name="gate_list_entries")
    op.drop_index("ix_gate_list_entries_plate", table_name="gate_list_entries")

    op.drop_table("gate_list_entries")
