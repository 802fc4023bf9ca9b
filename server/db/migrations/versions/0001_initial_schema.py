"""initial schema: devices, events, blobs, telemetry, commands, device_config, audit_log

Revision ID: 0001
Revises:
Create Date: 2026-11-21 12:38:25

Generated with ``alembic revision --autogenerate`` and reviewed: the JSON variant was rendered with an
unimported ``Text()`` and the indexes inside needless batch blocks; both tidied here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import BigIntPK, JsonType, device_fk, utc_timestamp

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("device", sa.String(length=48), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_since", utc_timestamp(), nullable=True),
        sa.Column("first_seen", utc_timestamp(), nullable=False),
        sa.Column("last_seen", utc_timestamp(), nullable=True),
        sa.Column("status_at", utc_timestamp(), nullable=True),
        sa.Column("boot_time", utc_timestamp(), nullable=True),
        sa.Column("software", sa.Text(), nullable=True),
        sa.Column("model_version", sa.Text(), nullable=True),
        sa.Column("config_version", sa.Text(), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=True),
        sa.Column("health", JsonType, nullable=True),
        sa.Column("gauges", JsonType, nullable=True),
        sa.Column("health_at", utc_timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("site", "kind", "device", name=op.f("uq_devices_site_kind_device")),
    )
    op.create_index("ix_devices_site_kind_state", "devices", ["site", "kind", "state"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("ts", utc_timestamp(), nullable=False),
        sa.Column("received_at", utc_timestamp(), nullable=False),
        sa.Column("data", JsonType, nullable=False),
        sa.Column("blobs", JsonType, nullable=False),
        device_fk("events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_index("ix_events_device_ts", "events", ["device_id", "ts"])
    op.create_index("ix_events_type_ts", "events", ["type", "ts"])

    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("received_at", utc_timestamp(), nullable=False),
        sa.Column("purged_at", utc_timestamp(), nullable=True),
        device_fk("blobs"),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_index("ix_blobs_received_at", "blobs", ["received_at"])

    op.create_table(
        "telemetry",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("ts", utc_timestamp(), nullable=False),
        sa.Column("received_at", utc_timestamp(), nullable=False),
        sa.Column("health", JsonType, nullable=False),
        sa.Column("gauges", JsonType, nullable=False),
        device_fk("telemetry"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry")),
        sa.UniqueConstraint("device_id", "ts", name=op.f("uq_telemetry_device_id_ts")),
    )

    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("args", JsonType, nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc_timestamp(), nullable=False),
        sa.Column("expires", utc_timestamp(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sent_at", utc_timestamp(), nullable=True),
        sa.Column("finished_at", utc_timestamp(), nullable=True),
        sa.Column("result", JsonType, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        device_fk("commands"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    op.create_index("ix_commands_device_created", "commands", ["device_id", "created_at"])
    op.create_index("ix_commands_state_expires", "commands", ["state", "expires"])

    op.create_table(
        "device_config",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("desired_version", sa.Integer(), nullable=False),
        sa.Column("desired_overrides", JsonType, nullable=True),
        sa.Column("desired_by", sa.String(length=64), nullable=True),
        sa.Column("desired_at", utc_timestamp(), nullable=True),
        sa.Column("reported_version", sa.Integer(), nullable=True),
        sa.Column("reported_applied_version", sa.Integer(), nullable=True),
        sa.Column("reported_ok", sa.Boolean(), nullable=True),
        sa.Column("reported_error", sa.Text(), nullable=True),
        sa.Column("reported_at", utc_timestamp(), nullable=True),
        device_fk("device_config"),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_config")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("at", utc_timestamp(), nullable=False),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("device_config")
    op.drop_table("commands")
    op.drop_table("telemetry")
    op.drop_table("blobs")
    op.drop_table("events")
    op.drop_table("devices")
