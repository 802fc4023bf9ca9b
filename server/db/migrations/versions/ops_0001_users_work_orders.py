"""ops: users, login sessions, work orders (own branch "ops", on top of 0001)

Revision ID: ops_0001
Revises: 0001
Create Date: 2026-11-21 13:20:26

Generated with ``alembic revision --autogenerate`` and reviewed: the JSON variant was rendered with an unimported
``Text()`` and the indexes inside needless batch blocks; both tidied here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import JsonType, device_fk

revision: str = 'ops_0001'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = ('ops',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('sites', JsonType, nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name'))
    )
    op.create_table('web_sessions',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('token_sha256', name=op.f('pk_web_sessions'))
    )
    op.create_index('ix_web_sessions_expires_at', 'web_sessions', ['expires_at'], unique=False)
    op.create_index('ix_web_sessions_user_name', 'web_sessions', ['user_name'], unique=False)

    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('site', sa.String(length=48), nullable=False),
    sa.Column('fault', sa.String(length=96), nullable=False),
    sa.Column('open_key', sa.String(length=160), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('first_event_id', sa.String(length=26), nullable=True),
    sa.Column('last_event_id', sa.String(length=26), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('respond_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fix_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recovered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    device_fk("work_orders"),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sa.UniqueConstraint('open_key', name=op.f('uq_work_orders_open_key'))
    )
    op.create_index('ix_work_orders_created_at', 'work_orders', ['created_at'], unique=False)
    op.create_index('ix_work_orders_device_id', 'work_orders', ['device_id'], unique=False)
    op.create_index('ix_work_orders_state_site', 'work_orders', ['state', 'site'], unique=False)

    op.create_table('work_order_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('who', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detail', JsonType, nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_work_order_log_order_id_work_orders'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_log'))
    )
    op.create_index('ix_work_order_log_order_id', 'work_order_log', ['order_id'], unique=False)

    op.create_table('work_order_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_work_order_photos_order_id_work_orders'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_photos'))
    )
    op.create_index('ix_work_order_photos_order_id', 'work_order_photos', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_work_order_photos_order_id', table_name='work_order_photos')

    op.drop_table('work_order_photos')
    op.drop_index('ix_work_order_log_order_id', table_name='work_order_log')

    op.drop_table('work_order_log')
    op.drop_index('ix_work_orders_state_site', table_name='work_orders')
    op.drop_index('ix_work_orders_device_id', table_name='work_orders')
    op.drop_index('ix_work_orders_created_at', table_name='work_orders')

    op.drop_table('work_orders')
    op.drop_index('ix_web_sessions_user_name', table_name='web_sessions')
    op.drop_index('ix_web_sessions_expires_at', table_name='web_sessions')

    op.drop_table('web_sessions')
    op.drop_table('users')
