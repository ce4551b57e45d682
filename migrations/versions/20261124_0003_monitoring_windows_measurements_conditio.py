"""monitoring windows, measurements, condition states, alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the monitoring tables."""
    op.create_table('monitoring_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=63), nullable=False),
    sa.Column('opened_at', bot.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('stages', sa.JSON(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('closes_at', bot.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('paused_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('resumed_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('extended_by_s', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('schedule_token', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('next_due_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('polls_done', sa.Integer(), nullable=False),
    sa.Column('polls_coalesced', sa.Integer(), nullable=False),
    sa.Column('last_polled_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('poll_marker', sa.JSON(), nullable=True),
    sa.Column('closed_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'], name=op.f('fk_monitoring_windows_release_id_releases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_windows')),
    sa.UniqueConstraint('release_id', name=op.f('uq_monitoring_windows_release_id'))
    )
    with op.batch_alter_table('monitoring_windows', schema=None) as batch_op:
        batch_op.create_index('ix_monitoring_windows_status_service', ['status', 'service'], unique=False)

    op.create_table('monitoring_measurements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=100), nullable=False),
    sa.Column('at', bot.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('verdict', sa.String(length=12), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('op', sa.String(length=2), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['window_id'], ['monitoring_windows.id'], name=op.f('fk_monitoring_measurements_window_id_monitoring_windows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_measurements'))
    )
    with op.batch_alter_table('monitoring_measurements', schema=None) as batch_op:
        batch_op.create_index('ix_monitoring_measurements_window_condition_at', ['window_id', 'condition', 'at'], unique=False)

    op.create_table('monitoring_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=63), nullable=False),
    sa.Column('condition', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('severity', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('opened_at', bot.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_event', sa.String(length=30), nullable=False),
    sa.Column('measurement_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('evaluations', sa.Integer(), nullable=False),
    sa.Column('acknowledged_by_id', sa.String(length=40), nullable=True),
    sa.Column('acknowledged_by_name', sa.String(length=100), nullable=True),
    sa.Column('acknowledged_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['measurement_id'], ['monitoring_measurements.id'], name=op.f('fk_monitoring_alerts_measurement_id_monitoring_measurements')),
    sa.ForeignKeyConstraint(['window_id'], ['monitoring_windows.id'], name=op.f('fk_monitoring_alerts_window_id_monitoring_windows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_alerts'))
    )
    with op.batch_alter_table('monitoring_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_alerts_release_id'), ['release_id'], unique=False)
        batch_op.create_index('ix_monitoring_alerts_window_condition_kind', ['window_id', 'condition', 'kind'], unique=False)

    op.create_table('monitoring_condition_states',
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=100), nullable=False),
    sa.Column('consecutive_breaches', sa.Integer(), nullable=False),
    sa.Column('consecutive_blind', sa.Integer(), nullable=False),
    sa.Column('met', sa.Boolean(), nullable=False),
    sa.Column('warned', sa.Boolean(), nullable=False),
    sa.Column('blind', sa.Boolean(), nullable=False),
    sa.Column('last_measurement_id', sa.Integer(), nullable=True),
    sa.Column('silenced_until', bot.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('silence_reason', sa.Text(), nullable=True),
    sa.Column('silenced_by_id', sa.String(length=40), nullable=True),
    sa.Column('silenced_by_name', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['last_measurement_id'], ['monitoring_measurements.id'], name='fk_monitoring_condition_states_last_measurement', ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['window_id'], ['monitoring_windows.id'], name=op.f('fk_monitoring_condition_states_window_id_monitoring_windows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('window_id', 'condition', name=op.f('pk_monitoring_condition_states'))
    )


def downgrade() -> None:
    """Drop the monitoring tables."""
    op.drop_table('monitoring_condition_states')
    with op.batch_alter_table('monitoring_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_monitoring_alerts_window_condition_kind')
        batch_op.drop_index(batch_op.f('ix_monitoring_alerts_release_id'))

    op.drop_table('monitoring_alerts')
    with op.batch_alter_table('monitoring_measurements', schema=None) as batch_op:
        batch_op.drop_index('ix_monitoring_measurements_window_condition_at')

    op.drop_table('monitoring_measurements')
    with op.batch_alter_table('monitoring_windows', schema=None) as batch_op:
        batch_op.drop_index('ix_monitoring_windows_status_service')

    op.drop_table('monitoring_windows')
