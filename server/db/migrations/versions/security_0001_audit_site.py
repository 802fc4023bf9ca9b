"""security: the site of each audit entry (so users limited to sites see only theirs)

Revision ID: security_0001
Revises: 0001
Create Date: 2026-12-05 08:30:00

On its own ``security`` branch (migrations run to ``heads``). Existing rows get their site from their target
(``gate/<site>/…``, a device key ``<site>/<kind>/<device>``, ``workorder/<id>``), as ``server.audit`` does for
new ones; the rest (accounts, system) stay NULL and are shown to users of every site only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "security_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("security",)
depends_on: str | Sequence[str] | None = None


KINDS = ("probe", "lift_guard", "gate", "charger", "taxi_kiosk")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


def _site(target: str, orders: dict[int, str]) -> str | None:
    parts = target.split("/")
    if parts[0] == "gate" and len(parts) > 1 and NAME.match(parts[1]):
        return parts[1]
    if parts[0] == "workorder" and len(parts) > 1 and parts[1].isdigit():
        return orders.get(int(parts[1]))
    if parts[0] == "user" or not NAME.match(parts[0]):
        return None
    return parts[0] if len(parts) == 1 or parts[1] in KINDS else None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("site", sa.String(length=48), nullable=True))
        batch.create_index("ix_audit_log_site_at", ["site", "at"])
    conn = op.get_bind()
    audit = sa.table("audit_log", sa.column("id", sa.BigInteger), sa.column("target", sa.String),
                     sa.column("site", sa.String))
    orders: dict[int, str] = {}
    if sa.inspect(conn).has_table("work_orders"):
        orders = {int(i): str(s) for i, s in conn.execute(sa.text("SELECT id, site FROM work_orders"))}
    for row_id, target in conn.execute(sa.select(audit.c.id, audit.c.target)).all():
        site = _site(target or "", orders)
        if site is not None:
            conn.execute(sa.update(audit).where(audit.c.id == row_id).values(site=site))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_site_at")
        batch.drop_column("site")
