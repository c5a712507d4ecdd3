"""instance rollouts: a restart or settings change in progress is recorded with the instance's status

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instance_statuses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rollout', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('rollout_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rollout_applied_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint('rollout_known', "rollout IS NULL OR rollout IN ('restart', 'settings')")


def downgrade():
    with op.batch_alter_table('instance_statuses', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_instance_statuses_rollout_known'), type_='check')
        batch_op.drop_column('rollout_applied_at')
        batch_op.drop_column('rollout_started_at')
        batch_op.drop_column('rollout')
