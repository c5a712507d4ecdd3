"""backups: the instances' Velero backups as the portal mirrors them (phase, size, kept until, retries), and
restore requests with their progress from a fresh namespace to the switch-over

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

PHASES = ("Requested", "New", "Queued", "ReadyToStart", "FailedValidation", "InProgress",
          "WaitingForPluginOperations", "WaitingForPluginOperationsPartiallyFailed", "Finalizing",
          "FinalizingPartiallyFailed", "Completed", "PartiallyFailed", "Failed", "Deleting")


def _one_of(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        'backups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('source_namespace', sa.String(length=63), nullable=False),
        sa.Column('origin', sa.String(length=16), nullable=False),
        sa.Column('phase', sa.String(length=48), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('size_bytes', sa.BigInteger(), nullable=True),
        sa.Column('failure_reason', sa.Text(), nullable=True),
        sa.Column('retry_of_id', sa.Integer(), nullable=True),
        sa.Column('retried', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'),
                  nullable=False),
        sa.CheckConstraint(_one_of('phase', PHASES), name=op.f('ck_backups_phase_known')),
        sa.CheckConstraint(_one_of('origin', ('scheduled', 'manual', 'retry')), name=op.f('ck_backups_origin_known')),
        sa.CheckConstraint('size_bytes IS NULL OR size_bytes >= 0', name=op.f('ck_backups_size_non_negative')),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_backups_subscription_id_subscriptions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['retry_of_id'], ['backups.id'], name=op.f('fk_backups_retry_of_id_backups'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_backups_requested_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_backups')),
        sa.UniqueConstraint('name', name=op.f('uq_backups_name')),
    )
    op.create_index('ix_backups_subscription_created', 'backups', ['subscription_id', 'created_at'], unique=False)
    op.create_table(
        'restores',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('backup_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=True),
        sa.Column('source_namespace', sa.String(length=63), nullable=False),
        sa.Column('target_namespace', sa.String(length=63), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'),
                  nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_one_of('state', ('requested', 'restoring', 'switching', 'completed', 'failed')),
                           name=op.f('ck_restores_state_known')),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_restores_subscription_id_subscriptions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['backup_id'], ['backups.id'], name=op.f('fk_restores_backup_id_backups'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_restores_requested_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_restores')),
        sa.UniqueConstraint('name', name=op.f('uq_restores_name')),
    )
    op.create_index('ix_restores_subscription_created', 'restores', ['subscription_id', 'created_at'], unique=False)


def downgrade():
    op.drop_index('ix_restores_subscription_created', table_name='restores')
    op.drop_table('restores')
    op.drop_index('ix_backups_subscription_created', table_name='backups')
    op.drop_table('backups')
