"""PostgreSQL at scale: events and telemetry partitioned by month (data kept); job leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 11:50:00

On PostgreSQL ``events`` (by its ULID id, i.e. its creation month) and ``telemetry`` (by ``ts``) become range-
partitioned tables with one partition per month and a default partition (``server.db.partitions``); every row is
copied into the new table. ``events`` gains an index for the severity filter (alarms on the home page, the events
page and the dashboards). SQLite keeps its plain tables. ``job_leases`` (both databases) lets several server
processes take turns at the background jobs (``server.leases``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import sqlalchemy as sa
from alembic import op

from server.db.partitions import TableShape, convert_table, unconvert_table
from server.db.types import utc_timestamp

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "CONSTRAINT fk_{t}_device_id_devices FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE"
EVENTS = TableShape(
    "events",
    'id varchar(26) COLLATE "C" NOT NULL, device_id integer NOT NULL, type varchar(64) NOT NULL, '
    "severity varchar(16) NOT NULL, ts timestamptz NOT NULL, received_at timestamptz NOT NULL, "
    "data jsonb NOT NULL, blobs jsonb NOT NULL",
    ("CONSTRAINT pk_events PRIMARY KEY (id)", _FK.format(t="events")),
    (("ix_events_ts", "ts"), ("ix_events_device_ts", "device_id, ts"), ("ix_events_type_ts", "type, ts"),
     ("ix_events_severity_ts", "severity, ts")),
)
TELEMETRY = TableShape(
    "telemetry",
    "id bigint NOT NULL, device_id integer NOT NULL, ts timestamptz NOT NULL, received_at timestamptz NOT NULL, "
    "health jsonb NOT NULL, gauges jsonb NOT NULL",
    ("CONSTRAINT pk_telemetry PRIMARY KEY (id, ts)",
     "CONSTRAINT uq_telemetry_device_id_ts UNIQUE (device_id, ts)", _FK.format(t="telemetry")),
    (),
)
TELEMETRY_PLAIN_KEYS = ("CONSTRAINT pk_telemetry PRIMARY KEY (id)",
                        "CONSTRAINT uq_telemetry_device_id_ts UNIQUE (device_id, ts)", _FK.format(t="telemetry"))


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", utc_timestamp(), nullable=False),
        sa.Column("acquired_at", utc_timestamp(), nullable=False),
        sa.Column("last_run_at", utc_timestamp(), nullable=True),
        sa.Column("runs", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for shape in (EVENTS, TELEMETRY):
            convert_table(conn, shape)
    else:
        op.create_index("ix_events_severity_ts", "events", ["severity", "ts"])


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        unconvert_table(conn, replace(EVENTS, indexes=EVENTS.indexes[:3]), EVENTS.keys)
        unconvert_table(conn, TELEMETRY, TELEMETRY_PLAIN_KEYS)
    else:
        op.drop_index("ix_events_severity_ts", "events")
    op.drop_table("job_leases")
